//! A realistic GenAI export request, shared by the load generator (`spanbridge bench`) and the
//! micro benchmarks (`cargo bench -p spanbridge-gateway`), so both measure the same payload.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::json;

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// One export request: 3 in 4 spans are chat generations with content (~2.6 KB), the rest
/// small tool calls, all in one trace per 10 spans, like an agent loop.
pub fn genai_request(seed: u64, spans: usize) -> ExportTraceServiceRequest {
    let question =
        "Summarise the attached incident report and list the three most likely root causes, \
                    with the evidence for each. Keep it under 200 words. "
            .repeat(9);
    let answer = "The outage began when the connection pool was exhausted after a deploy doubled the \
                  number of workers; retries amplified the load; the circuit breaker was misconfigured. ".repeat(7);
    let start = 1_786_003_200_000_000_000u64 + seed * 1_000_000;
    let spans = (0..spans)
        .map(|i| {
            let trace = seed * 1_000 + (i / 10) as u64;
            let mut trace_id = [0u8; 16];
            trace_id[..8].copy_from_slice(&trace.to_be_bytes());
            trace_id[8..].copy_from_slice(&0x5b8e_fff7_9803_8103u64.to_be_bytes());
            let span_id = (seed << 20 | i as u64 | 1 << 63).to_be_bytes().to_vec();
            let parent = if i % 10 == 0 { Vec::new() } else { (seed << 20 | (i - i % 10) as u64 | 1 << 63).to_be_bytes().to_vec() };
            let attributes = if i % 4 == 3 {
                vec![text("gen_ai.operation.name", "execute_tool"), text("gen_ai.tool.name", "search_logs"),
                     text("gen_ai.tool.call.arguments", r#"{"query":"pool exhausted","limit":20}"#)]
            } else {
                vec![
                    text("gen_ai.operation.name", "chat"),
                    text("gen_ai.provider.name", "openai"),
                    text("gen_ai.request.model", "gpt-4o"),
                    text("gen_ai.response.model", "gpt-4o-2024-08-06"),
                    int("gen_ai.usage.input_tokens", 812),
                    int("gen_ai.usage.output_tokens", 164),
                    text("gen_ai.input.messages", &json!([{"role": "system", "parts": [{"type": "text", "content": "You are an SRE assistant."}]},
                        {"role": "user", "parts": [{"type": "text", "content": question}]}]).to_string()),
                    text("gen_ai.output.messages", &json!([{"role": "assistant", "finish_reason": "stop", "parts": [{"type": "text", "content": answer}]}]).to_string()),
                    text("user.id", "user-1042"),
                    text("session.id", "session-77"),
                ]
            };
            Span {
                trace_id: trace_id.to_vec(),
                span_id,
                parent_span_id: parent,
                name: if i % 4 == 3 { "execute_tool search_logs".into() } else { "chat gpt-4o".into() },
                kind: 3,
                start_time_unix_nano: start + i as u64 * 1_000_000,
                end_time_unix_nano: start + i as u64 * 1_000_000 + 900_000_000,
                attributes,
                status: Some(Status::default()),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", "bench-agent"),
                    text("telemetry.sdk.language", "python"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "opentelemetry.instrumentation.openai_v2".into(),
                    version: "2.1b0".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

//! The bench workload as batch-API batches (`--protocol langfuse-ingestion`): the same
//! spans, written as the Langfuse SDK 2.x writes them — a `trace-create` per root, a
//! `generation-create` per chat span (model, messages, usage), a `span-create` per tool span —
//! so the batch API's figures compare with the OTLP ones on the same content.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use serde_json::{Map, Value, json};

/// ISO-8601 UTC with milliseconds, as the SDKs send times.
fn iso(unix_nanos: u64) -> String {
    let micros = i64::try_from(unix_nanos / 1_000).unwrap_or_default();
    match spanbridge_gateway::api::shape::iso_time(micros) {
        Value::String(text) => text,
        _ => String::new(),
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attribute(attributes, key)? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attribute(attributes, key)? {
        any_value::Value::IntValue(n) => Some(*n),
        _ => None,
    }
}

/// One batch-API body (`{"batch": [...]}`) with the request's spans as events.
pub fn batch_api_body(request: &ExportTraceServiceRequest) -> Value {
    let mut events = Vec::new();
    let spans = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans);
    for span in spans {
        let (trace_id, span_id) = (hex::encode(&span.trace_id), hex::encode(&span.span_id));
        let (start, end) = (iso(span.start_time_unix_nano), iso(span.end_time_unix_nano));
        let attrs = &span.attributes;
        let parent = (!span.parent_span_id.is_empty()).then(|| hex::encode(&span.parent_span_id));
        if parent.is_none() {
            events.push(json!({
                "id": format!("{trace_id}-trace"), "type": "trace-create", "timestamp": start,
                "body": {"id": trace_id, "name": span.name, "timestamp": start,
                         "userId": text(attrs, "user.id"), "sessionId": text(attrs, "session.id")},
            }));
        }
        let mut body = Map::new();
        body.insert("id".into(), json!(span_id));
        body.insert("traceId".into(), json!(trace_id));
        body.insert("parentObservationId".into(), json!(parent));
        body.insert("name".into(), json!(span.name));
        body.insert("startTime".into(), json!(start));
        body.insert("endTime".into(), json!(end));
        let json_attr = |key: &str| {
            text(attrs, key).map(|t| serde_json::from_str::<Value>(&t).unwrap_or(Value::String(t)))
        };
        let kind = match text(attrs, "gen_ai.request.model") {
            Some(model) => {
                body.insert("model".into(), json!(model));
                body.insert("input".into(), json!(json_attr("gen_ai.input.messages")));
                body.insert("output".into(), json!(json_attr("gen_ai.output.messages")));
                body.insert(
                    "usage".into(),
                    json!({"input": int(attrs, "gen_ai.usage.input_tokens"),
                           "output": int(attrs, "gen_ai.usage.output_tokens"), "unit": "TOKENS"}),
                );
                "generation-create"
            }
            None => {
                body.insert(
                    "input".into(),
                    json!(json_attr("gen_ai.tool.call.arguments")),
                );
                "span-create"
            }
        };
        events.push(json!({"id": format!("{span_id}-create"), "type": kind, "timestamp": start, "body": body}));
    }
    json!({ "batch": events })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_span_becomes_an_observation_event_and_every_root_a_trace() {
        let request = spanbridge_workload::genai_request(1, 20);
        let batch = batch_api_body(&request);
        let events = batch["batch"].as_array().unwrap();
        let count = |kind: &str| events.iter().filter(|e| e["type"] == kind).count();
        assert_eq!(count("trace-create"), 2);
        assert_eq!(count("generation-create") + count("span-create"), 20);
        let generation = events
            .iter()
            .find(|e| e["type"] == "generation-create")
            .unwrap();
        assert!(
            generation["body"]["model"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(
            generation["body"]["usage"]["input"]
                .as_u64()
                .is_some_and(|n| n > 0)
        );
        assert!(generation["body"]["input"].is_array());
        assert!(generation["timestamp"].as_str().unwrap().ends_with('Z'));
        let converted = spanbridge_gateway::convert::batch_api::convert_batch(events);
        assert!(
            converted
                .outcomes
                .iter()
                .all(|(_, o)| *o == spanbridge_gateway::convert::batch_api::Outcome::Accepted)
        );
    }
}

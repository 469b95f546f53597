//! The benchmark workload: realistic GenAI export requests, shared by the load generator
//! (`spanbridge bench`) and the micro benchmarks (`cargo bench -p spanbridge-gateway`,
//! `-p spanbridge-sink`), so both measure the same payload.
//!
//! Content is varied the way users' traffic is: every chat span has its own prompt and
//! completion of random length drawn from a vocabulary (no two spans repeat a string, so
//! compression and string handling see real text), models, users, sessions and tools vary,
//! and traces have a chosen number of spans, from a Collector's mixed batch (1 span per
//! trace) to an agent loop (10 or more).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::json;

/// A small deterministic generator (SplitMix64): the same seed gives the same request, so
/// runs and micro benchmarks are repeatable without a dependency.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "for",
    "on",
    "with",
    "that",
    "this",
    "it",
    "as",
    "be",
    "by",
    "from",
    "at",
    "or",
    "an",
    "we",
    "our",
    "you",
    "your",
    "was",
    "were",
    "not",
    "connection",
    "pool",
    "exhausted",
    "deploy",
    "workers",
    "retries",
    "load",
    "circuit",
    "breaker",
    "misconfigured",
    "latency",
    "timeout",
    "database",
    "replica",
    "primary",
    "lag",
    "queue",
    "consumer",
    "partition",
    "offset",
    "cache",
    "eviction",
    "memory",
    "pressure",
    "kernel",
    "socket",
    "handshake",
    "certificate",
    "expired",
    "rollback",
    "canary",
    "region",
    "incident",
    "report",
    "summary",
    "root",
    "cause",
    "evidence",
    "customer",
    "invoice",
    "refund",
    "order",
    "shipment",
    "warehouse",
    "inventory",
    "forecast",
    "quarter",
    "revenue",
    "contract",
    "clause",
    "liability",
    "renewal",
    "policy",
    "coverage",
    "claim",
    "patient",
    "dosage",
    "symptom",
    "schedule",
    "meeting",
    "agenda",
    "translate",
    "french",
    "german",
    "summarise",
    "explain",
    "compare",
    "list",
    "three",
    "likely",
    "steps",
    "before",
    "after",
    "because",
    "however",
    "therefore",
    "although",
    "while",
    "during",
    "between",
    "against",
    "metrics",
    "dashboard",
    "alert",
    "threshold",
    "p99",
    "throughput",
    "errors",
    "requests",
    "users",
    "sessions",
    "tokens",
    "model",
    "prompt",
    "completion",
    "context",
    "window",
    "retrieval",
    "embedding",
    "vector",
    "index",
    "chunk",
    "document",
    "source",
    "citation",
    "answer",
    "question",
    "tool",
    "call",
    "search",
    "logs",
    "trace",
    "span",
    "service",
    "version",
    "2024",
    "2025",
    "12",
    "40",
    "500",
    "3.2",
    "v1.18.4",
    "eu-west-1",
    "us-east-2",
    "Kubernetes",
    "Postgres",
    "Kafka",
    "Redis",
    "nginx",
    "Python",
    "TypeScript",
    "Rust",
];

const MODELS: &[(&str, &str, &str)] = &[
    ("openai", "gpt-4o", "gpt-4o-2024-08-06"),
    ("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
    ("openai", "gpt-4.1", "gpt-4.1-2025-04-14"),
    (
        "anthropic",
        "claude-3-5-sonnet-20241022",
        "claude-3-5-sonnet-20241022",
    ),
    (
        "anthropic",
        "claude-3-haiku-20240307",
        "claude-3-haiku-20240307",
    ),
    ("gcp.gemini", "gemini-1.5-pro", "gemini-1.5-pro-002"),
];

const TOOLS: &[&str] = &[
    "search_logs",
    "get_weather",
    "query_database",
    "fetch_url",
    "read_file",
    "create_ticket",
];

/// `min + below(spread)` random words with sentence punctuation.
fn prose(rng: &mut SplitMix64, min: u64, spread: u64) -> String {
    let words = min + rng.below(spread);
    let mut text = String::with_capacity(words as usize * 8);
    for n in 0..words {
        if n > 0 {
            text.push(if rng.below(12) == 0 { '.' } else { ',' });
            text.push(' ');
        }
        let word = rng.pick(WORDS);
        text.push_str(word);
        if rng.below(4) != 0 && n + 1 < words {
            text.push(' ');
            text.push_str(rng.pick(WORDS));
        }
    }
    text.push('.');
    text
}

fn text(key: &str, value: impl Into<String>) -> KeyValue {
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

/// The attributes of one chat generation with its own prompt and completion (~2.6 KB on
/// average, 0.6–4.5 KB).
fn chat_attributes(rng: &mut SplitMix64) -> (String, Vec<KeyValue>) {
    let (provider, model, response_model) = MODELS[rng.below(MODELS.len() as u64) as usize];
    let question = prose(rng, 20, 180);
    let answer = prose(rng, 20, 160);
    let input = json!([
        {"role": "system", "parts": [{"type": "text", "content": prose(rng, 4, 12)}]},
        {"role": "user", "parts": [{"type": "text", "content": question}]},
    ]);
    let output = json!([
        {"role": "assistant", "finish_reason": "stop", "parts": [{"type": "text", "content": answer}]}
    ]);
    let attributes = vec![
        text("gen_ai.operation.name", "chat"),
        text("gen_ai.provider.name", provider),
        text("gen_ai.request.model", model),
        text("gen_ai.response.model", response_model),
        int("gen_ai.usage.input_tokens", 50 + rng.below(4_000) as i64),
        int("gen_ai.usage.output_tokens", 10 + rng.below(1_000) as i64),
        text("gen_ai.input.messages", input.to_string()),
        text("gen_ai.output.messages", output.to_string()),
        text("user.id", format!("user-{}", rng.below(5_000))),
        text("session.id", format!("session-{}", rng.below(20_000))),
    ];
    (format!("chat {model}"), attributes)
}

fn tool_attributes(rng: &mut SplitMix64) -> (String, Vec<KeyValue>) {
    let tool = rng.pick(TOOLS);
    let arguments = json!({"query": prose(rng, 2, 6), "limit": rng.below(50)});
    let attributes = vec![
        text("gen_ai.operation.name", "execute_tool"),
        text("gen_ai.tool.name", tool),
        text("gen_ai.tool.call.arguments", arguments.to_string()),
    ];
    (format!("execute_tool {tool}"), attributes)
}

/// When the spans of seed 0 start (ns since the epoch, 2026-08-06 08:00 UTC); each later seed
/// starts a millisecond later. Benchmarks that need recent spans shift them from here.
pub const START_NS: u64 = 1_786_003_200_000_000_000;

/// One export request of `spans` spans with 10 spans per trace, like an agent loop.
pub fn genai_request(seed: u64, spans: usize) -> ExportTraceServiceRequest {
    genai_request_with(seed, spans, 10)
}

/// One export request: `spans` spans in traces of `spans_per_trace` (the first span of each
/// trace is its root, the others its children); 3 in 4 spans are chat generations with
/// content, the rest small tool calls. Trace ids differ per trace (bytes 8..16 number the
/// trace within the request), span ids per span; `seed` chooses the content.
pub fn genai_request_with(
    seed: u64,
    spans: usize,
    spans_per_trace: usize,
) -> ExportTraceServiceRequest {
    let per_trace = spans_per_trace.max(1);
    let mut rng = SplitMix64::new(seed);
    let start = START_NS + seed * 1_000_000;
    let span_id = |i: usize| (seed << 20 | i as u64 | 1 << 63).to_be_bytes().to_vec();
    let spans = (0..spans)
        .map(|i| {
            let trace = (i / per_trace) as u64;
            let mut trace_id = [0u8; 16];
            trace_id[..8].copy_from_slice(&seed.to_be_bytes());
            trace_id[8..].copy_from_slice(&(0x5b8e_fff7_0000_0000 | trace).to_be_bytes());
            let root = i % per_trace == 0;
            let parent = if root {
                Vec::new()
            } else {
                span_id(i - i % per_trace)
            };
            let (name, attributes) = if i % 4 == 3 {
                tool_attributes(&mut rng)
            } else {
                chat_attributes(&mut rng)
            };
            Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id(i),
                parent_span_id: parent,
                name,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(request: &ExportTraceServiceRequest) -> Vec<&Span> {
        request.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .collect()
    }

    #[test]
    fn traces_have_the_requested_number_of_spans_and_one_root() {
        for per_trace in [1, 10, 25] {
            let request = genai_request_with(3, 100, per_trace);
            let mut traces = std::collections::HashMap::<&[u8], (usize, usize)>::new();
            for span in spans(&request) {
                let entry = traces.entry(&span.trace_id).or_default();
                entry.0 += 1;
                entry.1 += usize::from(span.parent_span_id.is_empty());
            }
            assert_eq!(traces.len(), 100usize.div_ceil(per_trace));
            assert!(traces.values().all(|(_, roots)| *roots == 1));
        }
    }

    #[test]
    fn content_varies_between_spans_and_repeats_for_a_seed() {
        let request = genai_request(7, 40);
        let outputs: std::collections::HashSet<String> = spans(&request)
            .iter()
            .filter_map(|s| {
                s.attributes
                    .iter()
                    .find(|a| a.key == "gen_ai.output.messages")
            })
            .map(|a| format!("{:?}", a.value))
            .collect();
        assert_eq!(outputs.len(), 30, "every chat span has its own completion");
        assert_eq!(genai_request(7, 40), request);
    }
}

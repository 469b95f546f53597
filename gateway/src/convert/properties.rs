//! Property tests (proptest): whatever a client sends, conversion never panics and every span
//! yields a row or a counted rejection. Inputs: every `AnyValue` kind, nested arrays and
//! kvlists up to and beyond what the decoders let through, strings of megabytes, bytes that
//! are not UTF-8, JSON-ish text (valid, cut off, with lone surrogate escapes), and keys drawn
//! from every key the rule tables read (taken from their source text, so new rules are
//! covered), with indexed suffixes, random prefixes and random text.
//!
//! The other intakes (`intakes` below) get the same stance: OTLP logs (never both rejected and
//! used, deterministic score ids), the batch API (every event answered exactly once, each
//! accepted event one piece in its own trace's group, request order irrelevant when envelope
//! times differ) and the scores API's parser (only complete scores, ids from the seed).
//!
//! Case counts keep the whole file well under a minute in a debug build.

use std::sync::LazyLock;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use proptest::prelude::*;
use prost::Message;
use serde_json::Value;

use super::convert;

/// Every string literal of the rule tables and convention modules that looks like an attribute
/// key, a key prefix or a scope name.
static KNOWN_KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let sources = [
        include_str!("fields/scalar.rs"),
        include_str!("fields/io.rs"),
        include_str!("fields/observation_type.rs"),
        include_str!("fields/model_parameters.rs"),
        include_str!("fields/usage.rs"),
        include_str!("fields/metadata.rs"),
        include_str!("fields/tools.rs"),
        include_str!("vocab/content.rs"),
        include_str!("vocab/messages.rs"),
        include_str!("family/langfuse.rs"),
        include_str!("family/genai.rs"),
        include_str!("family/openinference.rs"),
        include_str!("family/openllmetry.rs"),
        include_str!("family/vercel.rs"),
        include_str!("family/logfire.rs"),
        include_str!("family/mlflow.rs"),
        include_str!("family/genkit.rs"),
        include_str!("family/livekit.rs"),
        include_str!("family/flue.rs"),
        include_str!("family/google_adk.rs"),
        include_str!("row.rs"),
    ];
    let mut keys: Vec<&'static str> = sources
        .iter()
        .flat_map(|text| text.split('"').skip(1).step_by(2))
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 80
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:@/-".contains(&b))
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
});

/// Scope names the conventions are gated on.
const SCOPES: &[&str] = &[
    "",
    "ai",
    "genkit-tracer",
    "pydantic-ai",
    "livekit-agents",
    "@flue/opentelemetry",
    "gcp.vertex.agent",
    "langfuse-sdk",
    "openinference.instrumentation.openai",
];

fn wrap(value: any_value::Value) -> AnyValue {
    AnyValue { value: Some(value) }
}

fn string(s: String) -> AnyValue {
    wrap(any_value::Value::StringValue(s))
}

/// A known key, a known key with an indexed or arbitrary suffix, or arbitrary text.
fn key() -> impl Strategy<Value = String> {
    let known = || (0..KNOWN_KEYS.len()).prop_map(|i| KNOWN_KEYS[i].to_owned());
    let suffix = prop_oneof![
        Just("0.content".to_owned()),
        Just("0.role".to_owned()),
        Just("1.message.content".to_owned()),
        Just("0.message.tool_calls.0.tool_call.function.name".to_owned()),
        Just("0.document.content".to_owned()),
        Just("999999999.content".to_owned()),
        Just("input_tokens".to_owned()),
        (0usize..20, 0usize..3).prop_map(|(i, j)| format!("{i}.{j}")),
        "[a-z0-9_.]{0,12}",
        // Deeper than any real key; unflatten must skip it, not recurse per segment.
        (1usize..5000).prop_map(|n| "a.".repeat(n) + "x"),
    ];
    prop_oneof![
        4 => known(),
        3 => (known(), suffix).prop_map(|(k, s)| {
            let mut k = k;
            if !k.ends_with('.') {
                k.push('.');
            }
            k + &s
        }),
        1 => ".{0,20}",
        1 => "[a-z_.]{0,10}",
    ]
}

/// An arbitrary JSON value (for JSON-ish strings).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("user"),
            Just("assistant"),
            Just("system"),
            Just("tool_call"),
            Just("tool-call"),
            Just("function"),
            Just("text"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("role".to_owned()),
                        Just("content".to_owned()),
                        Just("type".to_owned()),
                        Just("name".to_owned()),
                        Just("id".to_owned()),
                        Just("function".to_owned()),
                        Just("arguments".to_owned()),
                        Just("tool_calls".to_owned()),
                        Just("parts".to_owned()),
                        Just("messages".to_owned()),
                        Just("usage".to_owned()),
                        Just("config".to_owned()),
                        "[a-z_]{1,8}",
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// JSON text as sent, cut off (an attribute length limit), with a lone surrogate escape
/// (`\ud800`: valid JSON syntax, invalid UTF-16), or with junk appended.
fn json_ish() -> impl Strategy<Value = String> {
    (json_value(), 0usize..4, any::<prop::sample::Index>()).prop_map(|(value, how, at)| {
        let text = value.to_string();
        match how {
            0 => text,
            1 => {
                let mut cut = at.index(text.len() + 1);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text[..cut].to_owned()
            }
            2 => format!("[{{\"role\":\"user\",\"content\":\"\\ud800{text}\"}}]"),
            _ => format!("{text}\u{fffd}}}]"),
        }
    })
}

/// Strings up to megabytes, made cheaply by repetition.
fn huge_string() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("a"),
            Just("{\"role\":\"user\",\"content\":\"x\"},"),
            Just("\u{1F600}"),
            Just("tool_call"),
            Just("["),
            Just("{\"a\":"),
        ],
        prop_oneof![Just(100_000usize), Just(1_000_000), Just(3_000_000)],
    )
        .prop_map(|(unit, bytes)| unit.repeat(bytes / unit.len()))
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        1 => Just(AnyValue { value: None }),
        4 => ".{0,24}".prop_map(string),
        3 => json_ish().prop_map(string),
        1 => any::<bool>().prop_map(|b| wrap(any_value::Value::BoolValue(b))),
        2 => any::<i64>().prop_map(|i| wrap(any_value::Value::IntValue(i))),
        1 => prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(1e300),
            Just(-0.5)
        ]
        .prop_map(|d| wrap(any_value::Value::DoubleValue(d))),
        // Bytes are not text: any byte sequence, valid UTF-8 or not.
        1 => prop::collection::vec(any::<u8>(), 0..32)
            .prop_map(|b| wrap(any_value::Value::BytesValue(b))),
        1 => any::<i32>().prop_map(|i| wrap(any_value::Value::StringValueStrindex(i))),
    ];
    leaf.prop_recursive(5, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5)
                .prop_map(|values| wrap(any_value::Value::ArrayValue(ArrayValue { values }))),
            prop::collection::vec((key(), inner), 0..5).prop_map(|pairs| {
                wrap(any_value::Value::KvlistValue(KeyValueList {
                    values: pairs
                        .into_iter()
                        .map(|(key, value)| KeyValue {
                            key,
                            value: Some(value),
                            ..Default::default()
                        })
                        .collect(),
                }))
            }),
        ]
    })
}

/// A chain of arrays or kvlists `depth` levels deep (the decoders stop far earlier: prost at
/// 100 nested messages, serde_json at 128 levels).
fn deep_value(depth: usize, kvlist: bool) -> AnyValue {
    let mut value = string("leaf".into());
    for _ in 0..depth {
        value = if kvlist {
            wrap(any_value::Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "content".into(),
                    value: Some(value),
                    ..Default::default()
                }],
            }))
        } else {
            wrap(any_value::Value::ArrayValue(ArrayValue {
                values: vec![value],
            }))
        };
    }
    value
}

fn attributes(max: usize) -> impl Strategy<Value = Vec<KeyValue>> {
    let value = prop_oneof![
        12 => any_value(),
        1 => huge_string().prop_map(string),
        1 => (0usize..300, any::<bool>()).prop_map(|(d, kv)| deep_value(d, kv)),
    ];
    prop::collection::vec((key(), prop::option::of(value)), 0..max).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(key, value)| KeyValue {
                key,
                value,
                ..Default::default()
            })
            .collect()
    })
}

/// Ids of every validity: right length, wrong length, all zero.
fn id(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), len),
        1 => Just(vec![0; len]),
        1 => prop::collection::vec(any::<u8>(), 0..20),
        // A few fixed ids, so spans share traces and parents.
        2 => (1u8..4).prop_map(move |b| vec![b; len]),
    ]
}

fn time() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        1_700_000_000_000_000_000u64..1_900_000_000_000_000_000,
        any::<u64>(),
    ]
}

fn event() -> impl Strategy<Value = span::Event> {
    (
        prop_oneof![
            Just("exception".to_owned()),
            Just("gen_ai.user.message".to_owned()),
            Just("gen_ai.choice".to_owned()),
            Just("gen_ai.content.prompt".to_owned()),
            Just("gen_ai.client.inference.operation.details".to_owned()),
            Just("ai.stream.firstChunk".to_owned()),
            ".{0,10}",
        ],
        time(),
        attributes(4),
    )
        .prop_map(|(name, time_unix_nano, attributes)| span::Event {
            name,
            time_unix_nano,
            attributes,
            ..Default::default()
        })
}

fn one_span() -> impl Strategy<Value = Span> {
    (
        (id(16), id(8), id(8)),
        (".{0,16}", time(), time()),
        attributes(12),
        prop::collection::vec(event(), 0..3),
        (0i32..4, ".{0,8}"),
    )
        .prop_map(
            |(
                (trace_id, span_id, parent_span_id),
                (name, start, end),
                attributes,
                events,
                (code, message),
            )| Span {
                trace_id,
                span_id,
                parent_span_id,
                name,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                events,
                status: Some(Status { code, message }),
                ..Default::default()
            },
        )
}

fn request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let scope = (
        prop::option::of((0..SCOPES.len(), ".{0,6}", attributes(3))),
        prop::collection::vec(one_span(), 0..4),
    )
        .prop_map(|(scope, spans)| ScopeSpans {
            scope: scope.map(|(i, version, attributes)| InstrumentationScope {
                name: SCOPES[i].to_owned(),
                version,
                attributes,
                ..Default::default()
            }),
            spans,
            ..Default::default()
        });
    let resource = (
        prop::option::of(attributes(6)),
        prop::collection::vec(scope, 0..3),
    )
        .prop_map(|(attributes, scope_spans)| ResourceSpans {
            resource: attributes.map(|attributes| Resource {
                attributes,
                ..Default::default()
            }),
            scope_spans,
            ..Default::default()
        });
    prop::collection::vec(resource, 0..3)
        .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

fn span_count(request: &ExportTraceServiceRequest) -> usize {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

/// The invariant: no panic (a panic fails the case), and rows + rejected = spans sent.
fn check(request: &ExportTraceServiceRequest) -> Result<(), TestCaseError> {
    let converted = convert(request, 1_786_003_200_000_000);
    let rows: usize = converted.traces.iter().map(|(_, rows)| rows.len()).sum();
    let rejected = usize::try_from(converted.rejected_spans).unwrap_or(usize::MAX);
    prop_assert_eq!(rows + rejected, span_count(request));
    prop_assert_eq!(converted.rejection_message.is_empty(), rejected == 0);
    for (trace_id, rows) in &converted.traces {
        prop_assert!(!rows.is_empty());
        for row in rows {
            prop_assert_eq!(&row.trace_id, trace_id);
            prop_assert_eq!(row.metadata_names.len(), row.metadata_values.len());
            prop_assert_eq!(row.tool_calls.len(), row.tool_call_names.len());
            prop_assert!(row.end_time_us.is_some_and(|end| end >= row.start_time_us));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    #[test]
    fn conversion_never_panics_and_accounts_for_every_span(request in request()) {
        check(&request)?;
    }

    /// The same requests after a protobuf round trip with some bytes overwritten by bytes
    /// that are not UTF-8: decoding refuses them or yields a request that converts.
    #[test]
    fn corrupted_protobuf_decodes_or_fails_cleanly(
        request in request(),
        damage in prop::collection::vec((any::<prop::sample::Index>(), 0x80u8..=0xff), 1..4),
    ) {
        let mut bytes = request.encode_to_vec();
        for (at, byte) in damage {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
        }
        if let Ok(decoded) = ExportTraceServiceRequest::decode(bytes.as_slice()) {
            check(&decoded)?;
        }
    }
}

/// One span carrying every known key at once, each with a hostile value of each kind: the
/// rules that read several keys together (Vercel, Genkit, usage arithmetic) see them together.
#[test]
fn every_known_key_at_once_with_hostile_values() {
    let hostile: Vec<AnyValue> = vec![
        string(String::new()),
        string("{}".into()),
        string("[".into()),
        string("\"\\ud800\"".into()),
        string("1e300".into()),
        string("-1".into()),
        string("[{\"type\":\"tool_call\",\"id\":1,\"name\":2,\"arguments\":[]}]".into()),
        wrap(any_value::Value::DoubleValue(f64::NAN)),
        wrap(any_value::Value::DoubleValue(1e300)),
        wrap(any_value::Value::IntValue(i64::MIN)),
        wrap(any_value::Value::IntValue(i64::MAX)),
        wrap(any_value::Value::BytesValue(vec![0xff, 0xfe, 0x00])),
        deep_value(200, true),
        deep_value(200, false),
    ];
    for value in hostile {
        // Deep values are costly to decode and carry no scope-specific meaning: one scope.
        let deep = matches!(
            value.value,
            Some(any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_))
        );
        let scopes = if deep { &SCOPES[..2] } else { SCOPES };
        for scope in scopes {
            let attributes: Vec<KeyValue> = KNOWN_KEYS
                .iter()
                .map(|key| KeyValue {
                    key: (*key).to_owned(),
                    value: Some(value.clone()),
                    ..Default::default()
                })
                .collect();
            let span = Span {
                trace_id: vec![1; 16],
                span_id: vec![2; 8],
                start_time_unix_nano: 1_786_003_200_000_000_000,
                end_time_unix_nano: 1_786_003_201_000_000_000,
                attributes: attributes.clone(),
                ..Default::default()
            };
            let request = ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(Resource {
                        attributes: if deep { Vec::new() } else { attributes.clone() },
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: (*scope).to_owned(),
                            attributes: if deep { Vec::new() } else { attributes },
                            ..Default::default()
                        }),
                        spans: vec![span],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            };
            if let Err(e) = check(&request) {
                panic!("scope {scope:?}, value {value:?}: {e}");
            }
        }
    }
}

/// Indexed keys (`gen_ai.prompt.0.content`) are rebuilt into nested JSON one level per
/// segment: a key of a hundred thousand segments must be skipped, not overflow the stack.
#[test]
fn indexed_keys_nested_beyond_any_real_one() {
    let prefixes = [
        "gen_ai.prompt.",
        "gen_ai.completion.",
        "llm.input_messages.",
        "llm.output_messages.",
        "retrieval.documents.",
    ];
    let attributes = prefixes
        .iter()
        .map(|prefix| KeyValue {
            key: format!("{prefix}0.{}content", "a.".repeat(100_000)),
            value: Some(string("deep".into())),
            ..Default::default()
        })
        .chain([KeyValue {
            key: "gen_ai.prompt.0.content".into(),
            value: Some(string("kept".into())),
            ..Default::default()
        }])
        .collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    attributes,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    if let Err(e) = check(&request) {
        panic!("{e}");
    }
    let converted = convert(&request, 0);
    let input = converted
        .traces
        .first()
        .and_then(|(_, rows)| rows.first())
        .map(|row| row.input.clone());
    assert_eq!(input.as_deref(), Some(r#"[{"content":"kept"}]"#));
}

// The other intakes: OTLP logs, the batch API and the scores API. Same stance: no input
// panics, and every record or event is accounted for exactly once.

mod intakes {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use serde_json::{Map, json};

    use super::*;
    use crate::convert::batch_api::{Outcome, convert_batch};
    use crate::convert::logs::{LogOptions, OtherRecords, convert_logs};
    use crate::convert::score::{ScoreContext, parse_score};

    /// The event names the logs conversion reads, and others.
    const LOG_EVENTS: &[&str] = &[
        "gen_ai.user.message",
        "gen_ai.system.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.choice",
        "gen_ai.evaluation.result",
        "gen_ai.client.inference.operation.details",
        "gen_ai.content.prompt",
        "exception",
        "",
    ];

    /// Attribute keys of evaluation records and content events, beside every rule-table key.
    const LOG_KEYS: &[&str] = &[
        "event.name",
        "gen_ai.evaluation.name",
        "gen_ai.evaluation.score.value",
        "gen_ai.evaluation.score.label",
        "gen_ai.evaluation.explanation",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.operation.name",
        "gen_ai.response.id",
    ];

    fn log_attributes() -> impl Strategy<Value = Vec<KeyValue>> {
        let key = prop_oneof![
            2 => (0..LOG_KEYS.len()).prop_map(|i| LOG_KEYS[i].to_owned()),
            1 => key(),
        ];
        prop::collection::vec((key, any_value()), 0..8).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(key, value)| KeyValue {
                    key,
                    value: Some(value),
                    ..Default::default()
                })
                .collect()
        })
    }

    fn log_record() -> impl Strategy<Value = LogRecord> {
        (
            (id(16), id(8)),
            (0..LOG_EVENTS.len(), ".{0,8}"),
            (time(), time()),
            prop::option::of(any_value()),
            log_attributes(),
        )
            .prop_map(
                |((trace_id, span_id), (event, other_name), (time, observed), body, attributes)| {
                    LogRecord {
                        trace_id,
                        span_id,
                        event_name: if event + 1 == LOG_EVENTS.len() {
                            other_name
                        } else {
                            LOG_EVENTS[event].to_owned()
                        },
                        time_unix_nano: time,
                        observed_time_unix_nano: observed,
                        body,
                        attributes,
                        ..Default::default()
                    }
                },
            )
    }

    fn logs_request() -> impl Strategy<Value = ExportLogsServiceRequest> {
        let scope = (
            prop::option::of((0..SCOPES.len(), attributes(2))),
            prop::collection::vec(log_record(), 0..6),
        )
            .prop_map(|(scope, log_records)| ScopeLogs {
                scope: scope.map(|(i, attributes)| InstrumentationScope {
                    name: SCOPES[i].to_owned(),
                    attributes,
                    ..Default::default()
                }),
                log_records,
                ..Default::default()
            });
        let resource = (
            prop::option::of(attributes(4)),
            prop::collection::vec(scope, 0..3),
        )
            .prop_map(|(attributes, scope_logs)| ResourceLogs {
                resource: attributes.map(|attributes| Resource {
                    attributes,
                    ..Default::default()
                }),
                scope_logs,
                ..Default::default()
            });
        prop::collection::vec(resource, 0..3)
            .prop_map(|resource_logs| ExportLogsServiceRequest { resource_logs })
    }

    fn record_count(request: &ExportLogsServiceRequest) -> usize {
        request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum()
    }

    fn check_logs(request: &ExportLogsServiceRequest) -> Result<(), TestCaseError> {
        let records = record_count(request) as u64;
        for other_records in [OtherRecords::Count, OtherRecords::Event] {
            let options = LogOptions { other_records };
            let converted = convert_logs(request.clone(), 1_786_003_200_000_000, &options);
            let rejected = u64::try_from(converted.rejected_log_records).unwrap_or(u64::MAX);
            let scores: usize = converted.traces.iter().map(|(_, p)| p.scores.len()).sum();
            let rows: usize = converted.traces.iter().map(|(_, p)| p.rows.len()).sum();
            // A record is rejected, "other" or used, never two of them.
            prop_assert!(rejected + converted.other_records + scores as u64 <= records);
            prop_assert_eq!(converted.rejection_message.is_empty(), rejected == 0);
            prop_assert!(rows as u64 <= converted.other_records);
            if other_records == OtherRecords::Count {
                prop_assert_eq!(rows, 0, "other records are only counted");
            }
            for (trace_id, pieces) in &converted.traces {
                prop_assert_eq!(trace_id.len(), 32);
                prop_assert!(pieces.rows.iter().all(|r| &r.trace_id == trace_id));
                prop_assert!(pieces.scores.iter().all(|s| &s.trace_id == trace_id));
                prop_assert!(
                    pieces
                        .partial_rows
                        .iter()
                        .filter_map(|p| p.row.as_ref())
                        .all(|r| &r.trace_id == trace_id)
                );
                for score in &pieces.scores {
                    prop_assert!(!score.id.is_empty() && !score.name.is_empty());
                }
            }
            // Deterministic: a re-sent export converts to the same pieces (score ids included,
            // so the store replaces instead of duplicating).
            let again = convert_logs(request.clone(), 1_786_003_200_000_000, &options);
            prop_assert_eq!(again, converted);
        }
        Ok(())
    }

    const EVENT_TYPES: &[&str] = &[
        "trace-create",
        "span-create",
        "span-update",
        "generation-create",
        "generation-update",
        "event-create",
        "observation-create",
        "observation-update",
        "score-create",
        "sdk-log",
        "agent-create",
        "tool-create",
        "unknown-type",
    ];

    const BODY_KEYS: &[&str] = &[
        "id",
        "traceId",
        "parentObservationId",
        "name",
        "startTime",
        "endTime",
        "timestamp",
        "completionStartTime",
        "input",
        "output",
        "metadata",
        "model",
        "modelParameters",
        "usage",
        "usageDetails",
        "costDetails",
        "level",
        "statusMessage",
        "version",
        "release",
        "userId",
        "sessionId",
        "tags",
        "public",
        "environment",
        "type",
        "value",
        "dataType",
        "stringValue",
        "comment",
        "source",
        "observationId",
        "datasetRunId",
        "configId",
        "projectId",
    ];

    /// Values that the body fields accept or refuse: ids shared between events (so events
    /// meet in traces), times, numbers, any JSON.
    fn field_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            3 => (0u8..4).prop_map(|i| Value::String(format!("shared-{i}"))),
            2 => (0i64..100).prop_map(|s| Value::String(format!("2026-11-27T12:00:{:02}.{:03}Z", s % 60, s * 7 % 1000))),
            1 => Just(Value::String("not a time".into())),
            2 => any::<f64>().prop_map(Value::from),
            1 => prop_oneof![Just("NUMERIC"), Just("BOOLEAN"), Just("CATEGORICAL"), Just("TEXT"), Just("EVAL"), Just("API"), Just("GENERATION")]
                .prop_map(|s| Value::String(s.to_owned())),
            3 => json_value(),
        ]
    }

    fn body() -> impl Strategy<Value = Value> {
        prop_oneof![
            6 => prop::collection::vec((0..BODY_KEYS.len(), field_value()), 0..10).prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(key, value)| (BODY_KEYS[key].to_owned(), value))
                        .collect::<Map<_, _>>(),
                )
            }),
            1 => json_value(),
        ]
    }

    /// One envelope, its timestamp second given so a batch can have distinct ones.
    fn event(second: u32) -> impl Strategy<Value = Value> {
        (
            prop_oneof![
                4 => (0u32..1000).prop_map(|i| Value::String(format!("event-{i}"))),
                1 => json_value(),
            ],
            0..EVENT_TYPES.len(),
            body(),
            0u8..8,
        )
            .prop_map(move |(id, kind, body, shape)| match shape {
                // Mostly well-formed envelopes, sometimes missing or odd parts.
                0 => json!({"type": EVENT_TYPES[kind], "body": body}),
                1 => json!({"id": id, "type": EVENT_TYPES[kind], "timestamp": 5, "body": body}),
                2 => body,
                _ => json!({
                    "id": id,
                    "type": EVENT_TYPES[kind],
                    "timestamp": format!("2026-11-27T12:{:02}:{:02}Z", second / 60 % 60, second % 60),
                    "body": body,
                }),
            })
    }

    fn batch() -> impl Strategy<Value = Vec<Value>> {
        (0usize..12).prop_flat_map(|n| (0..n as u32).map(event).collect::<Vec<_>>())
    }

    /// Every event answered once; each accepted event exactly one piece, in the group of its
    /// own trace (scores too); trace-less scores only outside the groups.
    fn check_batch(batch: &[Value]) -> Result<BatchConverted, TestCaseError> {
        let converted = convert_batch(batch);
        prop_assert_eq!(converted.outcomes.len(), batch.len());
        for ((id, _), event) in converted.outcomes.iter().zip(batch) {
            let expected = event.get("id").and_then(Value::as_str).unwrap_or("unknown");
            prop_assert_eq!(id.as_str(), expected);
        }
        let accepted = converted
            .outcomes
            .iter()
            .filter(|(_, o)| *o == Outcome::Accepted)
            .count();
        let pieces: usize = converted
            .groups
            .iter()
            .map(|g| g.rows.len() + g.partial_rows.len() + g.scores.len())
            .sum::<usize>()
            + converted.scores.len();
        prop_assert_eq!(pieces, accepted);
        for group in &converted.groups {
            prop_assert!(!group.trace_id.is_empty());
            prop_assert!(group.rows.iter().all(|r| r.trace_id == group.trace_id));
            prop_assert!(group.scores.iter().all(|s| s.trace_id == group.trace_id));
            prop_assert!(
                group
                    .partial_rows
                    .iter()
                    .filter_map(|p| p.row.as_ref())
                    .all(|r| r.trace_id == group.trace_id)
            );
        }
        prop_assert!(converted.scores.iter().all(|s| s.trace_id.is_empty()));
        Ok(converted)
    }

    use super::super::batch_api::BatchConverted;

    /// A score-shaped body: mostly the fields Langfuse reads, with values of every kind.
    fn score_body() -> impl Strategy<Value = Value> {
        prop_oneof![
            8 => (
                prop::collection::vec((0..BODY_KEYS.len(), field_value()), 0..8),
                prop::option::of(prop_oneof![
                    (0u8..4).prop_map(|i| ("traceId", format!("shared-{i}"))),
                    (0u8..4).prop_map(|i| ("sessionId", format!("session-{i}"))),
                    (0u8..4).prop_map(|i| ("datasetRunId", format!("run-{i}"))),
                ]),
                prop::option::of((".{0,12}", field_value())),
            )
                .prop_map(|(pairs, target, name_value)| {
                    let mut object: Map<String, Value> = pairs
                        .into_iter()
                        .map(|(key, value)| (BODY_KEYS[key].to_owned(), value))
                        .collect();
                    if let Some((key, id)) = target {
                        object.insert(key.to_owned(), Value::String(id));
                    }
                    if let Some((name, value)) = name_value {
                        object.insert("name".into(), Value::String(name));
                        object.insert("value".into(), value);
                    }
                    Value::Object(object)
                }),
            1 => json_value(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 96,
            max_shrink_iters: 200,
            ..ProptestConfig::default()
        })]

        #[test]
        fn logs_conversion_never_panics_and_accounts_for_every_record(request in logs_request()) {
            check_logs(&request)?;
        }

        /// Logs requests after a protobuf round trip with bytes overwritten: refused, or
        /// converted like any other.
        #[test]
        fn corrupted_logs_protobuf_decodes_or_fails_cleanly(
            request in logs_request(),
            damage in prop::collection::vec((any::<prop::sample::Index>(), 0x80u8..=0xff), 1..4),
        ) {
            let mut bytes = request.encode_to_vec();
            for (at, byte) in damage {
                if !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
            }
            if let Ok(decoded) = ExportLogsServiceRequest::decode(bytes.as_slice()) {
                check_logs(&decoded)?;
            }
        }

        #[test]
        fn batch_api_answers_every_event_once(batch in batch()) {
            check_batch(&batch)?;
        }

        /// The sink applies a trace's pieces in envelope-time order, so with distinct envelope
        /// times the request order changes nothing but the order of the answers.
        #[test]
        fn batch_api_pieces_do_not_depend_on_request_order(
            batch in batch(),
            seed in any::<u64>(),
        ) {
            let timed = batch.iter().all(|event| {
                event.get("timestamp").and_then(Value::as_str).is_some()
            });
            prop_assume!(timed);
            let mut shuffled = batch.clone();
            // A deterministic shuffle from the seed (Fisher–Yates with an LCG).
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                shuffled.swap(i, (state >> 33) as usize % (i + 1));
            }
            let first = check_batch(&batch)?;
            let second = check_batch(&shuffled)?;
            prop_assert_eq!(first.groups, second.groups);
            prop_assert_eq!(first.scores, second.scores);
            let mut answers = first.outcomes;
            let mut shuffled_answers = second.outcomes;
            answers.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            shuffled_answers.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            prop_assert_eq!(answers, shuffled_answers);
        }

        /// The scores API's parser: never panics; an accepted score has an id, a name and
        /// exactly one target; the same body gives the same score, and a body without an id
        /// gets one from its seed (so two scores of one request never collide).
        #[test]
        fn score_parsing_never_panics_and_accepts_only_complete_scores(
            body in score_body(),
            allow_eval_source in any::<bool>(),
        ) {
            let context = |seed| ScoreContext {
                timestamp_us: 1_786_003_200_000_000,
                id_seed: seed,
                allow_eval_source,
            };
            let Ok(score) = parse_score(&body, &context("key:1:0")) else {
                return Ok(());
            };
            prop_assert!(!score.id.is_empty() && !score.name.is_empty());
            let targets = [&score.trace_id, &score.session_id, &score.dataset_run_id]
                .iter()
                .filter(|id| !id.is_empty())
                .count();
            prop_assert_eq!(targets, 1, "{:?}", score);
            prop_assert!(score.observation_id.is_empty() || !score.trace_id.is_empty());
            if !allow_eval_source {
                prop_assert_ne!(score.source.as_str(), "EVAL");
            }
            prop_assert_eq!(parse_score(&body, &context("key:1:0")).ok(), Some(score.clone()));
            let other = parse_score(&body, &context("key:1:1")).ok();
            prop_assert!(other.is_some());
            if body.get("id").is_none() {
                prop_assert_ne!(other.map(|s| s.id), Some(score.id));
            }
        }
    }
}

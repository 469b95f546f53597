//! One Langfuse score body (JSON) → a contract [`Score`], or why not. Pure: no I/O, no clock, no
//! randomness (the caller passes the time and the seed of a generated id).
//!
//! Shared by every intake that receives Langfuse scores: `POST /api/public/scores` (an object or
//! an array of them) and the batch API's `score-create` events. The rules are Langfuse's API
//! validation and its worker's inflation (../shared/reference/langfuse-legacy.md §4.1–4.3):
//!
//! | field | rule |
//! |---|---|
//! | `id` | string, 1–800 characters, no `\r`; absent → generated from the context's seed |
//! | `name` | non-empty string, required |
//! | `traceId` / `sessionId` / `datasetRunId` | exactly one; `observationId` only with `traceId` |
//! | `dataType` + `value` | NUMERIC number; BOOLEAN 0/1 (`stringValue` "True"/"False"); CATEGORICAL string; TEXT string of 1–500 characters; absent: number → NUMERIC, string → CATEGORICAL (BOOLEAN is never inferred) |
//! | `source` | API (default), ANNOTATION (needs `configId`), EVAL only where the context allows |
//! | `environment` | normalised like every Langfuse environment; absent or invalid → `default` |
//! | `metadata` | object → its top-level keys, non-string values as JSON text; scalar or array → `{"metadata": …}` (§3.3) |
//! | `timestamp` | ISO-8601 with a UTC offset; absent → the context's time |
//! | `comment`, `configId`, `queueId`, `executionTraceId` | strings, kept as sent |
//!
//! Differences from Langfuse: an ANNOTATION score without `configId` and a score whose value
//! does not fit its type are rejected here with a message (Langfuse's worker drops them
//! silently after answering success); score configs are not looked up (`configId` is stored
//! as sent); CORRECTION scores are refused (the contract has no `long_string_value`).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use spanbridge_proto::Score;

use super::family::langfuse::normalize_environment;
use super::vocab::value::parse_timestamp_us;

/// Longest accepted score id (Langfuse's `idSchema`).
const MAX_ID_CHARS: usize = 800;
/// Longest TEXT score value.
const MAX_TEXT_CHARS: usize = 500;

/// What the caller knows about a score that its body may not say.
#[derive(Debug, Clone, Copy)]
pub struct ScoreContext<'a> {
    /// The score's time when the body has no `timestamp`, µs since the epoch: the receive time
    /// (`POST /api/public/scores`) or the envelope's timestamp (`score-create`).
    pub timestamp_us: i64,
    /// Seeds the id of a score sent without one, so the id is unique per score yet the same
    /// when the same request is converted again: e.g. the request's receive time, key and the
    /// score's position, or the batch API's envelope id.
    pub id_seed: &'a str,
    /// Whether `source: "EVAL"` is accepted: the batch API takes it, the public scores
    /// endpoint reserves it for Langfuse's own evaluators.
    pub allow_eval_source: bool,
}

/// Why one score was refused. The message names the field and the rule, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid score: {0}")]
pub struct ScoreError(String);

impl ScoreError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Parses and validates one score body as Langfuse's API and worker do (module table).
pub fn parse_score(body: &Value, context: &ScoreContext<'_>) -> Result<Score, ScoreError> {
    let Value::Object(fields) = body else {
        return Err(ScoreError::new("a score must be a JSON object"));
    };
    let id = match text(fields, "id")? {
        Some(id) => valid_id(id)?.to_owned(),
        None => generated_id(body, context.id_seed),
    };
    let name = text(fields, "name")?
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ScoreError::new("`name` is required and must be a non-empty string"))?;
    let trace_id = text(fields, "traceId")?.unwrap_or_default();
    let session_id = text(fields, "sessionId")?.unwrap_or_default();
    let dataset_run_id = text(fields, "datasetRunId")?.unwrap_or_default();
    let observation_id = text(fields, "observationId")?.unwrap_or_default();
    let targets = [trace_id, session_id, dataset_run_id]
        .iter()
        .filter(|id| !id.is_empty())
        .count();
    if targets != 1 {
        return Err(ScoreError::new(
            "exactly one of `traceId`, `sessionId` and `datasetRunId` must be set",
        ));
    }
    if !observation_id.is_empty() && trace_id.is_empty() {
        return Err(ScoreError::new("`observationId` needs a `traceId`"));
    }
    let config_id = text(fields, "configId")?.unwrap_or_default();
    let source = source(fields, context, config_id)?;
    let typed = typed_value(fields)?;
    let timestamp_us = match fields.get("timestamp") {
        None | Some(Value::Null) => context.timestamp_us,
        Some(Value::String(time)) if has_utc_offset(time) => parse_timestamp_us(time)
            .ok_or_else(|| ScoreError::new("`timestamp` is not an ISO-8601 date-time"))?,
        Some(_) => {
            return Err(ScoreError::new(
                "`timestamp` must be an ISO-8601 date-time with a UTC offset",
            ));
        }
    };
    let environment = match fields.get("environment") {
        Some(Value::String(environment)) => normalize_environment(environment),
        _ => "default".to_owned(),
    };
    let (metadata_names, metadata_values) = metadata(fields.get("metadata"));
    Ok(Score {
        id,
        trace_id: trace_id.to_owned(),
        observation_id: observation_id.to_owned(),
        session_id: session_id.to_owned(),
        dataset_run_id: dataset_run_id.to_owned(),
        name: name.to_owned(),
        data_type: typed.data_type.to_owned(),
        value: typed.value,
        string_value: typed.string_value,
        source: source.to_owned(),
        comment: text(fields, "comment")?.unwrap_or_default().to_owned(),
        metadata_names,
        metadata_values,
        environment,
        config_id: config_id.to_owned(),
        queue_id: text(fields, "queueId")?.unwrap_or_default().to_owned(),
        execution_trace_id: text(fields, "executionTraceId")?
            .unwrap_or_default()
            .to_owned(),
        timestamp_us,
    })
}

/// An optional string field: absent or null → None, a string → Some, anything else an error.
fn text<'a>(fields: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, ScoreError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(ScoreError::new(format!("`{key}` must be a string"))),
    }
}

/// Langfuse's `idSchema`: 1–800 characters, no carriage return (ids become file names there).
fn valid_id(id: &str) -> Result<&str, ScoreError> {
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS || id.contains('\r') {
        return Err(ScoreError::new(
            "`id` must be 1–800 characters without a carriage return",
        ));
    }
    Ok(id)
}

/// A UUID-shaped id from the seed and the body, for scores sent without one (Langfuse's
/// endpoint generates a UUID there). Deterministic, so a converted request can be replayed.
fn generated_id(body: &Value, seed: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"spanbridge.score\0")
        .chain_update(seed)
        .chain_update(b"\0")
        .chain_update(body.to_string())
        .finalize();
    let hex = hex::encode(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// `source`: API by default; ANNOTATION needs a score config; EVAL only where allowed.
fn source(
    fields: &Map<String, Value>,
    context: &ScoreContext<'_>,
    config_id: &str,
) -> Result<&'static str, ScoreError> {
    match text(fields, "source")? {
        None | Some("API") => Ok("API"),
        Some("ANNOTATION") if config_id.is_empty() => {
            Err(ScoreError::new("an ANNOTATION score needs a `configId`"))
        }
        Some("ANNOTATION") => Ok("ANNOTATION"),
        Some("EVAL") if context.allow_eval_source => Ok("EVAL"),
        Some("EVAL") => Err(ScoreError::new(
            "`source` EVAL is reserved for evaluators and not accepted here",
        )),
        Some(_) => Err(ScoreError::new("`source` must be API or ANNOTATION")),
    }
}

/// A score's type and its value columns (§4.2's inflation table).
struct Typed {
    data_type: &'static str,
    value: f64,
    string_value: Option<String>,
}

/// `dataType` and `value`, checked against each other; the type inferred when absent.
fn typed_value(fields: &Map<String, Value>) -> Result<Typed, ScoreError> {
    let value = fields.get("value").filter(|v| !v.is_null());
    let data_type = match (text(fields, "dataType")?, value) {
        (_, None) => return Err(ScoreError::new("`value` is required")),
        (Some(data_type), _) => data_type,
        (None, Some(Value::Number(_))) => "NUMERIC",
        (None, Some(Value::String(_))) => "CATEGORICAL",
        (None, Some(_)) => return Err(ScoreError::new("`value` must be a number or a string")),
    };
    let number = value.and_then(Value::as_f64);
    let string = value.and_then(Value::as_str);
    match data_type {
        "NUMERIC" => match number {
            Some(number) => Ok(Typed {
                data_type: "NUMERIC",
                value: number,
                string_value: None,
            }),
            None => Err(ScoreError::new("a NUMERIC score needs a number `value`")),
        },
        "BOOLEAN" => match number {
            Some(flag) if flag == 0.0 || flag == 1.0 => Ok(Typed {
                data_type: "BOOLEAN",
                value: flag,
                string_value: Some(if flag == 1.0 { "True" } else { "False" }.to_owned()),
            }),
            _ => Err(ScoreError::new("a BOOLEAN score needs `value` 0 or 1")),
        },
        "CATEGORICAL" => match string {
            Some(category) => Ok(Typed {
                data_type: "CATEGORICAL",
                value: 0.0,
                string_value: Some(category.to_owned()),
            }),
            None => Err(ScoreError::new(
                "a CATEGORICAL score needs a string `value`",
            )),
        },
        "TEXT" => match string {
            Some(text) if (1..=MAX_TEXT_CHARS).contains(&text.chars().count()) => Ok(Typed {
                data_type: "TEXT",
                value: 0.0,
                string_value: Some(text.to_owned()),
            }),
            _ => Err(ScoreError::new(
                "a TEXT score needs a string `value` of 1–500 characters",
            )),
        },
        "CORRECTION" => Err(ScoreError::new(
            "`dataType` CORRECTION is not supported by Spanbridge",
        )),
        _ => Err(ScoreError::new(
            "`dataType` must be NUMERIC, BOOLEAN, CATEGORICAL or TEXT",
        )),
    }
}

/// `has_utc_offset("2025-01-01T00:00:00Z")`: Langfuse refuses date-times without a zone.
fn has_utc_offset(time: &str) -> bool {
    let time = time.trim();
    let Some(clock) = time.get(19..) else {
        return false;
    };
    clock.ends_with(['Z', 'z']) || clock.contains(['+', '-'])
}

/// Langfuse's score metadata (§3.3): an object keeps its top-level keys, non-string values as
/// JSON text (`{"a": {"b": 1}}` → `a = {"b":1}`); a string, number or boolean becomes
/// `{"metadata": its text}` and an array `{"metadata": its JSON}`; absent, null or a falsy
/// scalar (`""`, `0`, `false`) becomes no metadata.
fn metadata(metadata: Option<&Value>) -> (Vec<String>, Vec<String>) {
    let leaf = |value: &Value| match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    match metadata {
        Some(Value::Object(object)) => object
            .iter()
            .map(|(key, value)| (key.clone(), leaf(value)))
            .unzip(),
        Some(Value::String(text)) if !text.is_empty() => {
            (vec!["metadata".into()], vec![text.clone()])
        }
        Some(Value::Bool(true)) => (vec!["metadata".into()], vec!["true".into()]),
        Some(Value::Number(number)) if number.as_f64() != Some(0.0) => {
            (vec!["metadata".into()], vec![number.to_string()])
        }
        Some(array @ Value::Array(_)) => (vec!["metadata".into()], vec![array.to_string()]),
        _ => (Vec::new(), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW_US: i64 = 1_764_000_000_000_000;

    fn context() -> ScoreContext<'static> {
        ScoreContext {
            timestamp_us: NOW_US,
            id_seed: "request-1/0",
            allow_eval_source: false,
        }
    }

    fn parse(body: Value) -> Result<Score, ScoreError> {
        parse_score(&body, &context())
    }

    fn message(body: Value) -> String {
        parse(body).expect_err("refused").to_string()
    }

    #[test]
    fn sdk_observation_score_keeps_every_field() {
        let score = parse(json!({
            "id": "s-1", "traceId": "0af7651916cd43dd8448eb211c80319c",
            "observationId": "b7ad6b7169203331", "name": "accuracy", "value": 0.92,
            "dataType": "NUMERIC", "comment": "close", "environment": "Production",
            "configId": "cfg", "queueId": "q", "executionTraceId": "e",
            "timestamp": "2025-11-24T16:00:00.123456+00:00", "unknownKey": 1
        }))
        .unwrap();
        assert_eq!(
            score,
            Score {
                id: "s-1".into(),
                trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
                observation_id: "b7ad6b7169203331".into(),
                name: "accuracy".into(),
                data_type: "NUMERIC".into(),
                value: 0.92,
                string_value: None,
                source: "API".into(),
                comment: "close".into(),
                environment: "production".into(),
                config_id: "cfg".into(),
                queue_id: "q".into(),
                execution_trace_id: "e".into(),
                timestamp_us: 1_764_000_000_123_456,
                ..Default::default()
            }
        );
    }

    #[test]
    fn data_types_fill_value_and_string_value() {
        /// (body value, dataType, stored data_type, value, string_value)
        type Case = (
            Value,
            Option<&'static str>,
            &'static str,
            f64,
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            (json!(3), None, "NUMERIC", 3.0, None),
            (json!("good"), None, "CATEGORICAL", 0.0, Some("good")),
            (json!(1.0), Some("BOOLEAN"), "BOOLEAN", 1.0, Some("True")),
            (json!(0), Some("BOOLEAN"), "BOOLEAN", 0.0, Some("False")),
            (json!(1), None, "NUMERIC", 1.0, None), // BOOLEAN is never inferred
            (
                json!("a"),
                Some("CATEGORICAL"),
                "CATEGORICAL",
                0.0,
                Some("a"),
            ),
            (
                json!("free text"),
                Some("TEXT"),
                "TEXT",
                0.0,
                Some("free text"),
            ),
            (json!(-2.5), Some("NUMERIC"), "NUMERIC", -2.5, None),
        ];
        for (value, data_type, stored, number, string) in cases {
            let mut body = json!({"traceId": "t", "name": "n", "value": value});
            if let Some(data_type) = data_type {
                body["dataType"] = json!(data_type);
            }
            let score = parse(body).unwrap_or_else(|e| panic!("{value} {data_type:?}: {e}"));
            assert_eq!(score.data_type, *stored, "{value} {data_type:?}");
            assert_eq!(score.value, *number, "{value} {data_type:?}");
            assert_eq!(
                score.string_value.as_deref(),
                *string,
                "{value} {data_type:?}"
            );
        }
    }

    #[test]
    fn values_that_do_not_fit_their_type_are_refused() {
        let cases: &[(Value, &str, &str)] = &[
            (json!("high"), "NUMERIC", "NUMERIC score needs a number"),
            (json!(2), "BOOLEAN", "BOOLEAN score needs `value` 0 or 1"),
            (json!(true), "BOOLEAN", "BOOLEAN score needs `value` 0 or 1"),
            (json!(1), "CATEGORICAL", "CATEGORICAL score needs a string"),
            (json!(""), "TEXT", "1–500 characters"),
            (json!("x".repeat(501)), "TEXT", "1–500 characters"),
            (json!("fix"), "CORRECTION", "CORRECTION is not supported"),
            (json!(1), "PERCENT", "must be NUMERIC, BOOLEAN"),
        ];
        for (value, data_type, expected) in cases {
            let got = message(
                json!({"traceId": "t", "name": "n", "value": value, "dataType": data_type}),
            );
            assert!(got.contains(expected), "{data_type} {value}: {got}");
        }
        assert!(message(json!({"traceId": "t", "name": "n"})).contains("`value` is required"));
        assert!(
            message(json!({"traceId": "t", "name": "n", "value": [1]}))
                .contains("number or a string")
        );
        assert!(
            message(json!({"traceId": "t", "name": "n", "value": {"a": 1}}))
                .contains("number or a string")
        );
    }

    #[test]
    fn exactly_one_target() {
        let refused = [
            json!({"name": "n", "value": 1}),
            json!({"traceId": "t", "sessionId": "s", "name": "n", "value": 1}),
            json!({"sessionId": "s", "datasetRunId": "d", "name": "n", "value": 1}),
            json!({"traceId": "", "name": "n", "value": 1}),
        ];
        for body in refused {
            assert!(message(body.clone()).contains("exactly one of"), "{body}");
        }
        assert!(
            message(json!({"sessionId": "s", "observationId": "o", "name": "n", "value": 1}))
                .contains("`observationId` needs a `traceId`")
        );
        let session = parse(json!({"sessionId": "s", "name": "n", "value": 1})).unwrap();
        assert_eq!(
            (session.session_id.as_str(), session.trace_id.as_str()),
            ("s", "")
        );
        let run = parse(json!({"datasetRunId": "r", "name": "n", "value": 1})).unwrap();
        assert_eq!(run.dataset_run_id, "r");
    }

    #[test]
    fn field_types_and_shapes_are_checked() {
        assert_eq!(
            message(json!([1])),
            "invalid score: a score must be a JSON object"
        );
        assert!(message(json!({"traceId": "t", "value": 1})).contains("`name` is required"));
        assert!(message(json!({"traceId": "t", "name": "", "value": 1})).contains("`name`"));
        assert!(
            message(json!({"traceId": 7, "name": "n", "value": 1}))
                .contains("`traceId` must be a string")
        );
        assert!(
            message(json!({"traceId": "t", "name": "n", "value": 1, "comment": 5}))
                .contains("`comment`")
        );
        assert!(
            message(json!({"traceId": "t", "name": "n", "value": 1, "id": ""})).contains("`id`")
        );
        assert!(
            message(json!({"traceId": "t", "name": "n", "value": 1, "id": "a\rb"}))
                .contains("`id`")
        );
        let long_id = "x".repeat(801);
        assert!(
            message(json!({"traceId": "t", "name": "n", "value": 1, "id": long_id}))
                .contains("`id`")
        );
        let null_fields = parse(
            json!({"traceId": "t", "name": "n", "value": 1, "comment": null,
            "sessionId": null, "metadata": null, "dataType": null, "timestamp": null}),
        )
        .unwrap();
        assert_eq!(null_fields.comment, "");
        assert_eq!(null_fields.data_type, "NUMERIC");
    }

    #[test]
    fn sources() {
        let with = |source: &str, extra: Value| {
            let mut body = json!({"traceId": "t", "name": "n", "value": 1, "source": source});
            if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
                body.extend(extra);
            }
            parse(body)
        };
        assert_eq!(
            parse(json!({"traceId": "t", "name": "n", "value": 1}))
                .unwrap()
                .source,
            "API"
        );
        assert_eq!(with("API", json!({})).unwrap().source, "API");
        assert_eq!(
            with("ANNOTATION", json!({"configId": "c"})).unwrap().source,
            "ANNOTATION"
        );
        assert!(
            with("ANNOTATION", json!({}))
                .unwrap_err()
                .to_string()
                .contains("configId")
        );
        assert!(
            with("EVAL", json!({}))
                .unwrap_err()
                .to_string()
                .contains("EVAL is reserved")
        );
        assert!(with("HUMAN", json!({})).is_err());
        let legacy = ScoreContext {
            allow_eval_source: true,
            ..context()
        };
        let eval = json!({"traceId": "t", "name": "n", "value": 1, "source": "EVAL"});
        assert_eq!(parse_score(&eval, &legacy).unwrap().source, "EVAL");
    }

    #[test]
    fn missing_id_is_generated_repeatably() {
        let body = json!({"traceId": "t", "name": "n", "value": 1});
        let first = parse(body.clone()).unwrap().id;
        assert_eq!(first.len(), 36);
        assert_eq!(first.matches('-').count(), 4);
        assert_eq!(
            parse(body.clone()).unwrap().id,
            first,
            "same seed and body, same id"
        );
        let other_seed = ScoreContext {
            id_seed: "request-1/1",
            ..context()
        };
        assert_ne!(parse_score(&body, &other_seed).unwrap().id, first);
        let other_body = json!({"traceId": "t", "name": "m", "value": 1});
        assert_ne!(parse(other_body).unwrap().id, first);
    }

    #[test]
    fn timestamps_need_a_zone() {
        let at = |timestamp: Value| {
            parse(json!({"traceId": "t", "name": "n", "value": 1, "timestamp": timestamp}))
        };
        assert_eq!(
            parse(json!({"traceId": "t", "name": "n", "value": 1}))
                .unwrap()
                .timestamp_us,
            NOW_US
        );
        assert_eq!(
            at(json!("1970-01-01T00:00:01.5Z")).unwrap().timestamp_us,
            1_500_000
        );
        assert_eq!(
            at(json!("1970-01-01T02:00:01+02:00")).unwrap().timestamp_us,
            1_000_000
        );
        for refused in [
            json!("1970-01-01T00:00:01"),
            json!("yesterday"),
            json!(1_700_000_000),
            json!("2025-13-01T00:00:00Z"),
        ] {
            assert!(
                at(refused.clone())
                    .unwrap_err()
                    .to_string()
                    .contains("`timestamp`"),
                "{refused}"
            );
        }
    }

    #[test]
    fn environment_is_normalised_never_refused() {
        let env = |environment: Value| {
            parse(json!({"traceId": "t", "name": "n", "value": 1, "environment": environment}))
                .unwrap()
                .environment
        };
        assert_eq!(env(json!("Staging")), "staging");
        assert_eq!(env(json!("langfuse-prod")), "prod");
        assert_eq!(env(json!("has space")), "default");
        assert_eq!(env(json!(5)), "default");
        assert_eq!(env(Value::Null), "default");
    }

    #[test]
    fn metadata_keeps_top_level_keys_as_text() {
        let flat = |metadata: Value| {
            let score =
                parse(json!({"traceId": "t", "name": "n", "value": 1, "metadata": metadata}))
                    .unwrap();
            score
                .metadata_names
                .into_iter()
                .zip(score.metadata_values)
                .collect::<Vec<_>>()
        };
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            flat(json!({"a": {"b": 1}, "s": "x", "n": 1, "z": null, "l": [1, "2"]})),
            vec![
                pair("a", r#"{"b":1}"#),
                pair("s", "x"),
                pair("n", "1"),
                pair("z", "null"),
                pair("l", r#"[1,"2"]"#)
            ]
        );
        assert_eq!(flat(json!("note")), vec![pair("metadata", "note")]);
        assert_eq!(flat(json!(2.5)), vec![pair("metadata", "2.5")]);
        assert_eq!(flat(json!(true)), vec![pair("metadata", "true")]);
        assert_eq!(flat(json!([1, 2])), vec![pair("metadata", "[1,2]")]);
        for falsy in [json!(""), json!(0), json!(false), json!({})] {
            assert_eq!(flat(falsy.clone()), vec![], "{falsy}");
        }
    }

    #[test]
    fn error_messages_never_echo_values() {
        let secret = "sk-lf-do-not-echo";
        for body in [
            json!({"traceId": "t", "name": "n", "value": secret, "dataType": "NUMERIC"}),
            json!({"traceId": "t", "name": "n", "value": 1, "dataType": secret}),
            json!({"traceId": "t", "name": "n", "value": 1, "source": secret}),
            json!({"traceId": "t", "name": "n", "value": 1, "timestamp": secret}),
        ] {
            assert!(!message(body).contains(secret));
        }
    }
}

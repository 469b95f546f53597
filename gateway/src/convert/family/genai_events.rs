//! OpenTelemetry GenAI events sent as OTLP log records (genai-semconv.md §1, §7): which event
//! names carry content or evaluations, how a record's body holds a message, and the
//! `gen_ai.evaluation.result` attributes. The record's trace and span ids say which observation
//! the content belongs to (`convert::logs` groups them).

use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use serde_json::{Map, Value};

use crate::convert::vocab::messages::{CHOICE_EVENT, message_event_role};
use crate::convert::vocab::value;
use crate::convert::vocab::view::Attrs;

/// What a GenAI log record contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `gen_ai.{system,user,assistant,tool}.message`: one input message, body `{content, …}`.
    Message(&'static str),
    /// `gen_ai.choice`: one output choice, body `{index, finish_reason, message}`.
    Choice,
    /// `gen_ai.client.inference.operation.details` (semconv ≥ 1.37): input, output, system
    /// instructions, model and usage in its attributes, like a span's.
    OperationDetails,
    /// `gen_ai.evaluation.result` (semconv 1.38): a score of the span.
    EvaluationResult,
}

/// Event names with content or evaluations (everything else is an "other" record).
pub const EVENTS: &[(&str, EventKind)] = &[
    (
        "gen_ai.client.inference.operation.details",
        EventKind::OperationDetails,
    ),
    ("gen_ai.evaluation.result", EventKind::EvaluationResult),
    (CHOICE_EVENT, EventKind::Choice),
];

/// The kind of a record's event name, None when it is not a GenAI content or evaluation event.
pub fn kind(event_name: &str) -> Option<EventKind> {
    if let Some(role) = message_event_role(event_name) {
        return Some(EventKind::Message(role));
    }
    EVENTS
        .iter()
        .find(|(name, _)| *name == event_name)
        .map(|(_, kind)| *kind)
}

/// The event name: `LogRecord.event_name` (OTLP 1.5+), else the `event.name` attribute that
/// older SDKs (Events API before the field existed) set.
pub fn event_name<'a>(field: &'a str, attrs: &Attrs<'a>) -> &'a str {
    if field.is_empty() {
        attrs.str("event.name").unwrap_or("")
    } else {
        field
    }
}

/// A message or choice body as fields: a kvlist (the SDKs' shape) as an object; a string as
/// the JSON object it holds, else as `{content}`; no body (content capture off) as no fields.
/// Any other shape is returned as `Err(raw value)`, for the caller to keep verbatim.
pub fn body_fields(body: Option<&AnyValue>) -> Result<Map<String, Value>, Value> {
    match body.and_then(|b| b.value.as_ref()) {
        None => Ok(Map::new()),
        Some(any_value::Value::KvlistValue(_)) => match body.map(value::to_json) {
            Some(Value::Object(object)) => Ok(object),
            _ => Ok(Map::new()),
        },
        Some(any_value::Value::StringValue(text)) => match value::parse_json(text) {
            Some(Value::Object(object)) => Ok(object),
            _ => Ok(Map::from_iter([(
                "content".to_owned(),
                Value::String(text.clone()),
            )])),
        },
        Some(_) => Err(body.map(value::to_json).unwrap_or(Value::Null)),
    }
}

/// Keys that frame a message or choice rather than hold its content.
const FRAME_KEYS: &[&str] = &["role", "index", "finish_reason"];

/// Whether a message or choice carries anything beyond its frame: with content capture off
/// the SDKs send bodies without content, and such a list must not replace content the span
/// already has.
pub fn has_content(message: &Value) -> bool {
    match message {
        Value::Object(fields) => fields
            .iter()
            .any(|(key, v)| !FRAME_KEYS.contains(&key.as_str()) && has_content(v)),
        other => value::is_present(other),
    }
}

/// A `gen_ai.evaluation.result` record's score.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub name: String,
    /// `gen_ai.evaluation.score.value`: a NUMERIC score.
    pub value: Option<f64>,
    /// `gen_ai.evaluation.score.label`: a CATEGORICAL score when there is no value.
    pub label: Option<String>,
    pub explanation: String,
}

/// Attribute keys of the evaluation event, kept out of the score's metadata.
pub const EVALUATION_KEYS: &[&str] = &[
    "gen_ai.evaluation.name",
    "gen_ai.evaluation.score.value",
    "gen_ai.evaluation.score.label",
    "gen_ai.evaluation.explanation",
    "event.name",
];

/// The evaluation of a record, or why it cannot be a score (no name, no value or label).
pub fn evaluation(attrs: &Attrs) -> Result<Evaluation, &'static str> {
    let name = attrs
        .present("gen_ai.evaluation.name")
        .map(value::into_text)
        .ok_or("an evaluation result without gen_ai.evaluation.name")?;
    let value = attrs
        .get("gen_ai.evaluation.score.value")
        .and_then(|v| value::as_f64(&v))
        .filter(|v| v.is_finite());
    let label = attrs
        .present("gen_ai.evaluation.score.label")
        .map(value::into_text);
    if value.is_none() && label.is_none() {
        return Err("an evaluation result without a score value or label");
    }
    Ok(Evaluation {
        name,
        value,
        label,
        explanation: attrs
            .present("gen_ai.evaluation.explanation")
            .map(value::into_text)
            .unwrap_or_default(),
    })
}

//! The event envelope and the table of event types (reference langfuse-legacy.md §1.2–§1.3):
//! `{id, timestamp, type, body, metadata?}`; the type names the entity, the body schema and,
//! for observations, the stored observation type.

use serde_json::{Map, Value};

use super::read::{Invalid, iso_time, valid_id};

/// Which body schema an observation event uses (§1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// Base fields plus `endTime`.
    Span,
    /// Base fields; `id` required, no `endTime`.
    Event,
    /// Span fields plus model, usage, cost, prompt and completion start.
    Generation,
    /// `observation-create/-update` (Langfuse's generic, deprecated observation events): the
    /// observation type is `body.type`; no environment and no prompt fields.
    Observation,
}

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Trace,
    Observation {
        /// Stored type; `None` for `observation-*`, whose body says.
        observation_type: Option<&'static str>,
        body: BodyKind,
        update: bool,
    },
    Score,
    /// Logged, never stored, in neither list of the answer.
    SdkLog,
}

const fn create(observation_type: &'static str, body: BodyKind) -> Kind {
    Kind::Observation {
        observation_type: Some(observation_type),
        body,
        update: false,
    }
}

const fn update(observation_type: &'static str, body: BodyKind) -> Kind {
    Kind::Observation {
        observation_type: Some(observation_type),
        body,
        update: true,
    }
}

/// Every public event type (§1.3). `dataset-run-item-create` is internal to Langfuse and is
/// refused like an unknown type.
pub const EVENT_TYPES: &[(&str, Kind)] = &[
    ("trace-create", Kind::Trace),
    ("span-create", create("SPAN", BodyKind::Span)),
    ("span-update", update("SPAN", BodyKind::Span)),
    (
        "generation-create",
        create("GENERATION", BodyKind::Generation),
    ),
    (
        "generation-update",
        update("GENERATION", BodyKind::Generation),
    ),
    ("event-create", create("EVENT", BodyKind::Event)),
    ("agent-create", create("AGENT", BodyKind::Generation)),
    ("tool-create", create("TOOL", BodyKind::Generation)),
    ("chain-create", create("CHAIN", BodyKind::Generation)),
    (
        "retriever-create",
        create("RETRIEVER", BodyKind::Generation),
    ),
    (
        "evaluator-create",
        create("EVALUATOR", BodyKind::Generation),
    ),
    (
        "embedding-create",
        create("EMBEDDING", BodyKind::Generation),
    ),
    (
        "guardrail-create",
        create("GUARDRAIL", BodyKind::Generation),
    ),
    (
        "observation-create",
        Kind::Observation {
            observation_type: None,
            body: BodyKind::Observation,
            update: false,
        },
    ),
    (
        "observation-update",
        Kind::Observation {
            observation_type: None,
            body: BodyKind::Observation,
            update: true,
        },
    ),
    ("score-create", Kind::Score),
    ("sdk-log", Kind::SdkLog),
];

/// One event of a batch, its envelope checked.
#[derive(Debug)]
pub struct Envelope<'a> {
    pub id: &'a str,
    /// Envelope time, µs since the epoch: the order in which events of one entity apply.
    pub timestamp_us: i64,
    pub kind: Kind,
    pub body: &'a Map<String, Value>,
}

/// The id an answer names for an event: its envelope id when that is a string, else
/// `"unknown"` (as Langfuse answers).
pub fn answer_id(event: &Value) -> String {
    event
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned()
}

/// Checks an event's envelope.
pub fn envelope(event: &Value) -> Result<Envelope<'_>, Invalid> {
    let event = event
        .as_object()
        .ok_or_else(|| Invalid("an event must be a JSON object".into()))?;
    let id = match event.get("id") {
        Some(Value::String(id)) if valid_id(id) => id.as_str(),
        _ => {
            return Err(Invalid(
                "id: expected an id of 1 to 800 characters without carriage returns".into(),
            ));
        }
    };
    let timestamp_us = event
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(iso_time)
        .ok_or_else(|| Invalid("timestamp: expected an ISO-8601 time with a zone".into()))?;
    let type_name = event
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| Invalid("type: expected an event type".into()))?;
    let kind = EVENT_TYPES
        .iter()
        .find(|(name, _)| *name == type_name)
        .map(|(_, kind)| *kind)
        .ok_or_else(|| {
            Invalid(format!(
                "type: unknown event type `{}`",
                truncate(type_name)
            ))
        })?;
    let body = event
        .get("body")
        .and_then(Value::as_object)
        .ok_or_else(|| Invalid("body: expected an object".into()))?;
    Ok(Envelope {
        id,
        timestamp_us,
        kind,
        body,
    })
}

/// Client text echoed in a message, cut short.
fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

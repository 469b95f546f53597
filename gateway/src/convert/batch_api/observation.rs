//! Observation events (reference langfuse-legacy.md §1.4, §3.2) into the pieces the sink
//! assembles: a `*-create` is a whole row (absent fields empty: "not sent", so the sink keeps
//! what it already holds), a `*-update` a partial row naming only the fields it sent. Ids are
//! kept as sent.

use serde_json::{Map, Value};
use spanbridge_proto::{EventRow, PartialRow};

use super::envelope::{BodyKind, Envelope};
use super::read::{Body, Invalid};
use super::usage::usage_and_cost;
use super::{SOURCE, metadata_record, root_span_id};
use crate::convert::vocab::section::flatten;
use crate::convert::vocab::value;

/// An observation event as a piece of its trace.
#[derive(Debug, Clone, PartialEq)]
pub enum ObservationPiece {
    Create(EventRow),
    Update(PartialRow),
}

impl ObservationPiece {
    pub fn trace_id(&self) -> &str {
        match self {
            Self::Create(row) => &row.trace_id,
            Self::Update(piece) => piece.row.as_ref().map_or("", |r| r.trace_id.as_str()),
        }
    }
}

type SetText = fn(&mut EventRow, String);

/// Text fields of every observation body: (body key, `EventRow` field, setter).
const TEXT_FIELDS: &[(&str, &str, SetText)] = &[
    ("name", "name", |r, v| r.name = v),
    ("statusMessage", "status_message", |r, v| {
        r.status_message = v
    }),
    ("version", "version", |r, v| r.version = v),
];

/// Text fields of generation-family bodies (and `observation-*`).
const MODEL_FIELDS: &[(&str, &str, SetText)] = &[("model", "provided_model_name", |r, v| {
    r.provided_model_name = v
})];

/// Observation levels (`level`), default DEFAULT.
const LEVELS: &[&str] = &["DEBUG", "DEFAULT", "WARNING", "ERROR"];
/// `observation-*` bodies name their type.
const OBSERVATION_TYPES: &[&str] = &["GENERATION", "SPAN", "EVENT"];

/// Converts one observation event. `observation_type` comes from the event type (`None` for
/// `observation-*`).
pub fn observation(
    envelope: &Envelope,
    observation_type: Option<&'static str>,
    kind: BodyKind,
    update: bool,
) -> Result<ObservationPiece, Invalid> {
    let body = Body(envelope.body);
    let observation_type = match observation_type {
        Some(t) => t,
        None => body
            .one_of("type", OBSERVATION_TYPES)?
            .ok_or_else(|| Invalid::field("type", "one of GENERATION, SPAN, EVENT"))?,
    };
    // A create without `body.id` takes its envelope id (stable across the SDK's retries);
    // Langfuse answers 201 and drops it. An update must name what it updates.
    let id = match (body.id("id")?, update, kind) {
        (Some(id), _, _) => id,
        (None, false, BodyKind::Event) => return Err(Invalid::field("id", "an id")),
        (None, false, _) => envelope.id,
        (None, true, _) => return Err(Invalid::field("id", "the id of the observation to update")),
    };
    // Without `traceId` a create starts a trace of its own (the "wrapper trace" Langfuse means
    // to create); an update cannot be routed to its observation without it.
    let trace_id = match (body.id("traceId")?, update) {
        (Some(trace), _) => trace,
        (None, false) => id,
        (None, true) => {
            return Err(Invalid::field(
                "traceId",
                "the trace id of the observation to update",
            ));
        }
    };

    let mut row = EventRow {
        trace_id: trace_id.to_owned(),
        span_id: id.to_owned(),
        r#type: observation_type.to_owned(),
        source: SOURCE.to_owned(),
        ..Default::default()
    };
    let mut named: Vec<&'static str> = Vec::new();
    set_text(&body, TEXT_FIELDS, &mut row, &mut named)?;
    if let Some(level) = body.one_of("level", LEVELS)? {
        row.level = level.to_owned();
        named.push("level");
    }
    if kind != BodyKind::Observation
        && let Some(environment) = body.environment()
    {
        row.environment = environment;
        named.push("environment");
    }
    if let Some(parent) = body.text("parentObservationId")? {
        row.parent_span_id = parent.to_owned();
        named.push("parent_span_id");
    }
    if let Some(start) = body.time("startTime")? {
        row.start_time_us = start;
        named.push("start_time_us");
    }
    if kind != BodyKind::Event
        && let Some(end) = body.time("endTime")?
    {
        row.end_time_us = Some(end);
        named.push("end_time_us");
    }
    for (key, field) in [("input", "input"), ("output", "output")] {
        if let Some(content) = body.any(key) {
            let text = value::to_text(content);
            if key == "input" {
                row.input = text;
            } else {
                row.output = text;
            }
            named.push(field);
        }
    }
    if let Some(metadata) = body.any("metadata") {
        (row.metadata_names, row.metadata_values) = flatten(metadata_record(metadata));
        named.push("metadata_names");
    }
    if matches!(kind, BodyKind::Generation | BodyKind::Observation) {
        set_text(&body, MODEL_FIELDS, &mut row, &mut named)?;
        generation_fields(&body, kind, &mut row, &mut named)?;
    }

    if update {
        // What an orphan row (the update arrived first) starts from: a top-level observation
        // hangs under its trace's row, as Langfuse v4 files it.
        if row.parent_span_id.is_empty() {
            row.parent_span_id = root_span_id(trace_id);
        }
        return Ok(ObservationPiece::Update(PartialRow {
            row: Some(row),
            fields: named.into_iter().map(str::to_owned).collect(),
            event_time_us: envelope.timestamp_us,
        }));
    }
    if row.start_time_us == 0 {
        row.start_time_us = envelope.timestamp_us;
    }
    if let Some(end) = row.end_time_us {
        row.end_time_us = Some(end.max(row.start_time_us));
    }
    if row.parent_span_id.is_empty() {
        row.parent_span_id = root_span_id(trace_id);
    }
    if row.level.is_empty() {
        row.level = "DEFAULT".into();
    }
    if row.environment.is_empty() {
        row.environment = "default".into();
    }
    Ok(ObservationPiece::Create(row))
}

/// Applies a table of text fields: each present one is set and named.
fn set_text(
    body: &Body,
    fields: &[(&str, &'static str, SetText)],
    row: &mut EventRow,
    named: &mut Vec<&'static str>,
) -> Result<(), Invalid> {
    for (key, field, set) in fields {
        if let Some(text) = body.text(key)? {
            set(row, text.to_owned());
            named.push(field);
        }
    }
    Ok(())
}

/// Model, parameters, usage, cost, prompt and completion start (generation-family bodies;
/// `observation-*` bodies have no prompt fields).
fn generation_fields(
    body: &Body,
    kind: BodyKind,
    row: &mut EventRow,
    named: &mut Vec<&'static str>,
) -> Result<(), Invalid> {
    if let Some(time) = body.time("completionStartTime")? {
        row.completion_start_time_us = Some(time);
        named.push("completion_start_time_us");
    }
    if let Some(params) = body.object("modelParameters")? {
        let params = model_parameters(params, kind)?;
        if !params.is_empty() {
            row.model_parameters = Value::Object(params).to_string();
            named.push("model_parameters");
        }
    }
    let usage = usage_and_cost(
        body.object("usage")?,
        body.object("usageDetails")?,
        body.object("costDetails")?,
    )?;
    if !usage.usage.is_empty() {
        row.provided_usage_details = usage.usage.into_iter().collect();
        named.push("provided_usage_details");
    }
    if !usage.cost.is_empty() {
        row.provided_cost_details = usage.cost.into_iter().collect();
        named.push("provided_cost_details");
    }
    if kind == BodyKind::Generation {
        let name = body.text("promptName")?.filter(|n| !n.is_empty());
        let version = body.integer("promptVersion")?.filter(|v| *v != 0);
        match (name, version) {
            (Some(name), Some(version)) => {
                row.prompt_name = name.to_owned();
                row.prompt_version = Some(
                    u32::try_from(version)
                        .map_err(|_| Invalid::field("promptVersion", "a positive integer"))?,
                );
                named.extend(["prompt_name", "prompt_version"]);
            }
            (None, None) => {}
            _ => {
                return Err(Invalid(
                    "body.promptName and body.promptVersion: send both or neither".into(),
                ));
            }
        }
    }
    Ok(())
}

/// `modelParameters`: a record of string, number, boolean, string array or string map
/// (`observation-*`: string, number, boolean); `null` values are dropped.
fn model_parameters(
    params: &Map<String, Value>,
    kind: BodyKind,
) -> Result<Map<String, Value>, Invalid> {
    let mut out = Map::new();
    for (key, raw) in params {
        let valid = match raw {
            Value::Null => continue,
            Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
            Value::Array(items) => {
                kind != BodyKind::Observation && items.iter().all(Value::is_string)
            }
            Value::Object(map) => {
                kind != BodyKind::Observation && map.values().all(Value::is_string)
            }
        };
        if !valid {
            return Err(Invalid(format!(
                "body.modelParameters.{key}: expected a string, number, boolean, string array or string map"
            )));
        }
        out.insert(key.clone(), raw.clone());
    }
    Ok(out)
}

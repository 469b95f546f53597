//! `trace-create` (reference langfuse-legacy.md §1.4 TraceBody, §3.1): the trace fields as a
//! piece with explicit presence (a repeated `trace-create` with partial fields completes the
//! trace in the sink), and the trace's own row. Langfuse v4 files a batch-API trace as a SPAN row
//! with id `t-<traceId>` under which top-level observations hang; the same row here carries the
//! trace's name, input, output, metadata and timestamp.

use spanbridge_proto::{EventRow, PartialRow, TraceFields};

use super::envelope::Envelope;
use super::read::{Body, Invalid};
use super::{SOURCE, metadata_record, root_span_id};
use crate::convert::vocab::section::flatten;
use crate::convert::vocab::value;

/// Longest trace name Langfuse accepts.
const MAX_NAME_CHARS: usize = 1000;

/// One `trace-create` as pieces of its trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TracePiece {
    pub trace_id: String,
    pub fields: TraceFields,
    /// The trace's row, as a partial row: only what this event sent applies.
    pub root: PartialRow,
}

pub fn trace(envelope: &Envelope) -> Result<TracePiece, Invalid> {
    let body = Body(envelope.body);
    // Without `body.id` the envelope id names the trace (stable across the SDK's retries);
    // Langfuse answers 201 and drops the event.
    let trace_id = body.id("id")?.unwrap_or(envelope.id).to_owned();
    let text = |key: &str| body.text(key).map(|t| t.map(str::to_owned));
    let name = text("name")?;
    if name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS)
    {
        return Err(Invalid::field("name", "at most 1000 characters"));
    }
    let input = body.any("input").map(value::to_text);
    let output = body.any("output").map(value::to_text);
    let environment = body.environment();
    let release = text("release")?;
    let version = text("version")?;
    let metadata = body.any("metadata").map(|m| flatten(metadata_record(m)));
    let timestamp = body.time("timestamp")?;
    let fields = TraceFields {
        name: name.clone(),
        user_id: text("userId")?,
        session_id: text("sessionId")?,
        tags: body.strings("tags")?.unwrap_or_default(),
        release: release.clone(),
        version: version.clone(),
        public: body.boolean("public")?,
        environment: environment.clone(),
        input: input.clone(),
        output: output.clone(),
        metadata_names: metadata.as_ref().map(|m| m.0.clone()).unwrap_or_default(),
        metadata_values: metadata.as_ref().map(|m| m.1.clone()).unwrap_or_default(),
        // A trace-create speaks for the trace, as a root span does.
        from_root: true,
        event_time_us: envelope.timestamp_us,
    };

    let mut row = EventRow {
        span_id: root_span_id(&trace_id),
        trace_id: trace_id.clone(),
        r#type: "SPAN".into(),
        source: SOURCE.into(),
        ..Default::default()
    };
    let mut named: Vec<&str> = vec!["type", "source", "parent_span_id"];
    let mut set = |field: &'static str, slot: &mut String, value: Option<String>| {
        if let Some(value) = value {
            *slot = value;
            named.push(field);
        }
    };
    set("name", &mut row.name, name);
    set("input", &mut row.input, input);
    set("output", &mut row.output, output);
    set("environment", &mut row.environment, environment);
    set("release", &mut row.release, release);
    set("version", &mut row.version, version);
    if let Some((names, values)) = metadata {
        (row.metadata_names, row.metadata_values) = (names, values);
        named.push("metadata_names");
    }
    if let Some(timestamp) = timestamp {
        row.start_time_us = timestamp;
        named.push("start_time_us");
    }
    Ok(TracePiece {
        trace_id,
        fields,
        root: PartialRow {
            row: Some(row),
            fields: named.into_iter().map(str::to_owned).collect(),
            event_time_us: envelope.timestamp_us,
        },
    })
}

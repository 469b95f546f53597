//! OTLP log records → the pieces of their traces (DESIGN.md "Wire semantics", Logs). Pure: no
//! I/O, no clock (the receive time is passed in).
//!
//! GenAI content events become [`PartialRow`]s of the span they name (trace id + span id),
//! naming only the fields they set, so the sink merges them into the span's row whichever
//! arrives first: a request's message events of one span are one `["input"]` piece (in record
//! order), its choices one `["output"]` piece (by index), each `operation.details` record one
//! piece with input, output, model and usage. `gen_ai.evaluation.result` becomes a [`Score`].
//! Other records are counted, and kept as EVENT observations only when the settings ask.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use spanbridge_proto::{EventRow, PartialRow, Score};

use std::collections::HashMap;

use super::family::genai_events::{self, EventKind};
use super::family::langfuse;
use super::fields::{model_parameters, scalar, tools, usage};
use super::row::{self, SpanIds};
use super::valid_id;
use super::vocab::messages::{choices_output, messages_io_from, role_message};
use super::vocab::section;
use super::vocab::source::first_text;
use super::vocab::value;
use super::vocab::view::{Attrs, Shared, SpanView};

/// Metadata key under which a content event's body of an unexpected shape is kept verbatim.
pub const UNPARSED_BODY_KEY: &str = "spanbridge.unparsed_log_body";

/// What becomes of log records that are neither GenAI content nor evaluations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtherRecords {
    /// Counted (`spanbridge_log_records_other_total`), not stored.
    #[default]
    Count,
    /// Stored as EVENT observations, children of the span the record names.
    Event,
}

/// `[otlp_logs]`: what conversion does with OTLP log records (GenAI content and evaluations
/// are always used; this says what becomes of the other records).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogOptions {
    pub other_records: OtherRecords,
}

impl LogOptions {
    pub fn keeps_other_records(&self) -> bool {
        self.other_records == OtherRecords::Event
    }
}

/// What one request contributes to one trace.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Pieces {
    /// Whole observations: other records kept as EVENT observations.
    pub rows: Vec<EventRow>,
    pub partial_rows: Vec<PartialRow>,
    pub scores: Vec<Score>,
}

/// The pieces of one logs export, grouped by trace, plus the records that were rejected.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ConvertedLogs {
    /// Pieces by trace id (lowercase hex), in the order traces first appear.
    pub traces: Vec<(String, Pieces)>,
    /// Content and evaluation records without usable ids or values (OTLP `partial_success`).
    pub rejected_log_records: i64,
    /// Why records were rejected; empty when none were.
    pub rejection_message: String,
    /// Records that are neither content nor evaluations (stored only as EVENT observations).
    pub other_records: u64,
}

/// Why a record cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejection {
    TraceId,
    SpanId,
    Evaluation,
}

const REJECTION_TEXT: [&str; 3] = [
    "log record(s) without a valid trace id (16 bytes, not all zero)",
    "content log record(s) without a valid span id (8 bytes, not all zero)",
    "evaluation result(s) without a name or a score value/label",
];

/// Converts one logs export request. Takes the request by value: attributes move into the
/// pieces instead of being copied (content can be kilobytes).
pub fn convert_logs(
    request: ExportLogsServiceRequest,
    received_at_us: i64,
    options: &LogOptions,
) -> ConvertedLogs {
    let mut grouped = Grouped::default();
    for resource_logs in request.resource_logs {
        let ResourceLogs {
            resource,
            scope_logs,
            ..
        } = resource_logs;
        let resource = Shared::resource(
            resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or(&[]),
        );
        for scope_logs in scope_logs {
            let ScopeLogs {
                scope, log_records, ..
            } = scope_logs;
            let scope = Shared::scope(scope.as_ref());
            for record in log_records {
                grouped.add(&resource, &scope, record, received_at_us, options);
            }
        }
    }
    grouped.finish()
}

/// Content of one span gathered over a request's records.
#[derive(Debug, Default)]
struct SpanContent {
    span_id: String,
    messages: Vec<Value>,
    messages_time_us: i64,
    /// (choice index, choice), in record order until sorted.
    choices: Vec<(i64, Value)>,
    choices_time_us: i64,
    /// Content bodies of an unexpected shape, `{event, body}` each.
    unparsed: Vec<Value>,
    unparsed_time_us: i64,
}

/// One trace's pieces and its spans' gathered content.
#[derive(Debug, Default)]
struct TraceGroup {
    pieces: Pieces,
    spans: Vec<SpanContent>,
    span_index: HashMap<String, usize>,
}

impl TraceGroup {
    fn span(&mut self, span_id: String) -> &mut SpanContent {
        let slot = match self.span_index.get(&span_id) {
            Some(&slot) => slot,
            None => {
                self.span_index.insert(span_id.clone(), self.spans.len());
                self.spans.push(SpanContent {
                    span_id,
                    ..Default::default()
                });
                self.spans.len() - 1
            }
        };
        &mut self.spans[slot]
    }
}

/// Traces in first-appearance order, found through an index by trace id.
#[derive(Debug, Default)]
struct Grouped {
    traces: Vec<(String, TraceGroup)>,
    trace_index: HashMap<String, usize>,
    rejected: [i64; 3],
    other_records: u64,
}

impl Grouped {
    fn trace(&mut self, trace_id: &str) -> &mut TraceGroup {
        let slot = match self.trace_index.get(trace_id) {
            Some(&slot) => slot,
            None => {
                self.trace_index
                    .insert(trace_id.to_owned(), self.traces.len());
                self.traces
                    .push((trace_id.to_owned(), TraceGroup::default()));
                self.traces.len() - 1
            }
        };
        &mut self.traces[slot].1
    }

    fn add(
        &mut self,
        resource: &Shared,
        scope: &Shared,
        record: LogRecord,
        received_at_us: i64,
        options: &LogOptions,
    ) {
        let name = genai_events::event_name(&record.event_name, &Attrs::new(&record.attributes))
            .to_owned();
        let time_us = record_time_us(&record, received_at_us);
        let trace_ok = valid_id(&record.trace_id, 16);
        let span_ok = valid_id(&record.span_id, 8);
        let kind = genai_events::kind(&name);
        let rejection = match kind {
            None => None,
            Some(_) if !trace_ok => Some(Rejection::TraceId),
            Some(EventKind::EvaluationResult) => None,
            Some(_) if !span_ok => Some(Rejection::SpanId),
            Some(_) => None,
        };
        if let Some(rejection) = rejection {
            self.rejected[rejection as usize] += 1;
            return;
        }
        let trace_id = hex::encode(&record.trace_id);
        let span_id = if span_ok {
            hex::encode(&record.span_id)
        } else {
            String::new()
        };
        match kind {
            None => {
                self.other_records += 1;
                // A record outside any span (plain application logging) has no observation to
                // hang from: counted only.
                if options.keeps_other_records() && trace_ok && span_ok {
                    let row = event_row(resource, scope, record, &name, time_us, received_at_us);
                    self.trace(&trace_id).pieces.rows.push(row);
                }
            }
            Some(EventKind::EvaluationResult) => {
                match score(resource, scope, record, &trace_id, &span_id, time_us) {
                    Ok(score) => self.trace(&trace_id).pieces.scores.push(score),
                    Err(()) => self.rejected[Rejection::Evaluation as usize] += 1,
                }
            }
            Some(EventKind::OperationDetails) => {
                let ids = (trace_id.clone(), span_id);
                if let Some(piece) = details_piece(resource, scope, record, ids, time_us) {
                    self.trace(&trace_id).pieces.partial_rows.push(piece);
                }
            }
            Some(EventKind::Message(role)) => {
                let body = genai_events::body_fields(record.body.as_ref());
                let span = self.trace(&trace_id).span(span_id);
                match body {
                    Ok(fields) => {
                        span.messages.push(role_message(role, fields));
                        span.messages_time_us = span.messages_time_us.max(time_us);
                    }
                    Err(raw) => span.keep_unparsed(&name, raw, time_us),
                }
            }
            Some(EventKind::Choice) => {
                let body = genai_events::body_fields(record.body.as_ref());
                let span = self.trace(&trace_id).span(span_id);
                match body {
                    Ok(fields) => {
                        let index = fields
                            .get("index")
                            .and_then(value::as_f64)
                            .map_or(span.choices.len() as i64, |i| i as i64);
                        span.choices.push((index, Value::Object(fields)));
                        span.choices_time_us = span.choices_time_us.max(time_us);
                    }
                    Err(raw) => span.keep_unparsed(&name, raw, time_us),
                }
            }
        }
    }

    fn finish(self) -> ConvertedLogs {
        let traces = self
            .traces
            .into_iter()
            .map(|(trace_id, group)| {
                let mut pieces = group.pieces;
                for span in group.spans {
                    span.into_pieces(&trace_id, &mut pieces.partial_rows);
                }
                (trace_id, pieces)
            })
            .collect();
        let parts: Vec<String> = self
            .rejected
            .iter()
            .zip(REJECTION_TEXT)
            .filter(|(count, _)| **count > 0)
            .map(|(count, text)| format!("{count} {text}"))
            .collect();
        ConvertedLogs {
            traces,
            rejected_log_records: self.rejected.iter().sum(),
            rejection_message: if parts.is_empty() {
                String::new()
            } else {
                format!("rejected {}", parts.join("; "))
            },
            other_records: self.other_records,
        }
    }
}

impl SpanContent {
    fn keep_unparsed(&mut self, event: &str, body: Value, time_us: i64) {
        let mut entry = Map::new();
        entry.insert("event".into(), Value::String(event.to_owned()));
        entry.insert("body".into(), body);
        self.unparsed.push(Value::Object(entry));
        self.unparsed_time_us = self.unparsed_time_us.max(time_us);
    }

    /// One piece per field group: input messages, output choices, unparsed bodies.
    fn into_pieces(self, trace_id: &str, out: &mut Vec<PartialRow>) {
        let SpanContent {
            span_id,
            messages,
            messages_time_us,
            mut choices,
            choices_time_us,
            unparsed,
            unparsed_time_us,
        } = self;
        let row = || EventRow {
            trace_id: trace_id.to_owned(),
            span_id: span_id.clone(),
            ..Default::default()
        };
        if messages.iter().any(genai_events::has_content) {
            let input = Value::Array(messages).to_string();
            out.push(piece(
                EventRow { input, ..row() },
                &["input"],
                messages_time_us,
            ));
        }
        choices.sort_by_key(|(index, _)| *index);
        let choices: Vec<Value> = choices.into_iter().map(|(_, choice)| choice).collect();
        if choices.iter().any(genai_events::has_content)
            && let Some(output) = choices_output(choices)
        {
            let (tool_calls, tool_call_names): (Vec<String>, Vec<String>) =
                tools::calls(Some(&output)).into_iter().unzip();
            let mut fields = vec!["output"];
            if !tool_calls.is_empty() {
                fields.extend(["tool_calls", "tool_call_names"]);
            }
            let output = output.to_string();
            let filled = EventRow {
                output,
                tool_calls,
                tool_call_names,
                ..row()
            };
            out.push(piece(filled, &fields, choices_time_us));
        }
        if !unparsed.is_empty() {
            let filled = EventRow {
                metadata_names: vec![UNPARSED_BODY_KEY.to_owned()],
                metadata_values: vec![Value::Array(unparsed).to_string()],
                ..row()
            };
            out.push(piece(filled, &["metadata_names"], unparsed_time_us));
        }
    }
}

/// A partial row carrying `fields` of `row`.
fn piece(row: EventRow, fields: &[&str], event_time_us: i64) -> PartialRow {
    PartialRow {
        row: Some(row),
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        event_time_us,
    }
}

/// When the record happened: its time, else when it was observed, else when we received it.
fn record_time_us(record: &LogRecord, received_at_us: i64) -> i64 {
    [record.time_unix_nano, record.observed_time_unix_nano]
        .into_iter()
        .find(|ns| *ns > 0)
        .map_or(received_at_us, |ns| (ns / 1000) as i64)
}

/// The record's attributes as a span's, so the span rule tables (model, usage, messages,
/// metadata) read it unchanged.
fn as_span(record: LogRecord, name: &str, time_us: i64) -> Span {
    let time_ns = u64::try_from(time_us)
        .unwrap_or_default()
        .saturating_mul(1000);
    Span {
        trace_id: record.trace_id,
        parent_span_id: record.span_id,
        name: name.to_owned(),
        start_time_unix_nano: time_ns,
        end_time_unix_nano: time_ns,
        attributes: record.attributes,
        ..Default::default()
    }
}

/// `operation.details`: input (system instructions prepended), output, model, parameters and
/// usage, read by the span rules from the record's attributes (semconv ≥ 1.37 puts the same
/// attributes on the span or on this event).
fn details_piece(
    resource: &Shared,
    scope: &Shared,
    record: LogRecord,
    (trace_id, span_id): (String, String),
    time_us: i64,
) -> Option<PartialRow> {
    let span = as_span(record, "", time_us);
    let view = SpanView::new(resource, scope, &span);
    let mut row = EventRow {
        trace_id,
        span_id,
        ..Default::default()
    };
    let mut fields = Vec::new();
    let io = messages_io_from(&view.attrs).unwrap_or_default();
    if let Some(input) = io.input.filter(value::is_present) {
        row.input = value::into_text(input);
        fields.push("input");
    }
    if let Some(output) = io.output.filter(value::is_present) {
        (row.tool_calls, row.tool_call_names) = tools::calls(Some(&output)).into_iter().unzip();
        if !row.tool_calls.is_empty() {
            fields.extend(["tool_calls", "tool_call_names"]);
        }
        row.output = value::into_text(output);
        fields.push("output");
    }
    if let Some(model) = first_text(&view, scalar::MODEL) {
        row.provided_model_name = model;
        fields.push("provided_model_name");
    }
    row.model_parameters = model_parameters::model_parameters(&view);
    if !row.model_parameters.is_empty() {
        fields.push("model_parameters");
    }
    let mut warnings = Vec::new();
    row.provided_usage_details = usage::usage(&view, &mut warnings);
    if !row.provided_usage_details.is_empty() {
        fields.push("provided_usage_details");
    }
    row.provided_cost_details = usage::cost(&view, &mut warnings);
    if !row.provided_cost_details.is_empty() {
        fields.push("provided_cost_details");
    }
    (!fields.is_empty()).then(|| piece(row, &fields, time_us))
}

/// `gen_ai.evaluation.result` → an EVAL score of the trace (and the span, when the record
/// names one). The id is a hash of (trace, span, name, time), so a re-sent record replaces
/// its score instead of adding one.
fn score(
    resource: &Shared,
    scope: &Shared,
    record: LogRecord,
    trace_id: &str,
    span_id: &str,
    time_us: i64,
) -> Result<Score, ()> {
    let span = as_span(record, "", time_us);
    let view = SpanView::new(resource, scope, &span);
    let evaluation = genai_events::evaluation(&view.attrs).map_err(|_| ())?;
    let mut metadata: Map<String, Value> = view
        .attrs
        .iter()
        .filter(|(key, _)| !genai_events::EVALUATION_KEYS.contains(key))
        .map(|(key, v)| (key.to_owned(), value::to_json(v)))
        .collect();
    let (data_type, score_value, string_value) = match (evaluation.value, evaluation.label) {
        (Some(number), label) => {
            if let Some(label) = label {
                metadata.insert("label".into(), Value::String(label));
            }
            ("NUMERIC", number, None)
        }
        (None, label) => ("CATEGORICAL", 0.0, label),
    };
    let (metadata_names, metadata_values) = section::flatten(metadata);
    let digest = Sha256::new()
        .chain_update(b"gen_ai.evaluation.result\0")
        .chain_update(trace_id)
        .chain_update(b"\0")
        .chain_update(span_id)
        .chain_update(b"\0")
        .chain_update(&evaluation.name)
        .chain_update(b"\0")
        .chain_update(time_us.to_be_bytes())
        .finalize();
    Ok(Score {
        id: hex::encode(&digest[..16]),
        trace_id: trace_id.to_owned(),
        observation_id: span_id.to_owned(),
        name: evaluation.name,
        data_type: data_type.into(),
        value: score_value,
        string_value,
        source: "EVAL".into(),
        comment: evaluation.explanation,
        metadata_names,
        metadata_values,
        environment: first_text(&view, scalar::ENVIRONMENT)
            .map(|e| langfuse::normalize_environment(&e))
            .unwrap_or_else(|| "default".into()),
        timestamp_us: time_us,
        ..Default::default()
    })
}

/// An other record as an EVENT observation under its span: the span rules fill name, metadata
/// and the rest from its attributes; the body is the input, the severity the level. Its id is
/// a hash of the record, so a re-sent record replaces its row.
fn event_row(
    resource: &Shared,
    scope: &Shared,
    record: LogRecord,
    name: &str,
    time_us: i64,
    received_at_us: i64,
) -> EventRow {
    let digest = Sha256::new()
        .chain_update(&record.trace_id)
        .chain_update(&record.span_id)
        .chain_update(record.time_unix_nano.to_be_bytes())
        .chain_update(record.observed_time_unix_nano.to_be_bytes())
        .chain_update(name)
        .chain_update(
            record
                .body
                .as_ref()
                .map(Message::encode_to_vec)
                .unwrap_or_default(),
        )
        .finalize();
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    id[7] |= 1; // never all zero
    let severity = record.severity_number;
    let body = record
        .body
        .as_ref()
        .map(value::to_json)
        .filter(value::is_present);
    let ids = SpanIds {
        trace_id: hex::encode(&record.trace_id),
        span_id: hex::encode(id),
        parent_span_id: hex::encode(&record.span_id),
    };
    let name = if name.is_empty() { "log" } else { name };
    let span = as_span(record, name, time_us);
    let view = SpanView::new(resource, scope, &span);
    let (mut row, _) = row::build(&view, ids, received_at_us);
    row.r#type = "EVENT".into();
    if let Some(body) = body {
        row.input = value::into_text(body);
    }
    if row.level == "DEFAULT" {
        row.level = severity_level(severity).into();
    }
    row
}

/// OTLP severity number → Langfuse level (DEBUG 1–8, DEFAULT 9–12, WARNING 13–16, ERROR 17+).
fn severity_level(severity_number: i32) -> &'static str {
    match severity_number {
        1..=8 => "DEBUG",
        13..=16 => "WARNING",
        17.. => "ERROR",
        _ => "DEFAULT",
    }
}

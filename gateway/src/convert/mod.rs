//! OTLP spans → `EventRow`s. Pure: no I/O, no clock (the receive time is passed in).
//!
//! Entry point: [`convert`]. A span is read once into a [`vocab::view::SpanView`]; each output
//! field is an ordered rule list in `fields/` whose convention-specific steps live in one module
//! per family in `family/`. See docs/conversion.md ("Code layout") and
//! ../shared/reference/langfuse-otel.md §3.
//!
//! Dependencies point one way, from the top layer down; nothing points back up or sideways
//! between families, so the module graph has no cycle:
//!
//! ```text
//! mod.rs (convert: validate ids, group by trace), logs (log records → pieces of their spans),
//! score (a Langfuse score body → a score; shared by the scores endpoint and the batch API)
//!   → row (one span → one row), trace (reconcile trace fields across a request)
//!       row → trace (TraceHints)
//!   → fields/ (one rule table per output field)
//!       scalar, io, observation_type, model_parameters, usage, metadata, tools
//!       tools → metadata (the one edge between tables; metadata uses no other table)
//!   → family/ (one module per convention; each uses only vocab/)
//!       langfuse, genai, genai_events, openinference, openllmetry, vercel, logfire, mlflow, genkit,
//!       livekit, flue, google_adk
//!   → vocab/ (shared vocabulary, leaves: they use only each other)
//!       value, section, content ← view ← source, rules, unflatten, messages
//! ```
//!
//! Every layer may use any layer below it (`row` uses `family::langfuse` and `vocab/`
//! directly); no module uses one above it.

pub mod batch_api;
mod family;
mod fields;
pub mod logs;
mod row;
pub mod score;
mod trace;
pub(crate) mod vocab;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use spanbridge_proto::{EventRow, TraceFields};

use std::collections::HashMap;

use row::SpanIds;
use trace::TraceHints;
use vocab::view::{Shared, SpanView};

/// The rows of one export request, grouped by trace, plus the spans that were rejected.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Converted {
    /// Rows grouped by trace id (lowercase hex), in the order traces first appear.
    pub traces: Vec<(String, Vec<EventRow>)>,
    /// The trace-level fields of each trace, parallel to `traces`.
    pub trace_fields: Vec<TraceFields>,
    /// Spans dropped because they had no valid trace or span id (OTLP `partial_success`).
    pub rejected_spans: i64,
    /// Why spans were rejected; empty when none were.
    pub rejection_message: String,
}

/// Why a span cannot become a row (OTLP: ids of the wrong length or all zero are invalid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejection {
    TraceId,
    SpanId,
}

/// A valid id: exactly `len` bytes, not all zero.
fn valid_id(id: &[u8], len: usize) -> bool {
    id.len() == len && id.iter().any(|b| *b != 0)
}

/// Converts one export request. `received_at_us` is the gateway's receive time in µs since the
/// epoch (used only where a span carries no time at all).
pub fn convert(request: &ExportTraceServiceRequest, received_at_us: i64) -> Converted {
    // Rows and hints per trace in first-appearance order, found through an index by trace id
    // (one lookup per span, as Tempo's distributor groups `requestsByTraceID`).
    let mut traces: Vec<(String, Vec<EventRow>, Vec<TraceHints>)> = Vec::new();
    let mut trace_index: HashMap<String, usize> = HashMap::new();
    let mut rejected = [0i64; 2];
    for resource_spans in &request.resource_spans {
        let resource = Shared::resource(
            resource_spans
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or(&[]),
        );
        for scope_spans in &resource_spans.scope_spans {
            let scope = Shared::scope(scope_spans.scope.as_ref());
            for span in &scope_spans.spans {
                let rejection = if !valid_id(&span.trace_id, 16) {
                    Some(Rejection::TraceId)
                } else if !valid_id(&span.span_id, 8) {
                    Some(Rejection::SpanId)
                } else {
                    None
                };
                if let Some(r) = rejection {
                    rejected[r as usize] += 1;
                    continue;
                }
                let view = SpanView::new(&resource, &scope, span);
                let trace_id = hex::encode(&span.trace_id);
                // A parent id that is not a valid span id means "no parent" (OTLP/JSON sends
                // `""` for roots; some exporters send zeros).
                let parent = if valid_id(&span.parent_span_id, 8) {
                    hex::encode(&span.parent_span_id)
                } else {
                    String::new()
                };
                let slot = match trace_index.get(&trace_id) {
                    Some(&slot) => slot,
                    None => {
                        trace_index.insert(trace_id.clone(), traces.len());
                        traces.push((trace_id.clone(), Vec::new(), Vec::new()));
                        traces.len() - 1
                    }
                };
                let ids = SpanIds {
                    trace_id,
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: parent,
                };
                let (row, hints) = row::build(&view, ids, received_at_us);
                let (_, rows, all_hints) = &mut traces[slot];
                rows.push(row);
                all_hints.push(hints);
            }
        }
    }
    let (traces, trace_fields) = traces
        .into_iter()
        .map(|(id, mut rows, hints)| {
            let fields = trace::reconcile(&mut rows, &hints);
            ((id, rows), fields)
        })
        .unzip();
    Converted {
        traces,
        trace_fields,
        rejected_spans: rejected.iter().sum(),
        rejection_message: rejection_message(rejected),
    }
}

fn rejection_message([bad_trace, bad_span]: [i64; 2]) -> String {
    let mut parts = Vec::new();
    if bad_trace > 0 {
        parts.push(format!(
            "{bad_trace} span(s) without a valid trace id (16 bytes, not all zero)"
        ));
    }
    if bad_span > 0 {
        parts.push(format!(
            "{bad_span} span(s) without a valid span id (8 bytes, not all zero)"
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("rejected {}", parts.join("; "))
    }
}

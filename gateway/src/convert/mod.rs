//! OTLP spans → `EventRow`s. Pure: no I/O, no clock (the receive time is passed in).
//!
//! Entry point: [`convert`]. A span is read once into a [`view::SpanView`]; each output field
//! is an ordered rule list (`fields`, `observation_type`, `io`, `model_parameters`, `usage`,
//! `metadata`) whose convention-specific steps live in one module per family (`langfuse`,
//! `genai`, `openinference`, `openllmetry`, `vercel`, `logfire`, `mlflow`, `genkit`,
//! `frameworks`). See docs/conversion.md and ../shared/reference/langfuse-otel.md §3.

mod fields;
mod frameworks;
mod genai;
mod genkit;
mod io;
mod langfuse;
mod logfire;
mod metadata;
mod mlflow;
mod model_parameters;
mod observation_type;
mod openinference;
mod openllmetry;
mod row;
mod source;
mod tools;
mod trace;
mod unflatten;
mod usage;
mod value;
mod vercel;
mod view;

#[cfg(test)]
mod tests;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use spanbridge_proto::EventRow;

use row::TraceHints;
use view::{Shared, SpanView};

/// The rows of one export request, grouped by trace, plus the spans that were rejected.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Converted {
    /// Rows grouped by trace id (lowercase hex), in the order traces first appear.
    pub traces: Vec<(String, Vec<EventRow>)>,
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

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Converts one export request. `received_at_us` is the gateway's receive time in µs since the
/// epoch (used only where a span carries no time at all).
pub fn convert(request: &ExportTraceServiceRequest, received_at_us: i64) -> Converted {
    let mut traces: Vec<(String, Vec<EventRow>, Vec<TraceHints>)> = Vec::new();
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
                let trace_id = hex(&span.trace_id);
                // A parent id that is not a valid span id means "no parent" (OTLP/JSON sends
                // `""` for roots; some exporters send zeros).
                let parent = if valid_id(&span.parent_span_id, 8) {
                    hex(&span.parent_span_id)
                } else {
                    String::new()
                };
                let (row, hints) = row::build(
                    &view,
                    (trace_id.clone(), hex(&span.span_id), parent),
                    received_at_us,
                );
                match traces.iter_mut().find(|(id, _, _)| *id == trace_id) {
                    Some((_, rows, all_hints)) => {
                        rows.push(row);
                        all_hints.push(hints);
                    }
                    None => traces.push((trace_id, vec![row], vec![hints])),
                }
            }
        }
    }
    let traces = traces
        .into_iter()
        .map(|(id, mut rows, hints)| {
            trace::reconcile(&mut rows, &hints);
            (id, rows)
        })
        .collect();
    Converted {
        traces,
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

//! Langfuse's batch API (SDK 2.x's `POST /api/public/ingestion`, reference
//! langfuse-legacy.md §1): a batch of typed events becomes the same pieces the OTLP path
//! produces — whole rows (`*-create`), partial rows (`*-update`), trace fields with presence
//! (`trace-create`) and scores — which the sink assembles (its merge is Langfuse's §2 merge).
//! Pure: no I/O, no clock. Every event is checked on its own; a bad one is answered in the
//! 207 and never sinks the batch.
//!
//! ```text
//! mod.rs (validate each event, order by envelope time, group by trace)
//!   → envelope (envelope + event type table) → read (typed body fields)
//!   → trace (trace-create), observation (*-create/-update) → usage (usage/cost shapes)
//! ```

mod envelope;
mod observation;
mod read;
mod trace;
mod usage;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use serde_json::{Map, Value};
use spanbridge_proto::{EventRow, PartialRow, Score, TraceFields};

use crate::convert::score::{ScoreContext, parse_score};
use envelope::{Kind, answer_id};
use observation::ObservationPiece;

pub use read::Invalid;

/// `source` of the rows this API writes (the OTLP path writes `otel`).
pub const SOURCE: &str = "ingestion-api";

/// The id of a batch-API trace's own row: Langfuse v4's `t-<traceId>` (its dual write files
/// such a trace as a SPAN row with this id, parent of the top-level observations).
pub fn root_span_id(trace_id: &str) -> String {
    format!("t-{trace_id}")
}

/// What became of one event, for the 207 answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Listed in `successes` with status 201 once the pieces are durable.
    Accepted,
    /// Listed in `errors` with status 400 and the reason.
    Invalid(String),
    /// `sdk-log`: in neither list.
    SdkLog,
}

/// The pieces of one trace that one request carries, in application order; at most one
/// `trace-create`'s fields per group (a repeated `trace-create` starts the next group, so
/// the sink applies each in envelope-time order). A trace's scores travel with it, so they
/// share its sampling decision and its Kafka key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceGroup {
    pub trace_id: String,
    pub rows: Vec<EventRow>,
    pub partial_rows: Vec<PartialRow>,
    pub trace: Option<TraceFields>,
    pub scores: Vec<Score>,
}

/// One converted batch.
#[derive(Debug, Default, PartialEq)]
pub struct BatchConverted {
    /// Per event, in request order: the envelope id (`"unknown"` when it has none) and what
    /// became of the event.
    pub outcomes: Vec<(String, Outcome)>,
    pub groups: Vec<TraceGroup>,
    /// Scores without a trace (of a session or a dataset run), in envelope-time order; the
    /// caller groups them by their target as `POST /api/public/scores` does.
    pub scores: Vec<Score>,
    /// Bytes of `sdk-log` payloads seen (logged, not stored).
    pub sdk_logs: usize,
}

/// A parsed event ready to be grouped (boxed: a few per request, moved while sorting).
enum Piece {
    Trace(Box<trace::TracePiece>),
    Observation(Box<ObservationPiece>),
    Score(Box<Score>),
}

/// Converts one batch (the `batch` array of the request body).
pub fn convert_batch(batch: &[Value]) -> BatchConverted {
    let mut out = BatchConverted::default();
    // (envelope time, creates first on ties, request order) as Langfuse sorts an entity's events.
    let mut pieces: Vec<((i64, bool, usize), Piece)> = Vec::new();
    for (index, event) in batch.iter().enumerate() {
        let id = answer_id(event);
        let parsed = envelope::envelope(event).and_then(|envelope| {
            let piece = match envelope.kind {
                Kind::Trace => Piece::Trace(Box::new(trace::trace(&envelope)?)),
                Kind::Observation {
                    observation_type,
                    body,
                    update,
                } => Piece::Observation(Box::new(observation::observation(
                    &envelope,
                    observation_type,
                    body,
                    update,
                )?)),
                Kind::Score => Piece::Score(Box::new(score(&envelope)?)),
                Kind::SdkLog => return Ok(None),
            };
            let update = matches!(&piece, Piece::Observation(o) if matches!(**o, ObservationPiece::Update(_)));
            Ok(Some(((envelope.timestamp_us, update, index), piece)))
        });
        match parsed {
            Ok(Some(piece)) => {
                pieces.push(piece);
                out.outcomes.push((id, Outcome::Accepted));
            }
            Ok(None) => {
                out.sdk_logs += event.get("body").map_or(0, |b| b.to_string().len());
                out.outcomes.push((id, Outcome::SdkLog));
            }
            Err(Invalid(message)) => out.outcomes.push((id, Outcome::Invalid(message))),
        }
    }
    pieces.sort_by_key(|(order, _)| *order);

    // Groups per trace in first-appearance order; the index finds a trace's open group.
    let mut open: HashMap<String, usize> = HashMap::new();
    for (_, piece) in pieces {
        let piece = match piece {
            Piece::Score(score) if score.trace_id.is_empty() => {
                out.scores.push(*score);
                continue;
            }
            piece => piece,
        };
        let trace_id = match &piece {
            Piece::Trace(t) => t.trace_id.clone(),
            Piece::Observation(o) => o.trace_id().to_owned(),
            Piece::Score(s) => s.trace_id.clone(),
        };
        let needs_new = match open.get(&trace_id) {
            None => true,
            Some(&slot) => matches!(piece, Piece::Trace(_)) && out.groups[slot].trace.is_some(),
        };
        if needs_new {
            open.insert(trace_id.clone(), out.groups.len());
            out.groups.push(TraceGroup {
                trace_id: trace_id.clone(),
                ..Default::default()
            });
        }
        let group = &mut out.groups[open[&trace_id]];
        match piece {
            Piece::Trace(t) => {
                let t = *t;
                group.trace = Some(t.fields);
                group.partial_rows.push(t.root);
            }
            Piece::Observation(observation) => match *observation {
                ObservationPiece::Create(row) => group.rows.push(row),
                ObservationPiece::Update(partial) => group.partial_rows.push(partial),
            },
            Piece::Score(score) => group.scores.push(*score),
        }
    }
    out
}

/// `score-create`: the scores endpoint's rules ([`parse_score`]), timed by the envelope when
/// the body has no timestamp (§4.3), with `source: EVAL` allowed as Langfuse allows it here.
fn score(envelope: &envelope::Envelope) -> Result<Score, Invalid> {
    let context = ScoreContext {
        timestamp_us: envelope.timestamp_us,
        id_seed: envelope.id,
        allow_eval_source: true,
    };
    let body = Value::Object(envelope.body.clone());
    parse_score(&body, &context).map_err(|error| Invalid(error.to_string()))
}

/// Langfuse's `convertJsonSchemaToRecord` (§3.3): an object is the metadata; a scalar or an
/// array is kept under the key `metadata`.
pub fn metadata_record(metadata: &Value) -> Map<String, Value> {
    match metadata {
        Value::Object(object) => object.clone(),
        Value::Null => Map::new(),
        Value::String(s) => Map::from_iter([("metadata".to_owned(), Value::String(s.clone()))]),
        other => Map::from_iter([("metadata".to_owned(), Value::String(other.to_string()))]),
    }
}

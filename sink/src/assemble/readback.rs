//! Rebuilding a trace's state from the store when the cache does not hold it (evicted,
//! restarted sink, partition moved): the cache is never the truth.

use std::collections::HashMap;

use crate::store::{Store, StoreError};

use super::merge::{MergedTrace, fields_of_rows};
use super::{Attribution, Held, TraceState};

/// The trace's stored rows (newest version of each) as held rows, with the trace fields they
/// carry merged as one piece. Keeps at most `max_rows` rows; the state is then incomplete.
pub async fn read_back(
    store: &dyn Store,
    project_id: &str,
    trace_id: &str,
    max_rows: usize,
) -> Result<TraceState, StoreError> {
    metrics::counter!("spanbridge_assembly_readbacks_total").increment(1);
    let stored = store.rows_of_trace(project_id, trace_id).await?;
    let mut trace = MergedTrace::default();
    if let Some(fields) = fields_of_rows(stored.iter().map(|s| &s.row)) {
        trace.apply(&fields);
    }
    let complete = stored.len() <= max_rows;
    let rows: HashMap<String, Held> = stored
        .into_iter()
        .take(max_rows)
        .map(|s| {
            let held = Held {
                attribution: Attribution {
                    api_key_id: s.ingestion_api_key,
                    sdk_name: s.ingestion_sdk_name,
                    sdk_version: s.ingestion_sdk_version,
                },
                row: s.row,
            };
            (held.row.span_id.clone(), held)
        })
        .collect();
    Ok(TraceState {
        trace,
        rows,
        complete,
    })
}

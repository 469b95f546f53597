//! Batch API body (`POST /api/public/ingestion`) → typed events → trace groups, as the batch
//! API receiver does. A body that is not a JSON `{batch: [...]}` is a 400 and fine; a panic, an
//! abort, a runaway allocation or an event answered other than exactly once is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use spanbridge_gateway::convert::batch_api::{Outcome, convert_batch};

fuzz_target!(|body: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    // The receiver's shape, and a bare array so that every event shape is reached quickly.
    let batch = match value {
        Value::Object(mut object) => match object.remove("batch") {
            Some(Value::Array(batch)) => batch,
            _ => return,
        },
        Value::Array(batch) => batch,
        _ => return,
    };
    let converted = convert_batch(&batch);
    assert_eq!(
        converted.outcomes.len(),
        batch.len(),
        "every event is answered once"
    );
    let accepted = converted
        .outcomes
        .iter()
        .filter(|(_, o)| *o == Outcome::Accepted)
        .count();
    // Each accepted event is exactly one piece: a row, a partial row (a trace-create's root
    // row or an update) or a score.
    let pieces: usize = converted
        .groups
        .iter()
        .map(|g| g.rows.len() + g.partial_rows.len() + g.scores.len())
        .sum::<usize>()
        + converted.scores.len();
    assert_eq!(pieces, accepted);
    for group in &converted.groups {
        assert!(group.rows.iter().all(|r| r.trace_id == group.trace_id));
        assert!(group.scores.iter().all(|s| s.trace_id == group.trace_id));
    }
    assert!(converted.scores.iter().all(|s| s.trace_id.is_empty()));
});

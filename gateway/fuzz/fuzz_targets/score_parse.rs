//! `POST /api/public/scores` body (one score object or an array) → validated scores, as the
//! scores receiver does. Not JSON is a 400 and fine; a panic, an abort, a runaway allocation or
//! a score accepted without what Langfuse requires is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use spanbridge_gateway::convert::score::{ScoreContext, parse_score};

fuzz_target!(|body: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    for (index, item) in items.iter().enumerate() {
        for allow_eval_source in [false, true] {
            let seed = format!("fuzz:{index}");
            let context = ScoreContext {
                timestamp_us: 1_786_003_200_000_000,
                id_seed: &seed,
                allow_eval_source,
            };
            let Ok(score) = parse_score(item, &context) else {
                continue;
            };
            assert!(!score.id.is_empty());
            assert!(!score.name.is_empty());
            assert!(
                !(score.trace_id.is_empty()
                    && score.session_id.is_empty()
                    && score.dataset_run_id.is_empty()),
                "a score names what it scores"
            );
            // The same body converted again is the same score (ids are deterministic).
            assert_eq!(parse_score(item, &context).ok().as_ref(), Some(&score));
        }
    }
});

//! Trace sampling by a deterministic hash of the trace id: the decision depends on nothing but
//! the id and the rate, so every piece of a trace (spans in separate requests, log records,
//! batch-API events), on any gateway replica, is kept or dropped together.

use sha2::{Digest, Sha256};
use spanbridge_proto::EventBatch;

/// Whether a trace is kept at `rate` (0..=1): the first 8 bytes of SHA-256 of the lowercase
/// trace id, as a big-endian u64, below `rate × 2^64`. Lowercase, because OTLP/JSON ids are
/// stored as sent and the same trace may arrive in both cases.
pub fn keep(trace_id: &str, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    if rate <= 0.0 {
        return false;
    }
    let digest = Sha256::digest(trace_id.to_ascii_lowercase().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let position = u64::from_be_bytes(first) as f64 / 18_446_744_073_709_551_616.0;
    position < rate
}

/// The trace a batch belongs to: the first trace id on its rows, partial rows or scores.
/// `None` for batches of session or dataset-run scores, which no trace sampling applies to.
pub fn batch_trace_id(batch: &EventBatch) -> Option<&str> {
    batch
        .rows
        .iter()
        .map(|row| row.trace_id.as_str())
        .chain(
            batch
                .partial_rows
                .iter()
                .filter_map(|partial| partial.row.as_ref())
                .map(|row| row.trace_id.as_str()),
        )
        .chain(batch.scores.iter().map(|score| score.trace_id.as_str()))
        .find(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace_id(i: u64) -> String {
        format!("{:016x}{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15), i)
    }

    #[test]
    fn the_decision_depends_only_on_the_id() {
        for i in 0..1_000 {
            let id = trace_id(i);
            assert_eq!(keep(&id, 0.3), keep(&id, 0.3));
            assert_eq!(keep(&id, 0.3), keep(&id.to_uppercase(), 0.3));
            // A trace kept at a rate is kept at every higher rate.
            if keep(&id, 0.3) {
                assert!(keep(&id, 0.6));
            }
        }
        assert!(keep("anything", 1.0));
        assert!(!keep("anything", 0.0));
    }

    #[test]
    fn about_the_rate_is_kept_over_10k_ids() {
        for rate in [0.01, 0.1, 0.5, 0.9] {
            let kept = (0..10_000).filter(|&i| keep(&trace_id(i), rate)).count();
            let expected = rate * 10_000.0;
            // Five standard deviations of a binomial: fails by chance about never.
            let tolerance = 5.0 * (10_000.0 * rate * (1.0 - rate)).sqrt();
            assert!(
                (kept as f64 - expected).abs() < tolerance,
                "rate {rate}: kept {kept} of 10000"
            );
        }
    }
}

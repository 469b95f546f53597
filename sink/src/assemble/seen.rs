//! Which traces this sink may already have stored rows of. A cache miss on a trace it has not
//! seen, whose pieces all started after the sink last lost track (start, rebalance), cannot
//! have stored rows to merge with: it skips the read-back. A Bloom filter keeps this small and
//! bounded (false positives only cost a read-back); eviction from the cache does not lose it.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use fastbloom::AtomicBloomFilter;

use crate::enrich::now_us;

/// Traces remembered before the filter starts over (about 7 MB at a 0.1 % false-positive
/// rate); starting over is like a restart: older traces are read back on their next piece.
const CAPACITY: u64 = 4_000_000;
const FALSE_POSITIVE_RATE: f64 = 0.001;

pub struct Seen {
    filter: AtomicBloomFilter,
    inserted: AtomicU64,
    /// Pieces that started before this moment (µs) may belong to traces stored before the
    /// sink started or last forgot.
    since_us: AtomicI64,
}

impl Seen {
    pub fn new() -> Self {
        Self {
            filter: AtomicBloomFilter::with_false_pos(FALSE_POSITIVE_RATE)
                .expected_items(CAPACITY as usize),
            inserted: AtomicU64::new(0),
            since_us: AtomicI64::new(now_us()),
        }
    }

    /// Whether the trace may have stored rows: seen before, or a piece of it (the earliest
    /// start is `None` when nothing carries a time) started before the sink last forgot.
    pub fn may_be_stored(
        &self,
        key: &impl std::hash::Hash,
        earliest_start_us: Option<i64>,
    ) -> bool {
        let since = self.since_us.load(Ordering::Relaxed);
        earliest_start_us.is_none_or(|start| start < since) || self.filter.contains(key)
    }

    /// Remembers a trace whose rows are about to be written.
    pub fn insert(&self, key: &impl std::hash::Hash) {
        let already = self.filter.insert(key);
        if !already && self.inserted.fetch_add(1, Ordering::Relaxed) + 1 >= CAPACITY {
            self.forget_all();
        }
    }

    /// Starts over (the cache was dropped, or the filter is full): every trace that started
    /// before now is read back on its next piece.
    pub fn forget_all(&self) {
        self.since_us.store(now_us(), Ordering::Relaxed);
        self.filter.clear();
        self.inserted.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_is_new_until_seen_and_old_pieces_always_read_back() {
        let seen = Seen::new();
        let later = Some(now_us() + 1_000_000);
        let key = ("p".to_owned(), "t".to_owned());
        assert!(!seen.may_be_stored(&key, later));
        assert!(seen.may_be_stored(&key, Some(0)), "started before the sink");
        assert!(seen.may_be_stored(&key, None), "no time: assume stored");
        seen.insert(&key);
        assert!(seen.may_be_stored(&key, later));
        let before = now_us();
        seen.forget_all();
        assert!(!seen.filter.contains(&key));
        assert!(
            seen.may_be_stored(&key, Some(before - 1)),
            "started before forgetting"
        );
    }
}

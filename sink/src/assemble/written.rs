//! Traces last written from one whole batch, by a digest of that batch. An exact re-send of
//! it (an OTLP exporter's retry, a Kafka message consumed twice) would otherwise miss the
//! cache, read the trace back from the store and write every row again, only to store what is
//! already there: the dearest piece the sink met (docs/performance.md, "Assembly and re-sent
//! traces"). Recognised here, it is dropped. Merging the same whole batch
//! again into the state its first merge made changes nothing, so dropping it stores the same
//! rows.
//!
//! A direct-mapped table of (trace key hash, content digest) pairs: fixed memory, no
//! allocation, one lock. A slot taken by another trace only sends a re-send the long way
//! (read-back and merge), never drops a piece whose content was not written.

use std::cell::RefCell;
use std::sync::{Mutex, PoisonError};

use prost::Message;
use spanbridge_proto::EventBatch;
use twox_hash::XxHash3_64;

/// 2^18 slots of 16 bytes: 4 MiB once filled. At 20k new traces per second, a re-send 5 s
/// after its trace is still recognised two times in three (a slot survives n later traces with
/// probability e^(-n/2^18)); the others take the long way.
const SLOTS: usize = 1 << 18;

pub struct Written {
    /// (key hash, digest); a key hash of 0 is an empty slot.
    slots: Mutex<Vec<(u64, u64)>>,
}

/// Where a trace's digest lives and what identifies it there.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceKey(u64);

impl TraceKey {
    pub fn of(project_id: &str, trace_id: &str) -> Self {
        let project = XxHash3_64::oneshot(project_id.as_bytes());
        // 0 marks an empty slot.
        Self(XxHash3_64::oneshot_with_seed(project, trace_id.as_bytes()).max(1))
    }

    fn slot(self) -> usize {
        (self.0 as usize) & (SLOTS - 1)
    }
}

/// The content of a whole trace's batch as it would be written: its rows and its trace fields,
/// not who sent it or when (a retry differs in those only).
pub fn digest(batch: &EventBatch) -> u64 {
    thread_local! {
        /// Reused across batches: no allocation per digest.
        static ENCODED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    ENCODED.with_borrow_mut(|encoded| {
        encoded.clear();
        for row in &batch.rows {
            // Length-delimited, so no two different row lists encode alike.
            let _ = row.encode_length_delimited(encoded);
        }
        if let Some(trace) = &batch.trace {
            encoded.push(1);
            let _ = trace.encode_length_delimited(encoded);
        }
        let digest = XxHash3_64::oneshot(encoded);
        if encoded.capacity() > MAX_KEPT_BUFFER {
            *encoded = Vec::new();
        }
        digest
    })
}

/// A batch larger than this (a huge trace) does not keep its encoding buffer alive.
const MAX_KEPT_BUFFER: usize = 1 << 20;

impl Written {
    pub fn new() -> Self {
        Self {
            slots: Mutex::new(vec![(0, 0); SLOTS]),
        }
    }

    fn with_slots<T>(&self, work: impl FnOnce(&mut [(u64, u64)]) -> T) -> T {
        work(&mut self.slots.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether the trace was last written from a whole batch with exactly this content.
    pub fn holds(&self, key: TraceKey, digest: u64) -> bool {
        self.with_slots(|slots| slots[key.slot()] == (key.0, digest))
    }

    /// The trace is being written from this whole batch, merged.
    pub fn remember(&self, key: TraceKey, digest: u64) {
        self.with_slots(|slots| slots[key.slot()] = (key.0, digest));
    }

    /// The trace changed another way, or its write failed: a re-send must not be dropped.
    pub fn forget(&self, key: TraceKey) {
        self.with_slots(|slots| {
            let slot = &mut slots[key.slot()];
            if slot.0 == key.0 {
                *slot = (0, 0);
            }
        });
    }

    pub fn forget_all(&self) {
        self.with_slots(|slots| slots.fill((0, 0)));
    }
}

#[cfg(test)]
mod tests {
    use spanbridge_proto::EventRow;

    use super::*;

    fn batch(input: &str) -> EventBatch {
        EventBatch {
            project_id: "p".into(),
            received_at_us: 1,
            rows: vec![EventRow {
                trace_id: "t".into(),
                span_id: "s".into(),
                input: input.into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn only_the_same_content_of_the_same_trace_is_held() {
        let written = Written::new();
        let key = TraceKey::of("p", "t");
        written.remember(key, digest(&batch("question")));

        let mut retry = batch("question");
        retry.received_at_us = 2;
        retry.api_key_id = "another key".into();
        assert!(
            written.holds(key, digest(&retry)),
            "a retry differs in its header only"
        );
        assert!(!written.holds(key, digest(&batch("edited question"))));
        assert!(!written.holds(TraceKey::of("p2", "t"), digest(&retry)));
        assert!(!written.holds(TraceKey::of("pt", ""), digest(&retry)));

        written.forget(TraceKey::of("p", "other trace"));
        assert!(written.holds(key, digest(&retry)), "another trace's forget");
        written.forget(key);
        assert!(!written.holds(key, digest(&retry)));
        written.remember(key, digest(&retry));
        written.forget_all();
        assert!(!written.holds(key, digest(&retry)));
    }
}

//! The contract between gateway and sink, and the one home of every type both halves need:
//! the Kafka message (`spanbridge.v1`, prost types generated from
//! `proto/spanbridge/v1/events.proto`), the key record ([`keys`]), the read side ([`read`]) and secret settings ([`secret`]).

/// Major version written into every [`v1::EventBatch`]; sinks reject other majors.
pub const SCHEMA_VERSION: u32 = 1;

/// Major version of a Kafka message that is an [`v1::EventBatches`] (a group of version-1
/// batches sharing a partition).
pub const GROUPED_SCHEMA_VERSION: u32 = 2;

pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/spanbridge.v1.rs"));
}

pub mod keys;
pub mod read;
pub mod secret;

pub use keys::{KeyRecord, UnhashedKeyRecord};
pub use read::{
    Cursor, DailyRow, ListedTrace, ObservationQuery, SessionPage, SessionQuery, SessionSummary,
    StoreError, StoredRow, StoredScore, TraceFilter, TracePage, TraceQuery, TraceReader,
};
pub use secret::Secret;
pub use v1::{EventBatch, EventBatches, EventRow, PartialRow, Score, TraceFields};

/// The clock both halves stamp with, in µs since the Unix epoch: a request's receive time in
/// the gateway, a row's write time in the sink.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

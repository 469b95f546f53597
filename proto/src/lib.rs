//! The contract between gateway and sink (`spanbridge.v1`): prost types generated from
//! `proto/spanbridge/v1/events.proto`. Nothing else is shared between the two halves.

/// Major version written into every [`v1::EventBatch`]; sinks reject other majors.
pub const SCHEMA_VERSION: u32 = 1;

/// Major version of a Kafka message that is an [`v1::EventBatches`] (a group of version-1
/// batches sharing a partition).
pub const GROUPED_SCHEMA_VERSION: u32 = 2;

pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/spanbridge.v1.rs"));
}

pub use v1::{EventBatch, EventBatches, EventRow, PartialRow, Score, TraceFields};

//! Event stores: SQLite (embedded) and ClickHouse (the Kafka deployment). Each implements
//! [`Store`] for the sink's writes and, through it, the contract's [`TraceReader`] for every
//! read: the read API, `/ready` and assembly's read-back.

pub mod clickhouse;
pub mod langfuse_v2;
pub mod sqlite;

use async_trait::async_trait;
pub use spanbridge_proto::{StoreError, StoredRow, StoredScore, TraceReader};

/// Writes a batch of rows atomically: all of them are durable when this returns Ok. Every
/// store reads back what it wrote ([`TraceReader`]): assembly merges into it.
#[async_trait]
pub trait Store: TraceReader {
    async fn write(&self, rows: &[StoredRow]) -> Result<(), StoreError>;
    /// Writes scores (Langfuse's `scores` table); a score written again replaces its earlier
    /// version (same id).
    async fn write_scores(&self, scores: &[StoredScore]) -> Result<(), StoreError>;
}

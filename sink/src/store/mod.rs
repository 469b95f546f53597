//! Event stores: SQLite (embedded) now, ClickHouse (production) behind the same trait.

pub mod clickhouse;
pub mod sqlite;

use async_trait::async_trait;

use crate::enrich::StoredRow;

/// A failed write. The pipeline answers the waiting clients with 503 so they retry.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Writes a batch of rows atomically: all of them are durable when this returns Ok.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn write(&self, rows: &[StoredRow]) -> Result<(), StoreError>;

    /// Whether `error` can never succeed on retry (the rows themselves are refused); the Kafka
    /// sink then dead-letters the offending message instead of retrying forever.
    fn is_permanent(&self, _error: &StoreError) -> bool {
        false
    }
}

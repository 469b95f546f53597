//! Where accepted rows go: Kafka in production, the in-process queue in embedded mode. The
//! client is answered only after `publish` returns Ok, i.e. once the rows are durable.

pub mod kafka;

use async_trait::async_trait;
use spanbridge_proto::EventBatch;

/// Why a publish failed. Every variant is transient from the client's point of view (503).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("ingestion queue is full, retry later")]
    Full,
    #[error("the store could not commit the rows: {0}")]
    Store(String),
    #[error("shutting down, retry later")]
    Closed,
}

/// Hands the batches of one request to durable storage and waits until they are durable.
#[async_trait]
pub trait Publisher: Send + Sync + 'static {
    async fn publish(&self, batches: Vec<EventBatch>) -> Result<(), PublishError>;
}

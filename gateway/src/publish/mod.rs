//! Where accepted rows go: Kafka in the Kafka deployment, the in-process queue embedded. The
//! client is answered only after `publish` returns Ok, i.e. once the rows are durable.

pub mod kafka;
pub mod messages;

use async_trait::async_trait;
use spanbridge_proto::EventBatch;

/// Why a publish failed. Every variant is transient from the client's point of view (503,
/// see `From<PublishError> for IngestError`): the rows are fine, the path is not.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Overload: the queue or the producer's in-flight window is full.
    #[error("ingestion queue is full, retry later")]
    Full,
    /// The broker or the store did not make the rows durable (the detail is logged only).
    #[error("the rows were not made durable: {0}")]
    Unavailable(String),
    #[error("shutting down, retry later")]
    Closed,
}

/// Hands the batches of one request to durable storage and waits until they are durable.
#[async_trait]
pub trait Publisher: Send + Sync + 'static {
    async fn publish(&self, batches: Vec<EventBatch>) -> Result<(), PublishError>;
}

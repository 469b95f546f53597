//! The embedded-mode input: a bounded in-process queue from the gateway into the sink pipeline.
//! A full queue is refused at once (the client gets 503 and retries), never waited on without
//! bound and never dropped silently.

use tokio::sync::{mpsc, oneshot};

use spanbridge_proto::EventBatch;

/// The batches of one request and where to report their fate.
pub struct Submission {
    pub batches: Vec<EventBatch>,
    pub ack: oneshot::Sender<Result<(), String>>,
}

/// Why a submission was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("queue full")]
    Full,
    #[error("sink stopped")]
    Closed,
    #[error("{0}")]
    Store(String),
}

/// The sending side, held by the gateway's publisher.
#[derive(Clone)]
pub struct LocalQueue {
    tx: mpsc::Sender<Submission>,
}

impl LocalQueue {
    /// A queue holding at most `capacity` requests.
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Submission>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self { tx }, rx)
    }

    /// Enqueues the batches and waits until the store committed them.
    pub async fn submit(&self, batches: Vec<EventBatch>) -> Result<(), SubmitError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .try_send(Submission { batches, ack })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => SubmitError::Full,
                mpsc::error::TrySendError::Closed(_) => SubmitError::Closed,
            })?;
        metrics::gauge!("spanbridge_queue_depth").set(self.depth() as f64);
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(SubmitError::Store(error)),
            Err(_) => Err(SubmitError::Closed),
        }
    }

    /// Requests waiting to be written.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

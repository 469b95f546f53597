//! The embedded-mode input: a bounded in-process queue from the gateway into the write path.
//! A full queue is refused at once (the client gets 503 and retries), never waited on without
//! bound and never dropped silently.
//!
//! [`run`] feeds the one write driver ([`crate::write`]) by group commit: the first waiting
//! request plus whatever else is already queued (up to the row limit) go into one batch, then
//! every waiting client is answered. Under light load a request is written alone at once;
//! under heavy load batches grow by themselves. Transient store errors are not retried here:
//! the clients get 503 and retry, which a waiting request could only do less well.

use tokio::sync::{mpsc, oneshot};

use spanbridge_proto::EventBatch;

use crate::retry::RetryUntil;
use crate::store::StoreError;
use crate::write::{Batch, BatchLimits, Writer};

/// The batches of one request and where to report their fate.
pub struct Submission {
    pub batches: Vec<EventBatch>,
    pub ack: oneshot::Sender<Result<(), StoreError>>,
}

/// Why a submission was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("queue full")]
    Full,
    #[error("sink stopped")]
    Closed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The sending side, held by the gateway's publisher.
#[derive(Clone)]
pub struct LocalQueue {
    tx: mpsc::Sender<Submission>,
}

impl LocalQueue {
    /// A queue holding at most `capacity` requests (validated ≥ 1 at load).
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Submission>) {
        let (tx, rx) = mpsc::channel(capacity);
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
            Ok(result) => Ok(result?),
            Err(_) => Err(SubmitError::Closed),
        }
    }

    /// Requests waiting to be written.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// Writes what the queue brings until every sender is dropped and the queue is drained (that
/// is the shutdown path: nothing accepted is left unwritten). `max_rows` bounds a batch.
pub async fn run(mut rx: mpsc::Receiver<Submission>, writer: Writer, max_rows: usize) {
    let limits = BatchLimits {
        max_rows,
        max_bytes: usize::MAX,
        max_wait: std::time::Duration::ZERO,
    };
    while let Some(first) = rx.recv().await {
        let mut batch = Batch::default();
        writer.add(&mut batch, first.batches, 0, first.ack).await;
        while !batch.is_full(&limits) {
            match rx.try_recv() {
                Ok(next) => writer.add(&mut batch, next.batches, 0, next.ack).await,
                Err(_) => break,
            }
        }
        metrics::gauge!("spanbridge_queue_depth").set(rx.len() as f64);
        // A client that went away no longer waits for the answer; its rows are stored anyway.
        match writer.flush(&mut batch, &RetryUntil::Never).await {
            Ok(settled) => {
                for (ack, result) in settled {
                    let _ = ack.send(result);
                }
            }
            Err(error) => {
                tracing::error!(%error, "store write failed; clients get 503 and retry");
                for ack in batch.into_inputs() {
                    let _ = ack.send(Err(error.clone()));
                }
            }
        }
    }
}

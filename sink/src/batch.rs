//! The sink's write loop for the in-process queue: group commit. It takes the first waiting
//! request plus whatever else is already queued (up to `max_rows`), writes them in one
//! transaction, then answers every waiting client. Under light load a request is written
//! alone at once; under heavy load batches grow by themselves.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::enrich::{enrich, now_us};
use crate::local::Submission;
use crate::meta::{IngestionUsage, PromptIds};
use crate::prices::ModelCatalog;
use crate::store::Store;

/// Runs until every sender is dropped and the queue is drained (that is the shutdown path:
/// nothing accepted is left unwritten). `catalog` prices the rows; `usage` counts what was
/// written per project and day (flushed to the metadata store in the background).
pub async fn run_local_pipeline(
    mut rx: mpsc::Receiver<Submission>,
    store: Arc<dyn Store>,
    max_rows: usize,
    catalog: ModelCatalog,
    prompts: PromptIds,
    usage: IngestionUsage,
) {
    while let Some(first) = rx.recv().await {
        let mut rows = first.batches.iter().map(|b| b.rows.len()).sum::<usize>();
        let mut submissions = vec![first];
        while rows < max_rows {
            match rx.try_recv() {
                Ok(next) => {
                    rows += next.batches.iter().map(|b| b.rows.len()).sum::<usize>();
                    submissions.push(next);
                }
                Err(_) => break,
            }
        }
        let (batches, acks): (Vec<_>, Vec<_>) =
            submissions.into_iter().map(|s| (s.batches, s.ack)).unzip();
        let stored = enrich(
            batches.into_iter().flatten().collect(),
            now_us(),
            &catalog,
            &prompts,
        )
        .await;
        metrics::gauge!("spanbridge_queue_depth").set(rx.len() as f64);
        let started = std::time::Instant::now();
        let result = store
            .write(&stored)
            .await
            .map_err(|error| error.to_string());
        metrics::histogram!("spanbridge_sink_batch_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("spanbridge_sink_batch_rows").record(stored.len() as f64);
        if let Err(error) = &result {
            metrics::counter!("spanbridge_store_errors_total").increment(1);
            tracing::error!(%error, rows = stored.len(), "store write failed; clients get 503 and retry");
        } else {
            metrics::counter!("spanbridge_sink_rows_written_total").increment(stored.len() as u64);
            usage.record(&stored);
            tracing::debug!(rows = stored.len(), requests = acks.len(), "batch written");
        }
        for ack in acks {
            // A client that went away no longer waits for the answer; its rows are stored anyway.
            let _ = ack.send(result.clone());
        }
    }
}

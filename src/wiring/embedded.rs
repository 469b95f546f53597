//! Embedded (`spanbridge serve` without Kafka, the default): gateway and sink in one process, the
//! in-process queue between them; events in the event store the settings choose (the SQLite
//! file, ClickHouse, or a Langfuse v2 deployment's Postgres), metadata as `[meta]` says.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use metrics_exporter_prometheus::PrometheusHandle;
use spanbridge_gateway::publish::{PublishError, Publisher};
use spanbridge_proto::EventBatch;
use spanbridge_sink::queue::{self, LocalQueue, SubmitError};

use super::{EventStore, meta, serve_gateway, writer};
use crate::config::Settings;

/// The gateway's publisher over the in-process queue: Ok once the store committed the rows.
struct LocalPublisher(LocalQueue);

#[async_trait]
impl Publisher for LocalPublisher {
    async fn publish(&self, batches: Vec<EventBatch>) -> Result<(), PublishError> {
        self.0.submit(batches).await.map_err(|error| match error {
            SubmitError::Full => PublishError::Full,
            SubmitError::Closed => PublishError::Closed,
            SubmitError::Store(error) => PublishError::Unavailable(error.to_string()),
        })
    }
}

/// Runs until SIGTERM / SIGINT, then writes everything accepted before returning.
pub async fn serve(settings: Settings, metrics: PrometheusHandle) -> Result<(), String> {
    let events = EventStore::open(&settings).await?;
    let meta = meta::open_services(&settings).await?;
    meta.ensure_initial_key(settings.auth.salt.expose()).await?;

    let (queue, queue_rx) = LocalQueue::new(settings.embedded.queue_capacity);
    let pipeline = tokio::spawn(queue::run(
        queue_rx,
        writer(&settings, &events, &meta).await,
        settings.embedded.max_batch_rows,
    ));
    let gateway = super::gateway(
        &settings,
        meta.keys.clone(),
        Arc::new(LocalPublisher(queue)),
    )?;
    tracing::info!(
        store = events.reader.describe(),
        "embedded mode: in-process queue, no Kafka"
    );
    let served = serve_gateway(
        &settings,
        gateway,
        events.trace_reader(),
        metrics,
        vec![events.ready_check()],
    )
    .await;
    // The servers (and with them every queue sender) are gone: the pipeline drains and stops.
    let deadline = Duration::from_secs(settings.gateway.shutdown_timeout_secs);
    if tokio::time::timeout(deadline, pipeline).await.is_err() {
        tracing::warn!("the final write did not finish within the shutdown deadline");
    }
    meta.close().await;
    events.close().await;
    tracing::info!("stopped");
    served
}

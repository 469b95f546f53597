//! The Kafka deployment (DESIGN.md "Data flow"): Kafka between gateway and sink, ClickHouse as
//! the event store, like the single-binary `-target` pattern of Tempo and Loki. `spanbridge
//! gateway` publishes to Kafka; `spanbridge sink` consumes into the event store; `spanbridge
//! serve` with `[kafka]` configured runs both halves in one process through Kafka; `spanbridge
//! migrate` creates the topics and the ClickHouse tables.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use metrics_exporter_prometheus::PrometheusHandle;
use spanbridge_gateway::error::BackendUnavailable;
use spanbridge_gateway::publish::kafka::{KafkaPublisher, KafkaPublisherConfig};
use spanbridge_sink::consume::{self, ConsumerConfig};
use spanbridge_sink::kafka_admin;
use spanbridge_sink::store::clickhouse::ClickHouseStore;
use spanbridge_sink::write::BatchLimits;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::meta::{self, MetaServices};
use super::{EventStore, clickhouse_config, serve_gateway, shutdown_signal, writer};
use crate::admin::{self, ReadyCheck};
use crate::config::Settings;

/// `/ready` of the gateway: the broker answers a metadata request for the events topic.
struct KafkaReady(Arc<KafkaPublisher>);

#[async_trait]
impl ReadyCheck for KafkaReady {
    fn name(&self) -> &'static str {
        "kafka"
    }

    async fn check(&self) -> Result<(), BackendUnavailable> {
        self.0
            .check_topic(Duration::from_secs(2))
            .await
            .map_err(|detail| BackendUnavailable {
                backend: "kafka",
                detail,
            })
    }
}

pub(crate) fn publisher_config(settings: &Settings) -> KafkaPublisherConfig {
    KafkaPublisherConfig {
        brokers: settings.kafka.brokers.clone(),
        topic: settings.kafka.topic.clone(),
        delivery_timeout: Duration::from_millis(settings.kafka.delivery_timeout_ms),
        max_inflight_messages: settings.kafka.max_inflight_messages,
        max_message_bytes: settings.kafka.max_message_bytes,
        options: settings.kafka.producer_options(),
    }
}

fn consumer_config(settings: &Settings) -> ConsumerConfig {
    ConsumerConfig {
        brokers: settings.kafka.brokers.clone(),
        topic: settings.kafka.topic.clone(),
        dead_letter_topic: settings.kafka.dead_letter_topic.clone(),
        group_id: settings.sink.group_id.clone(),
        limits: BatchLimits {
            max_rows: settings.sink.max_batch_rows,
            max_bytes: settings.sink.max_batch_bytes,
            max_wait: Duration::from_millis(settings.sink.max_batch_wait_ms),
        },
        max_retry_backoff: Duration::from_millis(settings.sink.max_retry_backoff_ms),
        shutdown_timeout: Duration::from_secs(settings.sink.shutdown_timeout_secs),
        options: settings.kafka.consumer_options(),
        producer_options: settings.kafka.producer_options(),
    }
}

fn require_kafka(settings: &Settings, command: &str) -> Result<(), String> {
    if settings.kafka.is_configured() {
        Ok(())
    } else {
        Err(format!(
            "`spanbridge {command}` needs Kafka: set kafka.brokers (SPANBRIDGE_KAFKA__BROKERS)"
        ))
    }
}

/// `spanbridge gateway`: OTLP in, Kafka out; the read API reads the event store.
pub async fn gateway(settings: Settings, metrics: PrometheusHandle) -> Result<(), String> {
    require_kafka(&settings, "gateway")?;
    let events = EventStore::open(&settings).await?;
    let meta = meta::open_services(&settings).await?;
    meta.ensure_initial_key(settings.auth.salt.expose()).await?;
    let served = serve_kafka_gateway(&settings, &meta, &events, metrics).await;
    meta.close().await;
    events.close().await;
    tracing::info!("stopped");
    served
}

/// Serves OTLP publishing to Kafka until SIGTERM, then flushes the producer: when this
/// returns, everything acknowledged to a client is in Kafka.
async fn serve_kafka_gateway(
    settings: &Settings,
    meta: &MetaServices,
    events: &EventStore,
    metrics: PrometheusHandle,
) -> Result<(), String> {
    let publisher = Arc::new(KafkaPublisher::new(publisher_config(settings))?);
    let gateway = super::gateway(settings, meta.keys.clone(), publisher.clone())?;
    tracing::info!(
        brokers = %settings.kafka.brokers,
        topic = %settings.kafka.topic,
        store = events.reader.describe(),
        "gateway publishing to Kafka"
    );
    let checks: Vec<Arc<dyn ReadyCheck>> = vec![
        Arc::new(KafkaReady(publisher.clone())),
        events.ready_check(),
    ];
    let served = serve_gateway(settings, gateway, events.trace_reader(), metrics, checks).await;
    publisher.flush(Duration::from_secs(settings.gateway.shutdown_timeout_secs));
    served
}

/// `spanbridge sink`: Kafka in, event store out, until SIGTERM.
pub async fn sink(settings: Settings, metrics: PrometheusHandle) -> Result<(), String> {
    require_kafka(&settings, "sink")?;
    let events = EventStore::open(&settings).await?;
    let meta = meta::open_services(&settings).await?;
    let admin = serve_admin(&settings, metrics, vec![events.ready_check()]).await?;
    tracing::info!(
        brokers = %settings.kafka.brokers,
        topic = %settings.kafka.topic,
        group = %settings.sink.group_id,
        writes = events.reader.describe(),
        "sink mode: consuming from Kafka"
    );
    let result = consume::run(
        consumer_config(&settings),
        writer(&settings, &events, &meta).await,
        shutdown_signal(),
    )
    .await;
    admin.abort();
    meta.close().await;
    events.close().await;
    tracing::info!("stopped");
    result
}

/// `spanbridge serve` with Kafka configured: both halves in one process, through Kafka.
pub async fn serve(settings: Settings, metrics: PrometheusHandle) -> Result<(), String> {
    let events = EventStore::open(&settings).await?;
    let meta = meta::open_services(&settings).await?;
    meta.ensure_initial_key(settings.auth.salt.expose()).await?;
    let (stop_sink, sink_stopped) = oneshot::channel::<()>();
    let sink = tokio::spawn(consume::run(
        consumer_config(&settings),
        writer(&settings, &events, &meta).await,
        async move {
            let _ = sink_stopped.await;
        },
    ));
    let served = serve_kafka_gateway(&settings, &meta, &events, metrics).await;
    // The gateway is stopped and everything it acknowledged is in Kafka: stop the sink, which
    // writes and commits what it holds.
    let _ = stop_sink.send(());
    let sunk = match sink.await {
        Ok(result) => result,
        Err(error) => Err(format!("the sink task failed: {error}")),
    };
    meta.close().await;
    events.close().await;
    tracing::info!("stopped");
    served.and(sunk)
}

/// `spanbridge migrate`, Kafka-deployment part: the Kafka topics (when `kafka.brokers` is set) and
/// Langfuse's ClickHouse event tables (when `clickhouse.url` is set), each created only when
/// absent. Returns what it did, one line each.
pub async fn migrate(settings: &Settings) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    if settings.kafka.is_configured() {
        let topics = [
            settings.kafka.topic.as_str(),
            settings.kafka.dead_letter_topic.as_str(),
        ];
        let created = kafka_admin::create_topics(
            &settings.kafka.brokers,
            &settings.kafka.producer_options(),
            &topics,
            settings.kafka.partitions,
            settings.kafka.replication_factor,
        )
        .await?;
        for topic in topics {
            let state = if created.iter().any(|name| name == topic) {
                format!("created ({} partitions)", settings.kafka.partitions)
            } else {
                "already exists".into()
            };
            done.push(format!("Kafka topic {topic}: {state}"));
        }
    }
    if !settings.clickhouse.url.trim().is_empty() {
        done.extend(
            ClickHouseStore::new(clickhouse_config(settings))
                .migrate()
                .await?,
        );
    }
    Ok(done)
}

/// The admin port (`/metrics`, `/health`, `/ready`) of a process without OTLP listeners.
async fn serve_admin(
    settings: &Settings,
    metrics: PrometheusHandle,
    checks: Vec<Arc<dyn ReadyCheck>>,
) -> Result<JoinHandle<()>, String> {
    let listener = tokio::net::TcpListener::bind(settings.admin.addr)
        .await
        .map_err(|error| {
            format!(
                "cannot listen for the admin port on {}: {error}",
                settings.admin.addr
            )
        })?;
    let router = admin::router(metrics, checks);
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::warn!(%error, "admin server failed");
        }
    }))
}

//! The production path (DESIGN.md "Data flow"): Kafka between gateway and sink, ClickHouse as
//! the event store. `spanbridge gateway` publishes to Kafka; `spanbridge sink` consumes into
//! the event store; `spanbridge serve` with `[kafka]` configured runs both halves in one
//! process through Kafka; `spanbridge migrate` creates the topics and the ClickHouse tables.
//!
//! The event store is ClickHouse when `clickhouse.url` is set, else the embedded SQLite file,
//! for the sink's writes and the gateway's read API alike.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::Value;
use spanbridge_gateway::publish::kafka::{KafkaPublisher, KafkaPublisherConfig};
use spanbridge_gateway::read::TraceReader;
use spanbridge_sink::consume::{self, ConsumerConfig};
use spanbridge_sink::read::EventRecord;
use spanbridge_sink::store::Store;
use spanbridge_sink::store::clickhouse::{ClickHouseConfig, ClickHouseStore};
use spanbridge_sink::store::sqlite::SqliteStore;
use tokio::sync::oneshot;

use tokio::task::JoinHandle;

use crate::admin::{self, ReadyCheck};
use crate::config::{ClickHouseCompression, Settings};
use crate::wiring;

/// The event store chosen by the settings: what the sink writes to and the read API reads.
#[derive(Clone)]
pub(crate) enum EventStore {
    ClickHouse(Box<ClickHouseStore>),
    Sqlite(SqliteStore, sqlx::SqlitePool),
}

impl EventStore {
    pub(crate) async fn open(settings: &Settings) -> Result<Self, String> {
        if settings.clickhouse.url.trim().is_empty() {
            let pool = spanbridge_sink::db::open_sqlite(&settings.embedded.path).await?;
            return Ok(Self::Sqlite(SqliteStore::open(pool.clone())?, pool));
        }
        Ok(Self::ClickHouse(Box::new(ClickHouseStore::new(
            clickhouse_config(settings),
        ))))
    }

    fn store(&self) -> Arc<dyn Store> {
        match self {
            Self::ClickHouse(store) => Arc::new(store.as_ref().clone()),
            Self::Sqlite(store, _) => Arc::new(store.clone()),
        }
    }

    async fn events_of_trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<EventRecord>, String> {
        match self {
            Self::ClickHouse(store) => store
                .events_of_trace(project_id, trace_id)
                .await
                .map_err(|e| e.to_string()),
            Self::Sqlite(store, _) => store
                .events_of_trace(project_id, trace_id)
                .await
                .map_err(|e| e.to_string()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::ClickHouse(_) => "ClickHouse events_full".into(),
            Self::Sqlite(..) => "SQLite events".into(),
        }
    }
}

fn clickhouse_config(settings: &Settings) -> ClickHouseConfig {
    ClickHouseConfig {
        url: settings.clickhouse.url.trim().to_owned(),
        database: settings.clickhouse.database.clone(),
        user: settings.clickhouse.user.clone(),
        password: settings.clickhouse.password.clone(),
        lz4: settings.clickhouse.compression == ClickHouseCompression::Lz4,
    }
}

/// The read API over whichever event store is configured.
struct StoreReader(EventStore);

#[async_trait]
impl TraceReader for StoreReader {
    async fn trace(&self, project_id: &str, trace_id: &str) -> Result<Option<Value>, String> {
        let records = self.0.events_of_trace(project_id, trace_id).await?;
        Ok(spanbridge_sink::read::trace(&records))
    }

    async fn observations(&self, project_id: &str, trace_id: &str) -> Result<Vec<Value>, String> {
        let records = self.0.events_of_trace(project_id, trace_id).await?;
        Ok(records
            .iter()
            .map(spanbridge_sink::read::observation)
            .collect())
    }
}

#[async_trait]
impl ReadyCheck for EventStore {
    fn name(&self) -> &'static str {
        match self {
            Self::ClickHouse(_) => "clickhouse",
            Self::Sqlite(..) => "sqlite",
        }
    }

    async fn check(&self) -> Result<(), String> {
        match self {
            Self::ClickHouse(store) => store.ping().await.map_err(|e| e.to_string()),
            Self::Sqlite(_, pool) => sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }
}

/// `/ready` of the gateway: the broker answers a metadata request for the events topic.
struct KafkaReady(Arc<KafkaPublisher>);

#[async_trait]
impl ReadyCheck for KafkaReady {
    fn name(&self) -> &'static str {
        "kafka"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.check_topic(Duration::from_secs(2)).await
    }
}

fn publisher_config(settings: &Settings) -> KafkaPublisherConfig {
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
        max_batch_rows: settings.sink.max_batch_rows.max(1),
        max_batch_bytes: settings.sink.max_batch_bytes.max(1),
        max_batch_wait: Duration::from_millis(settings.sink.max_batch_wait_ms),
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
    let meta = wiring::meta_seams(&settings).await?;
    meta.ensure_initial_key(&settings.auth.salt).await?;
    let served = serve_kafka_gateway(&settings, &meta, events, metrics).await;
    meta.close().await;
    tracing::info!("stopped");
    served
}

/// Serves OTLP publishing to Kafka until SIGTERM, then flushes the producer: when this
/// returns, everything acknowledged to a client is in Kafka.
async fn serve_kafka_gateway(
    settings: &Settings,
    meta: &wiring::MetaSeams,
    events: EventStore,
    metrics: PrometheusHandle,
) -> Result<(), String> {
    let publisher = Arc::new(KafkaPublisher::new(publisher_config(settings))?);
    let gateway = wiring::gateway(
        settings,
        meta.keys.clone(),
        publisher.clone(),
        Arc::new(StoreReader(events.clone())),
    );
    tracing::info!(
        brokers = %settings.kafka.brokers,
        topic = %settings.kafka.topic,
        store = %events.describe(),
        "gateway publishing to Kafka"
    );
    let checks: Vec<Arc<dyn ReadyCheck>> =
        vec![Arc::new(KafkaReady(publisher.clone())), Arc::new(events)];
    let served = wiring::serve_gateway(settings, gateway, metrics, checks).await;
    publisher.flush(Duration::from_secs(settings.gateway.shutdown_timeout_secs));
    served
}

/// `spanbridge sink`: Kafka in, event store out, until SIGTERM.
pub async fn sink(settings: Settings, metrics: PrometheusHandle) -> Result<(), String> {
    require_kafka(&settings, "sink")?;
    let events = EventStore::open(&settings).await?;
    let meta = wiring::meta_seams(&settings).await?;
    let admin = serve_admin(&settings, metrics, vec![Arc::new(events.clone())]).await?;
    tracing::info!(
        brokers = %settings.kafka.brokers,
        topic = %settings.kafka.topic,
        group = %settings.sink.group_id,
        writes = %events.describe(),
        "sink mode: consuming from Kafka"
    );
    let result = consume::run(
        consumer_config(&settings),
        events.store(),
        meta.catalog.clone(),
        meta.prompts.clone(),
        meta.usage.clone(),
        wiring::shutdown_signal(),
    )
    .await;
    admin.abort();
    meta.close().await;
    tracing::info!("stopped");
    result
}

/// `spanbridge serve` with Kafka configured: both halves in one process, through Kafka.
pub async fn serve(settings: Settings, metrics: PrometheusHandle) -> Result<(), String> {
    let events = EventStore::open(&settings).await?;
    let meta = wiring::meta_seams(&settings).await?;
    meta.ensure_initial_key(&settings.auth.salt).await?;
    let (stop_sink, sink_stopped) = oneshot::channel::<()>();
    let sink = tokio::spawn(consume::run(
        consumer_config(&settings),
        events.store(),
        meta.catalog.clone(),
        meta.prompts.clone(),
        meta.usage.clone(),
        async move {
            let _ = sink_stopped.await;
        },
    ));
    let served = serve_kafka_gateway(&settings, &meta, events, metrics).await;
    // The gateway is stopped and everything it acknowledged is in Kafka: stop the sink, which
    // writes and commits what it holds.
    let _ = stop_sink.send(());
    let sunk = match sink.await {
        Ok(result) => result,
        Err(error) => Err(format!("the sink task failed: {error}")),
    };
    meta.close().await;
    tracing::info!("stopped");
    served.and(sunk)
}

/// `spanbridge migrate`, production part: the Kafka topics (when `kafka.brokers` is set) and
/// Langfuse's ClickHouse event tables (when `clickhouse.url` is set), each created only when
/// absent. Returns what it did, one line each.
pub async fn migrate(settings: &Settings) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    if settings.kafka.is_configured() {
        let topics = [
            settings.kafka.topic.as_str(),
            settings.kafka.dead_letter_topic.as_str(),
        ];
        let created = consume::create_topics(
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
        ClickHouseStore::new(clickhouse_config(settings))
            .migrate()
            .await?;
        done.push(format!(
            "ClickHouse {}: events_full, events_core, events_core_mv present (existing tables left alone)",
            settings.clickhouse.database
        ));
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

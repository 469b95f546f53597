//! The one place that chooses implementations: adapters from the sink's concrete types to the
//! gateway's seams (`KeyStore`, `Publisher`, `TraceReader`), and the embedded `serve`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use metrics_exporter_prometheus::PrometheusHandle;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
use serde_json::Value;
use spanbridge_gateway::auth::{ApiKeyRecord, Authenticator, KeyStore};
use spanbridge_gateway::limits::{InflightLimit, ProjectRateLimit};
use spanbridge_gateway::publish::{PublishError, Publisher};
use spanbridge_gateway::read::TraceReader;
use spanbridge_gateway::{Gateway, Limits};
use spanbridge_proto::EventBatch;
use spanbridge_sink::local::{LocalQueue, SubmitError};
use spanbridge_sink::meta::postgres::{PostgresMeta, Source};
use spanbridge_sink::meta::sqlite::SqliteMeta;
use spanbridge_sink::meta::{
    IngestionUsage, KeyRecord, KeyUsage, MetaModels, MetaStore, PromptIds,
};
use spanbridge_sink::prices::ModelCatalog;
use spanbridge_sink::store::sqlite::SqliteStore;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, ReadyCheck};
use crate::config::{MetaSource, Settings};
use crate::keys;

struct LocalPublisher(LocalQueue);

#[async_trait]
impl Publisher for LocalPublisher {
    async fn publish(&self, batches: Vec<EventBatch>) -> Result<(), PublishError> {
        self.0.submit(batches).await.map_err(|error| match error {
            SubmitError::Full => PublishError::Full,
            SubmitError::Closed => PublishError::Closed,
            SubmitError::Store(message) => PublishError::Store(message),
        })
    }
}

struct SqliteReader(SqliteStore);

#[async_trait]
impl TraceReader for SqliteReader {
    async fn trace(&self, project_id: &str, trace_id: &str) -> Result<Option<Value>, String> {
        let records = self
            .0
            .events_of_trace(project_id, trace_id)
            .await
            .map_err(|e| e.to_string())?;
        Ok(spanbridge_sink::read::trace(&records))
    }

    async fn observations(&self, project_id: &str, trace_id: &str) -> Result<Vec<Value>, String> {
        let records = self
            .0
            .events_of_trace(project_id, trace_id)
            .await
            .map_err(|e| e.to_string())?;
        Ok(records
            .iter()
            .map(spanbridge_sink::read::observation)
            .collect())
    }
}

async fn bind(addr: std::net::SocketAddr, what: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|error| format!("cannot listen for {what} on {addr}: {error}"))
}

/// The gateway over the chosen seams, with the limits from the settings.
pub(crate) fn gateway(
    settings: &Settings,
    keys: Arc<dyn KeyStore>,
    publisher: Arc<dyn Publisher>,
    reader: Arc<dyn TraceReader>,
) -> Arc<Gateway> {
    let auth = Authenticator::new(
        keys,
        settings.auth.salt.clone(),
        Duration::from_secs(settings.auth.cache_ttl_secs),
        settings.auth.cache_capacity,
    );
    Arc::new(Gateway {
        auth,
        publisher,
        reader,
        limits: Limits {
            max_body_bytes: settings.gateway.max_body_bytes,
            request_timeout: Duration::from_secs(settings.gateway.request_timeout_secs),
        },
        inflight: InflightLimit::new(settings.gateway.max_inflight_requests),
        rate_limit: ProjectRateLimit::new(settings.gateway.project_spans_per_second),
    })
}

/// Serves OTLP/HTTP (+ read API), OTLP/gRPC (+ gRPC health) and the admin port until SIGTERM /
/// SIGINT, then stops accepting and lets in-flight requests finish within the deadline. When
/// this returns, the gateway (and so every publisher handle) has been dropped.
pub(crate) async fn serve_gateway(
    settings: &Settings,
    gateway: Arc<Gateway>,
    metrics: PrometheusHandle,
    checks: Vec<Arc<dyn ReadyCheck>>,
) -> Result<(), String> {
    let http_listener = bind(settings.gateway.http_addr, "OTLP/HTTP").await?;
    let grpc_listener = bind(settings.gateway.grpc_addr, "OTLP/gRPC").await?;
    let admin_listener = bind(settings.admin.addr, "the admin port").await?;
    let address = |listener: &TcpListener| {
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    };
    tracing::info!(
        http = %address(&http_listener),
        grpc = %address(&grpc_listener),
        admin = %address(&admin_listener),
        "Spanbridge gateway listening"
    );

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<TraceServiceServer<spanbridge_gateway::receive::grpc::GrpcReceiver>>()
        .await;
    let shutdown = CancellationToken::new();
    let http = axum::serve(
        http_listener,
        spanbridge_gateway::receive::http::router(gateway.clone()),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let grpc = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(spanbridge_gateway::receive::grpc::service(gateway.clone()))
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(grpc_listener),
            shutdown.clone().cancelled_owned(),
        );
    let admin = axum::serve(admin_listener, admin::router(metrics, checks))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    drop(gateway);

    let servers = async {
        let (http, grpc, admin) = tokio::join!(http.into_future(), grpc, admin.into_future());
        http.map_err(|e| format!("HTTP server failed: {e}"))?;
        grpc.map_err(|e| format!("gRPC server failed: {e}"))?;
        admin.map_err(|e| format!("admin server failed: {e}"))
    };
    tokio::pin!(servers);
    tokio::select! {
        result = &mut servers => result,
        () = shutdown_signal() => {
            tracing::info!("shutting down: no new requests, finishing in-flight ones");
            health_reporter
                .set_not_serving::<TraceServiceServer<spanbridge_gateway::receive::grpc::GrpcReceiver>>()
                .await;
            shutdown.cancel();
            let deadline = Duration::from_secs(settings.gateway.shutdown_timeout_secs);
            match tokio::time::timeout(deadline, &mut servers).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!("in-flight requests did not finish within the shutdown deadline");
                    Ok(())
                }
            }
        }
    }
}

/// `/ready` for embedded mode: the SQLite file answers.
struct SqliteReady(sqlx::SqlitePool);

#[async_trait]
impl ReadyCheck for SqliteReady {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn check(&self) -> Result<(), String> {
        sqlx::query("SELECT 1")
            .execute(&self.0)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Embedded mode: gateway and sink in one process, SQLite for everything.
pub async fn serve_embedded(settings: Settings, metrics: PrometheusHandle) -> Result<(), String> {
    let pool = spanbridge_sink::db::open_sqlite(&settings.embedded.path).await?;
    let meta = meta_seams(&settings).await?;
    meta.ensure_initial_key(&settings.auth.salt).await?;

    let store = SqliteStore::open(pool.clone())?;
    let (queue, queue_rx) = LocalQueue::new(settings.embedded.queue_capacity);
    let pipeline = tokio::spawn(spanbridge_sink::batch::run_local_pipeline(
        queue_rx,
        Arc::new(store.clone()),
        settings.embedded.max_batch_rows,
        meta.catalog.clone(),
        meta.prompts.clone(),
        meta.usage.clone(),
    ));
    let gateway = gateway(
        &settings,
        meta.keys.clone(),
        Arc::new(LocalPublisher(queue)),
        Arc::new(SqliteReader(store)),
    );
    tracing::info!(db = %settings.embedded.path.display(), "embedded mode: in-process queue and SQLite");
    let served = serve_gateway(
        &settings,
        gateway,
        metrics,
        vec![Arc::new(SqliteReady(pool.clone()))],
    )
    .await;
    // The servers (and with them every queue sender) are gone: the pipeline drains and stops.
    let deadline = Duration::from_secs(settings.gateway.shutdown_timeout_secs);
    if tokio::time::timeout(deadline, pipeline).await.is_err() {
        tracing::warn!("the final write did not finish within the shutdown deadline");
    }
    meta.close().await;
    pool.close().await;
    tracing::info!("stopped");
    served
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// The metadata store chosen by `[meta]`: the embedded SQLite file, Spanbridge's own Postgres
/// database, or an existing Langfuse database (read-only). Used by `serve`, `gateway`, `sink`,
/// `keys`, `migrate` and `prices`.
pub(crate) async fn open_meta(settings: &Settings) -> Result<Arc<dyn MetaStore>, String> {
    if !settings.meta.is_postgres() {
        let pool = spanbridge_sink::db::open_sqlite(&settings.embedded.path).await?;
        return Ok(Arc::new(SqliteMeta::new(pool)));
    }
    let source = match settings.meta.source {
        MetaSource::Spanbridge => Source::Spanbridge,
        MetaSource::Langfuse => Source::Langfuse,
    };
    let meta = PostgresMeta::connect(
        settings.meta.url.trim(),
        source,
        settings.meta.max_connections,
    )
    .await?;
    if source == Source::Spanbridge {
        // Idempotent and serialised by sqlx's advisory lock, so concurrent starts are safe.
        meta.migrate().await?;
    }
    Ok(Arc::new(meta))
}

/// Writes the shipped default model prices where they are missing or older (not on a
/// read-only store).
pub(crate) async fn seed_prices(meta: &dyn MetaStore) -> Result<usize, String> {
    if meta.read_only() {
        return Ok(0);
    }
    let models =
        spanbridge_sink::prices::parse_price_file(spanbridge_sink::prices::DEFAULT_MODEL_PRICES)?;
    meta.upsert_models(&models, true)
        .await
        .map_err(|error| format!("cannot seed the default model prices: {error}"))
}

/// The gateway's `KeyStore` over any metadata store; `last_used_at` is collected here and
/// written in batches by the flusher.
struct MetaKeys {
    meta: Arc<dyn MetaStore>,
    used: KeyUsage,
}

fn api_key_record(key: KeyRecord) -> ApiKeyRecord {
    ApiKeyRecord {
        id: key.id,
        project_id: key.project_id,
        public_key: key.public_key,
        fast_hashed_secret_key: key.fast_hashed_secret_key,
        ingestion_suspended: key.ingestion_suspended,
    }
}

#[async_trait]
impl KeyStore for MetaKeys {
    async fn find_by_fast_hash(&self, fast_hash: &str) -> Result<Option<ApiKeyRecord>, String> {
        let found = self
            .meta
            .find_key_by_fast_hash(fast_hash)
            .await
            .map_err(|error| error.to_string())?;
        Ok(found.map(api_key_record))
    }

    async fn find_without_fast_hash(
        &self,
        public_key: &str,
    ) -> Result<Option<(ApiKeyRecord, String)>, String> {
        let found = self
            .meta
            .find_legacy_key(public_key)
            .await
            .map_err(|error| error.to_string())?;
        Ok(found.map(|legacy| (api_key_record(legacy.record), legacy.hashed_secret_key)))
    }

    fn key_used(&self, key_id: &str) {
        self.used.used(key_id, spanbridge_sink::enrich::now_us());
    }
}

/// What the metadata store gives the running process: key lookups for the gateway, the model
/// catalog and usage counters for the sink, and the background flusher of both counters.
pub(crate) struct MetaSeams {
    pub meta: Arc<dyn MetaStore>,
    pub keys: Arc<dyn KeyStore>,
    pub catalog: ModelCatalog,
    pub prompts: PromptIds,
    pub usage: IngestionUsage,
    key_usage: KeyUsage,
    flusher: tokio::task::JoinHandle<()>,
}

/// Opens the metadata store, seeds default prices and starts the flusher.
pub(crate) async fn meta_seams(settings: &Settings) -> Result<MetaSeams, String> {
    let meta = open_meta(settings).await?;
    let seeded = seed_prices(meta.as_ref()).await?;
    if seeded > 0 {
        tracing::info!(models = seeded, "seeded default model prices");
    }
    let (usage, key_usage) = if meta.read_only() {
        (IngestionUsage::disabled(), KeyUsage::disabled())
    } else {
        (IngestionUsage::new(), KeyUsage::new())
    };
    let catalog = ModelCatalog::new(
        Arc::new(MetaModels(meta.clone())),
        Duration::from_secs(settings.meta.model_cache_ttl_secs),
    );
    let prompts = PromptIds::new(
        meta.clone(),
        Duration::from_secs(settings.meta.model_cache_ttl_secs),
    );
    let flusher = tokio::spawn(spanbridge_sink::meta::run_flusher(
        meta.clone(),
        usage.clone(),
        key_usage.clone(),
        Duration::from_secs(settings.meta.flush_interval_secs),
    ));
    tracing::info!(store = meta.describe(), "metadata store ready");
    Ok(MetaSeams {
        keys: Arc::new(MetaKeys {
            meta: meta.clone(),
            used: key_usage.clone(),
        }),
        meta,
        catalog,
        prompts,
        usage,
        key_usage,
        flusher,
    })
}

impl MetaSeams {
    /// Headless setup (`SPANBRIDGE_INIT_*`) for processes that accept keys; skipped with a
    /// warning on a read-only store.
    pub(crate) async fn ensure_initial_key(&self, salt: &str) -> Result<(), String> {
        if self.meta.read_only() {
            if std::env::var_os("SPANBRIDGE_INIT_PUBLIC_KEY").is_some() {
                tracing::warn!(
                    "SPANBRIDGE_INIT_* ignored: the Langfuse metadata database is read-only"
                );
            }
            return Ok(());
        }
        keys::ensure_initial_key(self.meta.as_ref(), salt).await
    }

    /// Stops the flusher and writes what it still holds.
    pub(crate) async fn close(self) {
        self.flusher.abort();
        spanbridge_sink::meta::flush(self.meta.as_ref(), &self.usage, &self.key_usage).await;
    }
}

/// `spanbridge migrate`, metadata part: our migrations (SQLite or Postgres) and the default
/// model prices; nothing on a Langfuse database. Returns what it did, one line each.
pub(crate) async fn migrate_meta(settings: &Settings) -> Result<Vec<String>, String> {
    let meta = open_meta(settings).await?;
    if meta.read_only() {
        return Ok(vec![format!(
            "Metadata: {} — left untouched (meta.source = \"langfuse\" is never migrated)",
            meta.describe()
        )]);
    }
    let seeded = seed_prices(meta.as_ref()).await?;
    Ok(vec![format!(
        "Metadata: {} migrated; default model prices: {seeded} models written (newer or missing)",
        meta.describe()
    )])
}

//! The one place that chooses implementations (DESIGN.md "Layout"): `embedded` (gateway and sink
//! in one process over the in-process queue), `kafka` (the Kafka deployment: gateway / sink /
//! both through Kafka), `meta` (the metadata store and what it gives the running process). This
//! module holds what they share: the event store chosen by the settings (whose `TraceReader` the
//! read API uses as it is), its `/ready` check, the write driver, and the servers.

pub(crate) mod embedded;
pub(crate) mod kafka;
pub(crate) mod meta;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use metrics_exporter_prometheus::PrometheusHandle;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::LogsServiceServer;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
use spanbridge_gateway::auth::{Authenticator, KeyStore};
use spanbridge_gateway::error::BackendUnavailable;
use spanbridge_gateway::limits::{InflightLimit, ProjectRateLimit};
use spanbridge_gateway::privacy::Privacy;
use spanbridge_gateway::publish::Publisher;
use spanbridge_gateway::upstream::Upstream;
use spanbridge_gateway::{Gateway, Limits};
use spanbridge_sink::assemble::Assembler;
use spanbridge_sink::store::clickhouse::{ClickHouseConfig, ClickHouseStore};
use spanbridge_sink::store::langfuse_v2::LangfuseV2Store;
use spanbridge_sink::store::sqlite::SqliteStore;
use spanbridge_sink::store::{Store, StoreError, TraceReader};
use spanbridge_sink::write::Writer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, ReadyCheck};
use crate::config::{ClickHouseCompression, Settings};

/// The event store chosen by the settings: a Langfuse v2 deployment's Postgres when
/// `langfuse_v2.url` is set, ClickHouse when `clickhouse.url` is, else the SQLite file; what
/// the sink writes to and the read API and `/ready` read.
pub(crate) struct EventStore {
    pub store: Arc<dyn Store>,
    pub reader: Arc<dyn TraceReader>,
    sqlite: Option<sqlx::SqlitePool>,
}

impl EventStore {
    pub(crate) async fn open(settings: &Settings) -> Result<Self, String> {
        if settings.langfuse_v2.is_set() {
            let store = Arc::new(
                LangfuseV2Store::connect(
                    &settings.langfuse_v2.url,
                    settings.langfuse_v2.max_connections,
                )
                .await?,
            );
            return Ok(Self {
                store: store.clone(),
                reader: store,
                sqlite: None,
            });
        }
        if settings.clickhouse.url.trim().is_empty() {
            let pool = spanbridge_sink::db::open_sqlite(&settings.embedded.path).await?;
            let store = Arc::new(SqliteStore::open(pool.clone())?);
            return Ok(Self {
                store: store.clone(),
                reader: store,
                sqlite: Some(pool),
            });
        }
        let store = Arc::new(ClickHouseStore::new(clickhouse_config(settings)));
        Ok(Self {
            store: store.clone(),
            reader: store,
            sqlite: None,
        })
    }

    /// The read API's view of the store.
    pub(crate) fn trace_reader(&self) -> Arc<dyn TraceReader> {
        self.reader.clone()
    }

    /// `/ready`'s view of the store.
    pub(crate) fn ready_check(&self) -> Arc<dyn ReadyCheck> {
        Arc::new(StoreReady(self.reader.clone()))
    }

    pub(crate) async fn close(self) {
        if let Some(pool) = self.sqlite {
            pool.close().await;
        }
    }
}

pub(crate) fn clickhouse_config(settings: &Settings) -> ClickHouseConfig {
    ClickHouseConfig {
        url: settings.clickhouse.url.trim().to_owned(),
        database: settings.clickhouse.database.clone(),
        user: settings.clickhouse.user.clone(),
        password: settings.clickhouse.password.clone(),
        lz4: settings.clickhouse.compression == ClickHouseCompression::Lz4,
        tables: settings.clickhouse.tables,
        cluster: Some(settings.clickhouse.cluster.trim())
            .filter(|cluster| !cluster.is_empty())
            .map(str::to_owned),
    }
}

/// The sink's write driver over the event store, pricing with the metadata store's catalog,
/// which it warms first (loaded now, reloaded in the background): only a process that writes
/// rows prices them, so the Kafka deployment's gateway loads no prices.
pub(crate) async fn writer(
    settings: &Settings,
    events: &EventStore,
    meta: &meta::MetaServices,
) -> Writer {
    meta.catalog.warm().await;
    let writer = Writer::new(
        events.store.clone(),
        meta.catalog.clone(),
        meta.prompts.clone(),
        meta.usage.clone(),
        Duration::from_millis(settings.sink.max_retry_backoff_ms),
    );
    match settings.sink.assembly.settings() {
        Some(assembly) => writer.with_assembly(Assembler::new(&assembly)),
        None => writer,
    }
}

fn backend_unavailable(error: StoreError) -> BackendUnavailable {
    BackendUnavailable {
        backend: "event store",
        detail: error.to_string(),
    }
}

/// `/ready`: the event store answers.
struct StoreReady(Arc<dyn TraceReader>);

#[async_trait]
impl ReadyCheck for StoreReady {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    async fn check(&self) -> Result<(), BackendUnavailable> {
        self.0.ping().await.map_err(backend_unavailable)
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
) -> Result<Arc<Gateway>, String> {
    // Checked at load already (`Settings::validate`); compiled once more here for the gateway.
    let privacy = Arc::new(Privacy::compile(&settings.privacy, &settings.sampling)?);
    let auth = Authenticator::new(
        keys,
        settings.auth.salt.clone(),
        Duration::from_secs(settings.auth.cache_ttl_secs),
        settings.auth.cache_capacity,
    );
    Ok(Arc::new(Gateway {
        auth,
        publisher,
        privacy,
        limits: Limits {
            max_body_bytes: settings.gateway.max_body_bytes,
            request_timeout: Duration::from_secs(settings.gateway.request_timeout_secs),
        },
        inflight: InflightLimit::new(settings.gateway.max_inflight_requests),
        rate_limit: ProjectRateLimit::new(settings.gateway.project_spans_per_second),
        logs: settings.otlp_logs.clone(),
    }))
}

/// Serves OTLP/HTTP (+ read API and the front door to the upstream), OTLP/gRPC (+ gRPC health) and the admin port until SIGTERM /
/// SIGINT, then stops accepting and lets in-flight requests finish within the deadline. When
/// this returns, the gateway (and so every publisher handle) has been dropped.
pub(crate) async fn serve_gateway(
    settings: &Settings,
    gateway: Arc<Gateway>,
    reader: Arc<dyn TraceReader>,
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
    health_reporter
        .set_serving::<LogsServiceServer<spanbridge_gateway::receive::grpc::GrpcReceiver>>()
        .await;
    let shutdown = CancellationToken::new();
    let upstream = if settings.upstream.is_configured() {
        let upstream = Upstream::new(&settings.upstream)?;
        tracing::info!(
            upstream = upstream.name(),
            "passing requests Spanbridge does not serve to the upstream Langfuse"
        );
        Some(Arc::new(upstream))
    } else {
        None
    };
    let viewer = spanbridge_gateway::viewer::ViewerOptions {
        enabled: settings.viewer.enabled,
        // With an upstream Langfuse, `/` is its web app (passed through).
        redirect_root: upstream.is_none(),
    };
    let router =
        spanbridge_gateway::receive::http::router(gateway.clone(), reader, &viewer, upstream);
    // The peer address is the pass-through's `X-Forwarded-For`.
    let http = axum::serve(
        http_listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let grpc = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(spanbridge_gateway::receive::grpc::service(gateway.clone()))
        .add_service(spanbridge_gateway::receive::grpc::logs_service(
            gateway.clone(),
        ))
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
            health_reporter
                .set_not_serving::<LogsServiceServer<spanbridge_gateway::receive::grpc::GrpcReceiver>>()
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

//! The one place that chooses implementations: adapters from the sink's concrete types to the
//! gateway's seams (`KeyStore`, `Publisher`, `TraceReader`), and the embedded `serve`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use spanbridge_gateway::auth::{ApiKeyRecord, Authenticator, KeyStore};
use spanbridge_gateway::publish::{PublishError, Publisher};
use spanbridge_gateway::read::TraceReader;
use spanbridge_gateway::{Gateway, Limits};
use spanbridge_proto::EventBatch;
use spanbridge_sink::local::{LocalQueue, SubmitError};
use spanbridge_sink::meta::sqlite::SqliteMeta;
use spanbridge_sink::store::sqlite::SqliteStore;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::keys;

struct SqliteKeys(SqliteMeta);

#[async_trait]
impl KeyStore for SqliteKeys {
    async fn find_by_fast_hash(&self, fast_hash: &str) -> Result<Option<ApiKeyRecord>, String> {
        let found = self
            .0
            .find_key_by_fast_hash(fast_hash)
            .await
            .map_err(|error| error.to_string())?;
        Ok(found.map(|key| ApiKeyRecord {
            id: key.id,
            project_id: key.project_id,
            public_key: key.public_key,
            fast_hashed_secret_key: key.fast_hashed_secret_key,
        }))
    }
}

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

/// Embedded mode: gateway and sink in one process, SQLite for everything.
pub async fn serve_embedded(settings: Settings) -> Result<(), String> {
    let pool = spanbridge_sink::db::open_sqlite(&settings.embedded.path).await?;
    let meta = SqliteMeta::new(pool.clone());
    keys::ensure_initial_key(&meta, &settings.auth.salt).await?;

    let store = SqliteStore::new(pool.clone());
    let (queue, queue_rx) = LocalQueue::new(settings.embedded.queue_capacity);
    let pipeline = tokio::spawn(spanbridge_sink::batch::run_local_pipeline(
        queue_rx,
        Arc::new(store.clone()),
        settings.embedded.max_batch_rows,
    ));

    let auth = Authenticator::new(
        Arc::new(SqliteKeys(meta)),
        settings.auth.salt.clone(),
        Duration::from_secs(settings.auth.cache_ttl_secs),
        settings.auth.cache_capacity,
    );
    let gateway = Arc::new(Gateway {
        auth,
        publisher: Arc::new(LocalPublisher(queue)),
        reader: Arc::new(SqliteReader(store)),
        limits: Limits {
            max_body_bytes: settings.gateway.max_body_bytes,
        },
    });

    let http_listener = bind(settings.gateway.http_addr, "OTLP/HTTP").await?;
    let grpc_listener = bind(settings.gateway.grpc_addr, "OTLP/gRPC").await?;
    tracing::info!(
        http = %http_listener.local_addr().map_err(|e| e.to_string())?,
        grpc = %grpc_listener.local_addr().map_err(|e| e.to_string())?,
        db = %settings.embedded.path.display(),
        "Spanbridge listening (embedded mode)"
    );

    let shutdown = tokio_util::sync::CancellationToken::new();
    let http = axum::serve(
        http_listener,
        spanbridge_gateway::receive::http::router(gateway.clone()),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let grpc = tonic::transport::Server::builder()
        .add_service(spanbridge_gateway::receive::grpc::service(gateway.clone()))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(grpc_listener),
            shutdown.clone().cancelled_owned(),
        );
    drop(gateway);

    let servers = async {
        let (http, grpc) = tokio::join!(http.into_future(), grpc);
        http.map_err(|e| format!("HTTP server failed: {e}"))?;
        grpc.map_err(|e| format!("gRPC server failed: {e}"))
    };
    tokio::pin!(servers);
    tokio::select! {
        result = &mut servers => result?,
        () = shutdown_signal() => {
            tracing::info!("shutting down: no new requests, finishing in-flight ones");
            shutdown.cancel();
            let deadline = Duration::from_secs(settings.gateway.shutdown_timeout_secs);
            match tokio::time::timeout(deadline, &mut servers).await {
                Ok(result) => result?,
                Err(_) => tracing::warn!("in-flight requests did not finish within the shutdown deadline"),
            }
        }
    }
    // The servers (and with them every queue sender) are gone: the pipeline drains and stops.
    if tokio::time::timeout(
        Duration::from_secs(settings.gateway.shutdown_timeout_secs),
        pipeline,
    )
    .await
    .is_err()
    {
        tracing::warn!("the final write did not finish within the shutdown deadline");
    }
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
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

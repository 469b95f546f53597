//! The metadata store chosen by `[meta]` (the embedded SQLite file, Spanbridge's own Postgres,
//! or an existing Langfuse database, read-only) and what it gives a running process: key
//! lookups for the gateway, the model catalog and usage counters for the sink, and the
//! background flusher of both counters.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use spanbridge_gateway::auth::KeyStore;
use spanbridge_gateway::error::BackendUnavailable;
use spanbridge_sink::meta::postgres::{PostgresMeta, Source};
use spanbridge_sink::meta::sqlite::SqliteMeta;
use spanbridge_sink::meta::{
    IngestionUsage, KeyRecord, KeyUsage, MetaModels, MetaStore, PromptIds, UnhashedKeyRecord,
};
use spanbridge_sink::prices::ModelCatalog;

use crate::config::{MetaSource, Settings};
use crate::keys;

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
    let meta =
        PostgresMeta::connect(&settings.meta.url, source, settings.meta.max_connections).await?;
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

fn key_store_unavailable(error: impl ToString) -> BackendUnavailable {
    BackendUnavailable {
        backend: "key store",
        detail: error.to_string(),
    }
}

#[async_trait]
impl KeyStore for MetaKeys {
    async fn find_by_fast_hash(
        &self,
        fast_hash: &str,
    ) -> Result<Option<KeyRecord>, BackendUnavailable> {
        self.meta
            .find_key_by_fast_hash(fast_hash)
            .await
            .map_err(key_store_unavailable)
    }

    async fn find_without_fast_hash(
        &self,
        public_key: &str,
    ) -> Result<Option<UnhashedKeyRecord>, BackendUnavailable> {
        self.meta
            .find_key_without_fast_hash(public_key)
            .await
            .map_err(key_store_unavailable)
    }

    fn key_used(&self, key_id: &str) {
        self.used.used(key_id, spanbridge_sink::enrich::now_us());
    }
}

/// What the metadata store gives the running process: key lookups for the gateway, the model
/// catalog and usage counters for the sink, and the background flusher of both counters.
pub(crate) struct MetaServices {
    pub meta: Arc<dyn MetaStore>,
    pub keys: Arc<dyn KeyStore>,
    pub catalog: ModelCatalog,
    pub prompts: PromptIds,
    pub usage: IngestionUsage,
    key_usage: KeyUsage,
    flusher: tokio::task::JoinHandle<()>,
}

/// Opens the metadata store, seeds default prices and starts the flusher.
pub(crate) async fn open_services(settings: &Settings) -> Result<MetaServices, String> {
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
    Ok(MetaServices {
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

impl MetaServices {
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

//! Project metadata with Langfuse's table names (reference §4.2): organizations, projects, API
//! keys, models with pricing tiers and prices, plus per-project daily ingestion usage. One
//! trait, `MetaStore`, over the embedded SQLite file, our own Postgres database, or an existing
//! Langfuse Postgres database (read-only).

pub mod postgres;
pub mod sqlite;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::enrich::StoredRow;
use crate::prices::{ModelDefinition, ModelSource, PriceFileModel};

/// A key as shown by `keys list`: never the secret, only Langfuse's display form.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeySummary {
    pub public_key: String,
    pub display_secret_key: String,
    pub project_id: String,
    pub project_name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub note: Option<String>,
}

/// A new key as stored: hashes only, never the plain secret.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub public_key: String,
    pub hashed_secret_key: String,
    pub fast_hashed_secret_key: String,
    pub display_secret_key: String,
    pub note: Option<String>,
}

/// The record the gateway authenticates against.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub id: String,
    pub project_id: String,
    pub public_key: String,
    pub fast_hashed_secret_key: String,
    /// The organisation's ingestion is suspended (Langfuse:
    /// `organizations.cloud_free_tier_usage_threshold_state = 'BLOCKED'`): 403, not 401.
    pub ingestion_suspended: bool,
}

/// A project key that has no fast hash yet (created by Langfuse before the column existed):
/// it can only be verified with bcrypt against `hashed_secret_key`.
#[derive(Debug, Clone)]
pub struct LegacyKeyRecord {
    pub record: KeyRecord,
    pub hashed_secret_key: String,
}

/// Ingestion counted for one project on one UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageCount {
    pub project_id: String,
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub spans: i64,
    pub bytes: i64,
    pub rows_written: i64,
}

/// A metadata store failure (database unreachable, constraint violated). Never contains a
/// secret: queries bind secrets' hashes only.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MetaError(pub String);

impl From<sqlx::Error> for MetaError {
    fn from(error: sqlx::Error) -> Self {
        MetaError(error.to_string())
    }
}

/// Everything Spanbridge reads and writes about projects. Writes fail with a clear error on a
/// read-only (Langfuse) store.
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// "SQLite", "Postgres" or "Langfuse Postgres (read-only)", for messages.
    fn describe(&self) -> &'static str;
    /// True for an existing Langfuse database: never migrated, never written.
    fn read_only(&self) -> bool {
        false
    }
    /// The active project key whose secret hashes to `fast_hash`. Keys of deleted projects,
    /// expired keys and organisation-scoped keys never authenticate ingestion.
    async fn find_key_by_fast_hash(&self, fast_hash: &str) -> Result<Option<KeyRecord>, MetaError>;
    /// The active project key with this public key, only if it has no fast hash.
    async fn find_legacy_key(&self, public_key: &str)
    -> Result<Option<LegacyKeyRecord>, MetaError>;
    async fn project_count(&self) -> Result<i64, MetaError>;
    /// The id of the project called `name`, created (with its own organisation) if absent.
    async fn ensure_project(&self, name: &str) -> Result<String, MetaError>;
    async fn public_key_exists(&self, public_key: &str) -> Result<bool, MetaError>;
    async fn insert_key(&self, project_id: &str, key: &NewApiKey) -> Result<String, MetaError>;
    async fn list_keys(&self) -> Result<Vec<KeySummary>, MetaError>;
    /// Deletes the key (as Langfuse does); returns whether it existed.
    async fn revoke(&self, public_key: &str) -> Result<bool, MetaError>;
    /// Sets `last_used_at` (µs since the epoch) of many keys at once.
    async fn touch_keys(&self, last_used: &[(String, i64)]) -> Result<(), MetaError>;
    /// Adds to the per-project, per-day ingestion counters.
    async fn add_ingestion_usage(&self, usage: &[UsageCount]) -> Result<(), MetaError>;
    /// Writes global models (with tiers and prices) from a price file. With `only_newer`, a
    /// model already stored with an `updated_at` at least as new is left alone (seeding);
    /// without it every model in the file replaces the stored one (`prices import`).
    /// Returns how many models were written.
    async fn upsert_models(
        &self,
        models: &[PriceFileModel],
        only_newer: bool,
    ) -> Result<usize, MetaError>;
    /// Global models for `None`, else the project's own, each with its tiers and prices.
    async fn load_models(
        &self,
        project_id: Option<&str>,
    ) -> Result<Vec<ModelDefinition>, MetaError>;
}

/// Refusal of a write on a read-only store.
pub fn read_only_error(what: &str) -> MetaError {
    MetaError(format!(
        "the metadata store is an existing Langfuse database (meta.source = \"langfuse\"), which Spanbridge never writes: {what} in Langfuse instead"
    ))
}

/// Any `MetaStore` as the sink's model source.
pub struct MetaModels(pub Arc<dyn MetaStore>);

#[async_trait]
impl ModelSource for MetaModels {
    async fn load_models(&self, project_id: Option<&str>) -> Result<Vec<ModelDefinition>, String> {
        self.0
            .load_models(project_id)
            .await
            .map_err(|error| error.to_string())
    }
}

/// Langfuse ids are cuids: 25 lowercase alphanumerics starting with `c`.
pub fn new_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    std::iter::once('c')
        .chain((0..24).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char))
        .collect()
}

/// `YYYY-MM-DD` (UTC) of a time in µs since the epoch.
pub fn utc_day(us: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(us.div_euclid(1_000_000))
        .map(|time| time.date().to_string())
        .unwrap_or_else(|_| "1970-01-01".into())
}

/// Per-project daily ingestion counters, summed in memory and written in batches by
/// `run_flusher`, never on the request path. Cheap to clone.
#[derive(Clone, Default)]
pub struct IngestionUsage {
    pending: Option<Arc<Mutex<UsageByProjectDay>>>,
}

/// Counts by (project id, UTC day).
type UsageByProjectDay = HashMap<(String, String), UsageCount>;

impl IngestionUsage {
    pub fn new() -> Self {
        Self {
            pending: Some(Arc::default()),
        }
    }

    /// Counts nothing (read-only metadata stores).
    pub fn disabled() -> Self {
        Self { pending: None }
    }

    /// Counts rows that were just written.
    pub fn record(&self, rows: &[StoredRow]) {
        let Some(pending) = &self.pending else {
            return;
        };
        let Ok(mut pending) = pending.lock() else {
            return;
        };
        for row in rows {
            let day = utc_day(row.event_ts_us);
            let count = pending
                .entry((row.project_id.clone(), day.clone()))
                .or_insert_with(|| UsageCount {
                    project_id: row.project_id.clone(),
                    day,
                    ..UsageCount::default()
                });
            count.spans += 1;
            count.bytes += row.event_bytes as i64;
            count.rows_written += 1;
        }
    }

    fn take(&self) -> Vec<UsageCount> {
        self.pending
            .as_ref()
            .and_then(|pending| pending.lock().ok())
            .map(|mut pending| pending.drain().map(|(_, count)| count).collect())
            .unwrap_or_default()
    }

    /// Puts counts back after a failed write, so the next flush retries them.
    fn restore(&self, counts: Vec<UsageCount>) {
        let Some(mut pending) = self.pending.as_ref().and_then(|p| p.lock().ok()) else {
            return;
        };
        for count in counts {
            let entry = pending
                .entry((count.project_id.clone(), count.day.clone()))
                .or_insert_with(|| UsageCount {
                    project_id: count.project_id.clone(),
                    day: count.day.clone(),
                    ..UsageCount::default()
                });
            entry.spans += count.spans;
            entry.bytes += count.bytes;
            entry.rows_written += count.rows_written;
        }
    }
}

/// `api_keys.last_used_at`, collected on the request path (a map insert) and written in
/// batches by `run_flusher`. Cheap to clone.
#[derive(Clone, Default)]
pub struct KeyUsage {
    pending: Option<Arc<Mutex<HashMap<String, i64>>>>,
}

impl KeyUsage {
    pub fn new() -> Self {
        Self {
            pending: Some(Arc::default()),
        }
    }

    /// Records nothing (read-only metadata stores; Langfuse does not update it either).
    pub fn disabled() -> Self {
        Self { pending: None }
    }

    /// Notes that `key_id` authenticated at `now_us`.
    pub fn used(&self, key_id: &str, now_us: i64) {
        if let Some(mut pending) = self.pending.as_ref().and_then(|p| p.lock().ok()) {
            pending.insert(key_id.to_owned(), now_us);
        }
    }

    fn take(&self) -> Vec<(String, i64)> {
        self.pending
            .as_ref()
            .and_then(|pending| pending.lock().ok())
            .map(|mut pending| pending.drain().collect())
            .unwrap_or_default()
    }
}

/// Writes what `IngestionUsage` and `KeyUsage` collected. Failures are logged and the usage
/// counts are kept for the next attempt (`last_used_at` is best effort).
pub async fn flush(meta: &dyn MetaStore, usage: &IngestionUsage, keys: &KeyUsage) {
    let counts = usage.take();
    if !counts.is_empty()
        && let Err(error) = meta.add_ingestion_usage(&counts).await
    {
        tracing::warn!(%error, "cannot write ingestion usage; retrying at the next flush");
        usage.restore(counts);
    }
    let touched = keys.take();
    if !touched.is_empty()
        && let Err(error) = meta.touch_keys(&touched).await
    {
        tracing::warn!(%error, "cannot update api_keys.last_used_at");
    }
}

/// Flushes every `interval` until the task is dropped/aborted; call `flush` once more at
/// shutdown.
pub async fn run_flusher(
    meta: Arc<dyn MetaStore>,
    usage: IngestionUsage,
    keys: KeyUsage,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(100)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        flush(meta.as_ref(), &usage, &keys).await;
    }
}

/// A `models` row as loaded.
pub struct ModelRow {
    pub id: String,
    pub project_id: Option<String>,
    pub model_name: String,
    pub match_pattern: String,
    pub start_date: Option<String>,
}

/// A `pricing_tiers` row as loaded (`conditions` as JSON text or value).
pub struct TierRow {
    pub id: String,
    pub model_id: String,
    pub name: String,
    pub is_default: bool,
    pub priority: i32,
    pub conditions: serde_json::Value,
}

/// A `prices` row as loaded.
pub struct PriceRow {
    pub model_id: String,
    pub pricing_tier_id: Option<String>,
    pub usage_type: String,
    pub price: f64,
}

/// Puts loaded rows together. Prices without a tier (databases from before Langfuse added
/// pricing tiers) form the model's default tier when it has none.
pub fn assemble_models(
    models: Vec<ModelRow>,
    tiers: Vec<TierRow>,
    prices: Vec<PriceRow>,
) -> Vec<ModelDefinition> {
    use crate::prices::PricingTier;
    let mut by_id: HashMap<String, ModelDefinition> = HashMap::new();
    let mut order = Vec::with_capacity(models.len());
    for model in models {
        order.push(model.id.clone());
        by_id.insert(
            model.id.clone(),
            ModelDefinition {
                id: model.id,
                project_id: model.project_id,
                model_name: model.model_name,
                match_pattern: model.match_pattern,
                start_date: model.start_date,
                tiers: Vec::new(),
            },
        );
    }
    for tier in tiers {
        if let Some(model) = by_id.get_mut(&tier.model_id) {
            model.tiers.push(PricingTier {
                id: tier.id,
                name: tier.name,
                is_default: tier.is_default,
                priority: tier.priority,
                conditions: tier.conditions,
                prices: Default::default(),
            });
        }
    }
    for price in prices {
        let Some(model) = by_id.get_mut(&price.model_id) else {
            continue;
        };
        let tier = match &price.pricing_tier_id {
            Some(tier_id) => model.tiers.iter_mut().find(|t| &t.id == tier_id),
            None => {
                if !model.tiers.iter().any(|t| t.is_default) {
                    model.tiers.push(PricingTier {
                        id: format!("{}_tier_default", model.id),
                        name: "Standard".into(),
                        is_default: true,
                        priority: 0,
                        conditions: serde_json::Value::Array(Vec::new()),
                        prices: Default::default(),
                    });
                }
                model
                    .tiers
                    .iter_mut()
                    .find(|t| t.is_default && t.id.ends_with("_tier_default"))
            }
        };
        if let Some(tier) = tier {
            tier.prices.insert(price.usage_type, price.price);
        }
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect()
}

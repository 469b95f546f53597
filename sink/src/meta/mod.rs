//! Project metadata with Langfuse's table names (reference §4.2): organizations, projects, API
//! keys, models with pricing tiers and prices, prompts (read from Langfuse only), plus
//! per-project daily ingestion usage. One trait, `MetaStore`, over the embedded SQLite file,
//! our own Postgres database, or an existing Langfuse Postgres database (read-only).
//!
//! Layout: the trait and its records here; the rules both dialects share in `models` (price
//! import and loading), `usage` (usage counters and their flusher) and `prompts` (the prompt-id
//! cache); only SQL in `sqlite` and `postgres`.

pub mod models;
pub mod postgres;
pub mod prompts;
pub mod sqlite;
pub mod usage;

use async_trait::async_trait;

pub use spanbridge_proto::{KeyRecord, UnhashedKeyRecord};

use crate::prices::{ModelDefinition, PriceFileModel};

pub use models::MetaModels;
pub use prompts::PromptIds;
pub use usage::{IngestionUsage, KeyUsage, flush, run_flusher, utc_day};

/// A key as shown by `keys list`: never the secret, only Langfuse's display form.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
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

/// An authenticating key as both dialects select it (`KEY_COLUMNS` / `key_query`). Decoded
/// with `FromRow`, so a value of the wrong type is an error (503), never a panic.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct KeyRow {
    id: String,
    project_id: String,
    project_name: String,
    organization_id: String,
    organization_name: String,
    public_key: String,
    fast_hashed_secret_key: Option<String>,
    ingestion_suspended: bool,
    hashed_secret_key: String,
}

impl KeyRow {
    pub(crate) fn record(self) -> KeyRecord {
        KeyRecord {
            id: self.id,
            project_id: self.project_id,
            project_name: self.project_name,
            organization_id: self.organization_id,
            organization_name: self.organization_name,
            public_key: self.public_key,
            fast_hashed_secret_key: self.fast_hashed_secret_key.unwrap_or_default(),
            ingestion_suspended: self.ingestion_suspended,
        }
    }

    pub(crate) fn unhashed(mut self) -> UnhashedKeyRecord {
        let hashed_secret_key = std::mem::take(&mut self.hashed_secret_key);
        UnhashedKeyRecord {
            record: self.record(),
            hashed_secret_key,
        }
    }
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

/// A metadata store failure (database unreachable, constraint violated, a row that does not
/// decode). Never contains a secret: queries bind secrets' hashes only, and database errors
/// name columns, not values.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MetaError(pub String);

impl From<sqlx::Error> for MetaError {
    fn from(error: sqlx::Error) -> Self {
        MetaError(error.to_string())
    }
}

impl MetaError {
    /// A database error with what was being done, for the log line the caller writes (e.g.
    /// the gateway's 503 on a key lookup).
    pub(crate) fn during(what: &'static str) -> impl FnOnce(sqlx::Error) -> MetaError {
        move |error| MetaError(format!("{what}: {error}"))
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
    async fn find_key_without_fast_hash(
        &self,
        public_key: &str,
    ) -> Result<Option<UnhashedKeyRecord>, MetaError>;
    async fn project_count(&self) -> Result<i64, MetaError>;
    /// The id of the project called `name`, created (with its own organisation) if absent.
    /// Concurrent calls with one name (two `keys create --project X`) get one project: a
    /// unique index on live project names decides, the loser reads the winner's id.
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
    /// The id of the project's prompt `name` at `version` (Langfuse's `prompts` table), for
    /// the events' `prompt_id`. Only a Langfuse database has prompts; Spanbridge's own stores
    /// have none, so the id stays empty there.
    async fn find_prompt_id(
        &self,
        _project_id: &str,
        _name: &str,
        _version: u32,
    ) -> Result<Option<String>, MetaError> {
        Ok(None)
    }
}

/// Refusal of a write on a read-only store.
pub fn read_only_error(what: &str) -> MetaError {
    MetaError(format!(
        "the metadata store is an existing Langfuse database (meta.source = \"langfuse\"), which Spanbridge never writes: {what} in Langfuse instead"
    ))
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

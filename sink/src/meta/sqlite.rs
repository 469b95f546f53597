//! Metadata in the embedded SQLite file (migrations in `migrations/sqlite`): only the SQL; the
//! rules live in `models` and `usage`.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, SqliteConnection, SqlitePool};

use super::models::{ModelTables, PriceRow, TierRow, assemble_models, upsert_models};
use super::{
    KeyRecord, KeyRow, KeySummary, MetaError, MetaStore, NewApiKey, UnhashedKeyRecord, UsageCount,
    models::ModelRow, new_id,
};
use crate::prices::{ModelDefinition, PriceFileModel};

/// Projects, keys and model prices over a SQLite pool.
#[derive(Clone)]
pub struct SqliteMeta {
    pool: SqlitePool,
}

impl SqliteMeta {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

/// Columns of an authenticating key (named as [`KeyRow`]'s fields): the key, and whether its
/// organisation is suspended.
const KEY_COLUMNS: &str = "k.id, k.project_id, p.name AS project_name, o.id AS organization_id,
    o.name AS organization_name, k.public_key, k.fast_hashed_secret_key,
    coalesce(o.cloud_free_tier_usage_threshold_state = 'BLOCKED', 0) AS ingestion_suspended,
    k.hashed_secret_key
    FROM api_keys k JOIN projects p ON p.id = k.project_id JOIN organizations o ON o.id = p.org_id";

/// Only project keys of live projects that have not expired.
const ACTIVE_KEY: &str = "k.scope = 'PROJECT' AND p.deleted_at IS NULL
    AND (k.expires_at IS NULL OR k.expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";

/// The current time as the ISO-8601 text SQLite columns hold.
const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

fn iso_from_us(us: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

#[async_trait]
impl ModelTables for SqliteConnection {
    async fn stored_updated_at(&mut self) -> Result<HashMap<String, String>, sqlx::Error> {
        Ok(
            sqlx::query_as("SELECT id, updated_at FROM models WHERE project_id IS NULL")
                .fetch_all(&mut *self)
                .await?
                .into_iter()
                .collect(),
        )
    }

    async fn replace_model(&mut self, model: &PriceFileModel) -> Result<(), sqlx::Error> {
        for table in ["prices", "pricing_tiers"] {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE model_id = ?"
            )))
            .bind(&model.id)
            .execute(&mut *self)
            .await?;
        }
        sqlx::query("DELETE FROM models WHERE id = ?")
            .bind(&model.id)
            .execute(&mut *self)
            .await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO models (id, created_at, updated_at, project_id, model_name,
                                 match_pattern, start_date, unit, tokenizer_id, tokenizer_config)
             VALUES (?, coalesce(?, {NOW}), coalesce(?, {NOW}), NULL, ?, ?, ?, 'TOKENS', ?, ?)"
        )))
        .bind(&model.id)
        .bind(&model.created_at)
        .bind(&model.updated_at)
        .bind(&model.model_name)
        .bind(&model.match_pattern)
        .bind(&model.start_date)
        .bind(&model.tokenizer_id)
        .bind(model.tokenizer_config.as_ref().map(|c| c.to_string()))
        .execute(&mut *self)
        .await?;
        for tier in &model.pricing_tiers {
            sqlx::query(
                "INSERT INTO pricing_tiers (id, model_id, name, is_default, priority, conditions)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&tier.id)
            .bind(&model.id)
            .bind(&tier.name)
            .bind(tier.is_default)
            .bind(tier.priority)
            .bind(tier.conditions_text())
            .execute(&mut *self)
            .await?;
            for (usage_type, price) in &tier.prices {
                sqlx::query(
                    "INSERT INTO prices (id, model_id, pricing_tier_id, usage_type, price)
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(new_id())
                .bind(&model.id)
                .bind(&tier.id)
                .bind(usage_type)
                .bind(price)
                .execute(&mut *self)
                .await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl MetaStore for SqliteMeta {
    fn describe(&self) -> &'static str {
        "SQLite"
    }

    async fn find_key_by_fast_hash(&self, fast_hash: &str) -> Result<Option<KeyRecord>, MetaError> {
        let row: Option<KeyRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} WHERE k.fast_hashed_secret_key = ? AND {ACTIVE_KEY}"
        )))
        .bind(fast_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(MetaError::during(
            "looking up an API key by its secret hash",
        ))?;
        Ok(row.map(KeyRow::record))
    }

    async fn find_key_without_fast_hash(
        &self,
        public_key: &str,
    ) -> Result<Option<UnhashedKeyRecord>, MetaError> {
        let row: Option<KeyRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} WHERE k.public_key = ? AND k.fast_hashed_secret_key IS NULL AND {ACTIVE_KEY}"
        )))
        .bind(public_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(MetaError::during("looking up a key without fast hash by its public key"))?;
        Ok(row.map(KeyRow::unhashed))
    }

    async fn project_count(&self) -> Result<i64, MetaError> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM projects WHERE deleted_at IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Insert-or-get under the unique index on live project names (migration 0003). Write
    /// transactions start IMMEDIATE: a deferred read-then-write transaction fails at once with
    /// SQLITE_BUSY when another process (a second `keys create`) writes meanwhile, instead of
    /// waiting for the busy timeout.
    async fn ensure_project(&self, name: &str) -> Result<String, MetaError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT id FROM projects WHERE name = ? AND deleted_at IS NULL")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(id) = existing {
            return Ok(id);
        }
        let (org_id, project_id) = (new_id(), new_id());
        sqlx::query("INSERT INTO organizations (id, name) VALUES (?, ?)")
            .bind(&org_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO projects (id, org_id, name) VALUES (?, ?, ?)
             ON CONFLICT (name) WHERE deleted_at IS NULL DO NOTHING",
        )
        .bind(&project_id)
        .bind(&org_id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            // Unreachable while the transaction holds the write lock; kept so the rule is the
            // same as Postgres': the existing project wins and the new organisation goes away.
            tx.rollback().await?;
            let existing: String =
                sqlx::query_scalar("SELECT id FROM projects WHERE name = ? AND deleted_at IS NULL")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?;
            return Ok(existing);
        }
        tx.commit().await?;
        Ok(project_id)
    }

    async fn public_key_exists(&self, public_key: &str) -> Result<bool, MetaError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM api_keys WHERE public_key = ?")
            .bind(public_key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    async fn insert_key(&self, project_id: &str, key: &NewApiKey) -> Result<String, MetaError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO api_keys (id, note, public_key, hashed_secret_key, fast_hashed_secret_key,
                                   display_secret_key, project_id, scope)
             VALUES (?, ?, ?, ?, ?, ?, ?, 'PROJECT')",
        )
        .bind(&id)
        .bind(&key.note)
        .bind(&key.public_key)
        .bind(&key.hashed_secret_key)
        .bind(&key.fast_hashed_secret_key)
        .bind(&key.display_secret_key)
        .bind(project_id)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    async fn list_keys(&self) -> Result<Vec<KeySummary>, MetaError> {
        Ok(sqlx::query_as(
            "SELECT k.public_key, k.display_secret_key, k.project_id, p.name AS project_name,
                    k.created_at, k.note, k.last_used_at
             FROM api_keys k JOIN projects p ON p.id = k.project_id
             WHERE p.deleted_at IS NULL ORDER BY k.created_at, k.public_key",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(MetaError::during("listing keys"))?)
    }

    async fn revoke(&self, public_key: &str) -> Result<bool, MetaError> {
        let result = sqlx::query("DELETE FROM api_keys WHERE public_key = ?")
            .bind(public_key)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn touch_keys(&self, last_used: &[(String, i64)]) -> Result<(), MetaError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for (id, at_us) in last_used {
            let at = iso_from_us(*at_us);
            sqlx::query(
                "UPDATE api_keys SET last_used_at = ?1
                 WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)",
            )
            .bind(&at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn add_ingestion_usage(&self, usage: &[UsageCount]) -> Result<(), MetaError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for count in usage {
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO project_ingestion_usage (project_id, day, spans, bytes, rows_written)
                 VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (project_id, day) DO UPDATE SET
                    spans = spans + excluded.spans,
                    bytes = bytes + excluded.bytes,
                    rows_written = rows_written + excluded.rows_written,
                    updated_at = {NOW}"
            )))
            .bind(&count.project_id)
            .bind(&count.day)
            .bind(count.spans)
            .bind(count.bytes)
            .bind(count.rows_written)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn upsert_models(
        &self,
        models: &[PriceFileModel],
        only_newer: bool,
    ) -> Result<usize, MetaError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let written = upsert_models(&mut *tx, models, only_newer).await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn load_models(
        &self,
        project_id: Option<&str>,
    ) -> Result<Vec<ModelDefinition>, MetaError> {
        // `IS ?` matches NULL for None and equality for Some.
        let models: Vec<ModelRow> = sqlx::query_as(
            "SELECT id, project_id, model_name, match_pattern, start_date FROM models
             WHERE project_id IS ? ORDER BY id",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        let tiers: Vec<TierRow> = sqlx::query_as(
            "SELECT t.id, t.model_id, t.name, t.is_default, t.priority, t.conditions
             FROM pricing_tiers t JOIN models m ON m.id = t.model_id WHERE m.project_id IS ?",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        let prices: Vec<PriceRow> = sqlx::query_as(
            "SELECT p.model_id, p.pricing_tier_id, p.usage_type, p.price
             FROM prices p JOIN models m ON m.id = p.model_id WHERE m.project_id IS ?",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(assemble_models(models, tiers, prices))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open() -> (tempfile::TempDir, SqliteMeta) {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = crate::db::open_sqlite(&dir.path().join("meta.db"))
            .await
            .expect("open");
        (dir, SqliteMeta::new(pool))
    }

    #[tokio::test]
    async fn a_key_row_that_does_not_decode_is_an_error_not_a_panic() {
        let (_dir, meta) = open().await;
        // SQLite keeps a BLOB even in a TEXT column: the project id cannot decode as text.
        sqlx::raw_sql(
            "INSERT INTO organizations (id, name) VALUES ('org', 'org');
             INSERT INTO projects (id, org_id, name) VALUES (x'00ff', 'org', 'broken');
             INSERT INTO api_keys (id, public_key, hashed_secret_key, fast_hashed_secret_key,
                                   display_secret_key, project_id)
                 VALUES ('k', 'pk-lf-broken', 'bcrypt', 'fast-hash-of-the-secret', 'sk-lf-...0000',
                         x'00ff');",
        )
        .execute(&meta.pool)
        .await
        .expect("rows");
        let error = meta
            .find_key_by_fast_hash("fast-hash-of-the-secret")
            .await
            .expect_err("a BLOB project id must not decode");
        let message = error.to_string();
        assert!(
            message.starts_with("looking up an API key by its secret hash:"),
            "{message}"
        );
        assert!(!message.contains("fast-hash-of-the-secret"), "{message}");
    }

    #[tokio::test]
    async fn one_project_per_name_and_prices_seed_only_when_newer() {
        let (_dir, meta) = open().await;
        let first = meta.ensure_project("app").await.expect("create");
        assert_eq!(meta.ensure_project("app").await.expect("get"), first);
        assert_eq!(meta.project_count().await.expect("count"), 1);
        // The unique index refuses a second live project of that name however it comes.
        let duplicate = sqlx::query(
            "INSERT INTO projects (id, org_id, name)
             SELECT 'other', org_id, name FROM projects WHERE id = ?",
        )
        .bind(&first)
        .execute(&meta.pool)
        .await;
        assert!(duplicate.is_err(), "{duplicate:?}");

        let models = crate::prices::parse_price_file(crate::prices::DEFAULT_MODEL_PRICES)
            .expect("shipped prices");
        assert_eq!(
            meta.upsert_models(&models, true).await.expect("seed"),
            models.len()
        );
        assert_eq!(
            meta.upsert_models(&models, true).await.expect("seed again"),
            0
        );
        assert_eq!(
            meta.upsert_models(&models[..1], false)
                .await
                .expect("import"),
            1
        );
        assert_eq!(
            meta.load_models(None).await.expect("load").len(),
            models.len()
        );
    }
}

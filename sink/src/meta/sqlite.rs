//! Metadata in the embedded SQLite file (migrations in `migrations/sqlite`).

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row, SqlitePool};

use super::{
    KeyRecord, KeySummary, LegacyKeyRecord, MetaError, MetaStore, ModelRow, NewApiKey, PriceRow,
    TierRow, UsageCount, assemble_models, new_id,
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

/// Columns of an authenticating key: the key, and whether its organisation is suspended.
const KEY_COLUMNS: &str = "k.id, k.project_id, k.public_key, k.fast_hashed_secret_key,
    coalesce(o.cloud_free_tier_usage_threshold_state = 'BLOCKED', 0), k.hashed_secret_key
    FROM api_keys k JOIN projects p ON p.id = k.project_id JOIN organizations o ON o.id = p.org_id";

/// Only project keys of live projects that have not expired.
const ACTIVE_KEY: &str = "k.scope = 'PROJECT' AND p.deleted_at IS NULL
    AND (k.expires_at IS NULL OR k.expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";

fn key_record(row: &sqlx::sqlite::SqliteRow) -> KeyRecord {
    KeyRecord {
        id: row.get(0),
        project_id: row.get(1),
        public_key: row.get(2),
        fast_hashed_secret_key: row.get::<Option<String>, _>(3).unwrap_or_default(),
        ingestion_suspended: row.get::<bool, _>(4),
    }
}

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
impl MetaStore for SqliteMeta {
    fn describe(&self) -> &'static str {
        "SQLite"
    }

    async fn find_key_by_fast_hash(&self, fast_hash: &str) -> Result<Option<KeyRecord>, MetaError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} WHERE k.fast_hashed_secret_key = ? AND {ACTIVE_KEY}"
        )))
        .bind(fast_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(key_record))
    }

    async fn find_legacy_key(
        &self,
        public_key: &str,
    ) -> Result<Option<LegacyKeyRecord>, MetaError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} WHERE k.public_key = ? AND k.fast_hashed_secret_key IS NULL AND {ACTIVE_KEY}"
        )))
        .bind(public_key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| LegacyKeyRecord {
            record: key_record(&row),
            hashed_secret_key: row.get(5),
        }))
    }

    async fn project_count(&self) -> Result<i64, MetaError> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM projects WHERE deleted_at IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Write transactions start IMMEDIATE: a deferred read-then-write transaction fails at
    /// once with SQLITE_BUSY when another process (a second `keys create`) writes meanwhile,
    /// instead of waiting for the busy timeout.
    async fn ensure_project(&self, name: &str) -> Result<String, MetaError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT id FROM projects WHERE name = ? AND deleted_at IS NULL ORDER BY created_at LIMIT 1")
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
        sqlx::query("INSERT INTO projects (id, org_id, name) VALUES (?, ?, ?)")
            .bind(&project_id)
            .bind(&org_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
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
        let rows = sqlx::query(
            "SELECT k.public_key, k.display_secret_key, k.project_id, p.name, k.created_at, k.note,
                    k.last_used_at
             FROM api_keys k JOIN projects p ON p.id = k.project_id
             WHERE p.deleted_at IS NULL ORDER BY k.created_at, k.public_key",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| KeySummary {
                public_key: row.get(0),
                display_secret_key: row.get(1),
                project_id: row.get(2),
                project_name: row.get(3),
                created_at: row.get(4),
                note: row.get(5),
                last_used_at: row.get(6),
            })
            .collect())
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
            sqlx::query(
                "INSERT INTO project_ingestion_usage (project_id, day, spans, bytes, rows_written)
                 VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (project_id, day) DO UPDATE SET
                    spans = spans + excluded.spans,
                    bytes = bytes + excluded.bytes,
                    rows_written = rows_written + excluded.rows_written,
                    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            )
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
        let mut written = 0;
        for model in models {
            let stored: Option<String> =
                sqlx::query_scalar("SELECT updated_at FROM models WHERE id = ?")
                    .bind(&model.id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if only_newer
                && let Some(stored) = &stored
                && model
                    .updated_at
                    .as_deref()
                    .is_none_or(|new| new <= stored.as_str())
            {
                continue;
            }
            sqlx::query("DELETE FROM prices WHERE model_id = ?")
                .bind(&model.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM pricing_tiers WHERE model_id = ?")
                .bind(&model.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM models WHERE id = ?")
                .bind(&model.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO models (id, created_at, updated_at, project_id, model_name,
                                     match_pattern, start_date, unit, tokenizer_id, tokenizer_config)
                 VALUES (?, coalesce(?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                         coalesce(?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), NULL, ?, ?, ?,
                         'TOKENS', ?, ?)",
            )
            .bind(&model.id)
            .bind(&model.created_at)
            .bind(&model.updated_at)
            .bind(&model.model_name)
            .bind(&model.match_pattern)
            .bind(&model.start_date)
            .bind(&model.tokenizer_id)
            .bind(model.tokenizer_config.as_ref().map(|c| c.to_string()))
            .execute(&mut *tx)
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
                .bind(if tier.conditions.is_null() {
                    "[]".to_owned()
                } else {
                    tier.conditions.to_string()
                })
                .execute(&mut *tx)
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
                    .execute(&mut *tx)
                    .await?;
                }
            }
            written += 1;
        }
        tx.commit().await?;
        Ok(written)
    }

    async fn load_models(
        &self,
        project_id: Option<&str>,
    ) -> Result<Vec<ModelDefinition>, MetaError> {
        // `IS ?` matches NULL for None and equality for Some.
        let models = sqlx::query(
            "SELECT id, project_id, model_name, match_pattern, start_date FROM models
             WHERE project_id IS ? ORDER BY id",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| ModelRow {
            id: row.get(0),
            project_id: row.get(1),
            model_name: row.get(2),
            match_pattern: row.get(3),
            start_date: row.get(4),
        })
        .collect();
        let tiers = sqlx::query(
            "SELECT t.id, t.model_id, t.name, t.is_default, t.priority, t.conditions
             FROM pricing_tiers t JOIN models m ON m.id = t.model_id WHERE m.project_id IS ?",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| TierRow {
            id: row.get(0),
            model_id: row.get(1),
            name: row.get(2),
            is_default: row.get(3),
            priority: row.get(4),
            conditions: serde_json::from_str(row.get::<&str, _>(5)).unwrap_or_default(),
        })
        .collect();
        let prices = sqlx::query(
            "SELECT p.model_id, p.pricing_tier_id, p.usage_type, p.price
             FROM prices p JOIN models m ON m.id = p.model_id WHERE m.project_id IS ?",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| PriceRow {
            model_id: row.get(0),
            pricing_tier_id: row.get(1),
            usage_type: row.get(2),
            price: row.get(3),
        })
        .collect();
        Ok(assemble_models(models, tiers, prices))
    }
}

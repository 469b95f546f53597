//! Metadata in Postgres: either Spanbridge's own database (`meta.source = "spanbridge"`,
//! migrations in `migrations/postgres`) or an existing Langfuse database
//! (`meta.source = "langfuse"`), which is only read: same table and column names, never
//! migrated, never written. Queries are checked at run time (no database at build time).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use spanbridge_proto::Secret;
use spanbridge_proto::secret::UrlPassword;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgConnection};

use super::models::{ModelRow, ModelTables, PriceRow, TierRow, assemble_models, upsert_models};
use super::{
    KeyRecord, KeyRow, KeySummary, MetaError, MetaStore, NewApiKey, UnhashedKeyRecord, UsageCount,
    new_id, read_only_error,
};
use crate::prices::{ModelDefinition, PriceFileModel};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Prisma stores UTC in `timestamp(3) without time zone`; this renders it as ISO-8601.
const ISO: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'"#;

/// Whose database it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Spanbridge's own: migrated and written by Spanbridge.
    Spanbridge,
    /// An existing Langfuse deployment's: read-only.
    Langfuse,
}

/// The metadata store over a Postgres pool.
#[derive(Clone)]
pub struct PostgresMeta {
    pool: PgPool,
    source: Source,
    /// The SQL expression for "this organisation's ingestion is suspended" (older Langfuse
    /// databases lack the column).
    suspended_expr: &'static str,
    /// Older Langfuse databases have prices without pricing tiers.
    has_pricing_tiers: bool,
    /// Prompts are Langfuse's (`prompts`): looked up for `prompt_id` only in a Langfuse
    /// database that has the table; Spanbridge's own database has none.
    has_prompts: bool,
    /// "This key is a project key": Langfuse v2's `api_keys` has no `scope` (every key is a
    /// project key there).
    project_scope_expr: &'static str,
    /// "This project is live" over `p`: Langfuse v2's `projects` has no `deleted_at`.
    live_project_expr: &'static str,
}

impl PostgresMeta {
    /// Connects (no migration; see `migrate`). The URL is a [`Secret`]: its password is
    /// exposed only to the driver, and the error names the URL without it.
    pub async fn connect(
        url: &Secret<UrlPassword>,
        source: Source,
        max_connections: u32,
    ) -> Result<Self, String> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url.expose().trim())
            .await
            .map_err(|error| {
                format!("cannot connect to the Postgres metadata database {url}: {error}")
            })?;
        Self::from_pool(pool, source).await
    }

    /// Wraps an open pool, detecting which optional Langfuse columns and tables exist.
    pub async fn from_pool(pool: PgPool, source: Source) -> Result<Self, String> {
        let mut meta = Self {
            pool,
            source,
            suspended_expr: "coalesce(o.cloud_free_tier_usage_threshold_state::text = 'BLOCKED', false)",
            has_pricing_tiers: true,
            has_prompts: false,
            project_scope_expr: "k.scope::text = 'PROJECT'",
            live_project_expr: "p.deleted_at IS NULL",
        };
        if source == Source::Langfuse {
            let column = |table: &str, column: &str| {
                format!(
                    "EXISTS (SELECT 1 FROM information_schema.columns
                             WHERE table_schema = current_schema() AND table_name = '{table}'
                               AND column_name = '{column}')"
                )
            };
            let (has_state, has_tiers, has_prompts, has_scope, has_deleted_at): (
                bool,
                bool,
                bool,
                bool,
                bool,
            ) = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT {}, to_regclass('pricing_tiers') IS NOT NULL,
                        to_regclass('prompts') IS NOT NULL, {}, {}",
                column("organizations", "cloud_free_tier_usage_threshold_state"),
                column("api_keys", "scope"),
                column("projects", "deleted_at"),
            )))
            .fetch_one(&meta.pool)
            .await
            .map_err(|error| format!("cannot inspect the Langfuse database: {error}"))?;
            if to_regclass_missing(&meta.pool, "api_keys").await {
                return Err(
                    "meta.source = \"langfuse\" but the database has no api_keys table: is meta.url the Langfuse database?"
                        .into(),
                );
            }
            if !has_state {
                meta.suspended_expr = "false";
            }
            meta.has_pricing_tiers = has_tiers;
            meta.has_prompts = has_prompts;
            if !has_scope {
                meta.project_scope_expr = "true";
            }
            if !has_deleted_at {
                meta.live_project_expr = "true";
            }
        }
        Ok(meta)
    }

    /// Applies Spanbridge's migrations; refused on a Langfuse database.
    pub async fn migrate(&self) -> Result<(), String> {
        if self.source == Source::Langfuse {
            return Err(read_only_error("migrations are applied").to_string());
        }
        MIGRATIONS
            .run(&self.pool)
            .await
            .map_err(|error| format!("cannot migrate the Postgres metadata database: {error}"))
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn key_query(&self, filter: &str) -> String {
        format!(
            "SELECT k.id, k.project_id, p.name AS project_name, o.id AS organization_id,
                    o.name AS organization_name, k.public_key, k.fast_hashed_secret_key, {suspended} AS ingestion_suspended, k.hashed_secret_key
             FROM api_keys k JOIN projects p ON p.id = k.project_id
                  JOIN organizations o ON o.id = p.org_id
             WHERE {filter} AND {scope} AND {live}
               AND (k.expires_at IS NULL OR k.expires_at > (now() AT TIME ZONE 'UTC'))",
            suspended = self.suspended_expr,
            scope = self.project_scope_expr,
            live = self.live_project_expr,
        )
    }

    fn writable(&self, what: &str) -> Result<(), MetaError> {
        match self.source {
            Source::Spanbridge => Ok(()),
            Source::Langfuse => Err(read_only_error(what)),
        }
    }
}

async fn to_regclass_missing(pool: &PgPool, table: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NULL")
        .bind(table)
        .fetch_one(pool)
        .await
        .unwrap_or(true)
}

#[async_trait]
impl ModelTables for PgConnection {
    async fn stored_updated_at(&mut self) -> Result<HashMap<String, String>, sqlx::Error> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT id, to_char(updated_at, {ISO}) FROM models WHERE project_id IS NULL"
        )))
        .fetch_all(&mut *self)
        .await?
        .into_iter()
        .collect())
    }

    async fn replace_model(&mut self, model: &PriceFileModel) -> Result<(), sqlx::Error> {
        write_model(self, model).await
    }
}

/// Writes one global model with its tiers and prices, replacing a stored one with its id.
async fn write_model(tx: &mut PgConnection, model: &PriceFileModel) -> Result<(), sqlx::Error> {
    for table in ["prices", "pricing_tiers"] {
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE model_id = $1"
        )))
        .bind(&model.id)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM models WHERE id = $1")
        .bind(&model.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO models (id, created_at, updated_at, project_id, model_name, match_pattern,
                             start_date, unit, tokenizer_id, tokenizer_config)
         VALUES ($1,
                 coalesce($2::timestamptz AT TIME ZONE 'UTC', CURRENT_TIMESTAMP),
                 coalesce($3::timestamptz AT TIME ZONE 'UTC', CURRENT_TIMESTAMP),
                 NULL, $4, $5, $6::timestamptz AT TIME ZONE 'UTC', 'TOKENS', $7, $8::jsonb)",
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
             VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        )
        .bind(&tier.id)
        .bind(&model.id)
        .bind(&tier.name)
        .bind(tier.is_default)
        .bind(tier.priority)
        .bind(tier.conditions_text())
        .execute(&mut *tx)
        .await?;
        let (usage_types, prices): (Vec<&str>, Vec<f64>) = tier
            .prices
            .iter()
            .map(|(usage_type, price)| (usage_type.as_str(), *price))
            .unzip();
        let ids: Vec<String> = usage_types.iter().map(|_| new_id()).collect();
        sqlx::query(
            "INSERT INTO prices (id, model_id, pricing_tier_id, usage_type, price)
             SELECT u.id, $1, $2, u.usage_type, u.price::numeric
             FROM UNNEST($3::text[], $4::text[], $5::float8[]) AS u(id, usage_type, price)",
        )
        .bind(&model.id)
        .bind(&tier.id)
        .bind(&ids)
        .bind(&usage_types)
        .bind(&prices)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl MetaStore for PostgresMeta {
    fn describe(&self) -> &'static str {
        match self.source {
            Source::Spanbridge => "Postgres",
            Source::Langfuse => "Langfuse Postgres (read-only)",
        }
    }

    fn read_only(&self) -> bool {
        self.source == Source::Langfuse
    }

    async fn find_key_by_fast_hash(&self, fast_hash: &str) -> Result<Option<KeyRecord>, MetaError> {
        let row: Option<KeyRow> = sqlx::query_as(AssertSqlSafe(
            self.key_query("k.fast_hashed_secret_key = $1"),
        ))
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
        let row: Option<KeyRow> = sqlx::query_as(AssertSqlSafe(
            self.key_query("k.public_key = $1 AND k.fast_hashed_secret_key IS NULL"),
        ))
        .bind(public_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(MetaError::during(
            "looking up a key without fast hash by its public key",
        ))?;
        Ok(row.map(KeyRow::unhashed))
    }

    async fn project_count(&self) -> Result<i64, MetaError> {
        Ok(sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM projects p WHERE {}",
            self.live_project_expr
        )))
        .fetch_one(&self.pool)
        .await?)
    }

    /// Insert-or-get under the unique index on live project names (migration 0002): of two
    /// concurrent creators, one inserts; the other's insert does nothing (after waiting for
    /// the first to commit) and it reads the winner's id.
    async fn ensure_project(&self, name: &str) -> Result<String, MetaError> {
        self.writable("create projects")?;
        const EXISTING: &str = "SELECT id FROM projects WHERE name = $1 AND deleted_at IS NULL";
        let existing: Option<String> = sqlx::query_scalar(EXISTING)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(id) = existing {
            return Ok(id);
        }
        let mut tx = self.pool.begin().await?;
        let (org_id, project_id) = (new_id(), new_id());
        sqlx::query("INSERT INTO organizations (id, name) VALUES ($1, $2)")
            .bind(&org_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let inserted: Option<String> = sqlx::query_scalar(
            "INSERT INTO projects (id, org_id, name) VALUES ($1, $2, $3)
             ON CONFLICT (name) WHERE deleted_at IS NULL DO NOTHING
             RETURNING id",
        )
        .bind(&project_id)
        .bind(&org_id)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = inserted {
            tx.commit().await?;
            return Ok(id);
        }
        // Another creator won: drop our organisation with the transaction, use its project.
        tx.rollback().await?;
        let existing: String = sqlx::query_scalar(EXISTING)
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(existing)
    }

    async fn public_key_exists(&self, public_key: &str) -> Result<bool, MetaError> {
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM api_keys WHERE public_key = $1")
            .bind(public_key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    async fn insert_key(&self, project_id: &str, key: &NewApiKey) -> Result<String, MetaError> {
        self.writable("create keys")?;
        let id = new_id();
        sqlx::query(
            "INSERT INTO api_keys (id, note, public_key, hashed_secret_key, fast_hashed_secret_key,
                                   display_secret_key, project_id, scope)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'PROJECT')",
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
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT k.public_key, k.display_secret_key, k.project_id, p.name AS project_name,
                    to_char(k.created_at, {ISO}) AS created_at, k.note,
                    to_char(k.last_used_at, {ISO}) AS last_used_at
             FROM api_keys k JOIN projects p ON p.id = k.project_id
             WHERE {} ORDER BY k.created_at, k.public_key",
            self.live_project_expr
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(MetaError::during("listing keys"))?)
    }

    async fn revoke(&self, public_key: &str) -> Result<bool, MetaError> {
        self.writable("revoke keys")?;
        let result = sqlx::query("DELETE FROM api_keys WHERE public_key = $1")
            .bind(public_key)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn touch_keys(&self, last_used: &[(String, i64)]) -> Result<(), MetaError> {
        if self.read_only() {
            return Ok(());
        }
        let (ids, times): (Vec<&str>, Vec<i64>) =
            last_used.iter().map(|(id, at)| (id.as_str(), *at)).unzip();
        sqlx::query(
            "UPDATE api_keys k SET last_used_at = to_timestamp(u.at / 1e6) AT TIME ZONE 'UTC'
             FROM UNNEST($1::text[], $2::int8[]) AS u(id, at)
             WHERE k.id = u.id
               AND (k.last_used_at IS NULL
                    OR k.last_used_at < to_timestamp(u.at / 1e6) AT TIME ZONE 'UTC')",
        )
        .bind(&ids)
        .bind(&times)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn add_ingestion_usage(&self, usage: &[UsageCount]) -> Result<(), MetaError> {
        if self.read_only() {
            return Ok(());
        }
        let projects: Vec<&str> = usage.iter().map(|u| u.project_id.as_str()).collect();
        let days: Vec<&str> = usage.iter().map(|u| u.day.as_str()).collect();
        let spans: Vec<i64> = usage.iter().map(|u| u.spans).collect();
        let bytes: Vec<i64> = usage.iter().map(|u| u.bytes).collect();
        let rows: Vec<i64> = usage.iter().map(|u| u.rows_written).collect();
        sqlx::query(
            "INSERT INTO project_ingestion_usage AS t (project_id, day, spans, bytes, rows_written)
             SELECT u.project_id, u.day::date, u.spans, u.bytes, u.rows_written
             FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[])
                  AS u(project_id, day, spans, bytes, rows_written)
             ON CONFLICT (project_id, day) DO UPDATE SET
                spans = t.spans + EXCLUDED.spans,
                bytes = t.bytes + EXCLUDED.bytes,
                rows_written = t.rows_written + EXCLUDED.rows_written,
                updated_at = CURRENT_TIMESTAMP",
        )
        .bind(&projects)
        .bind(&days)
        .bind(&spans)
        .bind(&bytes)
        .bind(&rows)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn upsert_models(
        &self,
        models: &[PriceFileModel],
        only_newer: bool,
    ) -> Result<usize, MetaError> {
        self.writable("import model prices")?;
        let mut tx = self.pool.begin().await?;
        let written = upsert_models(&mut *tx, models, only_newer).await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn load_models(
        &self,
        project_id: Option<&str>,
    ) -> Result<Vec<ModelDefinition>, MetaError> {
        let models: Vec<ModelRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT id, project_id, model_name, match_pattern,
                    to_char(start_date, {ISO}) AS start_date
             FROM models WHERE project_id IS NOT DISTINCT FROM $1 ORDER BY id"
        )))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        let tiers: Vec<TierRow> = if self.has_pricing_tiers {
            sqlx::query_as(
                "SELECT t.id, t.model_id, t.name, t.is_default, t.priority,
                        t.conditions::text AS conditions
                 FROM pricing_tiers t JOIN models m ON m.id = t.model_id
                 WHERE m.project_id IS NOT DISTINCT FROM $1",
            )
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?
        } else {
            Vec::new()
        };
        let tier_column = if self.has_pricing_tiers {
            "p.pricing_tier_id"
        } else {
            "NULL::text"
        };
        let prices: Vec<PriceRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT p.model_id, {tier_column} AS pricing_tier_id, p.usage_type,
                    p.price::float8 AS price
             FROM prices p JOIN models m ON m.id = p.model_id
             WHERE m.project_id IS NOT DISTINCT FROM $1"
        )))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(assemble_models(models, tiers, prices))
    }

    async fn find_prompt_id(
        &self,
        project_id: &str,
        name: &str,
        version: u32,
    ) -> Result<Option<String>, MetaError> {
        if !self.has_prompts {
            return Ok(None);
        }
        sqlx::query_scalar(
            "SELECT id FROM prompts WHERE project_id = $1 AND name = $2 AND version = $3",
        )
        .bind(project_id)
        .bind(name)
        .bind(i64::from(version))
        .fetch_optional(&self.pool)
        .await
        .map_err(MetaError::during("looking up a prompt id"))
    }
}

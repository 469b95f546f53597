//! Metadata in the embedded SQLite file.

use sqlx::{Row, SqlitePool};

use super::{KeyRecord, KeySummary, NewApiKey, new_id};

/// Projects and keys over a SQLite pool.
#[derive(Clone)]
pub struct SqliteMeta {
    pool: SqlitePool,
}

impl SqliteMeta {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// The active project key whose secret hashes to `fast_hash`. Keys of deleted projects,
    /// expired keys and organisation-scoped keys never authenticate ingestion.
    pub async fn find_key_by_fast_hash(
        &self,
        fast_hash: &str,
    ) -> Result<Option<KeyRecord>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT k.id, k.project_id, k.public_key, k.fast_hashed_secret_key
             FROM api_keys k JOIN projects p ON p.id = k.project_id
             WHERE k.fast_hashed_secret_key = ? AND k.scope = 'PROJECT' AND p.deleted_at IS NULL
               AND (k.expires_at IS NULL OR k.expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
        )
        .bind(fast_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| KeyRecord {
            id: row.get(0),
            project_id: row.get(1),
            public_key: row.get(2),
            fast_hashed_secret_key: row.get(3),
        }))
    }

    pub async fn project_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT count(*) FROM projects WHERE deleted_at IS NULL")
            .fetch_one(&self.pool)
            .await
    }

    /// The id of the project called `name`, created (with its own organisation) if absent.
    pub async fn ensure_project(&self, name: &str) -> Result<String, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
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

    pub async fn public_key_exists(&self, public_key: &str) -> Result<bool, sqlx::Error> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM api_keys WHERE public_key = ?")
            .bind(public_key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    pub async fn insert_key(
        &self,
        project_id: &str,
        key: &NewApiKey,
    ) -> Result<String, sqlx::Error> {
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

    pub async fn list_keys(&self) -> Result<Vec<KeySummary>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT k.public_key, k.display_secret_key, k.project_id, p.name, k.created_at, k.note
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
            })
            .collect())
    }

    /// Deletes the key (as Langfuse does); returns whether it existed.
    pub async fn revoke(&self, public_key: &str) -> Result<bool, sqlx::Error> {
        let result = sqlx::query("DELETE FROM api_keys WHERE public_key = ?")
            .bind(public_key)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }
}

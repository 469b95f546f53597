//! `scores` in the SQLite file: written on the store's writer connection (one transaction per
//! batch, upsert by (project, id)), read through the pool.

use rusqlite::{Connection, TransactionBehavior};
use serde_json::{Map, Value};
use sqlx::SqlitePool;

use crate::read::ScoreRecord;
use crate::scores::{StoredScore, metadata_pairs, nullable};

/// Upsert: a newer version of a score (same id) replaces the row, keeping nothing of it.
const INSERT: &str = "INSERT OR REPLACE INTO scores (project_id, id, timestamp, environment,
    trace_id, session_id, dataset_run_id, observation_id, name, value, source, comment,
    metadata, config_id, data_type, string_value, queue_id, created_at, updated_at, event_ts,
    is_deleted, execution_trace_id, ingestion_api_key, ingestion_sdk_name, ingestion_sdk_version)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
    ?19, ?20, 0, ?21, ?22, ?23, ?24)";

/// Writes the scores in one immediate transaction.
pub(super) fn write(connection: &mut Connection, scores: &[StoredScore]) -> rusqlite::Result<()> {
    if scores.is_empty() {
        return Ok(());
    }
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(INSERT)?;
        for stored in scores {
            let s = &stored.score;
            let metadata: Map<String, Value> = metadata_pairs(s)
                .map(|(name, value)| (name.to_owned(), Value::String(value.to_owned())))
                .collect();
            insert.execute(rusqlite::params![
                stored.project_id,
                s.id,
                s.timestamp_us,
                if s.environment.is_empty() {
                    "default"
                } else {
                    s.environment.as_str()
                },
                nullable(&s.trace_id),
                nullable(&s.session_id),
                nullable(&s.dataset_run_id),
                nullable(&s.observation_id),
                s.name,
                s.value,
                s.source,
                nullable(&s.comment),
                Value::Object(metadata).to_string(),
                nullable(&s.config_id),
                s.data_type,
                s.string_value,
                nullable(&s.queue_id),
                stored.event_ts_us,
                stored.event_ts_us,
                stored.event_ts_us,
                nullable(&s.execution_trace_id),
                stored.ingestion_api_key,
                stored.ingestion_sdk_name,
                stored.ingestion_sdk_version,
            ])?;
        }
    }
    tx.commit()
}

/// One `scores` row as the read API needs it.
#[derive(sqlx::FromRow)]
struct ReadRow {
    id: String,
    project_id: String,
    timestamp: i64,
    environment: String,
    trace_id: Option<String>,
    observation_id: Option<String>,
    name: String,
    value: f64,
    source: String,
    comment: Option<String>,
    metadata: String,
    author_user_id: Option<String>,
    config_id: Option<String>,
    queue_id: Option<String>,
    execution_trace_id: Option<String>,
    data_type: String,
    string_value: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<ReadRow> for ScoreRecord {
    fn from(row: ReadRow) -> Self {
        let metadata = match serde_json::from_str::<Value>(&row.metadata) {
            Ok(Value::Object(object)) => object
                .into_iter()
                .map(|(name, value)| match value {
                    Value::String(text) => (name, text),
                    other => (name, other.to_string()),
                })
                .collect(),
            _ => Vec::new(),
        };
        ScoreRecord {
            id: row.id,
            project_id: row.project_id,
            timestamp_us: row.timestamp,
            environment: row.environment,
            trace_id: row.trace_id,
            observation_id: row.observation_id,
            name: row.name,
            value: row.value,
            source: row.source,
            comment: row.comment,
            metadata,
            author_user_id: row.author_user_id,
            config_id: row.config_id,
            queue_id: row.queue_id,
            execution_trace_id: row.execution_trace_id,
            data_type: row.data_type,
            string_value: row.string_value,
            created_at_us: row.created_at,
            updated_at_us: row.updated_at,
        }
    }
}

/// The scores of one trace, by timestamp.
pub(super) async fn of_trace(
    pool: &SqlitePool,
    project_id: &str,
    trace_id: &str,
) -> Result<Vec<ScoreRecord>, sqlx::Error> {
    let rows: Vec<ReadRow> = sqlx::query_as(
        "SELECT id, project_id, timestamp, environment, trace_id, observation_id, name, value,
                source, comment, metadata, author_user_id, config_id, queue_id,
                execution_trace_id, data_type, string_value, created_at, updated_at
         FROM scores WHERE project_id = ? AND trace_id = ? AND is_deleted = 0
         ORDER BY timestamp, id",
    )
    .bind(project_id)
    .bind(trace_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(ScoreRecord::from).collect())
}

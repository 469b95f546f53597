//! `scores` in the SQLite file: written on the store's writer connection (one transaction per
//! batch, upsert by (project, id)), read on a read connection, both by the one column list.

use std::sync::LazyLock;

use rusqlite::{Connection, TransactionBehavior};
use serde_json::{Map, Value};
use spanbridge_proto::{Score, StoredScore};

use crate::scores::{metadata_pairs, nullable};

/// The columns written and read (`is_deleted` is 0 for written rows, set in [`INSERT`]).
const COLUMNS: &str = "project_id, id, timestamp, environment, trace_id, session_id,
    dataset_run_id, observation_id, name, value, source, comment, metadata, config_id,
    data_type, string_value, queue_id, created_at, updated_at, event_ts, execution_trace_id,
    ingestion_api_key, ingestion_sdk_name, ingestion_sdk_version, author_user_id";

/// Upsert: a newer version of a score (same id) replaces the row, keeping nothing of it.
static INSERT: LazyLock<String> = LazyLock::new(|| {
    let placeholders = (1..=COLUMNS.split(',').count())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("INSERT OR REPLACE INTO scores ({COLUMNS}, is_deleted) VALUES ({placeholders}, 0)")
});

/// Writes the scores in one immediate transaction.
pub(super) fn write(connection: &mut Connection, scores: &[StoredScore]) -> rusqlite::Result<()> {
    if scores.is_empty() {
        return Ok(());
    }
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(&INSERT)?;
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
                stored.created_at_us,
                stored.event_ts_us,
                stored.event_ts_us,
                nullable(&s.execution_trace_id),
                stored.ingestion_api_key,
                stored.ingestion_sdk_name,
                stored.ingestion_sdk_version,
                stored.author_user_id,
            ])?;
        }
    }
    tx.commit()
}

/// The scores of one trace, newest version of each, by timestamp then id.
pub(super) fn of_trace(
    connection: &Connection,
    project_id: &str,
    trace_id: &str,
) -> rusqlite::Result<Vec<StoredScore>> {
    let mut select = connection.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM scores \
         WHERE project_id = ?1 AND trace_id = ?2 AND is_deleted = 0 ORDER BY timestamp, id"
    ))?;
    let rows = select.query_map([project_id, trace_id], stored_score)?;
    rows.collect()
}

/// One `scores` row, decoded by column name (the inverse of [`write`]); NULL texts read as
/// empty, as the contract's `Score` says "not set".
fn stored_score(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredScore> {
    let text = |name: &str| -> rusqlite::Result<String> {
        Ok(row.get::<_, Option<String>>(name)?.unwrap_or_default())
    };
    let (metadata_names, metadata_values) = match serde_json::from_str(&text("metadata")?) {
        Ok(Value::Object(object)) => object
            .into_iter()
            .map(|(name, value)| match value {
                Value::String(text) => (name, text),
                other => (name, other.to_string()),
            })
            .unzip(),
        _ => (Vec::new(), Vec::new()),
    };
    Ok(StoredScore {
        project_id: row.get("project_id")?,
        ingestion_api_key: text("ingestion_api_key")?,
        ingestion_sdk_name: text("ingestion_sdk_name")?,
        ingestion_sdk_version: text("ingestion_sdk_version")?,
        event_ts_us: row.get("event_ts")?,
        created_at_us: row.get("created_at")?,
        author_user_id: row.get("author_user_id")?,
        score: Score {
            id: row.get("id")?,
            timestamp_us: row.get("timestamp")?,
            environment: row.get("environment")?,
            trace_id: text("trace_id")?,
            session_id: text("session_id")?,
            dataset_run_id: text("dataset_run_id")?,
            observation_id: text("observation_id")?,
            name: row.get("name")?,
            value: row.get("value")?,
            source: row.get("source")?,
            comment: text("comment")?,
            metadata_names,
            metadata_values,
            config_id: text("config_id")?,
            data_type: row.get("data_type")?,
            string_value: row.get("string_value")?,
            queue_id: text("queue_id")?,
            execution_trace_id: text("execution_trace_id")?,
        },
    })
}

//! Langfuse's `scores` table in ClickHouse: written in RowBinary (one INSERT per batch), read
//! back with `FINAL` (ReplacingMergeTree on `event_ts`: a score written again is one row).

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use spanbridge_proto::{Score, StoredScore};

use crate::scores::{metadata_pairs, nullable};

/// One `scores` row as inserted. Times are DateTime64(3): milliseconds.
#[derive(Row, Serialize)]
pub(super) struct ScoresRow<'a> {
    id: &'a str,
    timestamp: i64,
    project_id: &'a str,
    environment: &'a str,
    trace_id: Option<&'a str>,
    session_id: Option<&'a str>,
    dataset_run_id: Option<&'a str>,
    observation_id: Option<&'a str>,
    name: &'a str,
    value: f64,
    source: &'a str,
    comment: Option<&'a str>,
    metadata: Vec<(&'a str, &'a str)>,
    author_user_id: Option<&'a str>,
    config_id: Option<&'a str>,
    data_type: &'a str,
    string_value: Option<&'a str>,
    queue_id: Option<&'a str>,
    created_at: i64,
    updated_at: i64,
    event_ts: i64,
    is_deleted: u8,
    execution_trace_id: Option<&'a str>,
    long_string_value: &'a str,
    ingestion_api_key: &'a str,
    ingestion_sdk_name: &'a str,
    ingestion_sdk_version: &'a str,
}

pub(super) fn row_of(stored: &StoredScore) -> ScoresRow<'_> {
    let s = &stored.score;
    let written_ms = stored.event_ts_us.div_euclid(1000);
    ScoresRow {
        id: &s.id,
        timestamp: s.timestamp_us.div_euclid(1000),
        project_id: &stored.project_id,
        environment: if s.environment.is_empty() {
            "default"
        } else {
            &s.environment
        },
        trace_id: nullable(&s.trace_id),
        session_id: nullable(&s.session_id),
        dataset_run_id: nullable(&s.dataset_run_id),
        observation_id: nullable(&s.observation_id),
        name: &s.name,
        value: s.value,
        source: &s.source,
        comment: nullable(&s.comment),
        metadata: metadata_pairs(s).collect(),
        author_user_id: stored.author_user_id.as_deref(),
        config_id: nullable(&s.config_id),
        data_type: &s.data_type,
        string_value: s.string_value.as_deref(),
        queue_id: nullable(&s.queue_id),
        created_at: stored.created_at_us.div_euclid(1000),
        updated_at: written_ms,
        event_ts: written_ms,
        is_deleted: 0,
        execution_trace_id: nullable(&s.execution_trace_id),
        long_string_value: "",
        ingestion_api_key: &stored.ingestion_api_key,
        ingestion_sdk_name: &stored.ingestion_sdk_name,
        ingestion_sdk_version: &stored.ingestion_sdk_version,
    }
}

/// One `scores` row as read back: the columns of [`ScoresRow`] a [`StoredScore`] holds.
#[derive(Row, Deserialize)]
struct ReadRow {
    id: String,
    timestamp: i64,
    project_id: String,
    environment: String,
    trace_id: Option<String>,
    session_id: Option<String>,
    dataset_run_id: Option<String>,
    observation_id: Option<String>,
    name: String,
    value: f64,
    source: String,
    comment: Option<String>,
    metadata: Vec<(String, String)>,
    author_user_id: Option<String>,
    config_id: Option<String>,
    data_type: String,
    string_value: Option<String>,
    queue_id: Option<String>,
    created_at: i64,
    event_ts: i64,
    execution_trace_id: Option<String>,
    ingestion_api_key: String,
    ingestion_sdk_name: String,
    ingestion_sdk_version: String,
}

/// The scores of one trace, deduplicated with `FINAL` as Langfuse reads them, by timestamp
/// then id. NULL texts read as empty, as the contract's `Score` says "not set".
pub(super) async fn of_trace(
    client: &Client,
    project_id: &str,
    trace_id: &str,
) -> Result<Vec<StoredScore>, clickhouse::error::Error> {
    let rows = client
        .query(
            "SELECT ?fields FROM scores FINAL \
             WHERE project_id = ? AND trace_id = ? AND is_deleted = 0 \
             ORDER BY timestamp, id",
        )
        .bind(project_id)
        .bind(trace_id)
        .fetch_all::<ReadRow>()
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let (metadata_names, metadata_values) = row.metadata.into_iter().unzip();
            StoredScore {
                project_id: row.project_id,
                ingestion_api_key: row.ingestion_api_key,
                ingestion_sdk_name: row.ingestion_sdk_name,
                ingestion_sdk_version: row.ingestion_sdk_version,
                event_ts_us: row.event_ts * 1000,
                created_at_us: row.created_at * 1000,
                author_user_id: row.author_user_id,
                score: Score {
                    id: row.id,
                    timestamp_us: row.timestamp * 1000,
                    environment: row.environment,
                    trace_id: row.trace_id.unwrap_or_default(),
                    session_id: row.session_id.unwrap_or_default(),
                    dataset_run_id: row.dataset_run_id.unwrap_or_default(),
                    observation_id: row.observation_id.unwrap_or_default(),
                    name: row.name,
                    value: row.value,
                    source: row.source,
                    comment: row.comment.unwrap_or_default(),
                    metadata_names,
                    metadata_values,
                    config_id: row.config_id.unwrap_or_default(),
                    data_type: row.data_type,
                    string_value: row.string_value,
                    queue_id: row.queue_id.unwrap_or_default(),
                    execution_trace_id: row.execution_trace_id.unwrap_or_default(),
                },
            }
        })
        .collect())
}

//! The embedded event store: `events` in the SQLite file, one transaction per batch.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{Row, SqlitePool};

use super::{Store, StoreError};
use crate::enrich::StoredRow;
use crate::read::EventRecord;

/// `events` over a SQLite pool.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// Columns written per row; `is_deleted` is always 0 for new rows.
const COLUMNS: &str = "project_id, trace_id, span_id, parent_span_id, start_time, end_time, name,
    type, environment, version, release, trace_name, user_id, session_id, tags, level,
    status_message, completion_start_time, is_app_root, public, prompt_name, prompt_version,
    provided_model_name, model_parameters, provided_usage_details, usage_details,
    provided_cost_details, cost_details, tool_definitions, tool_calls, tool_call_names, input,
    output, metadata_names, metadata_values, experiment_id, experiment_name,
    experiment_metadata_names, experiment_metadata_values, experiment_description,
    experiment_dataset_id, experiment_item_id, experiment_item_version,
    experiment_item_expected_output, experiment_item_metadata_names,
    experiment_item_metadata_values, experiment_item_root_span_id, source, service_name,
    service_version, scope_name, scope_version, telemetry_sdk_language, telemetry_sdk_name,
    telemetry_sdk_version, event_bytes, created_at, updated_at, event_ts, ingestion_api_key,
    ingestion_sdk_name, ingestion_sdk_version, trace_input, trace_output, model_id,
    usage_pricing_tier_id, usage_pricing_tier_name, is_deleted";

/// Rows per multi-row INSERT: 67 bound values per row stays under SQLite's 32,766-variable
/// limit, and one statement per few hundred rows (instead of one per row) keeps the round
/// trips to sqlx's SQLite worker thread off the hot path.
const ROWS_PER_STATEMENT: usize = 400;

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<T: DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

impl SqliteStore {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Every stored row of one trace of one project, ordered by start time.
    pub async fn events_of_trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<EventRecord>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT trace_id, span_id, parent_span_id, start_time, end_time, completion_start_time,
                    name, type, environment, version, release, trace_name, user_id, session_id,
                    tags, level, status_message, public, is_app_root, prompt_name, prompt_version,
                    provided_model_name, model_id, model_parameters, usage_details, cost_details,
                    input, output, metadata_names, metadata_values, trace_input, trace_output
             FROM events WHERE project_id = ? AND trace_id = ? AND is_deleted = 0
             ORDER BY start_time, span_id",
        )
        .bind(project_id)
        .bind(trace_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| EventRecord {
                trace_id: row.get("trace_id"),
                span_id: row.get("span_id"),
                parent_span_id: row.get("parent_span_id"),
                start_time_us: row.get("start_time"),
                end_time_us: row.get("end_time"),
                completion_start_time_us: row.get("completion_start_time"),
                name: row.get("name"),
                r#type: row.get("type"),
                environment: row.get("environment"),
                version: row.get("version"),
                release: row.get("release"),
                trace_name: row.get("trace_name"),
                user_id: row.get("user_id"),
                session_id: row.get("session_id"),
                tags: from_json(row.get("tags")),
                level: row.get("level"),
                status_message: row.get("status_message"),
                public: row.get("public"),
                is_app_root: row.get("is_app_root"),
                prompt_name: row.get("prompt_name"),
                prompt_version: row.get("prompt_version"),
                provided_model_name: row.get("provided_model_name"),
                model_id: row.get("model_id"),
                model_parameters: row.get("model_parameters"),
                usage_details: from_json::<BTreeMap<String, u64>>(row.get("usage_details")),
                cost_details: from_json::<BTreeMap<String, f64>>(row.get("cost_details")),
                input: row.get("input"),
                output: row.get("output"),
                metadata_names: from_json(row.get("metadata_names")),
                metadata_values: from_json(row.get("metadata_values")),
                trace_input: row.get("trace_input"),
                trace_output: row.get("trace_output"),
            })
            .collect())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn write(&self, rows: &[StoredRow]) -> Result<(), StoreError> {
        let error = |e: sqlx::Error| StoreError(format!("SQLite write failed: {e}"));
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(error)?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut insert =
                sqlx::QueryBuilder::new(format!("INSERT OR REPLACE INTO events ({COLUMNS}) "));
            insert.push_values(chunk, |mut b, stored| {
                let r = &stored.row;
                b.push_bind(&stored.project_id)
                    .push_bind(&r.trace_id)
                    .push_bind(&r.span_id)
                    .push_bind(&r.parent_span_id)
                    .push_bind(r.start_time_us)
                    .push_bind(r.end_time_us)
                    .push_bind(&r.name)
                    .push_bind(&r.r#type)
                    .push_bind(&r.environment)
                    .push_bind(&r.version)
                    .push_bind(&r.release)
                    .push_bind(&r.trace_name)
                    .push_bind(&r.user_id)
                    .push_bind(&r.session_id)
                    .push_bind(json(&r.tags))
                    .push_bind(&r.level)
                    .push_bind(&r.status_message)
                    .push_bind(r.completion_start_time_us)
                    .push_bind(r.is_app_root)
                    .push_bind(r.public)
                    .push_bind(&r.prompt_name)
                    .push_bind(r.prompt_version)
                    .push_bind(&r.provided_model_name)
                    .push_bind(&r.model_parameters)
                    .push_bind(json(&r.provided_usage_details))
                    .push_bind(json(&stored.usage_details))
                    .push_bind(json(&r.provided_cost_details))
                    .push_bind(json(&stored.cost_details))
                    .push_bind(json(&r.tool_definitions))
                    .push_bind(json(&r.tool_calls))
                    .push_bind(json(&r.tool_call_names))
                    .push_bind(&r.input)
                    .push_bind(&r.output)
                    .push_bind(json(&r.metadata_names))
                    .push_bind(json(&r.metadata_values))
                    .push_bind(&r.experiment_id)
                    .push_bind(&r.experiment_name)
                    .push_bind(json(&r.experiment_metadata_names))
                    .push_bind(json(&r.experiment_metadata_values))
                    .push_bind(&r.experiment_description)
                    .push_bind(&r.experiment_dataset_id)
                    .push_bind(&r.experiment_item_id)
                    .push_bind(r.experiment_item_version_us)
                    .push_bind(&r.experiment_item_expected_output)
                    .push_bind(json(&r.experiment_item_metadata_names))
                    .push_bind(json(&r.experiment_item_metadata_values))
                    .push_bind(&r.experiment_item_root_span_id)
                    .push_bind(&r.source)
                    .push_bind(&r.service_name)
                    .push_bind(&r.service_version)
                    .push_bind(&r.scope_name)
                    .push_bind(&r.scope_version)
                    .push_bind(&r.telemetry_sdk_language)
                    .push_bind(&r.telemetry_sdk_name)
                    .push_bind(&r.telemetry_sdk_version)
                    .push_bind(stored.event_bytes as i64)
                    .push_bind(stored.event_ts_us)
                    .push_bind(stored.event_ts_us)
                    .push_bind(stored.event_ts_us)
                    .push_bind(&stored.ingestion_api_key)
                    .push_bind(&stored.ingestion_sdk_name)
                    .push_bind(&stored.ingestion_sdk_version)
                    .push_bind(&r.trace_input)
                    .push_bind(&r.trace_output)
                    .push_bind(&stored.model_id)
                    .push_bind(&stored.usage_pricing_tier_id)
                    .push_bind(&stored.usage_pricing_tier_name)
                    .push("0");
            });
            insert.build().execute(&mut *tx).await.map_err(error)?;
        }
        tx.commit().await.map_err(error)
    }
}

//! The production event store: Langfuse v4's `events_full` (and `scores`, in [`scores`]) in ClickHouse, written with the
//! `clickhouse` crate in RowBinary (one INSERT per batch) and read back with `FINAL`.
//!
//! Re-inserting a row is safe: the table is a ReplacingMergeTree on (event_ts, is_deleted)
//! whose sorting key ends in (span_id, start_time), so a span written twice (a retried request,
//! a batch replayed after a crash) is one row when read with `FINAL`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use clickhouse::{Client, Compression, Row};
use serde::{Deserialize, Serialize};

mod scores;
use spanbridge_proto::EventRow;

use super::{EventReader, Store, StoreError};
use crate::enrich::StoredRow;
use crate::read::{EventRecord, ScoreRecord};
use crate::scores::StoredScore;

/// Langfuse's DDL for `events_full`, `events_core` and `events_core_mv` (all IF NOT EXISTS).
const SCHEMA: &str = include_str!("clickhouse/events.sql");

/// The store's name in errors and `/ready`.
const CLICKHOUSE: &str = "clickhouse";

/// ClickHouse error codes that mean "this data can never be inserted" (parse, type and range
/// errors). Anything else — network, overload, missing table, too many parts — is retried.
const DATA_ERROR_CODES: &[u32] = &[
    6, 26, 27, 32, 33, 38, 41, 53, 69, 70, 72, 117, 128, 131, 321, 407,
];

/// Decimal(18, 12) holds ±999,999.999999999999; Langfuse clamps costs to ±999,999.999999.
const COST_LIMIT: f64 = 999_999.999_999;
const COST_SCALE: f64 = 1e12;

/// How to reach ClickHouse.
#[derive(Debug, Clone)]
pub struct ClickHouseConfig {
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: String,
    /// lz4 request/response compression (false: plain bodies).
    pub lz4: bool,
}

/// `events_full` over HTTP.
#[derive(Clone)]
pub struct ClickHouseStore {
    client: Client,
    config: ClickHouseConfig,
}

/// One `events_full` row as inserted: every column ingestion fills (MATERIALIZED and ALIAS
/// columns are computed by ClickHouse).
#[derive(Row, Serialize)]
struct EventsFullRow<'a> {
    project_id: &'a str,
    trace_id: &'a str,
    span_id: &'a str,
    parent_span_id: &'a str,
    start_time: i64,
    end_time: Option<i64>,
    name: &'a str,
    #[serde(rename = "type")]
    r#type: &'a str,
    environment: &'a str,
    version: &'a str,
    release: &'a str,
    trace_name: &'a str,
    user_id: &'a str,
    session_id: &'a str,
    tags: &'a [String],
    level: &'a str,
    status_message: &'a str,
    completion_start_time: Option<i64>,
    is_app_root: bool,
    bookmarked: bool,
    public: bool,
    prompt_id: &'a str,
    prompt_name: &'a str,
    prompt_version: Option<u16>,
    model_id: &'a str,
    provided_model_name: &'a str,
    model_parameters: &'a str,
    provided_usage_details: Vec<(&'a str, u64)>,
    usage_details: Vec<(&'a str, u64)>,
    provided_cost_details: Vec<(&'a str, i64)>,
    cost_details: Vec<(&'a str, i64)>,
    usage_pricing_tier_id: Option<&'a str>,
    usage_pricing_tier_name: Option<&'a str>,
    tool_definitions: Vec<(&'a str, &'a str)>,
    tool_calls: &'a [String],
    tool_call_names: &'a [String],
    input: &'a str,
    output: &'a str,
    metadata_names: &'a [String],
    metadata_values: &'a [String],
    experiment_id: &'a str,
    experiment_name: &'a str,
    experiment_metadata_names: &'a [String],
    experiment_metadata_values: &'a [String],
    experiment_description: &'a str,
    experiment_dataset_id: &'a str,
    experiment_item_id: &'a str,
    experiment_item_version: Option<i64>,
    experiment_item_expected_output: &'a str,
    experiment_item_metadata_names: &'a [String],
    experiment_item_metadata_values: &'a [String],
    experiment_item_root_span_id: &'a str,
    source: &'a str,
    service_name: &'a str,
    service_version: &'a str,
    scope_name: &'a str,
    scope_version: &'a str,
    telemetry_sdk_language: &'a str,
    telemetry_sdk_name: &'a str,
    telemetry_sdk_version: &'a str,
    blob_storage_file_path: &'a str,
    event_bytes: u64,
    created_at: i64,
    updated_at: i64,
    event_ts: i64,
    is_deleted: u8,
    ingestion_api_key: &'a str,
    ingestion_sdk_name: &'a str,
    ingestion_sdk_version: &'a str,
}

/// One whole `events_full` row as read back for assembly (the inverse of [`EventsFullRow`]).
#[derive(Row, Deserialize)]
struct WholeRow {
    project_id: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    start_time: i64,
    end_time: Option<i64>,
    name: String,
    #[serde(rename = "type")]
    r#type: String,
    environment: String,
    version: String,
    release: String,
    trace_name: String,
    user_id: String,
    session_id: String,
    tags: Vec<String>,
    level: String,
    status_message: String,
    completion_start_time: Option<i64>,
    is_app_root: bool,
    public: bool,
    prompt_id: String,
    prompt_name: String,
    prompt_version: Option<u16>,
    model_id: String,
    provided_model_name: String,
    model_parameters: String,
    provided_usage_details: Vec<(String, u64)>,
    usage_details: Vec<(String, u64)>,
    provided_cost_details: Vec<(String, i64)>,
    cost_details: Vec<(String, i64)>,
    usage_pricing_tier_id: Option<String>,
    usage_pricing_tier_name: Option<String>,
    tool_definitions: Vec<(String, String)>,
    tool_calls: Vec<String>,
    tool_call_names: Vec<String>,
    input: String,
    output: String,
    metadata_names: Vec<String>,
    metadata_values: Vec<String>,
    experiment_id: String,
    experiment_name: String,
    experiment_metadata_names: Vec<String>,
    experiment_metadata_values: Vec<String>,
    experiment_description: String,
    experiment_dataset_id: String,
    experiment_item_id: String,
    experiment_item_version: Option<i64>,
    experiment_item_expected_output: String,
    experiment_item_metadata_names: Vec<String>,
    experiment_item_metadata_values: Vec<String>,
    experiment_item_root_span_id: String,
    source: String,
    service_name: String,
    service_version: String,
    scope_name: String,
    scope_version: String,
    telemetry_sdk_language: String,
    telemetry_sdk_name: String,
    telemetry_sdk_version: String,
    event_bytes: u64,
    event_ts: i64,
    ingestion_api_key: String,
    ingestion_sdk_name: String,
    ingestion_sdk_version: String,
}

fn from_ticks(costs: Vec<(String, i64)>) -> BTreeMap<String, f64> {
    costs
        .into_iter()
        .map(|(key, ticks)| (key, ticks as f64 / COST_SCALE))
        .collect()
}

impl ClickHouseStore {
    /// Every row of one trace of one project, whole, deduplicated with `FINAL`: what the read
    /// API shows and what assembly reads back.
    async fn whole_rows(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT ?fields FROM events_full FINAL \
                 WHERE project_id = ? AND trace_id = ? AND is_deleted = 0",
            )
            .bind(project_id)
            .bind(trace_id)
            .fetch_all::<WholeRow>()
            .await
            .map_err(unavailable)?;
        Ok(rows.into_iter().map(stored_row).collect())
    }
}

fn stored_row(row: WholeRow) -> StoredRow {
    StoredRow {
        project_id: row.project_id,
        ingestion_api_key: row.ingestion_api_key,
        ingestion_sdk_name: row.ingestion_sdk_name,
        ingestion_sdk_version: row.ingestion_sdk_version,
        model_id: row.model_id,
        prompt_id: row.prompt_id,
        usage_details: row.usage_details.into_iter().collect(),
        cost_details: from_ticks(row.cost_details),
        usage_pricing_tier_id: row.usage_pricing_tier_id,
        usage_pricing_tier_name: row.usage_pricing_tier_name,
        event_ts_us: row.event_ts,
        event_bytes: row.event_bytes,
        deleted: false,
        row: EventRow {
            trace_id: row.trace_id,
            span_id: row.span_id,
            parent_span_id: row.parent_span_id,
            start_time_us: row.start_time,
            end_time_us: row.end_time,
            completion_start_time_us: row.completion_start_time,
            name: row.name,
            r#type: row.r#type,
            environment: row.environment,
            version: row.version,
            release: row.release,
            level: row.level,
            status_message: row.status_message,
            trace_name: row.trace_name,
            user_id: row.user_id,
            session_id: row.session_id,
            tags: row.tags,
            public: row.public,
            is_app_root: row.is_app_root,
            prompt_name: row.prompt_name,
            prompt_version: row.prompt_version.map(u32::from),
            provided_model_name: row.provided_model_name,
            model_parameters: row.model_parameters,
            provided_usage_details: row.provided_usage_details.into_iter().collect(),
            provided_cost_details: from_ticks(row.provided_cost_details).into_iter().collect(),
            tool_definitions: row.tool_definitions.into_iter().collect(),
            tool_calls: row.tool_calls,
            tool_call_names: row.tool_call_names,
            input: row.input,
            output: row.output,
            metadata_names: row.metadata_names,
            metadata_values: row.metadata_values,
            experiment_id: row.experiment_id,
            experiment_name: row.experiment_name,
            experiment_description: row.experiment_description,
            experiment_dataset_id: row.experiment_dataset_id,
            experiment_item_id: row.experiment_item_id,
            experiment_item_version_us: row.experiment_item_version,
            experiment_item_expected_output: row.experiment_item_expected_output,
            experiment_metadata_names: row.experiment_metadata_names,
            experiment_metadata_values: row.experiment_metadata_values,
            experiment_item_metadata_names: row.experiment_item_metadata_names,
            experiment_item_metadata_values: row.experiment_item_metadata_values,
            experiment_item_root_span_id: row.experiment_item_root_span_id,
            service_name: row.service_name,
            service_version: row.service_version,
            scope_name: row.scope_name,
            scope_version: row.scope_version,
            telemetry_sdk_language: row.telemetry_sdk_language,
            telemetry_sdk_name: row.telemetry_sdk_name,
            telemetry_sdk_version: row.telemetry_sdk_version,
            source: row.source,
            // Not events_full columns.
            trace_input: String::new(),
            trace_output: String::new(),
        },
    }
}

fn cost_ticks(value: f64) -> Option<i64> {
    value
        .is_finite()
        .then(|| (value.clamp(-COST_LIMIT, COST_LIMIT) * COST_SCALE).round() as i64)
}

fn costs(map: &BTreeMap<String, f64>) -> Vec<(&str, i64)> {
    map.iter()
        .filter_map(|(key, value)| Some((key.as_str(), cost_ticks(*value)?)))
        .collect()
}

fn row_of(stored: &StoredRow) -> EventsFullRow<'_> {
    let r = &stored.row;
    EventsFullRow {
        project_id: &stored.project_id,
        trace_id: &r.trace_id,
        span_id: &r.span_id,
        parent_span_id: &r.parent_span_id,
        start_time: r.start_time_us,
        end_time: r.end_time_us,
        name: &r.name,
        r#type: &r.r#type,
        environment: &r.environment,
        version: &r.version,
        release: &r.release,
        trace_name: &r.trace_name,
        user_id: &r.user_id,
        session_id: &r.session_id,
        tags: &r.tags,
        level: &r.level,
        status_message: &r.status_message,
        completion_start_time: r.completion_start_time_us,
        is_app_root: r.is_app_root,
        bookmarked: false,
        public: r.public,
        prompt_id: &stored.prompt_id,
        prompt_name: &r.prompt_name,
        prompt_version: r.prompt_version.and_then(|v| u16::try_from(v).ok()),
        model_id: &stored.model_id,
        provided_model_name: &r.provided_model_name,
        model_parameters: &r.model_parameters,
        provided_usage_details: r
            .provided_usage_details
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect(),
        usage_details: stored
            .usage_details
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect(),
        provided_cost_details: r
            .provided_cost_details
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), cost_ticks(*v)?)))
            .collect(),
        cost_details: costs(&stored.cost_details),
        usage_pricing_tier_id: stored.usage_pricing_tier_id.as_deref(),
        usage_pricing_tier_name: stored.usage_pricing_tier_name.as_deref(),
        tool_definitions: r
            .tool_definitions
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        tool_calls: &r.tool_calls,
        tool_call_names: &r.tool_call_names,
        input: &r.input,
        output: &r.output,
        metadata_names: &r.metadata_names,
        metadata_values: &r.metadata_values,
        experiment_id: &r.experiment_id,
        experiment_name: &r.experiment_name,
        experiment_metadata_names: &r.experiment_metadata_names,
        experiment_metadata_values: &r.experiment_metadata_values,
        experiment_description: &r.experiment_description,
        experiment_dataset_id: &r.experiment_dataset_id,
        experiment_item_id: &r.experiment_item_id,
        experiment_item_version: r.experiment_item_version_us,
        experiment_item_expected_output: &r.experiment_item_expected_output,
        experiment_item_metadata_names: &r.experiment_item_metadata_names,
        experiment_item_metadata_values: &r.experiment_item_metadata_values,
        experiment_item_root_span_id: &r.experiment_item_root_span_id,
        source: &r.source,
        service_name: &r.service_name,
        service_version: &r.service_version,
        scope_name: &r.scope_name,
        scope_version: &r.scope_version,
        telemetry_sdk_language: &r.telemetry_sdk_language,
        telemetry_sdk_name: &r.telemetry_sdk_name,
        telemetry_sdk_version: &r.telemetry_sdk_version,
        blob_storage_file_path: "",
        event_bytes: stored.event_bytes,
        created_at: stored.event_ts_us,
        updated_at: stored.event_ts_us,
        event_ts: stored.event_ts_us,
        is_deleted: u8::from(stored.deleted),
        ingestion_api_key: &stored.ingestion_api_key,
        ingestion_sdk_name: &stored.ingestion_sdk_name,
        ingestion_sdk_version: &stored.ingestion_sdk_version,
    }
}

/// The ClickHouse exception code in an error message (`Code: 60. DB::Exception: …`).
fn exception_code(message: &str) -> Option<u32> {
    let rest = &message[message.find("Code: ")? + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn unavailable(detail: impl ToString) -> StoreError {
    StoreError::Unavailable {
        store: CLICKHOUSE,
        detail: detail.to_string(),
    }
}

/// Classifies a failed insert: the data's fault (never retried) or a transient fault.
fn write_error(error: clickhouse::error::Error) -> StoreError {
    use clickhouse::error::Error;
    let rejected = match &error {
        Error::BadResponse(message) => {
            exception_code(message).is_some_and(|code| DATA_ERROR_CODES.contains(&code))
        }
        Error::Custom(_) | Error::SequenceMustHaveLength | Error::InvalidUtf8Encoding(_) => true,
        _ => false,
    };
    let detail = error.to_string();
    if rejected {
        StoreError::Rejected {
            store: CLICKHOUSE,
            detail,
        }
    } else {
        unavailable(detail)
    }
}

impl ClickHouseStore {
    pub fn new(config: ClickHouseConfig) -> Self {
        Self {
            client: Self::client(&config).with_database(&config.database),
            config,
        }
    }

    fn client(config: &ClickHouseConfig) -> Client {
        let mut client = Client::default()
            .with_url(&config.url)
            .with_compression(if config.lz4 {
                Compression::Lz4
            } else {
                Compression::None
            });
        if !config.user.is_empty() {
            client = client.with_user(&config.user);
        }
        if !config.password.is_empty() {
            client = client.with_password(&config.password);
        }
        client
    }

    /// Creates the database (when not `default`) and Langfuse's event tables when absent;
    /// existing tables are left alone. Returns the statements' short names.
    pub async fn migrate(&self) -> Result<(), String> {
        let server = Self::client(&self.config);
        if self.config.database != "default" {
            server
                .query(&format!(
                    "CREATE DATABASE IF NOT EXISTS `{}`",
                    self.config.database.replace('`', "")
                ))
                .execute()
                .await
                .map_err(|error| format!("ClickHouse: cannot create the database: {error}"))?;
        }
        for statement in statements(SCHEMA)
            .into_iter()
            .chain(statements(scores::SCHEMA))
        {
            self.client
                .query(&statement)
                .execute()
                .await
                .map_err(|error| {
                    let head: String = statement.chars().take(60).collect();
                    format!("ClickHouse: `{head}…` failed: {error}")
                })?;
        }
        Ok(())
    }
}

/// The SQL statements of a script: comment lines dropped, split at `;`.
fn statements(script: &str) -> Vec<String> {
    let without_comments: String = script
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
        .map(str::to_owned)
        .collect()
}

#[async_trait]
impl EventReader for ClickHouseStore {
    fn name(&self) -> &'static str {
        CLICKHOUSE
    }

    fn describe(&self) -> &'static str {
        "ClickHouse events_full"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .query("SELECT 1")
            .execute()
            .await
            .map_err(unavailable)
    }

    /// Deduplicated with `FINAL`, as Langfuse reads.
    async fn events_of_trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let mut rows = self.whole_rows(project_id, trace_id).await?;
        rows.sort_by(|a, b| {
            (a.row.start_time_us, &a.row.span_id).cmp(&(b.row.start_time_us, &b.row.span_id))
        });
        Ok(rows.into_iter().map(EventRecord::from).collect())
    }

    async fn scores_of_trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<ScoreRecord>, StoreError> {
        scores::of_trace(&self.client, project_id, trace_id)
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl Store for ClickHouseStore {
    async fn write(&self, rows: &[StoredRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = self
            .client
            .insert::<EventsFullRow<'_>>("events_full")
            .await
            .map_err(write_error)?
            .with_timeouts(Some(Duration::from_secs(30)), Some(Duration::from_secs(60)));
        for stored in rows {
            insert.write(&row_of(stored)).await.map_err(write_error)?;
        }
        insert.end().await.map_err(write_error)
    }

    async fn write_scores(&self, scores: &[StoredScore]) -> Result<(), StoreError> {
        scores::write(&self.client, scores).await
    }

    /// Deduplicated with `FINAL` (Langfuse's read-back takes the newest version by `event_ts`).
    async fn rows_of_trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<StoredRow>, StoreError> {
        self.whole_rows(project_id, trace_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_has_the_three_langfuse_objects() {
        let statements = statements(SCHEMA);
        assert_eq!(statements.len(), 3);
        assert!(statements[0].starts_with("CREATE TABLE IF NOT EXISTS events_full"));
        assert!(statements[1].starts_with("CREATE TABLE IF NOT EXISTS events_core"));
        assert!(statements[2].starts_with("CREATE MATERIALIZED VIEW IF NOT EXISTS events_core_mv"));
        let scores = super::statements(scores::SCHEMA);
        assert_eq!(scores.len(), 1);
        assert!(scores[0].starts_with("CREATE TABLE IF NOT EXISTS scores"));
    }

    #[test]
    fn costs_are_decimal_ticks_clamped_like_langfuse() {
        assert_eq!(cost_ticks(0.25), Some(250_000_000_000));
        let clamped = cost_ticks(5e9).unwrap_or_default();
        assert!(
            (clamped - 999_999_999_999_000_000).abs() < 1_000,
            "{clamped}"
        );
        assert!(cost_ticks(-5e9).unwrap_or_default() < 0);
        assert_eq!(cost_ticks(f64::NAN), None);
    }

    #[test]
    fn data_errors_are_rejections_and_the_rest_transient() {
        let bad = write_error(clickhouse::error::Error::BadResponse(
            "Code: 27. DB::Exception: Cannot parse input".into(),
        ));
        assert!(bad.is_permanent(), "{bad}");
        let missing = write_error(clickhouse::error::Error::BadResponse(
            "Code: 60. DB::Exception: Unknown table".into(),
        ));
        assert!(!missing.is_permanent(), "{missing}");
        assert_eq!(exception_code("x Code: 252. DB"), Some(252));
    }
}

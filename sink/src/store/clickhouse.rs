//! The Kafka deployment's event store: Langfuse's ClickHouse tables — v4's `events_full`, v3's
//! `traces` + `observations` (in [`v3_tables`]), or both, as `clickhouse.tables` says ([`schema`]);
//! `scores` (in [`scores`]) always — written with the `clickhouse` crate in RowBinary (one
//! INSERT per table per batch) and read back with `FINAL`. RowBinary carries no column types,
//! so each table's columns are checked once, before its first insert.
//!
//! Re-inserting a row is safe: every table is a ReplacingMergeTree on (event_ts, is_deleted)
//! whose sorting key identifies the row (`events_full`: span_id, start_time; `observations`:
//! type, start date, id; `traces`: timestamp's date, id), so a row written twice (a retried
//! request, a batch replayed after a crash) is one row when read with `FINAL`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use clickhouse::{Client, Compression, Row};
use serde::{Deserialize, Serialize};

mod schema;
mod scores;
mod v3_tables;
pub use schema::TableSet;
use spanbridge_proto::{
    DailyRow, EventRow, ListedTrace, ObservationQuery, Secret, SessionPage, SessionQuery,
    SessionSummary, TraceFilter, TracePage, TraceQuery,
};

use super::{Store, StoreError, StoredRow, StoredScore, TraceReader};
use crate::query::{self, Columns, Param, TraceColumns, sql_tail, sql_where};

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
    pub password: Secret,
    /// lz4 request/response compression (false: plain bodies).
    pub lz4: bool,
    /// Which tables are written and read.
    pub tables: TableSet,
    /// The cluster `migrate` creates the tables on (`ON CLUSTER`, Replicated engines).
    pub cluster: Option<String>,
}

/// Langfuse's tables over HTTP.
#[derive(Clone)]
pub struct ClickHouseStore {
    client: Client,
    config: ClickHouseConfig,
    /// Tables whose columns were found as Spanbridge writes them (see [`Self::checked`]).
    checked_tables: Arc<Mutex<HashSet<&'static str>>>,
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
    /// Every `events_full` row of one trace of one project, whole, deduplicated with `FINAL`.
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

/// A cost map as the tables store it (ticks; non-finite values left out).
fn costs<'a>(map: impl IntoIterator<Item = (&'a String, &'a f64)>) -> Vec<(&'a str, i64)> {
    map.into_iter()
        .filter_map(|(key, value)| Some((key.as_str(), cost_ticks(*value)?)))
        .collect()
}

/// A usage map as the tables store it.
fn counts<'a>(map: impl IntoIterator<Item = (&'a String, &'a u64)>) -> Vec<(&'a str, u64)> {
    map.into_iter()
        .map(|(key, value)| (key.as_str(), *value))
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
        provided_usage_details: counts(&r.provided_usage_details),
        usage_details: counts(&stored.usage_details),
        provided_cost_details: costs(&r.provided_cost_details),
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
            checked_tables: Arc::default(),
        }
    }

    fn client(config: &ClickHouseConfig) -> Client {
        // Plain RowBinary: the crate's own validation checks every field of every row against
        // the table's types, ~6 % of the sink's CPU (docs/performance.md, "ClickHouse writer");
        // `checked` makes the same check once per table instead.
        let mut client = Client::default()
            .with_url(&config.url)
            .with_validation(false)
            .with_compression(if config.lz4 {
                Compression::Lz4
            } else {
                Compression::None
            });
        if !config.user.is_empty() {
            client = client.with_user(&config.user);
        }
        if !config.password.is_empty() {
            client = client.with_password(config.password.expose());
        }
        client
    }

    /// Creates the database (when not `default`) and the tables the mode needs with Langfuse's
    /// DDL when absent (clustered when a cluster is named). An existing table is used as it is,
    /// after checking it has every column Spanbridge writes with the type it writes: a
    /// mismatch stops here, naming the table and the column. Returns one line per table.
    pub async fn migrate(&self) -> Result<Vec<String>, String> {
        let server = Self::client(&self.config);
        let cluster = self.config.cluster.as_deref();
        if self.config.database != "default" {
            let create = format!(
                "CREATE DATABASE IF NOT EXISTS `{}`",
                self.config.database.replace('`', "")
            );
            let create = match cluster {
                Some(cluster) => schema::clustered(&create, cluster),
                None => create,
            };
            server
                .query(&create)
                .execute()
                .await
                .map_err(|error| format!("ClickHouse: cannot create the database: {error}"))?;
        }
        let mut done = Vec::new();
        for script in schema::scripts(self.config.tables) {
            let existing = self.columns_of(script.table).await.map_err(|error| {
                format!(
                    "ClickHouse: cannot read the columns of {}: {error}",
                    script.table
                )
            })?;
            if !existing.is_empty()
                && let Some(problem) = script.mismatch(&existing)
            {
                return Err(problem);
            }
            for statement in schema::statements(script.sql) {
                let statement = match cluster {
                    Some(cluster) => schema::clustered(&statement, cluster),
                    None => statement,
                };
                self.client
                    .query(&statement)
                    .execute()
                    .await
                    .map_err(|error| {
                        let head: String = statement.chars().take(60).collect();
                        format!("ClickHouse: `{head}…` failed: {error}")
                    })?;
            }
            let state = if existing.is_empty() {
                "created"
            } else {
                "exists, columns checked"
            };
            let on = cluster.map_or(String::new(), |c| format!(" on cluster {c}"));
            done.push(format!(
                "ClickHouse {}.{}: {state}{on}",
                self.config.database, script.table
            ));
        }
        Ok(done)
    }

    /// The (name, type) of every column of a table of the configured database; none when the
    /// table does not exist.
    async fn columns_of(
        &self,
        table: &str,
    ) -> Result<Vec<(String, String)>, clickhouse::error::Error> {
        #[derive(Row, Deserialize)]
        struct Column {
            name: String,
            r#type: String,
        }
        let columns = self
            .client
            .query("SELECT name, type FROM system.columns WHERE database = ? AND table = ?")
            .bind(&self.config.database)
            .bind(table)
            .fetch_all::<Column>()
            .await?;
        Ok(columns.into_iter().map(|c| (c.name, c.r#type)).collect())
    }
}

/// The v2 observation list over `events_full` (read with `FINAL`).
const EVENTS_LIST: Columns = Columns {
    live: "is_deleted = 0",
    id: "span_id",
    trace_id: "trace_id",
    project_id: "project_id",
    start_us: "toUnixTimestamp64Micro(start_time)",
    r#type: "type",
    name: "name",
    level: "level",
    version: "version",
    environment: "environment",
    parent: "parent_span_id",
    is_root: "(parent_span_id = '' OR is_app_root)",
    user_is: "user_id = ?",
    session_is: "session_id = ?",
};

/// The v2 observation list over v3 `observations` (read with `FINAL`): user and session live
/// on the `traces` row.
const OBSERVATIONS_LIST: Columns = Columns {
    live: "is_deleted = 0",
    id: "id",
    trace_id: "trace_id",
    project_id: "project_id",
    start_us: "toUnixTimestamp64Micro(start_time)",
    r#type: "type",
    name: "name",
    level: "level",
    version: "ifNull(version, '')",
    environment: "environment",
    parent: "ifNull(parent_observation_id, '')",
    is_root: "isNull(parent_observation_id)",
    user_is: "trace_id IN (SELECT id FROM traces FINAL WHERE is_deleted = 0 AND user_id = ?)",
    session_is: "trace_id IN (SELECT id FROM traces FINAL WHERE is_deleted = 0 AND session_id = ?)",
};

/// Traces over `events_full` (read with `FINAL`): a trace is its root row (no parent).
const EVENTS_TRACES: TraceColumns = TraceColumns {
    heads: "events_full FINAL",
    is_head: "is_deleted = 0 AND parent_span_id = ''",
    project_id: "project_id",
    trace_id: "trace_id",
    timestamp_us: "toUnixTimestamp64Micro(start_time)",
    day: "toInt64(intDiv(toUnixTimestamp64Micro(start_time), 86400000000))",
    name: "if(trace_name = '', name, trace_name)",
    user_id: "user_id",
    session_id: "session_id",
    environment: "toString(environment)",
    has_tag: "has(tags, ?)",
    observations: "events_full FINAL",
    is_observation: "is_deleted = 0 AND span_id != concat('t-', trace_id)",
    observation_project_id: "project_id",
    observation_trace_id: "trace_id",
    model: "provided_model_name",
    total_cost: "toFloat64(cost_details['total'])",
    input_usage: "usage_details['input']",
    output_usage: "usage_details['output']",
    total_usage: "usage_details['total']",
};

/// Traces over v3 `traces` (one row per trace) and `observations`, read with `FINAL`.
const V3_TRACES: TraceColumns = TraceColumns {
    heads: "traces FINAL",
    is_head: "is_deleted = 0",
    project_id: "project_id",
    trace_id: "id",
    timestamp_us: "toUnixTimestamp64Micro(timestamp)",
    day: "toInt64(intDiv(toUnixTimestamp64Micro(timestamp), 86400000000))",
    name: "name",
    user_id: "ifNull(user_id, '')",
    session_id: "ifNull(session_id, '')",
    environment: "toString(environment)",
    has_tag: "has(tags, ?)",
    observations: "observations FINAL",
    is_observation: "is_deleted = 0",
    observation_project_id: "project_id",
    observation_trace_id: "trace_id",
    model: "ifNull(provided_model_name, '')",
    total_cost: "toFloat64(cost_details['total'])",
    input_usage: "usage_details['input']",
    output_usage: "usage_details['output']",
    total_usage: "usage_details['total']",
};

#[derive(Row, Deserialize)]
struct CountRead {
    n: u64,
}

#[derive(Row, Deserialize)]
struct TraceIdRead {
    tid: String,
}

#[derive(Row, Deserialize)]
struct ScoreIdRead {
    tid: String,
    id: String,
}

#[derive(Row, Deserialize)]
struct SessionRead {
    sid: String,
    created: i64,
    env: String,
    n: u64,
}

#[derive(Row, Deserialize)]
struct DayRead {
    day: i64,
    n: u64,
}

#[derive(Row, Deserialize)]
struct DayGroupRead {
    day: i64,
    model: String,
    traces: u64,
    n: u64,
    cost: f64,
    input: u64,
    output: u64,
    total: u64,
}

fn bind_all(mut query: clickhouse::query::Query, params: Vec<Param>) -> clickhouse::query::Query {
    for param in params {
        query = match param {
            Param::Text(text) => query.bind(text),
            Param::Int(int) => query.bind(int),
        };
    }
    query
}

/// Rows of `rows` to insert into a table whose rows are identified by `key`: every live row,
/// and the tombstones whose key no live row of the batch has (a tombstone with a live row's
/// key would replace that row, as both carry the same `event_ts`).
fn unshadowed<'a, K: Eq + std::hash::Hash>(
    rows: &'a [StoredRow],
    key: impl Fn(&'a StoredRow) -> K,
) -> impl Iterator<Item = &'a StoredRow> {
    // Most batches hold no tombstone: then there is nothing to shadow and no set to build.
    let live: std::collections::HashSet<K> = if rows.iter().any(|s| s.deleted) {
        rows.iter().filter(|s| !s.deleted).map(&key).collect()
    } else {
        std::collections::HashSet::new()
    };
    rows.iter()
        .filter(move |s| !s.deleted || !live.contains(&key(s)))
}

impl ClickHouseStore {
    /// One INSERT of `rows` into `table`, after [`Self::checked`].
    async fn insert<'a, R, I>(&self, table: &'static str, rows: I) -> Result<(), StoreError>
    where
        R: clickhouse::RowWrite + 'a,
        I: IntoIterator<Item = R::Value<'a>>,
    {
        let mut rows = rows.into_iter().peekable();
        if rows.peek().is_none() {
            return Ok(());
        }
        self.checked(table).await?;
        let mut insert = self
            .client
            .insert::<R>(table)
            .await
            .map_err(write_error)?
            .with_timeouts(Some(Duration::from_secs(30)), Some(Duration::from_secs(60)));
        for row in rows {
            insert.write(&row).await.map_err(write_error)?;
        }
        insert.end().await.map_err(write_error)
    }

    /// Checks, once per table, that it has every column Spanbridge writes with the type it
    /// writes (what `migrate` checks): RowBinary names the columns but not their types, so a
    /// table changed since (or never migrated) would misread the rows. A missing table or a
    /// mismatch is the operator's to fix, not the data's fault: the batch is retried (not
    /// dead-lettered), and the error names the table and the column.
    async fn checked(&self, table: &'static str) -> Result<(), StoreError> {
        let checked_tables = || {
            self.checked_tables
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if checked_tables().contains(table) {
            return Ok(());
        }
        let existing = self
            .columns_of(table)
            .await
            .map_err(|error| unavailable(format!("cannot read the columns of {table}: {error}")))?;
        if existing.is_empty() {
            return Err(unavailable(format!(
                "table {}.{table} does not exist: run `spanbridge migrate`",
                self.config.database
            )));
        }
        let Some(script) = schema::script_of(table) else {
            return Err(unavailable(format!(
                "Spanbridge has no DDL for table {table}"
            )));
        };
        if let Some(problem) = script.mismatch(&existing) {
            return Err(unavailable(problem));
        }
        checked_tables().insert(table);
        Ok(())
    }

    /// The `traces` rows of these traces, newest version of each (`FINAL`), by (project, id).
    async fn stored_traces(
        &self,
        keys: &[(String, String)],
    ) -> Result<HashMap<(String, String), v3_tables::TracesRow>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<&str> = keys.iter().map(|(_, id)| id.as_str()).collect();
        let projects: Vec<&str> = keys.iter().map(|(project, _)| project.as_str()).collect();
        let rows = self
            .client
            .query(
                "SELECT ?fields FROM traces FINAL \
                 WHERE project_id IN ? AND id IN ? AND is_deleted = 0",
            )
            .bind(projects)
            .bind(ids)
            .fetch_all::<v3_tables::TracesRow>()
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|row| ((row.project_id.clone(), row.id.clone()), row))
            .collect())
    }

    /// `traces` and `observations` for the rows of a batch. A trace whose root is not in the
    /// batch is merged over its stored row, read first (one query for the batch).
    async fn write_v3(&self, rows: &[StoredRow]) -> Result<(), StoreError> {
        self.insert::<v3_tables::ObservationsRow<'_>, _>(
            "observations",
            unshadowed(rows, v3_tables::observation_key).map(v3_tables::observation_row),
        )
        .await?;
        let traces = v3_tables::traces_in(rows);
        let rootless: Vec<(String, String)> = traces
            .iter()
            .filter(|(_, rows)| v3_tables::root_of(rows).is_none())
            .map(|(key, _)| key.clone())
            .collect();
        let before = self.stored_traces(&rootless).await?;
        let trace_rows: Vec<v3_tables::TracesRow> = traces
            .iter()
            .filter_map(|(key, rows)| v3_tables::trace_row(rows, before.get(key)))
            .collect();
        self.insert::<v3_tables::TracesRow, _>("traces", trace_rows)
            .await
    }

    /// Every row of one trace rebuilt from `observations` and its `traces` row.
    async fn v3_rows(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let observations = self
            .client
            .query(
                "SELECT ?fields FROM observations FINAL \
                 WHERE project_id = ? AND trace_id = ? AND is_deleted = 0",
            )
            .bind(project_id)
            .bind(trace_id)
            .fetch_all::<v3_tables::ObservationRead>()
            .await
            .map_err(unavailable)?;
        let key = (project_id.to_owned(), trace_id.to_owned());
        let traces = self.stored_traces(std::slice::from_ref(&key)).await?;
        let trace = traces.get(&key);
        Ok(observations
            .into_iter()
            .map(|read| v3_tables::stored_row(read, trace))
            .collect())
    }

    /// Every row of one trace, whole: from `events_full` when it is written (every column),
    /// with the trace's input and output from its v3 `traces` row when that is written too
    /// (`events_full` has no column for them); else rebuilt from the v3 tables.
    async fn trace_rows(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<StoredRow>, StoreError> {
        if !self.config.tables.events() {
            return self.v3_rows(project_id, trace_id).await;
        }
        let mut rows = self.whole_rows(project_id, trace_id).await?;
        if self.config.tables.v3() && !rows.is_empty() {
            let key = (project_id.to_owned(), trace_id.to_owned());
            if let Some(trace) = self
                .stored_traces(std::slice::from_ref(&key))
                .await?
                .get(&key)
            {
                for stored in &mut rows {
                    stored.row.trace_input = trace.input.clone().unwrap_or_default();
                    stored.row.trace_output = trace.output.clone().unwrap_or_default();
                }
            }
        }
        Ok(rows)
    }
}

impl ClickHouseStore {
    /// How this store's tables spell traces: `events_full` when it is written (as the
    /// observation list reads), else the v3 tables.
    fn trace_columns(&self) -> &'static TraceColumns {
        if self.config.tables.events() {
            &EVENTS_TRACES
        } else {
            &V3_TRACES
        }
    }

    async fn count(&self, sql: &str, params: Vec<Param>) -> Result<u64, StoreError> {
        bind_all(self.client.query(sql), params)
            .fetch_one::<CountRead>()
            .await
            .map(|count| count.n)
            .map_err(unavailable)
    }

    /// Every row of these traces, whole (as [`Self::trace_rows`] reads one trace).
    async fn rows_of_traces(
        &self,
        project_id: &str,
        ids: &[String],
    ) -> Result<Vec<StoredRow>, StoreError> {
        let keys: Vec<(String, String)> = ids
            .iter()
            .map(|id| (project_id.to_owned(), id.clone()))
            .collect();
        if !self.config.tables.events() {
            let observations = self
                .client
                .query(
                    "SELECT ?fields FROM observations FINAL \
                     WHERE project_id = ? AND trace_id IN ? AND is_deleted = 0",
                )
                .bind(project_id)
                .bind(ids)
                .fetch_all::<v3_tables::ObservationRead>()
                .await
                .map_err(unavailable)?;
            let traces = self.stored_traces(&keys).await?;
            return Ok(observations
                .into_iter()
                .map(|read| {
                    let key = (project_id.to_owned(), read.trace_id().to_owned());
                    v3_tables::stored_row(read, traces.get(&key))
                })
                .collect());
        }
        let mut rows: Vec<StoredRow> = self
            .client
            .query(
                "SELECT ?fields FROM events_full FINAL \
                 WHERE project_id = ? AND trace_id IN ? AND is_deleted = 0",
            )
            .bind(project_id)
            .bind(ids)
            .fetch_all::<WholeRow>()
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(stored_row)
            .collect();
        if self.config.tables.v3() {
            let traces = self.stored_traces(&keys).await?;
            for stored in &mut rows {
                let key = (project_id.to_owned(), stored.row.trace_id.clone());
                if let Some(trace) = traces.get(&key) {
                    stored.row.trace_input = trace.input.clone().unwrap_or_default();
                    stored.row.trace_output = trace.output.clone().unwrap_or_default();
                }
            }
        }
        Ok(rows)
    }

    async fn listed(
        &self,
        project_id: &str,
        ids: Vec<String>,
    ) -> Result<Vec<ListedTrace>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.rows_of_traces(project_id, &ids).await?;
        let scores = self
            .client
            .query(
                "SELECT ifNull(trace_id, '') AS tid, id FROM scores FINAL \
                 WHERE project_id = ? AND trace_id IN ? AND is_deleted = 0 \
                 ORDER BY timestamp, id",
            )
            .bind(project_id)
            .bind(&ids)
            .fetch_all::<ScoreIdRead>()
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|score| (score.tid, score.id))
            .collect();
        Ok(query::listed(ids, rows, scores))
    }
}

#[async_trait]
impl TraceReader for ClickHouseStore {
    fn name(&self) -> &'static str {
        CLICKHOUSE
    }

    fn describe(&self) -> &'static str {
        match self.config.tables {
            TableSet::Events => "ClickHouse events_full",
            TableSet::V3 => "ClickHouse traces + observations",
            TableSet::Both => "ClickHouse events_full + traces + observations",
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .query("SELECT 1")
            .execute()
            .await
            .map_err(unavailable)
    }

    /// Deduplicated with `FINAL`, as Langfuse reads (its read-back takes the newest version by
    /// `event_ts`).
    async fn rows_of_trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let mut rows = self.trace_rows(project_id, trace_id).await?;
        rows.sort_by(|a, b| {
            (a.row.start_time_us, &a.row.span_id).cmp(&(b.row.start_time_us, &b.row.span_id))
        });
        Ok(rows)
    }

    async fn scores_of_trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<StoredScore>, StoreError> {
        scores::of_trace(&self.client, project_id, trace_id)
            .await
            .map_err(unavailable)
    }

    /// From `events_full` when it is written (as Langfuse v4 reads it), else from v3
    /// `observations` with each trace's `traces` row.
    async fn list_observations(
        &self,
        project_id: &str,
        query: &ObservationQuery,
    ) -> Result<Vec<StoredRow>, StoreError> {
        if self.config.tables.events() {
            let (tail, params) = sql_tail(query, project_id, &EVENTS_LIST);
            let sql = format!("SELECT ?fields FROM events_full FINAL {tail}");
            let rows = bind_all(self.client.query(&sql), params)
                .fetch_all::<WholeRow>()
                .await
                .map_err(unavailable)?;
            return Ok(rows.into_iter().map(stored_row).collect());
        }
        let (tail, params) = sql_tail(query, project_id, &OBSERVATIONS_LIST);
        let sql = format!("SELECT ?fields FROM observations FINAL {tail}");
        let rows = bind_all(self.client.query(&sql), params)
            .fetch_all::<v3_tables::ObservationRead>()
            .await
            .map_err(unavailable)?;
        let mut keys: Vec<(String, String)> = rows
            .iter()
            .map(|row| (project_id.to_owned(), row.trace_id().to_owned()))
            .collect();
        keys.sort();
        keys.dedup();
        let traces = self.stored_traces(&keys).await?;
        Ok(rows
            .into_iter()
            .map(|read| {
                let key = (project_id.to_owned(), read.trace_id().to_owned());
                v3_tables::stored_row(read, traces.get(&key))
            })
            .collect())
    }

    async fn count_observations(
        &self,
        project_id: &str,
        query: &ObservationQuery,
    ) -> Result<u64, StoreError> {
        let (table, columns) = if self.config.tables.events() {
            ("events_full", &EVENTS_LIST)
        } else {
            ("observations", &OBSERVATIONS_LIST)
        };
        let (filter, params) = sql_where(query, project_id, columns);
        self.count(
            &format!("SELECT count(*) AS n FROM {table} FINAL {filter}"),
            params,
        )
        .await
    }

    async fn list_traces(
        &self,
        project_id: &str,
        query: &TraceQuery,
    ) -> Result<TracePage, StoreError> {
        let columns = self.trace_columns();
        let (count_sql, count_params) = query::trace_count(&query.filter, project_id, columns);
        let total_items = self.count(&count_sql, count_params).await?;
        let (page_sql, page_params) = query::trace_page(query, project_id, columns);
        let ids = bind_all(self.client.query(&page_sql), page_params)
            .fetch_all::<TraceIdRead>()
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|read| read.tid)
            .collect();
        Ok(TracePage {
            traces: self.listed(project_id, ids).await?,
            total_items,
        })
    }

    async fn list_sessions(
        &self,
        project_id: &str,
        query: &SessionQuery,
    ) -> Result<SessionPage, StoreError> {
        let ((page_sql, page_params), (count_sql, count_params)) =
            query::session_page(query, project_id, self.trace_columns());
        let total_items = self.count(&count_sql, count_params).await?;
        let sessions = bind_all(self.client.query(&page_sql), page_params)
            .fetch_all::<SessionRead>()
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|read| SessionSummary {
                id: read.sid,
                created_at_us: read.created,
                environment: read.env,
                count_traces: read.n,
            })
            .collect();
        Ok(SessionPage {
            sessions,
            total_items,
        })
    }

    async fn daily_metrics(
        &self,
        project_id: &str,
        filter: &TraceFilter,
    ) -> Result<Vec<DailyRow>, StoreError> {
        let ((traces_sql, traces_params), (groups_sql, groups_params)) =
            query::daily_metrics(filter, project_id, self.trace_columns());
        let traces = bind_all(self.client.query(&traces_sql), traces_params)
            .fetch_all::<DayRead>()
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|read| (read.day, read.n))
            .collect();
        let groups = bind_all(self.client.query(&groups_sql), groups_params)
            .fetch_all::<DayGroupRead>()
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|read| DailyRow {
                day: read.day,
                model: Some(read.model),
                count_traces: read.traces,
                count_observations: read.n,
                total_cost: read.cost,
                input_usage: read.input,
                output_usage: read.output,
                total_usage: read.total,
            })
            .collect();
        Ok(query::daily_rows(traces, groups))
    }
}

#[async_trait]
impl Store for ClickHouseStore {
    /// Writes the rows to every table of the mode. Not atomic across tables: a retried batch
    /// writes each row again, which `FINAL` reads as one (same sorting key, newer version).
    async fn write(&self, rows: &[StoredRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.config.tables.events() {
            self.insert::<EventsFullRow<'_>, _>(
                "events_full",
                unshadowed(rows, |s| {
                    (&s.project_id, &s.row.span_id, s.row.start_time_us)
                })
                .map(row_of),
            )
            .await?;
        }
        if self.config.tables.v3() {
            self.write_v3(rows).await?;
        }
        Ok(())
    }

    async fn write_scores(&self, scores: &[StoredScore]) -> Result<(), StoreError> {
        self.insert::<scores::ScoresRow<'_>, _>("scores", scores.iter().map(scores::row_of))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

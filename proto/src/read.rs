//! The read side, shared by both halves: the rows a store holds and the one trait every store
//! reads through. The read API (gateway) and assembly's read-back (sink) use the same calls, so
//! what the API shows is what the sink merges into.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::{EventRow, Score};

/// A row as a store holds it: the converted row plus what the sink derived. The one row type
/// from the sink's enrichment through every store to the read API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredRow {
    pub project_id: String,
    pub ingestion_api_key: String,
    pub ingestion_sdk_name: String,
    pub ingestion_sdk_version: String,
    pub row: EventRow,
    /// The matched `models.id`, empty when no model matched.
    pub model_id: String,
    /// The id of the prompt the row names (`prompt_name` + `prompt_version`), empty when the
    /// metadata store has no such prompt (always with Spanbridge's own stores).
    pub prompt_id: String,
    pub usage_details: BTreeMap<String, u64>,
    pub cost_details: BTreeMap<String, f64>,
    pub usage_pricing_tier_id: Option<String>,
    pub usage_pricing_tier_name: Option<String>,
    /// Write time in µs; `created_at`, `updated_at` and `event_ts` (the version column).
    pub event_ts_us: i64,
    pub event_bytes: u64,
    /// A tombstone: this version removes the row (ClickHouse `is_deleted = 1`). Assembly writes
    /// one for an orphan partial row once its span arrives with another start time, which is in
    /// the ClickHouse sorting key; SQLite's key has no start time, so it skips tombstones.
    pub deleted: bool,
}

/// A score as a store holds it (Langfuse's `scores` table): the contract's `Score` with the
/// batch's project and ingestion attribution, and the write time that versions it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredScore {
    /// Always the authenticated key's project, from the batch.
    pub project_id: String,
    pub ingestion_api_key: String,
    pub ingestion_sdk_name: String,
    pub ingestion_sdk_version: String,
    /// `timestamp_us` millisecond-aligned (the table's `DateTime64(3)`).
    pub score: Score,
    /// Write time in µs: `updated_at` and `event_ts`.
    pub event_ts_us: i64,
    /// `created_at` in µs: the write time for a score Spanbridge writes; what Langfuse wrote
    /// for one it wrote itself.
    pub created_at_us: i64,
    /// The annotating user of a score made in Langfuse's UI; Spanbridge never sets it.
    pub author_user_id: Option<String>,
}

/// Why a store call failed. Whether a retry can help is a property of the variant, so the
/// write driver and the read API decide without looking at message text.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Unreachable, overloaded or failed mid-write: the same call may succeed later.
    #[error("{store} unavailable: {detail}")]
    Unavailable { store: &'static str, detail: String },
    /// The store refused the rows as data: the same rows can never be written. The Kafka sink
    /// dead-letters their message instead of retrying forever.
    #[error("{store} refused the rows: {detail}")]
    Rejected { store: &'static str, detail: String },
    /// The store cannot answer this kind of read at all (the read API answers 501, naming it).
    #[error("{what} is not available on the {store} store")]
    Unsupported {
        store: &'static str,
        what: &'static str,
    },
}

impl StoreError {
    /// Whether retrying the same call can never succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Rejected { .. })
    }
}

/// A filtered page of a project's observations, newest first (v4's
/// `GET /api/public/v2/observations`); `None` / empty = no filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservationQuery {
    pub trace_id: Option<String>,
    pub r#type: Option<String>,
    pub name: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub level: Option<String>,
    pub version: Option<String>,
    pub parent_observation_id: Option<String>,
    /// Root = no parent, or the app root.
    pub is_root: Option<bool>,
    /// Any of these environments.
    pub environments: Vec<String>,
    /// Start time at or after (µs).
    pub from_start_time_us: Option<i64>,
    /// Start time before (µs).
    pub to_start_time_us: Option<i64>,
    /// Only rows after this one in the list order.
    pub after: Option<Cursor>,
    /// Rows of the list order to skip (the v1 list's pages).
    pub offset: usize,
    /// Rows to return at most.
    pub limit: usize,
}

/// Which traces a trace list, session list or daily metrics covers; `None` / empty = no
/// filter. A trace is one root row (no parent): its timestamp is the root's start, and the
/// trace-level fields assembly copies onto every row of a trace are read from it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceFilter {
    /// The trace's name (or, without one, its root span's name).
    pub name: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    /// Every one of these tags.
    pub tags: Vec<String>,
    /// Any of these environments.
    pub environments: Vec<String>,
    /// Timestamp at or after (µs).
    pub from_us: Option<i64>,
    /// Timestamp before (µs).
    pub to_us: Option<i64>,
}

/// A page of `GET /api/public/traces`: the filter, the order and the page's place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceQuery {
    pub filter: TraceFilter,
    /// Oldest first instead of newest first (ties by trace id, the same direction).
    pub ascending: bool,
    pub offset: usize,
    pub limit: usize,
}

/// A listed trace: every live row of it (whole, by start time then id, as
/// [`TraceReader::rows_of_trace`] returns them) and the ids of its scores; the read API
/// shapes it (latency, cost, observation ids) as it shapes one trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListedTrace {
    pub trace_id: String,
    pub rows: Vec<StoredRow>,
    pub score_ids: Vec<String>,
}

/// One page of traces and how many traces the filter matches in all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TracePage {
    pub traces: Vec<ListedTrace>,
    pub total_items: u64,
}

/// A page of `GET /api/public/sessions`: sessions whose first trace is in the time range,
/// with a trace in one of the environments; newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionQuery {
    pub environments: Vec<String>,
    /// The session's first trace at or after (µs).
    pub from_us: Option<i64>,
    /// The session's first trace before (µs).
    pub to_us: Option<i64>,
    pub offset: usize,
    pub limit: usize,
}

/// A session as its traces describe it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionSummary {
    pub id: String,
    /// Its first trace's timestamp (µs).
    pub created_at_us: i64,
    /// The environment of one of its traces (the greatest, so every store picks the same).
    pub environment: String,
    pub count_traces: u64,
}

/// One page of sessions and how many sessions match in all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionPage {
    pub sessions: Vec<SessionSummary>,
    pub total_items: u64,
}

/// A group of `GET /api/public/metrics/daily`: one UTC day of trace timestamps, and within it
/// one model (`model: None` = the day's totals over every observation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DailyRow {
    /// Days since 1970-01-01.
    pub day: i64,
    pub model: Option<String>,
    pub count_traces: u64,
    pub count_observations: u64,
    pub total_cost: f64,
    pub input_usage: u64,
    pub output_usage: u64,
    pub total_usage: u64,
}

/// A position in a list: the last row a page returned. The order is start time, trace id,
/// observation id, all descending (Langfuse orders by a hash of the trace id; any total order
/// serves the cursor, and the trace id itself needs no hash function in SQLite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub start_time_us: i64,
    pub trace_id: String,
    pub id: String,
}

/// Reads what a store holds, always scoped to one project; every store implements it.
#[async_trait]
pub trait TraceReader: Send + Sync + 'static {
    /// A short name for `/ready` and errors: `"sqlite"`, `"clickhouse"`, …
    fn name(&self) -> &'static str;
    /// What is written, for the start-up log line.
    fn describe(&self) -> &'static str;
    /// Whether the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// The newest version of every live row of one trace, whole (every column ingestion
    /// fills), by start time then id: what the read API shows and what assembly merges into
    /// after its cache lost the trace.
    async fn rows_of_trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<StoredRow>, StoreError>;
    /// The scores of one trace, newest version of each, by timestamp then id.
    async fn scores_of_trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<StoredScore>, StoreError>;
    /// One page of a project's observations, newest first, filtered.
    async fn list_observations(
        &self,
        project_id: &str,
        query: &ObservationQuery,
    ) -> Result<Vec<StoredRow>, StoreError>;
    /// How many observations the query's filters match (its cursor, offset and limit aside).
    async fn count_observations(
        &self,
        project_id: &str,
        query: &ObservationQuery,
    ) -> Result<u64, StoreError>;
    /// One page of a project's traces, by timestamp, filtered, with the total.
    async fn list_traces(
        &self,
        project_id: &str,
        query: &TraceQuery,
    ) -> Result<TracePage, StoreError>;
    /// One page of a project's sessions (ids of traces' sessions), newest first, with the total.
    async fn list_sessions(
        &self,
        project_id: &str,
        query: &SessionQuery,
    ) -> Result<SessionPage, StoreError>;
    /// Traces, observations, cost and usage per day of the filtered traces (every day, newest
    /// first; a day's per-model rows follow its total row).
    async fn daily_metrics(
        &self,
        project_id: &str,
        filter: &TraceFilter,
    ) -> Result<Vec<DailyRow>, StoreError>;
}

/// A row's metadata as one object, rebuilt from its flattened dot-paths (`metadata_names`,
/// `metadata_values`): the read API's `metadata` and the v3 tables' map alike. A leaf that was a JSON object or
/// array (stringified on the way in) is returned parsed.
pub fn metadata(names: &[String], values: &[String]) -> Value {
    let mut root = Map::new();
    for (name, value) in names.iter().zip(values) {
        let leaf = match serde_json::from_str::<Value>(value) {
            Ok(parsed @ (Value::Object(_) | Value::Array(_))) => parsed,
            _ => Value::String(value.clone()),
        };
        if !insert_path(&mut root, name, leaf.clone()) {
            // A path that collides with an existing leaf keeps its full name at the top level.
            root.insert(name.clone(), leaf);
        }
    }
    Value::Object(root)
}

fn insert_path(map: &mut Map<String, Value>, path: &str, leaf: Value) -> bool {
    match path.split_once('.') {
        None => {
            if map.get(path).is_some_and(Value::is_object) {
                return false;
            }
            map.insert(path.to_owned(), leaf);
            true
        }
        Some((head, rest)) => match map
            .entry(head.to_owned())
            .or_insert_with(|| Value::Object(Map::new()))
        {
            Value::Object(child) => insert_path(child, rest, leaf),
            _ => false,
        },
    }
}

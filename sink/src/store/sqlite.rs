//! The embedded event store: `events` (and `scores`, in [`scores`]) in the SQLite file, one
//! transaction per batch.
//!
//! Every read decodes whole rows by column name ([`stored_row`]) on a few read connections of
//! its own (WAL: readers never block the writer); writes go through one dedicated rusqlite
//! connection with a cached prepared statement, bound straight from the rows (no SQL text per batch, no
//! intermediate argument buffer): the write is the largest single cost of the embedded
//! gateway per span (docs/performance.md, "Embedded store (SQLite)").

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::SqlitePool;

mod scores;
use spanbridge_proto::EventRow;

use spanbridge_proto::{
    DailyRow, ObservationQuery, SessionPage, SessionQuery, SessionSummary, TraceFilter, TracePage,
    TraceQuery,
};

use super::{Store, StoreError, StoredRow, StoredScore, TraceReader};
use crate::query::{self, Columns, Param, TraceColumns, sql_tail, sql_where};

/// `events` over a few read connections and the one writer connection.
#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Readers>,
}

/// Read connections: as many reads at once as there are connections, none of them waiting for
/// the writer. A read commits nothing, so each sees every write committed before it started.
struct Readers {
    connections: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

/// Read connections per store: the read API's requests and assembly's read-backs at once.
const READ_CONNECTIONS: usize = 4;

impl Readers {
    /// Runs `read` on a free connection, or waits for one in turn.
    fn read<T>(&self, read: impl FnOnce(&Connection) -> T) -> T {
        for connection in &self.connections {
            if let Ok(connection) = connection.try_lock() {
                return read(&connection);
            }
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        let connection = self.connections[turn]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        read(&connection)
    }
}

/// Columns written per row (`is_deleted` is 0 for new rows, set in [`INSERT`]).
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
    usage_pricing_tier_id, usage_pricing_tier_name, prompt_id";

/// The one-row insert, prepared once per writer connection and reused for every row.
static INSERT: LazyLock<String> = LazyLock::new(|| {
    let placeholders = (1..=COLUMNS.split(',').count())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("INSERT OR REPLACE INTO events ({COLUMNS}, is_deleted) VALUES ({placeholders}, 0)")
});

/// The map and array columns of one row as JSON text, serialized into buffers reused across
/// rows.
#[derive(Default)]
struct JsonColumns([Vec<u8>; 14]);

impl JsonColumns {
    fn fill(&mut self, stored: &StoredRow) -> &[Vec<u8>; 14] {
        fn put<T: Serialize>(buf: &mut Vec<u8>, value: &T) {
            buf.clear();
            // Strings, numbers, lists and maps with string keys always serialize.
            let _ = serde_json::to_writer(&mut *buf, value);
        }
        let r = &stored.row;
        let [a, b, c, d, e, f, g, h, i, j, k, l, m, n] = &mut self.0;
        put(a, &r.tags);
        put(b, &r.provided_usage_details);
        put(c, &stored.usage_details);
        put(d, &r.provided_cost_details);
        put(e, &stored.cost_details);
        put(f, &r.tool_definitions);
        put(g, &r.tool_calls);
        put(h, &r.tool_call_names);
        put(i, &r.metadata_names);
        put(j, &r.metadata_values);
        put(k, &r.experiment_metadata_names);
        put(l, &r.experiment_metadata_values);
        put(m, &r.experiment_item_metadata_names);
        put(n, &r.experiment_item_metadata_values);
        &self.0
    }
}

fn text(json: &[u8]) -> ToSqlOutput<'_> {
    ToSqlOutput::Borrowed(ValueRef::Text(json))
}

/// Writes the rows in one immediate transaction with the cached one-row insert.
fn write_rows(connection: &mut Connection, rows: &[StoredRow]) -> rusqlite::Result<()> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(&INSERT)?;
        let mut json = JsonColumns::default();
        // The primary key has no start time: the row that replaces a tombstoned one already
        // replaces it in place.
        for stored in rows.iter().filter(|stored| !stored.deleted) {
            let r = &stored.row;
            let [
                tags,
                provided_usage,
                usage,
                provided_cost,
                cost,
                tool_definitions,
                tool_calls,
                tool_call_names,
                metadata_names,
                metadata_values,
                experiment_names,
                experiment_values,
                item_names,
                item_values,
            ] = json.fill(stored);
            insert.execute(rusqlite::params![
                stored.project_id,
                r.trace_id,
                r.span_id,
                r.parent_span_id,
                r.start_time_us,
                r.end_time_us,
                r.name,
                r.r#type,
                r.environment,
                r.version,
                r.release,
                r.trace_name,
                r.user_id,
                r.session_id,
                text(tags),
                r.level,
                r.status_message,
                r.completion_start_time_us,
                r.is_app_root,
                r.public,
                r.prompt_name,
                r.prompt_version,
                r.provided_model_name,
                r.model_parameters,
                text(provided_usage),
                text(usage),
                text(provided_cost),
                text(cost),
                text(tool_definitions),
                text(tool_calls),
                text(tool_call_names),
                r.input,
                r.output,
                text(metadata_names),
                text(metadata_values),
                r.experiment_id,
                r.experiment_name,
                text(experiment_names),
                text(experiment_values),
                r.experiment_description,
                r.experiment_dataset_id,
                r.experiment_item_id,
                r.experiment_item_version_us,
                r.experiment_item_expected_output,
                text(item_names),
                text(item_values),
                r.experiment_item_root_span_id,
                r.source,
                r.service_name,
                r.service_version,
                r.scope_name,
                r.scope_version,
                r.telemetry_sdk_language,
                r.telemetry_sdk_name,
                r.telemetry_sdk_version,
                stored.event_bytes as i64,
                stored.event_ts_us,
                stored.event_ts_us,
                stored.event_ts_us,
                stored.ingestion_api_key,
                stored.ingestion_sdk_name,
                stored.ingestion_sdk_version,
                r.trace_input,
                r.trace_output,
                stored.model_id,
                stored.usage_pricing_tier_id,
                stored.usage_pricing_tier_name,
                stored.prompt_id,
            ])?;
        }
    }
    tx.commit()
}

/// The writer's page cache, in KiB (SQLite's negative `cache_size`).
const WRITER_CACHE_KIB: i64 = -32_768;

/// WAL pages (16 KiB each) after which the writer checkpoints by itself: 256 MiB.
const WAL_BOUND_PAGES: i64 = 16_384;

/// How often the checkpoint thread flushes the database file to disk (see below).
const DATABASE_SYNC_INTERVAL: Duration = Duration::from_millis(250);

/// Copies the WAL into the database file every 50 ms on a thread of its own, so a commit
/// never waits for a checkpoint (SQLite's automatic checkpoint runs inside the commit that
/// crosses the threshold and stalls every client waiting on it). A passive checkpoint does not
/// block the writer, but under steady writes it rarely copies the last frames, so the WAL still
/// reaches [`WAL_BOUND_PAGES`] and the writer checkpoints itself, ending with an fsync of the
/// database file. That fsync flushed every page the passive checkpoints had copied since the
/// last one (40–50 ms, a stall for every client waiting on the writer). This thread therefore
/// also flushes the database file every [`DATABASE_SYNC_INTERVAL`], off the writer's path, so
/// the writer's fsync finds little left (figures in docs/performance.md, "Embedded store
/// (SQLite)"). The
/// thread ends when the store is dropped.
fn checkpoint_in_background(connection: Connection, writer: std::sync::Weak<Mutex<Connection>>) {
    let database = connection
        .path()
        .filter(|path| !path.is_empty())
        .and_then(|path| match std::fs::File::open(path) {
            Ok(file) => Some(file),
            Err(error) => {
                tracing::warn!(%error, path, "cannot open the SQLite database file to flush it; the writer's own checkpoints will stall longer");
                None
            }
        });
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let mut synced = Instant::now();
            while writer.strong_count() > 0 {
                std::thread::sleep(Duration::from_millis(50));
                let done = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                if let Err(error) = done {
                    tracing::warn!(%error, "SQLite checkpoint failed; retrying");
                }
                if let Some(file) = &database
                    && synced.elapsed() >= DATABASE_SYNC_INTERVAL
                {
                    if let Err(error) = file.sync_data() {
                        tracing::warn!(%error, "cannot flush the SQLite database file; retrying");
                    }
                    synced = Instant::now();
                }
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "no checkpoint thread; the writer checkpoints by itself");
    }
}

/// Runs blocking SQLite work from async code without stalling the runtime's other tasks
/// (`block_in_place` hands this worker's queue to another thread); on a single-threaded
/// runtime it simply runs.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

fn from_json<T: DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

impl SqliteStore {
    /// Opens the writer connection on the database file of `pool` (already migrated).
    pub fn open(pool: SqlitePool) -> Result<Self, String> {
        let path = pool.connect_options().get_filename().to_owned();
        let error =
            |e: rusqlite::Error| format!("cannot open SQLite database {}: {e}", path.display());
        let connection = Connection::open(&path).map_err(error)?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(error)?;
        // The pool set WAL mode on the file; NORMAL is per connection (see db.rs).
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(error)?;
        // A 32 MiB page cache for the writer: new traces insert at random places of the
        // primary-key and user/session indexes, and with SQLite's default 2 MiB most of those
        // pages were read back from the file on every commit. 64 MiB cost more RSS for no
        // less CPU once the user and session indexes shrank (docs/performance.md, "Embedded
        // store (SQLite)").
        connection
            .pragma_update(None, "cache_size", WRITER_CACHE_KIB)
            .map_err(error)?;
        // Checkpoints run beside the writer (see `checkpoint_in_background`); the writer
        // checkpoints itself only if the WAL outgrows this many pages (a bound on its size).
        connection
            .pragma_update(None, "wal_autocheckpoint", WAL_BOUND_PAGES)
            .map_err(error)?;
        let checkpointer = Connection::open(&path).map_err(error)?;
        let writer = Arc::new(Mutex::new(connection));
        checkpoint_in_background(checkpointer, Arc::downgrade(&writer));
        let connections = (0..READ_CONNECTIONS)
            .map(|_| {
                let connection = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                connection.busy_timeout(Duration::from_secs(5))?;
                Ok(Mutex::new(connection))
            })
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(error)?;
        let readers = Arc::new(Readers {
            connections,
            next: AtomicUsize::new(0),
        });
        Ok(Self { writer, readers })
    }
}

/// The store's name in errors and `/ready`.
const SQLITE: &str = "sqlite";

/// The v2 observation list over `events` (times are µs integers).
const LIST_COLUMNS: Columns = Columns {
    live: "is_deleted = 0",
    id: "span_id",
    trace_id: "trace_id",
    project_id: "project_id",
    start_us: "start_time",
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

/// Traces over `events`: a trace is its root row (no parent); the partial indexes of migration
/// 0006 hold exactly those rows, so page 1 and the count read an index, not the table.
pub(crate) const TRACE_COLUMNS: TraceColumns = TraceColumns {
    heads: "events",
    is_head: "parent_span_id = '' AND is_deleted = 0",
    project_id: "project_id",
    trace_id: "trace_id",
    timestamp_us: "start_time",
    day: "(start_time / 86400000000)",
    name: "iif(trace_name = '', name, trace_name)",
    user_id: "user_id",
    session_id: "session_id",
    environment: "environment",
    has_tag: "EXISTS (SELECT 1 FROM json_each(events.tags) WHERE json_each.value = ?)",
    observations: "events",
    is_observation: "is_deleted = 0 AND span_id != 't-' || trace_id",
    observation_project_id: "project_id",
    observation_trace_id: "trace_id",
    model: "provided_model_name",
    total_cost: "ifnull(json_extract(cost_details, '$.total'), 0.0)",
    input_usage: "ifnull(json_extract(usage_details, '$.input'), 0)",
    output_usage: "ifnull(json_extract(usage_details, '$.output'), 0)",
    total_usage: "ifnull(json_extract(usage_details, '$.total'), 0)",
};

/// [`TRACE_COLUMNS`] reading the index that narrows the filter most. Without statistics SQLite
/// prefers walking the time-ordered root index (no sort) and checking every root against a
/// user or session, which on 1M traces reads them all; a user's or session's rows are few.
fn trace_columns_for(filter: &TraceFilter) -> TraceColumns {
    let heads = if filter.user_id.is_some() {
        "events INDEXED BY events_user_idx"
    } else if filter.session_id.is_some() {
        "events INDEXED BY events_session_idx"
    } else if filter.name.is_some() {
        "events INDEXED BY events_trace_name_idx"
    } else {
        return TRACE_COLUMNS;
    };
    TraceColumns {
        heads,
        ..TRACE_COLUMNS
    }
}

/// The rows and score ids of a page of traces, and the page as the contract lists it.
fn listed_traces(
    connection: &Connection,
    project_id: &str,
    ids: Vec<String>,
) -> rusqlite::Result<Vec<spanbridge_proto::ListedTrace>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; ids.len()].join(", ");
    let mut params = vec![rusqlite::types::Value::Text(project_id.to_owned())];
    params.extend(ids.iter().cloned().map(rusqlite::types::Value::Text));
    let rows = connection
        .prepare(&format!(
            "SELECT {COLUMNS} FROM events \
             WHERE project_id = ? AND is_deleted = 0 AND trace_id IN ({marks})"
        ))?
        .query_map(rusqlite::params_from_iter(params.iter()), stored_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let scores = connection
        .prepare(&format!(
            "SELECT trace_id, id FROM scores \
             WHERE project_id = ? AND is_deleted = 0 AND trace_id IN ({marks}) \
             ORDER BY timestamp, id"
        ))?
        .query_map(rusqlite::params_from_iter(params.iter()), |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(query::listed(ids, rows, scores))
}

fn unavailable(error: impl ToString) -> StoreError {
    StoreError::Unavailable {
        store: SQLITE,
        detail: error.to_string(),
    }
}

#[async_trait]
impl TraceReader for SqliteStore {
    fn name(&self) -> &'static str {
        SQLITE
    }

    fn describe(&self) -> &'static str {
        "SQLite events"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        blocking(|| {
            self.readers
                .read(|connection| connection.query_row("SELECT 1", [], |_| Ok(())))
        })
        .map_err(unavailable)
    }

    /// By key: the primary key starts with project and trace.
    async fn rows_of_trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<StoredRow>, StoreError> {
        blocking(|| {
            self.readers.read(|connection| {
                let mut select = connection.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM events \
                     WHERE project_id = ?1 AND trace_id = ?2 AND is_deleted = 0 \
                     ORDER BY start_time, span_id"
                ))?;
                let rows = select.query_map([project_id, trace_id], stored_row)?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
        })
        .map_err(unavailable)
    }

    async fn scores_of_trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<StoredScore>, StoreError> {
        blocking(|| {
            self.readers
                .read(|connection| scores::of_trace(connection, project_id, trace_id))
        })
        .map_err(unavailable)
    }

    async fn list_observations(
        &self,
        project_id: &str,
        query: &ObservationQuery,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let (tail, params) = sql_tail(query, project_id, &LIST_COLUMNS);
        blocking(|| {
            self.readers.read(|connection| {
                let mut select =
                    connection.prepare_cached(&format!("SELECT {COLUMNS} FROM events {tail}"))?;
                let rows = select.query_map(values(params), stored_row)?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
        })
        .map_err(unavailable)
    }

    async fn count_observations(
        &self,
        project_id: &str,
        query: &ObservationQuery,
    ) -> Result<u64, StoreError> {
        let (filter, params) = sql_where(query, project_id, &LIST_COLUMNS);
        blocking(|| {
            self.readers.read(|connection| {
                connection
                    .prepare_cached(&format!("SELECT count(*) FROM events {filter}"))?
                    .query_row(values(params), |row| row.get::<_, i64>(0))
            })
        })
        .map(|count| count.max(0) as u64)
        .map_err(unavailable)
    }

    /// The partial indexes of migration 0006 order the roots by time, and by name then time.
    async fn list_traces(
        &self,
        project_id: &str,
        query: &TraceQuery,
    ) -> Result<TracePage, StoreError> {
        self.list_traces_on(project_id, query).await
    }

    async fn list_sessions(
        &self,
        project_id: &str,
        query: &SessionQuery,
    ) -> Result<SessionPage, StoreError> {
        let ((page_sql, page_params), (count_sql, count_params)) =
            query::session_page(query, project_id, &TRACE_COLUMNS);
        blocking(|| {
            self.readers.read(|connection| {
                let total: i64 = connection
                    .prepare_cached(&count_sql)?
                    .query_row(values(count_params), |row| row.get(0))?;
                let sessions = connection
                    .prepare_cached(&page_sql)?
                    .query_map(values(page_params), |row| {
                        Ok(SessionSummary {
                            id: row.get("sid")?,
                            created_at_us: row.get("created")?,
                            environment: row.get("env")?,
                            count_traces: row.get::<_, i64>("n")?.max(0) as u64,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(SessionPage {
                    sessions,
                    total_items: total.max(0) as u64,
                })
            })
        })
        .map_err(|error: rusqlite::Error| unavailable(error))
    }

    async fn daily_metrics(
        &self,
        project_id: &str,
        filter: &TraceFilter,
    ) -> Result<Vec<DailyRow>, StoreError> {
        let ((traces_sql, traces_params), (groups_sql, groups_params)) =
            query::daily_metrics(filter, project_id, &TRACE_COLUMNS);
        let count = |value: i64| value.max(0) as u64;
        blocking(|| {
            self.readers.read(|connection| {
                let traces = connection
                    .prepare_cached(&traces_sql)?
                    .query_map(values(traces_params), |row| {
                        Ok((row.get::<_, i64>("day")?, count(row.get("n")?)))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let groups = connection
                    .prepare_cached(&groups_sql)?
                    .query_map(values(groups_params), |row| {
                        Ok(DailyRow {
                            day: row.get("day")?,
                            model: Some(row.get("model")?),
                            count_traces: count(row.get("traces")?),
                            count_observations: count(row.get("n")?),
                            total_cost: row.get("cost")?,
                            input_usage: count(row.get("input")?),
                            output_usage: count(row.get("output")?),
                            total_usage: count(row.get("total")?),
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(query::daily_rows(traces, groups))
            })
        })
        .map_err(|error: rusqlite::Error| unavailable(error))
    }
}

impl SqliteStore {
    async fn list_traces_on(
        &self,
        project_id: &str,
        query: &TraceQuery,
    ) -> Result<TracePage, StoreError> {
        let columns = trace_columns_for(&query.filter);
        let (count_sql, count_params) = query::trace_count(&query.filter, project_id, &columns);
        let (page_sql, page_params) = query::trace_page(query, project_id, &columns);
        blocking(|| {
            self.readers.read(|connection| {
                let total: i64 = connection
                    .prepare_cached(&count_sql)?
                    .query_row(values(count_params), |row| row.get(0))?;
                let ids = connection
                    .prepare_cached(&page_sql)?
                    .query_map(values(page_params), |row| row.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(TracePage {
                    traces: listed_traces(connection, project_id, ids)?,
                    total_items: total.max(0) as u64,
                })
            })
        })
        .map_err(|error: rusqlite::Error| unavailable(error))
    }
}

/// A generated query's parameters as rusqlite binds them.
fn values(params: Vec<Param>) -> impl rusqlite::Params {
    rusqlite::params_from_iter(params.into_iter().map(|param| match param {
        Param::Text(text) => rusqlite::types::Value::Text(text),
        Param::Int(int) => rusqlite::types::Value::Integer(int),
    }))
}

/// One whole `events` row, decoded by column name (the inverse of [`write_rows`]).
fn stored_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRow> {
    let json = |name: &str| row.get::<_, String>(name);
    Ok(StoredRow {
        project_id: row.get("project_id")?,
        ingestion_api_key: row.get("ingestion_api_key")?,
        ingestion_sdk_name: row.get("ingestion_sdk_name")?,
        ingestion_sdk_version: row.get("ingestion_sdk_version")?,
        model_id: row.get("model_id")?,
        prompt_id: row.get("prompt_id")?,
        usage_details: from_json(&json("usage_details")?),
        cost_details: from_json(&json("cost_details")?),
        usage_pricing_tier_id: row.get("usage_pricing_tier_id")?,
        usage_pricing_tier_name: row.get("usage_pricing_tier_name")?,
        event_ts_us: row.get("event_ts")?,
        event_bytes: row.get::<_, i64>("event_bytes")?.max(0) as u64,
        deleted: false,
        row: EventRow {
            trace_id: row.get("trace_id")?,
            span_id: row.get("span_id")?,
            parent_span_id: row.get("parent_span_id")?,
            start_time_us: row.get("start_time")?,
            end_time_us: row.get("end_time")?,
            completion_start_time_us: row.get("completion_start_time")?,
            name: row.get("name")?,
            r#type: row.get("type")?,
            environment: row.get("environment")?,
            version: row.get("version")?,
            release: row.get("release")?,
            level: row.get("level")?,
            status_message: row.get("status_message")?,
            trace_name: row.get("trace_name")?,
            user_id: row.get("user_id")?,
            session_id: row.get("session_id")?,
            tags: from_json(&json("tags")?),
            public: row.get("public")?,
            is_app_root: row.get("is_app_root")?,
            prompt_name: row.get("prompt_name")?,
            prompt_version: row.get("prompt_version")?,
            provided_model_name: row.get("provided_model_name")?,
            model_parameters: row.get("model_parameters")?,
            provided_usage_details: from_json(&json("provided_usage_details")?),
            provided_cost_details: from_json(&json("provided_cost_details")?),
            tool_definitions: from_json(&json("tool_definitions")?),
            tool_calls: from_json(&json("tool_calls")?),
            tool_call_names: from_json(&json("tool_call_names")?),
            input: row.get("input")?,
            output: row.get("output")?,
            metadata_names: from_json(&json("metadata_names")?),
            metadata_values: from_json(&json("metadata_values")?),
            experiment_id: row.get("experiment_id")?,
            experiment_name: row.get("experiment_name")?,
            experiment_description: row.get("experiment_description")?,
            experiment_dataset_id: row.get("experiment_dataset_id")?,
            experiment_item_id: row.get("experiment_item_id")?,
            experiment_item_version_us: row.get("experiment_item_version")?,
            experiment_item_expected_output: row.get("experiment_item_expected_output")?,
            experiment_metadata_names: from_json(&json("experiment_metadata_names")?),
            experiment_metadata_values: from_json(&json("experiment_metadata_values")?),
            experiment_item_metadata_names: from_json(&json("experiment_item_metadata_names")?),
            experiment_item_metadata_values: from_json(&json("experiment_item_metadata_values")?),
            experiment_item_root_span_id: row.get("experiment_item_root_span_id")?,
            service_name: row.get("service_name")?,
            service_version: row.get("service_version")?,
            scope_name: row.get("scope_name")?,
            scope_version: row.get("scope_version")?,
            telemetry_sdk_language: row.get("telemetry_sdk_language")?,
            telemetry_sdk_name: row.get("telemetry_sdk_name")?,
            telemetry_sdk_version: row.get("telemetry_sdk_version")?,
            source: row.get("source")?,
            trace_input: row.get("trace_input")?,
            trace_output: row.get("trace_output")?,
        },
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn write(&self, rows: &[StoredRow]) -> Result<(), StoreError> {
        blocking(|| {
            let mut connection = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            write_rows(&mut connection, rows)
        })
        .map_err(unavailable)
    }

    async fn write_scores(&self, scores: &[StoredScore]) -> Result<(), StoreError> {
        blocking(|| {
            let mut connection = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            scores::write(&mut connection, scores)
        })
        .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn stored(span: usize) -> StoredRow {
        StoredRow {
            project_id: "p".into(),
            ingestion_api_key: String::new(),
            ingestion_sdk_name: String::new(),
            ingestion_sdk_version: String::new(),
            row: EventRow {
                trace_id: "t".into(),
                span_id: format!("s{span}"),
                input: "x".repeat(2_000),
                tags: vec!["a".into()],
                ..Default::default()
            },
            model_id: String::new(),
            prompt_id: String::new(),
            usage_details: BTreeMap::from([("input".to_string(), 3)]),
            cost_details: BTreeMap::new(),
            usage_pricing_tier_id: None,
            usage_pricing_tier_name: None,
            event_ts_us: 1,
            event_bytes: 10,
            deleted: false,
        }
    }

    #[tokio::test]
    async fn rows_are_readable_and_the_wal_is_checkpointed_beside_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        let store = SqliteStore::open(crate::db::open_sqlite(&path).await.unwrap()).unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        let rows: Vec<StoredRow> = (0..500).map(stored).collect();
        store.write(&rows).await.unwrap();

        let read = store.rows_of_trace("p", "t").await.unwrap();
        assert_eq!(read.len(), 500);
        assert_eq!(read[0].row.input.len(), 2_000);
        assert_eq!(read[0].row.tags, vec!["a".to_string()]);
        assert_eq!(read[0].usage_details["input"], 3);

        // 500 rows of 2 KB are ~1 MB of WAL; the checkpoint thread copies them into the
        // database file within a few of its 250 ms rounds.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() < before + 1_000_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the WAL was not checkpointed into the database file"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn trace_user_and_session_filters_read_their_index_and_keep_to_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        let store = SqliteStore::open(crate::db::open_sqlite(&path).await.unwrap()).unwrap();
        let rows: Vec<StoredRow> = (0..40)
            .map(|span| {
                let mut row = stored(span);
                // Two projects share user and session ids; the filter must keep them apart.
                row.project_id = ["p", "q"][span % 2].into();
                row.row.user_id = format!("u{}", span % 4);
                row.row.session_id = format!("s{}", span % 8);
                row
            })
            .collect();
        store.write(&rows).await.unwrap();

        let by = |user: Option<&str>, session: Option<&str>| ObservationQuery {
            user_id: user.map(str::to_owned),
            session_id: session.map(str::to_owned),
            limit: 100,
            ..Default::default()
        };
        let of_trace = ObservationQuery {
            trace_id: Some("t".into()),
            ..by(None, None)
        };
        let user = store
            .list_observations("p", &by(Some("u2"), None))
            .await
            .unwrap();
        let mut spans: Vec<&str> = user.iter().map(|r| r.row.span_id.as_str()).collect();
        spans.sort();
        assert_eq!(
            spans,
            [
                "s10", "s14", "s18", "s2", "s22", "s26", "s30", "s34", "s38", "s6"
            ]
        );
        let session = store
            .list_observations("q", &by(None, Some("s3")))
            .await
            .unwrap();
        let spans: Vec<&str> = session.iter().map(|r| r.row.span_id.as_str()).collect();
        // Newest first, then by ids descending (all start at the same time here).
        assert_eq!(spans, ["s35", "s3", "s27", "s19", "s11"]);
        assert!(
            store
                .list_observations("q", &by(Some("u2"), None))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.list_observations("p", &of_trace).await.unwrap().len(),
            20
        );

        // The plans SQLite picks: an index, not a scan of every row.
        for (query, index) in [
            (of_trace, "sqlite_autoindex_events_1"),
            (by(Some("u2"), None), "events_user_idx"),
            (by(None, Some("s3")), "events_session_idx"),
        ] {
            let (tail, params) = sql_tail(&query, "p", &LIST_COLUMNS);
            let connection = store.writer.lock().unwrap();
            let mut explain = connection
                .prepare(&format!(
                    "EXPLAIN QUERY PLAN SELECT {COLUMNS} FROM events {tail}"
                ))
                .unwrap();
            let plan: Vec<String> = explain
                .query_map(values(params), |row| row.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert!(
                plan.iter().any(|step| step.contains(index)),
                "{index} not used: {plan:?}"
            );
        }
    }
}

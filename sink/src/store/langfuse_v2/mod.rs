//! Langfuse v2's own Postgres tables (`traces`, `observations`, `scores`, `trace_sessions`),
//! written the way v2.95's ingestion writes them (langfuse-v2 kit README §a), so v2's UI and
//! public API show what Spanbridge received:
//!
//! - every trace id gets its `traces` row (the generations table inner-joins it), synthesised
//!   from the root span or the batch API's trace row, merged as v2 merges an update: only the
//!   fields a write names, metadata deep-merged, tags a sorted union;
//! - a session's `trace_sessions` row goes in before its trace (the foreign key);
//! - cost is computed at write time from v2's `models` prices (v2's `findModel` SQL), with
//!   `internal_model`, `internal_model_id` and `unit`, which its views join on; costs the
//!   client gave are kept;
//! - times are UTC wall time in milliseconds (floored, as v2's `new Date()` does), `tags` is
//!   never NULL, NUL bytes are stripped (Postgres text and jsonb cannot hold them).
//!
//! Each batch is one transaction of multi-row upserts (`INSERT … ON CONFLICT DO UPDATE`), so
//! re-sends and replays never duplicate a row and two writers of one trace never fail on a
//! unique constraint; `updated_at` is the version (an older write never replaces a newer one).
//! The schema is v2's: checked at start ([`check_schema`]), never created or altered.

mod json;
mod schema;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use spanbridge_proto::{EventRow, ObservationQuery, Score};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Row};

pub use schema::check_schema;

use super::{Store, StoreError, StoredRow, StoredScore, TraceReader};
use crate::query::{Columns, Param, sql_tail};
use spanbridge_proto::secret::UrlPassword;
use spanbridge_proto::{
    DailyRow, Secret, SessionPage, SessionQuery, TraceFilter, TracePage, TraceQuery,
};

const NAME: &str = "langfuse-v2";

/// The id the batch API gives a trace's own row (`t-<traceId>`, the gateway's
/// `root_span_id`): in v2 it is the `traces` row, not an observation.
fn trace_row_id(trace_id: &str) -> String {
    format!("t-{trace_id}")
}

/// The batch API's `source` (gateway `convert::batch_api::SOURCE`).
const BATCH_API_SOURCE: &str = "ingestion-api";

/// A v2 deployment's Postgres database as the event store.
#[derive(Clone)]
pub struct LangfuseV2Store {
    pool: PgPool,
}

impl LangfuseV2Store {
    /// Connects and checks that the database is v2's (every table and column written or read
    /// exists); refuses otherwise, naming what is missing, and creates nothing.
    pub async fn connect(url: &Secret<UrlPassword>, max_connections: u32) -> Result<Self, String> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            // v2 stores UTC wall time in `timestamp without time zone`.
            .after_connect(|connection, _| {
                Box::pin(async move {
                    sqlx::query("SET TIME ZONE 'UTC'")
                        .execute(connection)
                        .await
                        .map(|_| ())
                })
            })
            .connect(url.expose().trim())
            .await
            .map_err(|error| {
                format!(
                    "cannot connect to the Langfuse v2 database {}: {error}",
                    url
                )
            })?;
        check_schema(&pool).await.map_err(|problem| {
            format!(
                "langfuse_v2.url ({}) is not a Langfuse v2 database: {problem}",
                url
            )
        })?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn unavailable(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable {
        store: NAME,
        detail: error.to_string(),
    }
}

/// A write error: data exceptions and constraint violations (SQLSTATE classes 22, 23) can
/// never succeed on retry; everything else (connection lost, server shutting down) may.
fn write_error(error: sqlx::Error) -> StoreError {
    let permanent = error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code.starts_with("22") || code.starts_with("23"));
    if permanent {
        StoreError::Rejected {
            store: NAME,
            detail: error.to_string(),
        }
    } else {
        unavailable(error)
    }
}

/// Text without NUL characters (v2's `cleanEvent`).
fn clean(text: &str) -> String {
    if text.contains('\0') {
        text.replace('\0', "")
    } else {
        text.to_owned()
    }
}

fn nullable(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| clean(text))
}

fn millis(us: i64) -> i64 {
    us.div_euclid(1000)
}

/// v2's observation type: SPAN, EVENT or GENERATION (its enum has no others); the types v3+
/// added map to what v2 would have been sent: model calls to GENERATION, the rest to SPAN.
fn v2_type(row: &EventRow) -> &'static str {
    match row.r#type.as_str() {
        "GENERATION" | "EMBEDDING" => "GENERATION",
        "EVENT" => "EVENT",
        _ if !row.provided_model_name.is_empty() => "GENERATION",
        _ => "SPAN",
    }
}

fn v2_level(level: &str) -> &'static str {
    match level {
        "DEBUG" => "DEBUG",
        "WARNING" => "WARNING",
        "ERROR" => "ERROR",
        _ => "DEFAULT",
    }
}

/// Token counts in v2's three columns: every input-side kind (uncached, cached, cache
/// creation) is input, every output-side kind (incl. reasoning) is output, as the client
/// reported them; v2 has no column for the breakdown (docs/conversion.md).
fn tokens(stored: &StoredRow) -> (Option<i64>, Option<i64>, Option<i64>) {
    let usage = if stored.usage_details.is_empty() {
        &stored
            .row
            .provided_usage_details
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    } else {
        &stored.usage_details
    };
    let sum = |prefix: &str| {
        let mut any = false;
        let mut total: u64 = 0;
        for (kind, count) in usage {
            if kind.starts_with(prefix) {
                any = true;
                total = total.saturating_add(*count);
            }
        }
        any.then(|| i64::try_from(total).unwrap_or(i64::MAX))
    };
    let (input, output) = (sum("input"), sum("output"));
    let total = usage
        .get("total")
        .map(|t| i64::try_from(*t).unwrap_or(i64::MAX))
        .or_else(|| match (input, output) {
            (None, None) => None,
            (i, o) => Some(i.unwrap_or(0).saturating_add(o.unwrap_or(0))),
        });
    (input, output, total)
}

/// One `observations` row's values, in the order of [`OBSERVATIONS_UPSERT`]'s arrays.
#[derive(Default)]
struct ObservationColumns {
    id: Vec<String>,
    trace_id: Vec<String>,
    project_id: Vec<String>,
    r#type: Vec<&'static str>,
    start_ms: Vec<i64>,
    end_ms: Vec<Option<i64>>,
    completion_start_ms: Vec<Option<i64>>,
    name: Vec<Option<String>>,
    metadata: Vec<Option<String>>,
    parent: Vec<Option<String>>,
    level: Vec<&'static str>,
    status_message: Vec<Option<String>>,
    version: Vec<Option<String>>,
    model: Vec<Option<String>>,
    model_parameters: Vec<Option<String>>,
    input: Vec<Option<String>>,
    output: Vec<Option<String>>,
    prompt_tokens: Vec<Option<i64>>,
    completion_tokens: Vec<Option<i64>>,
    total_tokens: Vec<Option<i64>>,
    prompt_id: Vec<Option<String>>,
    input_cost: Vec<Option<f64>>,
    output_cost: Vec<Option<f64>>,
    total_cost: Vec<Option<f64>>,
    written_ms: Vec<i64>,
    inherits: Vec<bool>,
}

/// Multi-row upsert of observations: `findModel`'s match per row (project models before
/// defaults, newest start date, `unit` when known), then v2's `calculateTokenCosts` in
/// numeric(65,30) from the matched model's prices; the update names every column the row
/// carries (assembly gives whole rows) and never moves `trace_id`, `type` or `project_id`.
/// A non-root row whose version is its trace's carries it from assembly (which fills a row's
/// empty version with the trace's); v2 keeps an observation's version only when it was sent,
/// so that one is NULL.
const OBSERVATIONS_UPSERT: &str = r#"
INSERT INTO observations AS o (
    id, trace_id, project_id, type, start_time, end_time, completion_start_time, name, metadata,
    parent_observation_id, level, status_message, version, model, internal_model,
    internal_model_id, "modelParameters", input, output, prompt_tokens, completion_tokens,
    total_tokens, unit, prompt_id, input_cost, output_cost, total_cost, calculated_input_cost,
    calculated_output_cost, calculated_total_cost, created_at, updated_at)
SELECT u.id, u.trace_id, u.project_id, u.type::"ObservationType",
       'epoch'::timestamp + u.start_ms * interval '1 millisecond',
       'epoch'::timestamp + u.end_ms * interval '1 millisecond',
       'epoch'::timestamp + u.completion_start_ms * interval '1 millisecond',
       u.name, u.metadata::jsonb, u.parent, u.level::"ObservationLevel", u.status_message,
       CASE WHEN u.inherits AND u.version IS NOT DISTINCT FROM tv.version THEN NULL
            ELSE u.version END,
       u.model, m.model_name, m.id, u.model_parameters::jsonb, u.input::jsonb,
       u.output::jsonb, coalesce(u.prompt_tokens, 0), coalesce(u.completion_tokens, 0),
       coalesce(u.total_tokens, 0),
       coalesce(m.unit, CASE WHEN u.prompt_tokens IS NOT NULL OR u.completion_tokens IS NOT NULL
                                  OR u.total_tokens IS NOT NULL THEN 'TOKENS' END),
       u.prompt_id, u.input_cost::numeric, u.output_cost::numeric, u.total_cost::numeric,
       c.input, c.output,
       CASE WHEN c.user_cost THEN coalesce(u.total_cost::numeric,
                                           coalesce(c.input, 0) + coalesce(c.output, 0))
            WHEN u.total_tokens IS NOT NULL AND m.total_price IS NOT NULL
                 THEN m.total_price * u.total_tokens
            WHEN c.input IS NOT NULL OR c.output IS NOT NULL
                 THEN coalesce(c.input, 0) + coalesce(c.output, 0) END,
       'epoch'::timestamp + u.written_ms * interval '1 millisecond',
       'epoch'::timestamp + u.written_ms * interval '1 millisecond'
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::int8[],
            $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
            $14::text[], $15::text[], $16::text[], $17::text[], $18::int8[], $19::int8[],
            $20::int8[], $21::text[], $22::float8[], $23::float8[], $24::float8[], $25::int8[],
            $26::bool[])
     AS u(id, trace_id, project_id, type, start_ms, end_ms, completion_start_ms, name, metadata,
          parent, level, status_message, version, model, model_parameters, input, output,
          prompt_tokens, completion_tokens, total_tokens, prompt_id, input_cost, output_cost,
          total_cost, written_ms, inherits)
LEFT JOIN traces tv ON tv.id = u.trace_id AND tv.project_id = u.project_id
LEFT JOIN LATERAL (
    SELECT mm.id, mm.model_name, mm.input_price, mm.output_price, mm.total_price, mm.unit
    FROM models mm
    WHERE u.type = 'GENERATION' AND u.model IS NOT NULL
      AND (mm.project_id = u.project_id OR mm.project_id IS NULL)
      AND u.model ~ mm.match_pattern
      AND (mm.start_date IS NULL
           OR mm.start_date <= 'epoch'::timestamp + u.start_ms * interval '1 millisecond')
    ORDER BY mm.project_id ASC, mm.start_date DESC NULLS LAST
    LIMIT 1) m ON true
CROSS JOIN LATERAL (
    SELECT (u.input_cost IS NOT NULL OR u.output_cost IS NOT NULL OR u.total_cost IS NOT NULL)
               AS user_cost,
           CASE WHEN u.input_cost IS NOT NULL OR u.output_cost IS NOT NULL
                     OR u.total_cost IS NOT NULL THEN u.input_cost::numeric
                ELSE m.input_price * u.prompt_tokens END AS input,
           CASE WHEN u.input_cost IS NOT NULL OR u.output_cost IS NOT NULL
                     OR u.total_cost IS NOT NULL THEN u.output_cost::numeric
                WHEN u.completion_tokens IS NOT NULL AND m.output_price IS NOT NULL
                     THEN m.output_price * u.completion_tokens
                WHEN u.prompt_tokens IS NOT NULL AND m.input_price IS NOT NULL THEN 0 END
               AS output) c
ON CONFLICT (id) DO UPDATE SET
    start_time = EXCLUDED.start_time,
    end_time = coalesce(EXCLUDED.end_time, o.end_time),
    completion_start_time = coalesce(EXCLUDED.completion_start_time, o.completion_start_time),
    name = coalesce(EXCLUDED.name, o.name),
    metadata = coalesce(EXCLUDED.metadata, o.metadata),
    parent_observation_id = coalesce(EXCLUDED.parent_observation_id, o.parent_observation_id),
    level = EXCLUDED.level,
    status_message = coalesce(EXCLUDED.status_message, o.status_message),
    version = coalesce(EXCLUDED.version, o.version),
    model = coalesce(EXCLUDED.model, o.model),
    internal_model = coalesce(EXCLUDED.internal_model, o.internal_model),
    internal_model_id = coalesce(EXCLUDED.internal_model_id, o.internal_model_id),
    "modelParameters" = coalesce(EXCLUDED."modelParameters", o."modelParameters"),
    input = coalesce(EXCLUDED.input, o.input),
    output = coalesce(EXCLUDED.output, o.output),
    prompt_tokens = EXCLUDED.prompt_tokens,
    completion_tokens = EXCLUDED.completion_tokens,
    total_tokens = EXCLUDED.total_tokens,
    unit = coalesce(EXCLUDED.unit, o.unit),
    prompt_id = coalesce(EXCLUDED.prompt_id, o.prompt_id),
    input_cost = coalesce(EXCLUDED.input_cost, o.input_cost),
    output_cost = coalesce(EXCLUDED.output_cost, o.output_cost),
    total_cost = coalesce(EXCLUDED.total_cost, o.total_cost),
    calculated_input_cost = coalesce(EXCLUDED.calculated_input_cost, o.calculated_input_cost),
    calculated_output_cost = coalesce(EXCLUDED.calculated_output_cost, o.calculated_output_cost),
    calculated_total_cost = coalesce(EXCLUDED.calculated_total_cost, o.calculated_total_cost),
    updated_at = EXCLUDED.updated_at
WHERE o.project_id = EXCLUDED.project_id AND o.updated_at <= EXCLUDED.updated_at
"#;

/// Sessions before their traces (`traces_session_id_project_id_fkey`); an existing session is
/// left as it is (v2's `update: {}`).
const SESSIONS_UPSERT: &str = r#"
INSERT INTO trace_sessions (id, project_id, created_at, updated_at, bookmarked, public)
SELECT u.id, u.project_id, 'epoch'::timestamp + u.written_ms * interval '1 millisecond',
       'epoch'::timestamp + u.written_ms * interval '1 millisecond', false, false
FROM UNNEST($1::text[], $2::text[], $3::int8[]) AS u(id, project_id, written_ms)
ON CONFLICT (id, project_id) DO NOTHING
"#;

/// Multi-row upsert of traces: a write sets only the fields it names (NULL = not named); the
/// timestamp moves only with the trace's root; tags are the sorted union (JS sort = code
/// point order, `COLLATE "C"`); metadata arrives deep-merged with the stored value (read in the
/// same transaction), so `stored || merged` is the merge, and a row another writer inserted
/// meanwhile is merged key by key. `__TIMESTAMP__` is the root's start for a batch with the
/// trace's root, else the stored timestamp.
const TRACES_UPSERT: &str = r#"
INSERT INTO traces AS t (
    id, timestamp, name, project_id, metadata, user_id, release, version, public, bookmarked,
    input, output, session_id, tags, created_at, updated_at)
SELECT u.id, 'epoch'::timestamp + u.timestamp_ms * interval '1 millisecond', u.name,
       u.project_id, u.metadata::jsonb, u.user_id, u.release, u.version,
       coalesce(u.public, false), false, u.input::jsonb, u.output::jsonb, u.session_id,
       coalesce(u.tags::text[], ARRAY[]::text[]),
       'epoch'::timestamp + u.written_ms * interval '1 millisecond',
       'epoch'::timestamp + u.written_ms * interval '1 millisecond'
FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::bool[], $10::text[], $11::text[], $12::text[],
            $13::text[], $14::int8[])
     AS u(id, timestamp_ms, name, project_id, metadata, user_id, release, version, public,
          input, output, session_id, tags, written_ms)
ON CONFLICT (id) DO UPDATE SET
    timestamp = __TIMESTAMP__,
    name = coalesce(EXCLUDED.name, t.name),
    metadata = CASE WHEN EXCLUDED.metadata IS NULL THEN t.metadata
                    WHEN jsonb_typeof(t.metadata) = 'object'
                         AND jsonb_typeof(EXCLUDED.metadata) = 'object'
                         THEN t.metadata || EXCLUDED.metadata
                    ELSE EXCLUDED.metadata END,
    user_id = coalesce(EXCLUDED.user_id, t.user_id),
    release = coalesce(EXCLUDED.release, t.release),
    version = coalesce(EXCLUDED.version, t.version),
    public = EXCLUDED.public OR t.public,
    input = coalesce(EXCLUDED.input, t.input),
    output = coalesce(EXCLUDED.output, t.output),
    session_id = coalesce(EXCLUDED.session_id, t.session_id),
    tags = ARRAY(SELECT DISTINCT tag COLLATE "C" FROM unnest(coalesce(t.tags, ARRAY[]::text[]) || EXCLUDED.tags) AS tag
                 ORDER BY tag COLLATE "C"),
    updated_at = greatest(t.updated_at, EXCLUDED.updated_at)
WHERE t.project_id = EXCLUDED.project_id
"#;

/// The `traces` row a batch writes for one trace.
struct TraceWrite {
    id: String,
    project_id: String,
    timestamp_ms: i64,
    name: Option<String>,
    metadata: Option<Value>,
    user_id: Option<String>,
    release: Option<String>,
    version: Option<String>,
    public: Option<bool>,
    input: Option<String>,
    output: Option<String>,
    session_id: Option<String>,
    tags: Vec<String>,
    written_ms: i64,
    has_root: bool,
}

/// The trace's root among its rows: the batch API's trace row, the app root, else a row
/// without a parent.
fn root_of<'a>(rows: &[&'a StoredRow]) -> Option<&'a StoredRow> {
    rows.iter()
        .find(|s| is_trace_row(s))
        .or_else(|| rows.iter().find(|s| s.row.is_app_root))
        .or_else(|| rows.iter().find(|s| s.row.parent_span_id.is_empty()))
        .copied()
}

fn is_trace_row(stored: &StoredRow) -> bool {
    stored.row.source == BATCH_API_SOURCE
        && stored.row.span_id == trace_row_id(&stored.row.trace_id)
}

/// The `traces` row of one trace from its rows in this batch (each carries the trace's merged
/// fields): the root's start is the timestamp, the root's name the fallback name, its
/// input/output the fallback trace I/O, its metadata the trace's.
fn trace_write(rows: &[&StoredRow]) -> Option<TraceWrite> {
    let first = rows.first()?;
    let root = root_of(rows);
    let pick = |field: fn(&EventRow) -> &str| {
        root.into_iter()
            .chain(rows.iter().copied())
            .map(|s| field(&s.row))
            .find(|v| !v.is_empty())
            .map(clean)
    };
    let written = rows.iter().map(|s| s.event_ts_us).max().unwrap_or_default();
    let earliest = rows
        .iter()
        .map(|s| s.row.start_time_us)
        .filter(|us| *us > 0)
        .min();
    let timestamp_us = root
        .map(|r| r.row.start_time_us)
        .filter(|us| *us > 0)
        .or(earliest)
        .unwrap_or(written);
    let io = |explicit: fn(&EventRow) -> &str, observed: fn(&EventRow) -> &str| {
        pick(explicit).or_else(|| root.and_then(|r| nullable(observed(&r.row))))
    };
    let tags: BTreeSet<String> = rows
        .iter()
        .flat_map(|s| s.row.tags.iter())
        .map(|t| clean(t))
        .collect();
    let metadata = root
        .filter(|r| !r.row.metadata_names.is_empty())
        .map(|r| json::metadata(&r.row.metadata_names, &r.row.metadata_values));
    Some(TraceWrite {
        id: clean(&first.row.trace_id),
        project_id: first.project_id.clone(),
        timestamp_ms: millis(timestamp_us),
        name: pick(|r| &r.trace_name).or_else(|| root.and_then(|r| nullable(&r.row.name))),
        metadata,
        user_id: pick(|r| &r.user_id),
        release: pick(|r| &r.release),
        version: root.and_then(|r| nullable(&r.row.version)),
        public: rows.iter().any(|s| s.row.public).then_some(true),
        input: io(|r| &r.trace_input, |r| &r.input).map(|t| json::jsonb_text(&t)),
        output: io(|r| &r.trace_output, |r| &r.output).map(|t| json::jsonb_text(&t)),
        session_id: pick(|r| &r.session_id),
        tags: tags.into_iter().collect(),
        written_ms: millis(written),
        has_root: root.is_some(),
    })
}

/// The live rows of each trace in the batch, in batch order, newest version of each row.
fn traces_in(rows: &[StoredRow]) -> Vec<Vec<&StoredRow>> {
    let mut newest: HashMap<(&str, &str), &StoredRow> = HashMap::new();
    let mut order: Vec<(&str, &str)> = Vec::new();
    for stored in rows.iter().filter(|s| !s.deleted) {
        let key = (stored.project_id.as_str(), stored.row.span_id.as_str());
        match newest.get(&key) {
            Some(held) if held.event_ts_us > stored.event_ts_us => {}
            Some(_) => {
                newest.insert(key, stored);
            }
            None => {
                newest.insert(key, stored);
                order.push(key);
            }
        }
    }
    let mut groups: Vec<Vec<&StoredRow>> = Vec::new();
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    for key in order {
        let stored = newest[&key];
        let trace = (stored.project_id.as_str(), stored.row.trace_id.as_str());
        match index.get(&trace) {
            Some(&i) => groups[i].push(stored),
            None => {
                index.insert(trace, groups.len());
                groups.push(vec![stored]);
            }
        }
    }
    groups
}

impl ObservationColumns {
    fn push(&mut self, stored: &StoredRow, metadata: Option<String>) {
        let r = &stored.row;
        let r#type = v2_type(r);
        let generation = r#type == "GENERATION";
        let (prompt, completion, total) = if generation {
            tokens(stored)
        } else {
            (None, None, None)
        };
        let cost = |kind: &str| {
            generation
                .then(|| r.provided_cost_details.get(kind).copied())
                .flatten()
                .filter(|c| c.is_finite())
        };
        let start = millis(r.start_time_us);
        let parent = Some(r.parent_span_id.as_str())
            .filter(|p| !p.is_empty() && *p != trace_row_id(&r.trace_id))
            .map(clean);
        let model_parameters = match (r.model_parameters.as_str(), generation) {
            ("", _) => None,
            (parameters, _) => Some(json::jsonb_text(parameters)),
        };
        self.id.push(clean(&r.span_id));
        self.trace_id.push(clean(&r.trace_id));
        self.project_id.push(stored.project_id.clone());
        self.r#type.push(r#type);
        self.start_ms.push(start);
        // v2 keeps what it was sent; an end before the start would give negative latencies.
        self.end_ms
            .push(r.end_time_us.map(|end| millis(end).max(start)));
        self.completion_start_ms
            .push(r.completion_start_time_us.map(millis));
        self.name.push(nullable(&r.name));
        self.metadata.push(metadata);
        self.parent.push(parent);
        self.level.push(v2_level(&r.level));
        self.status_message.push(nullable(&r.status_message));
        self.version.push(nullable(&r.version));
        self.model.push(nullable(&r.provided_model_name));
        self.model_parameters.push(model_parameters);
        self.input
            .push(nullable(&r.input).map(|t| json::jsonb_text(&t)));
        self.output
            .push(nullable(&r.output).map(|t| json::jsonb_text(&t)));
        self.prompt_tokens.push(prompt);
        self.completion_tokens.push(completion);
        self.total_tokens.push(total);
        self.prompt_id.push(nullable(&stored.prompt_id));
        self.input_cost.push(cost("input"));
        self.output_cost.push(cost("output"));
        self.total_cost.push(cost("total"));
        self.written_ms.push(millis(stored.event_ts_us));
        self.inherits.push(!r.parent_span_id.is_empty());
    }
}

impl LangfuseV2Store {
    /// Stored metadata of the given rows, locked for this transaction (a concurrent writer of
    /// the same rows waits), for v2's deep merge.
    async fn stored_metadata(
        tx: &mut sqlx::PgConnection,
        table: &str,
        ids: &[String],
    ) -> Result<HashMap<String, Value>, sqlx::Error> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT id, metadata::text FROM {table} WHERE id = ANY($1) ORDER BY id FOR UPDATE"
        )))
        .bind(ids)
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, text)| {
                let value = serde_json::from_str::<Value>(&text?).ok()?;
                Some((id, value))
            })
            .collect())
    }

    async fn write_rows(&self, rows: &[StoredRow]) -> Result<(), sqlx::Error> {
        let groups = traces_in(rows);
        if groups.is_empty() {
            return Ok(());
        }
        let traces: Vec<TraceWrite> = groups.iter().filter_map(|g| trace_write(g)).collect();
        let observations: Vec<&StoredRow> = groups
            .iter()
            .flatten()
            .filter(|s| !is_trace_row(s))
            .copied()
            .collect();

        let mut tx = self.pool.begin().await?;
        // Sessions first (the traces' foreign key), in a stable order (no deadlocks between
        // two writers of overlapping batches).
        let sessions: BTreeSet<(String, String)> = traces
            .iter()
            .filter_map(|t| Some((t.session_id.clone()?, t.project_id.clone())))
            .collect();
        if !sessions.is_empty() {
            let written = traces
                .iter()
                .map(|t| t.written_ms)
                .max()
                .unwrap_or_default();
            let (ids, projects): (Vec<String>, Vec<String>) = sessions.into_iter().unzip();
            let times = vec![written; ids.len()];
            sqlx::query(SESSIONS_UPSERT)
                .bind(&ids)
                .bind(&projects)
                .bind(&times)
                .execute(&mut *tx)
                .await?;
        }

        let mut trace_ids: Vec<String> = traces.iter().map(|t| t.id.clone()).collect();
        trace_ids.sort();
        let stored = Self::stored_metadata(&mut tx, "traces", &trace_ids).await?;
        for with_root in [true, false] {
            let part: Vec<&TraceWrite> =
                traces.iter().filter(|t| t.has_root == with_root).collect();
            if part.is_empty() {
                continue;
            }
            let metadata: Vec<Option<String>> = part
                .iter()
                .map(|trace| {
                    trace.metadata.as_ref().map(|new| {
                        match stored.get(&trace.id) {
                            Some(before) => json::merge(before.clone(), new.clone()),
                            None => new.clone(),
                        }
                        .to_string()
                    })
                })
                .collect();
            let tags: Vec<String> = part.iter().map(|t| json::pg_text_array(&t.tags)).collect();
            let timestamp = if with_root {
                "EXCLUDED.timestamp"
            } else {
                "t.timestamp"
            };
            sqlx::query(AssertSqlSafe(
                TRACES_UPSERT.replace("__TIMESTAMP__", timestamp),
            ))
            .bind(part.iter().map(|t| t.id.clone()).collect::<Vec<_>>())
            .bind(part.iter().map(|t| t.timestamp_ms).collect::<Vec<_>>())
            .bind(part.iter().map(|t| t.name.clone()).collect::<Vec<_>>())
            .bind(
                part.iter()
                    .map(|t| t.project_id.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(&metadata)
            .bind(part.iter().map(|t| t.user_id.clone()).collect::<Vec<_>>())
            .bind(part.iter().map(|t| t.release.clone()).collect::<Vec<_>>())
            .bind(part.iter().map(|t| t.version.clone()).collect::<Vec<_>>())
            .bind(part.iter().map(|t| t.public).collect::<Vec<_>>())
            .bind(part.iter().map(|t| t.input.clone()).collect::<Vec<_>>())
            .bind(part.iter().map(|t| t.output.clone()).collect::<Vec<_>>())
            .bind(
                part.iter()
                    .map(|t| t.session_id.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(&tags)
            .bind(part.iter().map(|t| t.written_ms).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }

        if !observations.is_empty() {
            let mut ids: Vec<String> = observations.iter().map(|s| clean(&s.row.span_id)).collect();
            ids.sort();
            let stored = Self::stored_metadata(&mut tx, "observations", &ids).await?;
            let mut columns = ObservationColumns::default();
            for row in &observations {
                let new = (!row.row.metadata_names.is_empty())
                    .then(|| json::metadata(&row.row.metadata_names, &row.row.metadata_values));
                let merged = match (stored.get(&clean(&row.row.span_id)), new) {
                    (Some(before), Some(new)) => Some(json::merge(before.clone(), new).to_string()),
                    (_, new) => new.map(|n| n.to_string()),
                };
                columns.push(row, merged);
            }
            let c = columns;
            sqlx::query(OBSERVATIONS_UPSERT)
                .bind(&c.id)
                .bind(&c.trace_id)
                .bind(&c.project_id)
                .bind(&c.r#type)
                .bind(&c.start_ms)
                .bind(&c.end_ms)
                .bind(&c.completion_start_ms)
                .bind(&c.name)
                .bind(&c.metadata)
                .bind(&c.parent)
                .bind(&c.level)
                .bind(&c.status_message)
                .bind(&c.version)
                .bind(&c.model)
                .bind(&c.model_parameters)
                .bind(&c.input)
                .bind(&c.output)
                .bind(&c.prompt_tokens)
                .bind(&c.completion_tokens)
                .bind(&c.total_tokens)
                .bind(&c.prompt_id)
                .bind(&c.input_cost)
                .bind(&c.output_cost)
                .bind(&c.total_cost)
                .bind(&c.written_ms)
                .bind(&c.inherits)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    async fn write_score_rows(&self, scores: &[StoredScore]) -> Result<(), sqlx::Error> {
        // v2's scores belong to a trace (`trace_id NOT NULL`): session and dataset-run scores
        // have no place there.
        let mut newest: HashMap<&str, &StoredScore> = HashMap::new();
        for stored in scores {
            if stored.score.trace_id.is_empty() {
                metrics::counter!("spanbridge_langfuse_v2_scores_dropped_total").increment(1);
                continue;
            }
            match newest.get(stored.score.id.as_str()) {
                Some(held) if held.event_ts_us > stored.event_ts_us => {}
                _ => {
                    newest.insert(&stored.score.id, stored);
                }
            }
        }
        if newest.is_empty() {
            return Ok(());
        }
        let mut rows: Vec<&StoredScore> = newest.into_values().collect();
        rows.sort_by(|a, b| a.score.id.cmp(&b.score.id));
        let shaped: Vec<ScoreValues> = rows.iter().map(|s| score_values(s)).collect();
        sqlx::query(SCORES_UPSERT)
            .bind(shaped.iter().map(|s| s.id.clone()).collect::<Vec<_>>())
            .bind(shaped.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>())
            .bind(shaped.iter().map(|s| s.name.clone()).collect::<Vec<_>>())
            .bind(shaped.iter().map(|s| s.value).collect::<Vec<_>>())
            .bind(
                shaped
                    .iter()
                    .map(|s| s.observation_id.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                shaped
                    .iter()
                    .map(|s| s.trace_id.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(shaped.iter().map(|s| s.comment.clone()).collect::<Vec<_>>())
            .bind(shaped.iter().map(|s| s.source).collect::<Vec<_>>())
            .bind(
                shaped
                    .iter()
                    .map(|s| s.project_id.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                shaped
                    .iter()
                    .map(|s| s.config_id.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(shaped.iter().map(|s| s.data_type).collect::<Vec<_>>())
            .bind(
                shaped
                    .iter()
                    .map(|s| s.string_value.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                shaped
                    .iter()
                    .map(|s| s.queue_id.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(shaped.iter().map(|s| s.written_ms).collect::<Vec<_>>())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

const SCORES_UPSERT: &str = r#"
INSERT INTO scores AS s (
    id, timestamp, name, value, observation_id, trace_id, comment, source, project_id, config_id,
    data_type, string_value, queue_id, created_at, updated_at)
SELECT u.id, 'epoch'::timestamp + u.timestamp_ms * interval '1 millisecond', u.name, u.value,
       u.observation_id, u.trace_id, u.comment, u.source::"ScoreSource", u.project_id,
       u.config_id, u.data_type::"ScoreDataType", u.string_value, u.queue_id,
       'epoch'::timestamp + u.written_ms * interval '1 millisecond',
       'epoch'::timestamp + u.written_ms * interval '1 millisecond'
FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::float8[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
            $13::text[], $14::int8[])
     AS u(id, timestamp_ms, name, value, observation_id, trace_id, comment, source, project_id,
          config_id, data_type, string_value, queue_id, written_ms)
ON CONFLICT (id) DO UPDATE SET
    timestamp = EXCLUDED.timestamp, name = EXCLUDED.name, value = EXCLUDED.value,
    observation_id = EXCLUDED.observation_id, trace_id = EXCLUDED.trace_id,
    comment = coalesce(EXCLUDED.comment, s.comment), source = EXCLUDED.source,
    config_id = coalesce(EXCLUDED.config_id, s.config_id), data_type = EXCLUDED.data_type,
    string_value = EXCLUDED.string_value, queue_id = coalesce(EXCLUDED.queue_id, s.queue_id),
    updated_at = EXCLUDED.updated_at
WHERE s.project_id = EXCLUDED.project_id AND s.updated_at <= EXCLUDED.updated_at
"#;

struct ScoreValues {
    id: String,
    timestamp_ms: i64,
    name: String,
    value: Option<f64>,
    observation_id: Option<String>,
    trace_id: String,
    comment: Option<String>,
    source: &'static str,
    project_id: String,
    config_id: Option<String>,
    data_type: &'static str,
    string_value: Option<String>,
    queue_id: Option<String>,
    written_ms: i64,
}

/// A score in v2's shape (`validateAndInflateScore`): BOOLEAN → 0/1 with `'True'`/`'False'`,
/// CATEGORICAL → the label in `string_value` (value NULL), NUMERIC → no string value.
fn score_values(stored: &StoredScore) -> ScoreValues {
    let s: &Score = &stored.score;
    let (data_type, value, string_value) = match s.data_type.as_str() {
        "BOOLEAN" => (
            "BOOLEAN",
            Some(s.value),
            Some(if s.value == 1.0 { "True" } else { "False" }.to_owned()),
        ),
        "CATEGORICAL" => (
            "CATEGORICAL",
            None,
            Some(clean(s.string_value.as_deref().unwrap_or_default())),
        ),
        _ => ("NUMERIC", Some(s.value).filter(|v| v.is_finite()), None),
    };
    let source = match s.source.as_str() {
        "ANNOTATION" => "ANNOTATION",
        "EVAL" => "EVAL",
        _ => "API",
    };
    let written = millis(stored.event_ts_us);
    ScoreValues {
        id: clean(&s.id),
        // v2 stamps a score with the time it wrote it (the SDK sends none).
        timestamp_ms: written,
        name: clean(&s.name),
        value,
        observation_id: nullable(&s.observation_id),
        trace_id: clean(&s.trace_id),
        comment: nullable(&s.comment),
        source,
        project_id: stored.project_id.clone(),
        config_id: nullable(&s.config_id),
        data_type,
        string_value,
        queue_id: nullable(&s.queue_id),
        written_ms: written,
    }
}

/// The observation columns read back, joined with their trace.
const OBSERVATION_SELECT: &str = r#"
SELECT o.id, o.trace_id, o.project_id, o.type::text AS type,
       (extract(epoch FROM o.start_time) * 1000)::int8 AS start_ms,
       (extract(epoch FROM o.end_time) * 1000)::int8 AS end_ms,
       (extract(epoch FROM o.completion_start_time) * 1000)::int8 AS completion_start_ms,
       o.name, o.metadata::text AS metadata, o.parent_observation_id, o.level::text AS level,
       o.status_message, o.version, o.model, o.internal_model_id,
       o."modelParameters"::text AS model_parameters, o.input::text AS input,
       o.output::text AS output, o.prompt_tokens::int8 AS prompt_tokens,
       o.completion_tokens::int8 AS completion_tokens, o.total_tokens::int8 AS total_tokens,
       o.prompt_id, o.input_cost::float8 AS input_cost, o.output_cost::float8 AS output_cost,
       o.total_cost::float8 AS total_cost,
       o.calculated_input_cost::float8 AS calculated_input_cost,
       o.calculated_output_cost::float8 AS calculated_output_cost,
       o.calculated_total_cost::float8 AS calculated_total_cost,
       (extract(epoch FROM o.updated_at) * 1000)::int8 AS updated_ms,
       t.name AS trace_name, t.user_id, t.session_id, t.tags, t.public, t.release,
       t.input::text AS trace_input, t.output::text AS trace_output
FROM observations o LEFT JOIN traces t ON t.id = o.trace_id AND t.project_id = o.project_id
"#;

/// Langfuse's JSON text of a jsonb column as the row's text: a JSON string is its content
/// (what the client sent as a string), anything else its JSON.
fn text_of_json(text: Option<String>) -> String {
    match text {
        None => String::new(),
        Some(text) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::String(inner)) => inner,
            _ => text,
        },
    }
}

fn observation_row(row: &PgRow) -> Result<StoredRow, sqlx::Error> {
    let text = |column: &str| -> Result<String, sqlx::Error> {
        Ok(row
            .try_get::<Option<String>, _>(column)?
            .unwrap_or_default())
    };
    let us = |column: &str| -> Result<Option<i64>, sqlx::Error> {
        Ok(row.try_get::<Option<i64>, _>(column)?.map(|ms| ms * 1000))
    };
    let parent = text("parent_observation_id")?;
    let (metadata_names, metadata_values) = json::flatten(
        row.try_get::<Option<String>, _>("metadata")?
            .and_then(|m| serde_json::from_str(&m).ok()),
    );
    let r#type: String = row.try_get("type")?;
    let mut usage = std::collections::BTreeMap::new();
    let mut costs = std::collections::BTreeMap::new();
    if r#type == "GENERATION" {
        for (kind, column) in [
            ("input", "prompt_tokens"),
            ("output", "completion_tokens"),
            ("total", "total_tokens"),
        ] {
            if let Some(count) = row.try_get::<Option<i64>, _>(column)? {
                usage.insert(kind.to_owned(), u64::try_from(count).unwrap_or_default());
            }
        }
        for (kind, column) in [
            ("input", "calculated_input_cost"),
            ("output", "calculated_output_cost"),
            ("total", "calculated_total_cost"),
        ] {
            if let Some(cost) = row.try_get::<Option<f64>, _>(column)? {
                costs.insert(kind.to_owned(), cost);
            }
        }
    }
    let mut provided_costs = std::collections::BTreeMap::new();
    for (kind, column) in [
        ("input", "input_cost"),
        ("output", "output_cost"),
        ("total", "total_cost"),
    ] {
        if let Some(cost) = row.try_get::<Option<f64>, _>(column)? {
            provided_costs.insert(kind.to_owned(), cost);
        }
    }
    let event = EventRow {
        trace_id: text("trace_id")?,
        span_id: row.try_get("id")?,
        is_app_root: parent.is_empty(),
        parent_span_id: parent,
        start_time_us: us("start_ms")?.unwrap_or_default(),
        end_time_us: us("end_ms")?,
        completion_start_time_us: us("completion_start_ms")?,
        name: text("name")?,
        r#type,
        environment: "default".into(),
        version: text("version")?,
        release: text("release")?,
        level: row.try_get("level")?,
        status_message: text("status_message")?,
        trace_name: text("trace_name")?,
        user_id: text("user_id")?,
        session_id: text("session_id")?,
        tags: row
            .try_get::<Option<Vec<String>>, _>("tags")?
            .unwrap_or_default(),
        public: row.try_get::<Option<bool>, _>("public")?.unwrap_or(false),
        provided_model_name: text("model")?,
        model_parameters: text("model_parameters")?,
        provided_usage_details: usage.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        provided_cost_details: provided_costs,
        input: text_of_json(row.try_get("input")?),
        output: text_of_json(row.try_get("output")?),
        metadata_names,
        metadata_values,
        trace_input: text_of_json(row.try_get("trace_input")?),
        trace_output: text_of_json(row.try_get("trace_output")?),
        ..Default::default()
    };
    Ok(StoredRow {
        project_id: row.try_get("project_id")?,
        model_id: text("internal_model_id")?,
        prompt_id: text("prompt_id")?,
        usage_details: usage,
        cost_details: costs,
        event_ts_us: us("updated_ms")?.unwrap_or_default(),
        row: event,
        ..Default::default()
    })
}

/// The trace's `traces` row as its `t-<traceId>` row (how the batch API's trace row travels
/// and how the read API recognises a trace's own row, never listed as an observation): the
/// read API's trace fields and assembly's read-back come from v2's trace row itself, and a
/// trace without observations (a `trace-create` alone) is found.
async fn trace_only_row(
    pool: &PgPool,
    project_id: &str,
    trace_id: &str,
) -> Result<Option<StoredRow>, sqlx::Error> {
    let row = sqlx::query(
        r#"SELECT id, project_id, (extract(epoch FROM timestamp) * 1000)::int8 AS timestamp_ms,
                  name, metadata::text AS metadata, user_id, release, version, public,
                  input::text AS input, output::text AS output, session_id, tags,
                  (extract(epoch FROM updated_at) * 1000)::int8 AS updated_ms
           FROM traces WHERE id = $1 AND project_id = $2"#,
    )
    .bind(trace_id)
    .bind(project_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let text = |column: &str| -> Result<String, sqlx::Error> {
        Ok(row
            .try_get::<Option<String>, _>(column)?
            .unwrap_or_default())
    };
    let (metadata_names, metadata_values) = json::flatten(
        row.try_get::<Option<String>, _>("metadata")?
            .and_then(|m| serde_json::from_str(&m).ok()),
    );
    let name = text("name")?;
    let input = text_of_json(row.try_get("input")?);
    let output = text_of_json(row.try_get("output")?);
    let event = EventRow {
        trace_id: trace_id.to_owned(),
        span_id: trace_row_id(trace_id),
        start_time_us: row.try_get::<i64, _>("timestamp_ms")? * 1000,
        name: name.clone(),
        r#type: "SPAN".into(),
        environment: "default".into(),
        version: text("version")?,
        release: text("release")?,
        level: "DEFAULT".into(),
        trace_name: name,
        user_id: text("user_id")?,
        session_id: text("session_id")?,
        tags: row
            .try_get::<Option<Vec<String>>, _>("tags")?
            .unwrap_or_default(),
        public: row.try_get("public")?,
        is_app_root: true,
        source: BATCH_API_SOURCE.into(),
        trace_input: input.clone(),
        trace_output: output.clone(),
        input,
        output,
        metadata_names,
        metadata_values,
        ..Default::default()
    };
    Ok(Some(StoredRow {
        project_id: project_id.to_owned(),
        event_ts_us: row.try_get::<i64, _>("updated_ms")? * 1000,
        row: event,
        ..Default::default()
    }))
}

/// How v2's `observations` (joined with `traces` for the user and session) spells the list's
/// columns.
const COLUMNS: Columns = Columns {
    live: "true",
    id: "o.id",
    trace_id: "o.trace_id",
    project_id: "o.project_id",
    start_us: "((extract(epoch FROM o.start_time) * 1000)::int8 * 1000)",
    r#type: "o.type::text",
    name: "o.name",
    level: "o.level::text",
    version: "o.version",
    environment: "'default'",
    parent: "coalesce(o.parent_observation_id, '')",
    is_root: "o.parent_observation_id IS NULL",
    user_is: "t.user_id = ?",
    session_is: "t.session_id = ?",
};

/// `?` placeholders as Postgres's `$n`.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

#[async_trait]
impl TraceReader for LangfuseV2Store {
    // The list reads (`GET /api/public/traces`, `/sessions`, `/metrics/daily`, paged
    // `/observations`) are not written for v2's tables yet: Langfuse v2's own UI and public API
    // list what this store writes. Each answers 501 naming itself, never an empty page.
    async fn count_observations(
        &self,
        _project_id: &str,
        _query: &ObservationQuery,
    ) -> Result<u64, StoreError> {
        Err(unsupported("counting observations"))
    }

    async fn list_traces(
        &self,
        _project_id: &str,
        _query: &TraceQuery,
    ) -> Result<TracePage, StoreError> {
        Err(unsupported("the trace list"))
    }

    async fn list_sessions(
        &self,
        _project_id: &str,
        _query: &SessionQuery,
    ) -> Result<SessionPage, StoreError> {
        Err(unsupported("the session list"))
    }

    async fn daily_metrics(
        &self,
        _project_id: &str,
        _filter: &TraceFilter,
    ) -> Result<Vec<DailyRow>, StoreError> {
        Err(unsupported("daily metrics"))
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> &'static str {
        "Langfuse v2 Postgres (traces, observations, scores, trace_sessions)"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn rows_of_trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{OBSERVATION_SELECT} WHERE o.trace_id = $1 AND o.project_id = $2
             ORDER BY o.start_time, o.id"
        )))
        .bind(trace_id)
        .bind(project_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        let mut out = rows
            .iter()
            .map(observation_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        if let Some(trace) = trace_only_row(&self.pool, project_id, trace_id)
            .await
            .map_err(unavailable)?
        {
            out.insert(0, trace);
        }
        Ok(out)
    }

    async fn scores_of_trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<StoredScore>, StoreError> {
        let rows = sqlx::query(
            r#"SELECT id, name, value, observation_id, trace_id, comment, source::text AS source,
                      project_id, author_user_id, config_id, data_type::text AS data_type,
                      string_value, queue_id,
                      (extract(epoch FROM timestamp) * 1000)::int8 AS timestamp_ms,
                      (extract(epoch FROM created_at) * 1000)::int8 AS created_ms,
                      (extract(epoch FROM updated_at) * 1000)::int8 AS updated_ms
               FROM scores WHERE trace_id = $1 AND project_id = $2
               ORDER BY timestamp, id"#,
        )
        .bind(trace_id)
        .bind(project_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| -> Result<StoredScore, sqlx::Error> {
                let text = |column: &str| -> Result<String, sqlx::Error> {
                    Ok(row
                        .try_get::<Option<String>, _>(column)?
                        .unwrap_or_default())
                };
                Ok(StoredScore {
                    project_id: row.try_get("project_id")?,
                    score: Score {
                        id: row.try_get("id")?,
                        trace_id: row.try_get("trace_id")?,
                        observation_id: text("observation_id")?,
                        name: row.try_get("name")?,
                        data_type: row.try_get("data_type")?,
                        value: row.try_get::<Option<f64>, _>("value")?.unwrap_or_default(),
                        string_value: row.try_get("string_value")?,
                        source: row.try_get("source")?,
                        comment: text("comment")?,
                        environment: "default".into(),
                        config_id: text("config_id")?,
                        queue_id: text("queue_id")?,
                        timestamp_us: row.try_get::<i64, _>("timestamp_ms")? * 1000,
                        ..Default::default()
                    },
                    event_ts_us: row.try_get::<i64, _>("updated_ms")? * 1000,
                    created_at_us: row.try_get::<i64, _>("created_ms")? * 1000,
                    author_user_id: row.try_get("author_user_id")?,
                    ..Default::default()
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)
    }

    async fn list_observations(
        &self,
        project_id: &str,
        query: &ObservationQuery,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let (tail, params) = sql_tail(query, project_id, &COLUMNS);
        let sql = numbered(&format!("{OBSERVATION_SELECT} {tail}"));
        let mut statement = sqlx::query(AssertSqlSafe(sql));
        for param in params {
            statement = match param {
                Param::Text(text) => statement.bind(text),
                Param::Int(int) => statement.bind(int),
            };
        }
        let rows = statement.fetch_all(&self.pool).await.map_err(unavailable)?;
        rows.iter()
            .map(observation_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)
    }
}

#[async_trait]
impl Store for LangfuseV2Store {
    async fn write(&self, rows: &[StoredRow]) -> Result<(), StoreError> {
        self.write_rows(rows).await.map_err(write_error)
    }

    async fn write_scores(&self, scores: &[StoredScore]) -> Result<(), StoreError> {
        self.write_score_rows(scores).await.map_err(write_error)
    }
}

fn unsupported(what: &'static str) -> StoreError {
    StoreError::Unsupported {
        store: "Langfuse v2",
        what,
    }
}

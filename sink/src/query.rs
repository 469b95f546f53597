//! The read API's lists — observations (v1 pages and v2 cursors, reference langfuse-legacy.md
//! §6.1), traces, sessions and daily metrics — turned from the contract's queries
//! ([`ObservationQuery`], [`TraceQuery`], [`SessionQuery`], [`TraceFilter`]) into each store's
//! SQL with its own column names ([`Columns`], [`TraceColumns`]), so SQLite `events`,
//! ClickHouse `events_full` and the v3 tables answer the same query the same way.

use std::collections::BTreeMap;

use spanbridge_proto::{DailyRow, ObservationQuery, SessionQuery, TraceFilter, TraceQuery};

/// A bound value of the generated SQL, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
}

/// How one table spells the list's columns: SQL expressions over its own columns.
#[derive(Debug, Clone, Copy)]
pub struct Columns {
    /// The condition that a row is live (not a tombstone).
    pub live: &'static str,
    pub id: &'static str,
    pub trace_id: &'static str,
    pub project_id: &'static str,
    /// The start time as an integer of µs.
    pub start_us: &'static str,
    pub r#type: &'static str,
    pub name: &'static str,
    pub level: &'static str,
    pub version: &'static str,
    pub environment: &'static str,
    /// The parent id, `''` for none.
    pub parent: &'static str,
    pub is_root: &'static str,
    /// A condition with one `?` for the user id (v3 observations have no user column: they
    /// ask the `traces` table).
    pub user_is: &'static str,
    pub session_is: &'static str,
}

/// `WHERE … ORDER BY … LIMIT ? OFFSET ?` of `query` for the table, and its parameters in order.
pub fn sql_tail(query: &ObservationQuery, project_id: &str, c: &Columns) -> (String, Vec<Param>) {
    let (filter, mut params) = sql_where(query, project_id, c);
    params.push(Param::Int(query.limit as i64));
    params.push(Param::Int(query.offset as i64));
    (
        format!(
            "{filter} ORDER BY {} DESC, {} DESC, {} DESC LIMIT ? OFFSET ?",
            c.start_us, c.trace_id, c.id
        ),
        params,
    )
}

/// `WHERE …` of `query`'s filters and cursor (what [`sql_tail`] pages and a count counts).
pub fn sql_where(query: &ObservationQuery, project_id: &str, c: &Columns) -> (String, Vec<Param>) {
    let mut conditions = vec![c.live.to_owned(), format!("{} = ?", c.project_id)];
    let mut params = vec![Param::Text(project_id.to_owned())];
    let mut equal = |column: &str, value: &Option<String>| {
        if let Some(value) = value {
            conditions.push(format!("{column} = ?"));
            params.push(Param::Text(value.clone()));
        }
    };
    equal(c.trace_id, &query.trace_id);
    equal(c.r#type, &query.r#type);
    equal(c.name, &query.name);
    equal(c.level, &query.level);
    equal(c.version, &query.version);
    equal(c.parent, &query.parent_observation_id);
    for (condition, value) in [
        (c.user_is, &query.user_id),
        (c.session_is, &query.session_id),
    ] {
        if let Some(value) = value {
            conditions.push(condition.to_owned());
            params.push(Param::Text(value.clone()));
        }
    }
    if let Some(root) = query.is_root {
        conditions.push(if root {
            c.is_root.to_owned()
        } else {
            format!("NOT ({})", c.is_root)
        });
    }
    if !query.environments.is_empty() {
        let marks = vec!["?"; query.environments.len()].join(", ");
        conditions.push(format!("{} IN ({marks})", c.environment));
        params.extend(query.environments.iter().cloned().map(Param::Text));
    }
    if let Some(from) = query.from_start_time_us {
        conditions.push(format!("{} >= ?", c.start_us));
        params.push(Param::Int(from));
    }
    if let Some(to) = query.to_start_time_us {
        conditions.push(format!("{} < ?", c.start_us));
        params.push(Param::Int(to));
    }
    if let Some(after) = &query.after {
        // Tuple comparison: SQLite row values and ClickHouse tuples both order this way.
        conditions.push(format!(
            "({}, {}, {}) < (?, ?, ?)",
            c.start_us, c.trace_id, c.id
        ));
        params.push(Param::Int(after.start_time_us));
        params.push(Param::Text(after.trace_id.clone()));
        params.push(Param::Text(after.id.clone()));
    }
    (format!("WHERE {}", conditions.join(" AND ")), params)
}

/// How one store spells traces (one head row per trace) and the observations summed per
/// trace: SQL expressions over its own tables.
#[derive(Debug, Clone, Copy)]
pub struct TraceColumns {
    /// The table (with `FINAL` where it needs one) that holds one head row per trace.
    pub heads: &'static str,
    /// The condition that a row of `heads` is a live trace head.
    pub is_head: &'static str,
    pub project_id: &'static str,
    pub trace_id: &'static str,
    /// The trace's timestamp as an integer of µs.
    pub timestamp_us: &'static str,
    /// The trace's UTC day as an integer (days since 1970-01-01).
    pub day: &'static str,
    pub name: &'static str,
    /// The user, `''` for none.
    pub user_id: &'static str,
    /// The session, `''` for none.
    pub session_id: &'static str,
    /// The environment as text.
    pub environment: &'static str,
    /// A condition with one `?` for a tag the trace has.
    pub has_tag: &'static str,
    /// The table of observations (with `FINAL` where it needs one).
    pub observations: &'static str,
    /// The condition that a row of `observations` is a live observation (not a trace's own row).
    pub is_observation: &'static str,
    pub observation_project_id: &'static str,
    pub observation_trace_id: &'static str,
    /// The observation's model name, `''` for none.
    pub model: &'static str,
    /// The observation's `costDetails.total` as a float, 0 for none.
    pub total_cost: &'static str,
    /// The observation's `usageDetails.input`, `.output` and `.total` as integers, 0 for none.
    pub input_usage: &'static str,
    pub output_usage: &'static str,
    pub total_usage: &'static str,
}

/// `FROM heads WHERE …` of the filter, and its parameters in order.
pub fn trace_from(
    filter: &TraceFilter,
    project_id: &str,
    c: &TraceColumns,
) -> (String, Vec<Param>) {
    let mut conditions = vec![c.is_head.to_owned(), format!("{} = ?", c.project_id)];
    let mut params = vec![Param::Text(project_id.to_owned())];
    for (column, value) in [
        (c.name, &filter.name),
        (c.user_id, &filter.user_id),
        (c.session_id, &filter.session_id),
    ] {
        if let Some(value) = value {
            conditions.push(format!("{column} = ?"));
            params.push(Param::Text(value.clone()));
        }
    }
    for tag in &filter.tags {
        conditions.push(c.has_tag.to_owned());
        params.push(Param::Text(tag.clone()));
    }
    if !filter.environments.is_empty() {
        let marks = vec!["?"; filter.environments.len()].join(", ");
        conditions.push(format!("{} IN ({marks})", c.environment));
        params.extend(filter.environments.iter().cloned().map(Param::Text));
    }
    if let Some(from) = filter.from_us {
        conditions.push(format!("{} >= ?", c.timestamp_us));
        params.push(Param::Int(from));
    }
    if let Some(to) = filter.to_us {
        conditions.push(format!("{} < ?", c.timestamp_us));
        params.push(Param::Int(to));
    }
    (
        format!("FROM {} WHERE {}", c.heads, conditions.join(" AND ")),
        params,
    )
}

/// How many traces the filter matches: one column, the count.
pub fn trace_count(
    filter: &TraceFilter,
    project_id: &str,
    c: &TraceColumns,
) -> (String, Vec<Param>) {
    let (from, params) = trace_from(filter, project_id, c);
    (format!("SELECT count(*) AS n {from}"), params)
}

/// The trace ids of one page, in the query's order: one column, `trace_id`.
pub fn trace_page(query: &TraceQuery, project_id: &str, c: &TraceColumns) -> (String, Vec<Param>) {
    let (from, mut params) = trace_from(&query.filter, project_id, c);
    let direction = if query.ascending { "ASC" } else { "DESC" };
    params.push(Param::Int(query.limit as i64));
    params.push(Param::Int(query.offset as i64));
    (
        format!(
            "SELECT {id} AS tid {from} ORDER BY {ts} {direction}, {id} {direction} LIMIT ? OFFSET ?",
            id = c.trace_id,
            ts = c.timestamp_us
        ),
        params,
    )
}

/// The sessions of the query's traces, grouped: columns `sid`, `created` (µs), `env`, `n`
/// (traces), newest first; the second statement counts them (one column).
pub fn session_page(
    query: &SessionQuery,
    project_id: &str,
    c: &TraceColumns,
) -> ((String, Vec<Param>), (String, Vec<Param>)) {
    let filter = TraceFilter {
        environments: query.environments.clone(),
        ..Default::default()
    };
    let (from, mut params) = trace_from(&filter, project_id, c);
    let mut having = Vec::new();
    if let Some(from) = query.from_us {
        having.push(format!("min({}) >= ?", c.timestamp_us));
        params.push(Param::Int(from));
    }
    if let Some(to) = query.to_us {
        having.push(format!("min({}) < ?", c.timestamp_us));
        params.push(Param::Int(to));
    }
    let having = if having.is_empty() {
        String::new()
    } else {
        format!(" HAVING {}", having.join(" AND "))
    };
    let grouped = format!(
        "{from} AND {session} != '' GROUP BY {session}{having}",
        session = c.session_id
    );
    let count = (
        format!(
            "SELECT count(*) AS n FROM (SELECT {} AS sid {grouped}) AS s",
            c.session_id
        ),
        params.clone(),
    );
    let mut page_params = params;
    page_params.push(Param::Int(query.limit as i64));
    page_params.push(Param::Int(query.offset as i64));
    let page = (
        format!(
            "SELECT {session} AS sid, min({ts}) AS created, max({env}) AS env, count(*) AS n              {grouped} ORDER BY created DESC, sid DESC LIMIT ? OFFSET ?",
            session = c.session_id,
            ts = c.timestamp_us,
            env = c.environment,
        ),
        page_params,
    );
    (page, count)
}

/// Daily metrics in two statements: traces per day (columns `day`, `n`), and the observations
/// of those traces per day and model (`day`, `model`, `traces`, `n`, `cost`, `input`,
/// `output`, `total`); [`daily_rows`] joins their answers.
pub fn daily_metrics(
    filter: &TraceFilter,
    project_id: &str,
    c: &TraceColumns,
) -> ((String, Vec<Param>), (String, Vec<Param>)) {
    let (from, params) = trace_from(filter, project_id, c);
    let traces = (
        format!("SELECT {} AS day, count(*) AS n {from} GROUP BY day", c.day),
        params.clone(),
    );
    let mut observation_params = params;
    observation_params.push(Param::Text(project_id.to_owned()));
    let observations = (
        format!(
            "SELECT h.day AS day, o.model AS model, count(DISTINCT o.tid) AS traces,              count(*) AS n, sum(o.cost) AS cost, sum(o.input) AS input,              sum(o.output) AS output, sum(o.total) AS total              FROM (SELECT {id} AS hid, {day} AS day {from}) AS h              INNER JOIN (SELECT {oid} AS tid, {model} AS model, {cost} AS cost,              {input} AS input, {output} AS output, {total} AS total              FROM {table} WHERE {oproject} = ? AND {live}) AS o ON o.tid = h.hid              GROUP BY h.day, o.model",
            id = c.trace_id,
            day = c.day,
            oid = c.observation_trace_id,
            model = c.model,
            cost = c.total_cost,
            input = c.input_usage,
            output = c.output_usage,
            total = c.total_usage,
            table = c.observations,
            oproject = c.observation_project_id,
            live = c.is_observation,
        ),
        observation_params,
    );
    (traces, observations)
}

/// The answers of [`daily_metrics`]' statements as the contract's rows: per day, newest first,
/// the day's totals (`model: None`), then its models by name (observations without a model
/// count in the totals only).
pub fn daily_rows(traces_per_day: Vec<(i64, u64)>, groups: Vec<DailyRow>) -> Vec<DailyRow> {
    let mut days: BTreeMap<i64, (DailyRow, Vec<DailyRow>)> = BTreeMap::new();
    for (day, traces) in traces_per_day {
        let entry = days.entry(day).or_default();
        entry.0.day = day;
        entry.0.count_traces = traces;
    }
    for group in groups {
        let entry = days.entry(group.day).or_default();
        let total = &mut entry.0;
        total.day = group.day;
        total.count_observations += group.count_observations;
        total.total_cost += group.total_cost;
        total.input_usage += group.input_usage;
        total.output_usage += group.output_usage;
        total.total_usage += group.total_usage;
        if group
            .model
            .as_deref()
            .is_some_and(|model| !model.is_empty())
        {
            entry.1.push(group);
        }
    }
    days.into_values()
        .rev()
        .flat_map(|(total, mut models)| {
            models.sort_by(|a, b| a.model.cmp(&b.model));
            std::iter::once(total).chain(models)
        })
        .collect()
}

/// The page's traces in the page's order, each with its rows (by start time then id) and
/// score ids, from the rows and `(trace id, score id)` pairs read for the whole page.
pub fn listed(
    ids: Vec<String>,
    rows: Vec<spanbridge_proto::StoredRow>,
    score_ids: Vec<(String, String)>,
) -> Vec<spanbridge_proto::ListedTrace> {
    let mut rows_of: std::collections::HashMap<String, Vec<spanbridge_proto::StoredRow>> =
        std::collections::HashMap::new();
    for row in rows {
        rows_of
            .entry(row.row.trace_id.clone())
            .or_default()
            .push(row);
    }
    let mut scores_of: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    for (trace_id, id) in score_ids {
        scores_of.entry(trace_id).or_default().push(id);
    }
    ids.into_iter()
        .map(|trace_id| {
            let mut rows = rows_of.remove(&trace_id).unwrap_or_default();
            rows.sort_by(|a, b| {
                (a.row.start_time_us, &a.row.span_id).cmp(&(b.row.start_time_us, &b.row.span_id))
            });
            spanbridge_proto::ListedTrace {
                score_ids: scores_of.remove(&trace_id).unwrap_or_default(),
                trace_id,
                rows,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use spanbridge_proto::Cursor;

    use super::*;

    const COLUMNS: Columns = Columns {
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

    #[test]
    fn filters_cursor_and_limit_become_one_parameterised_tail() {
        let query = ObservationQuery {
            trace_id: Some("t".into()),
            user_id: Some("u".into()),
            is_root: Some(false),
            environments: vec!["a".into(), "b".into()],
            from_start_time_us: Some(5),
            after: Some(Cursor {
                start_time_us: 9,
                trace_id: "t".into(),
                id: "x".into(),
            }),
            limit: 11,
            ..Default::default()
        };
        let (sql, params) = sql_tail(&query, "p", &COLUMNS);
        assert_eq!(
            sql,
            "WHERE is_deleted = 0 AND project_id = ? AND trace_id = ? AND user_id = ? \
             AND NOT ((parent_span_id = '' OR is_app_root)) AND environment IN (?, ?) \
             AND start_time >= ? AND (start_time, trace_id, span_id) < (?, ?, ?) \
             ORDER BY start_time DESC, trace_id DESC, span_id DESC LIMIT ? OFFSET ?"
        );
        assert_eq!(params.len(), 11);
        assert_eq!(params[0], Param::Text("p".into()));
        assert_eq!(params[9], Param::Int(11));
        assert_eq!(params[10], Param::Int(0));
    }

    const TRACES: TraceColumns = TraceColumns {
        heads: "events",
        is_head: "parent_span_id = ''",
        project_id: "project_id",
        trace_id: "trace_id",
        timestamp_us: "start_time",
        day: "(start_time / 86400000000)",
        name: "trace_name",
        user_id: "user_id",
        session_id: "session_id",
        environment: "environment",
        has_tag: "has(tags, ?)",
        observations: "events",
        is_observation: "1",
        observation_project_id: "project_id",
        observation_trace_id: "trace_id",
        model: "model",
        total_cost: "cost",
        input_usage: "i",
        output_usage: "o",
        total_usage: "t",
    };

    #[test]
    fn a_trace_page_is_its_filters_order_and_place() {
        let query = TraceQuery {
            filter: TraceFilter {
                user_id: Some("u".into()),
                tags: vec!["a".into(), "b".into()],
                from_us: Some(5),
                ..Default::default()
            },
            ascending: true,
            offset: 20,
            limit: 10,
        };
        let (sql, params) = trace_page(&query, "p", &TRACES);
        assert_eq!(
            sql,
            "SELECT trace_id AS tid FROM events WHERE parent_span_id = '' AND project_id = ? \
             AND user_id = ? AND has(tags, ?) AND has(tags, ?) AND start_time >= ? \
             ORDER BY start_time ASC, trace_id ASC LIMIT ? OFFSET ?"
        );
        assert_eq!(params.len(), 7);
        assert_eq!(params[5..], [Param::Int(10), Param::Int(20)]);
        let (count, params) = trace_count(&query.filter, "p", &TRACES);
        assert!(count.starts_with("SELECT count(*) AS n FROM events WHERE"));
        assert_eq!(params.len(), 5);
    }

    #[test]
    fn sessions_filter_their_first_trace_in_having() {
        let query = SessionQuery {
            from_us: Some(1),
            limit: 5,
            ..Default::default()
        };
        let ((page, page_params), (count, count_params)) = session_page(&query, "p", &TRACES);
        assert!(
            page.contains("GROUP BY session_id HAVING min(start_time) >= ?"),
            "{page}"
        );
        assert!(
            page.ends_with("ORDER BY created DESC, sid DESC LIMIT ? OFFSET ?"),
            "{page}"
        );
        assert_eq!(page_params.len(), 4);
        assert!(
            count.starts_with("SELECT count(*) AS n FROM (SELECT session_id AS sid"),
            "{count}"
        );
        assert_eq!(count_params.len(), 2);
    }

    #[test]
    fn daily_rows_total_each_day_before_its_models() {
        let group = |day: i64, model: &str, n: u64, cost: f64| DailyRow {
            day,
            model: Some(model.into()),
            count_traces: 1,
            count_observations: n,
            total_cost: cost,
            input_usage: n,
            ..Default::default()
        };
        let rows = daily_rows(
            vec![(1, 3), (2, 1)],
            vec![
                group(1, "b", 2, 0.5),
                group(1, "", 3, 0.0),
                group(1, "a", 1, 0.25),
                group(2, "a", 1, 1.0),
            ],
        );
        let days: Vec<(i64, Option<&str>, u64, u64)> = rows
            .iter()
            .map(|r| {
                (
                    r.day,
                    r.model.as_deref(),
                    r.count_traces,
                    r.count_observations,
                )
            })
            .collect();
        assert_eq!(
            days,
            [
                (2, None, 1, 1),
                (2, Some("a"), 1, 1),
                (1, None, 3, 6),
                (1, Some("a"), 1, 1),
                (1, Some("b"), 1, 2),
            ]
        );
        assert_eq!(rows[2].total_cost, 0.75);
    }
}

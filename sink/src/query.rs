//! The observation list of `GET /api/public/v2/observations` (reference langfuse-legacy.md
//! §6.1): the contract's [`ObservationQuery`] — filters, newest-first order, cursor — turned
//! into each store's SQL with its own column names ([`Columns`]), so SQLite `events`,
//! ClickHouse `events_full` and v3 `observations` answer the same query the same way.

use spanbridge_proto::ObservationQuery;

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

/// `WHERE … ORDER BY … LIMIT ?` of `query` for the table, and its parameters in order.
pub fn sql_tail(query: &ObservationQuery, project_id: &str, c: &Columns) -> (String, Vec<Param>) {
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
    params.push(Param::Int(query.limit as i64));
    (
        format!(
            "WHERE {} ORDER BY {} DESC, {} DESC, {} DESC LIMIT ?",
            conditions.join(" AND "),
            c.start_us,
            c.trace_id,
            c.id
        ),
        params,
    )
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
             ORDER BY start_time DESC, trace_id DESC, span_id DESC LIMIT ?"
        );
        assert_eq!(params.len(), 10);
        assert_eq!(params[0], Param::Text("p".into()));
        assert_eq!(params[9], Param::Int(11));
    }
}

//! Which of Langfuse's ClickHouse tables a `clickhouse.tables` mode needs, their DDL (for one
//! server, or clustered as Langfuse's `migrations/clustered/` set: reference
//! langfuse-legacy.md §9), and the check of a table that already exists: the columns
//! Spanbridge inserts must be there with the types it writes, or migrate stops naming them.

/// `clickhouse.tables`: what the sink writes, so the Langfuse UI the team runs shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableSet {
    /// Langfuse v4 `events_only`: `events_full`.
    #[default]
    Events,
    /// Langfuse v3, and v4 with `LANGFUSE_MIGRATION_V4_WRITE_MODE=legacy`: `traces` +
    /// `observations` (the v3 tables).
    /// `"legacy"` is still read, with a deprecation warning at start.
    #[serde(alias = "legacy")]
    V3,
    /// Langfuse v4 `dual`: all of them.
    Both,
}

impl TableSet {
    pub fn events(self) -> bool {
        matches!(self, Self::Events | Self::Both)
    }

    pub fn v3(self) -> bool {
        matches!(self, Self::V3 | Self::Both)
    }
}

/// One DDL script and the table of it Spanbridge inserts into (its columns are checked).
pub(super) struct Script {
    pub table: &'static str,
    pub sql: &'static str,
    pub needed: fn(TableSet) -> bool,
}

impl Script {
    /// What in an existing table's columns (name, type) differs from what Spanbridge writes
    /// into it, as the operator should read it: the check `migrate` and the sink's first
    /// insert both make.
    pub(super) fn mismatch(&self, existing: &[(String, String)]) -> Option<String> {
        column_mismatch(self.table, &inserted_columns(self.sql), existing)
    }
}

/// Every script, in creation order (the events MV after its tables).
pub(super) const SCRIPTS: &[Script] = &[
    Script {
        table: "events_full",
        sql: include_str!("events.sql"),
        needed: TableSet::events,
    },
    Script {
        table: "traces",
        sql: include_str!("traces.sql"),
        needed: TableSet::v3,
    },
    Script {
        table: "observations",
        sql: include_str!("observations.sql"),
        needed: TableSet::v3,
    },
    Script {
        table: "scores",
        sql: include_str!("scores.sql"),
        needed: |_| true,
    },
];

/// The scripts a mode needs.
pub(super) fn scripts(tables: TableSet) -> impl Iterator<Item = &'static Script> {
    SCRIPTS.iter().filter(move |script| (script.needed)(tables))
}

/// The script that creates `table`.
pub(super) fn script_of(table: &str) -> Option<&'static Script> {
    SCRIPTS.iter().find(|script| script.table == table)
}

/// The SQL statements of a script: comment lines dropped, split at `;`.
pub(super) fn statements(script: &str) -> Vec<String> {
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

/// What Langfuse's clustered migrations change in a statement: `ON CLUSTER <name>` after the
/// created object's name, and `Replicated` engines with no arguments beyond the version and
/// deleted columns (Keeper paths come from the server's macros).
pub(super) fn clustered(statement: &str, cluster: &str) -> String {
    const CREATES: &[&str] = &[
        "CREATE TABLE IF NOT EXISTS ",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS ",
        "CREATE DATABASE IF NOT EXISTS ",
    ];
    let mut out = statement.to_owned();
    if let Some(create) = CREATES.iter().find(|c| statement.starts_with(*c)) {
        let rest = &statement[create.len()..];
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '(')
            .unwrap_or(rest.len());
        out = format!(
            "{create}{} ON CLUSTER {cluster}{}",
            &rest[..name_end],
            &rest[name_end..]
        );
    }
    out.replace(
        "ENGINE = ReplacingMergeTree(",
        "ENGINE = ReplicatedReplacingMergeTree(",
    )
}

/// The statements to run for a mode, clustered when a cluster is named (what `migrate` runs,
/// as one list for the DDL tests).
#[cfg(test)]
pub(super) fn ddl(tables: TableSet, cluster: Option<&str>) -> Vec<(&'static str, String)> {
    scripts(tables)
        .flat_map(|script| {
            statements(script.sql)
                .into_iter()
                .map(move |statement| (script.table, statement))
        })
        .map(|(table, statement)| match cluster {
            Some(cluster) => (table, clustered(&statement, cluster)),
            None => (table, statement),
        })
        .collect()
}

/// The columns Spanbridge inserts into the table the script creates, with their types as
/// ClickHouse reports them (`system.columns`) minus spaces: MATERIALIZED and ALIAS columns,
/// indexes, defaults and codecs left out.
pub(super) fn inserted_columns(script: &str) -> Vec<(String, String)> {
    let Some(create) = statements(script).into_iter().next() else {
        return Vec::new();
    };
    let Some(open) = create.find('(') else {
        return Vec::new();
    };
    let body = &create[open + 1..];
    let body = &body[..body.find("\n)").unwrap_or(body.len())];
    body.lines()
        .map(|line| line.trim().trim_end_matches(','))
        .filter(|line| !line.is_empty() && !line.starts_with("INDEX ") && !line.starts_with(')'))
        .filter(|line| !line.contains(" MATERIALIZED ") && !line.contains(" ALIAS "))
        .filter_map(|line| {
            let (name, definition) = line.split_once(' ')?;
            let end = [" DEFAULT ", " CODEC("]
                .iter()
                .filter_map(|cut| definition.find(cut))
                .min()
                .unwrap_or(definition.len());
            Some((name.to_owned(), normal_type(&definition[..end])))
        })
        .collect()
}

/// A type as `system.columns` spells it, without spaces: `Decimal64(12)` is `Decimal(18, 12)`.
pub(super) fn normal_type(text: &str) -> String {
    text.replace(' ', "")
        .replace("Decimal64(12)", "Decimal(18,12)")
}

/// The first column Spanbridge inserts that the existing table lacks or types differently:
/// the message names the table, the column and both types.
pub(super) fn column_mismatch(
    table: &str,
    expected: &[(String, String)],
    existing: &[(String, String)],
) -> Option<String> {
    for (name, wanted) in expected {
        match existing.iter().find(|(existing, _)| existing == name) {
            None => {
                return Some(format!(
                    "ClickHouse table {table} has no column {name} ({wanted}), which Spanbridge writes: \
                     bring the table to Langfuse's current schema, or drop it to let migrate create it"
                ));
            }
            Some((_, found)) if normal_type(found) != *wanted => {
                return Some(format!(
                    "ClickHouse table {table}: column {name} is {found}, Spanbridge writes {wanted}"
                ));
            }
            Some(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_creates_its_tables_and_scores() {
        let tables = |set| scripts(set).map(|s| s.table).collect::<Vec<_>>();
        assert_eq!(tables(TableSet::Events), ["events_full", "scores"]);
        assert_eq!(tables(TableSet::V3), ["traces", "observations", "scores"]);
        assert_eq!(
            tables(TableSet::Both),
            ["events_full", "traces", "observations", "scores"]
        );
    }

    #[test]
    fn inserted_columns_skip_computed_ones_and_normalise_types() {
        let observations = inserted_columns(SCRIPTS[2].sql);
        assert_eq!(observations.len(), 36, "{observations:?}");
        assert!(observations.contains(&(
            "total_cost".to_owned(),
            "Nullable(Decimal(18,12))".to_owned()
        )));
        assert!(observations.contains(&(
            "tool_definitions".to_owned(),
            "Map(String,String)".to_owned()
        )));
        let events = inserted_columns(SCRIPTS[0].sql);
        assert!(events.iter().all(|(name, _)| name != "total_cost"));
        assert!(events.contains(&("event_ts".to_owned(), "DateTime64(6)".to_owned())));
        assert_eq!(inserted_columns(SCRIPTS[1].sql).len(), 19);
        assert_eq!(inserted_columns(SCRIPTS[3].sql).len(), 27);
    }

    #[test]
    fn a_missing_or_retyped_column_is_named() {
        let expected = inserted_columns(SCRIPTS[1].sql);
        let mut existing: Vec<(String, String)> = expected
            .iter()
            .map(|(name, ty)| (name.clone(), ty.clone()))
            .collect();
        assert_eq!(column_mismatch("traces", &expected, &existing), None);
        existing.retain(|(name, _)| name != "environment");
        let missing = column_mismatch("traces", &expected, &existing).unwrap_or_default();
        assert!(
            missing.contains("traces") && missing.contains("environment"),
            "{missing}"
        );
        existing.push(("environment".into(), "LowCardinality(String)".into()));
        existing[0].1 = "UInt64".into();
        let retyped = column_mismatch("traces", &expected, &existing).unwrap_or_default();
        assert!(retyped.contains("column id is UInt64"), "{retyped}");
    }

    /// Langfuse's clustered DDL as reference langfuse-legacy.md §9 states it: `ON CLUSTER` on
    /// every CREATE, `ReplicatedReplacingMergeTree(event_ts, is_deleted)` on every table, and
    /// the view's exact head; otherwise the same statements as the single-server set.
    #[test]
    fn clustered_ddl_matches_the_reference() {
        let reference = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/reference/langfuse-legacy.md"),
        )
        .or_else(|_| {
            std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../shared/reference/langfuse-legacy.md"),
            )
        })
        .expect("the shared reference beside the repository");
        let section = &reference[reference
            .find("## 9. Clustered ClickHouse DDL")
            .expect("§9")..];
        // Quoted snippets, their line breaks read as spaces.
        let quoted: Vec<String> = section
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|snippet| snippet.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        let engine = "ReplicatedReplacingMergeTree(event_ts, is_deleted)";
        let view_head = "CREATE MATERIALIZED VIEW IF NOT EXISTS events_core_mv ON CLUSTER default TO events_core AS …";
        assert!(quoted.iter().any(|q| q == engine), "{quoted:?}");
        assert!(quoted.iter().any(|q| q == view_head), "{quoted:?}");

        let single = ddl(TableSet::Both, None);
        let on_cluster = ddl(TableSet::Both, Some("default"));
        assert_eq!(single.len(), on_cluster.len());
        let mut tables = Vec::new();
        for ((_, plain), (_, on_cluster)) in single.iter().zip(&on_cluster) {
            let head = on_cluster.lines().next().unwrap_or_default();
            if on_cluster.starts_with("CREATE TABLE") {
                assert!(
                    head.ends_with(" ON CLUSTER default") || head.contains(" ON CLUSTER default ("),
                    "{head}"
                );
                let engine_line = on_cluster
                    .lines()
                    .find(|l| l.contains("ENGINE"))
                    .unwrap_or_default();
                assert!(engine_line.ends_with(engine), "{engine_line}");
                tables.push(
                    head.split_whitespace()
                        .nth(5)
                        .unwrap_or_default()
                        .to_owned(),
                );
            } else {
                let reference_head = view_head.trim_end_matches(" …");
                assert!(on_cluster.starts_with(reference_head), "{head}");
            }
            // Nothing else differs.
            let undone = on_cluster
                .replace(" ON CLUSTER default", "")
                .replace("ReplicatedReplacingMergeTree", "ReplacingMergeTree");
            assert_eq!(&undone, plain);
        }
        assert_eq!(
            tables,
            [
                "events_full",
                "events_core",
                "traces",
                "observations",
                "scores"
            ]
        );
        assert_eq!(
            clustered("CREATE DATABASE IF NOT EXISTS `langfuse`", "prod"),
            "CREATE DATABASE IF NOT EXISTS `langfuse` ON CLUSTER prod"
        );
    }
}

//! What the embedded store's write costs per row with each index layout, as CPU time of the
//! whole process (writer and checkpoint thread), on the load generator's rows with one and ten
//! spans per trace and random trace, user and session ids. A span in embedded mode costs its
//! decode, conversion, enrichment and HTTP plus its store write, so these figures bound what
//! embedded mode can reach on a machine with a given layout (docs/performance.md, "One core,
//! no I/O" and "Embedded store (SQLite)").
//!
//! `cargo bench -p spanbridge-sink --bench store_layouts [-- ROWS [COMMIT_ROWS]]`: by default
//! 153,600 rows per layout in 800-row commits, as 8 connections of 100-span requests make them
//! (the writer commits what is waiting, up to `embedded.max_batch_rows`).

use spanbridge_gateway::convert::convert;
use spanbridge_proto::EventBatch;
use spanbridge_proto::StoredRow;
use spanbridge_sink::enrich::enrich;
use spanbridge_sink::meta::PromptIds;
use spanbridge_sink::prices::ModelCatalog;
use spanbridge_sink::store::Store;
use spanbridge_sink::store::sqlite::SqliteStore;
use spanbridge_workload::{SplitMix64, genai_request_with};

/// The allocator of the `spanbridge` binary, so the rows are built and bound as there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Rows between two reported figures.
const REPORT_ROWS: usize = 51_200;

/// Drops the user and session indexes of the migrated `events` table.
const WITHOUT_USER_AND_SESSION_INDEXES: &str =
    "DROP INDEX events_user_idx; DROP INDEX events_session_idx;";

/// Rebuilds `events` (no index left by then) without its primary key: rowid order only.
const WITHOUT_PRIMARY_KEY: &str = "CREATE TABLE bare AS SELECT * FROM events WHERE 0;
    DROP TABLE events; ALTER TABLE bare RENAME TO events;";

/// A layout: its name and the statements that turn the migrated `events` table into it.
const LAYOUTS: [(&str, &[&str]); 4] = [
    (
        "as shipped: primary key (project, trace, span) + user + session indexes",
        &[],
    ),
    ("primary key only", &[WITHOUT_USER_AND_SESSION_INDEXES]),
    (
        "no primary key, one index on trace_id (the least a trace view needs)",
        &[
            WITHOUT_USER_AND_SESSION_INDEXES,
            WITHOUT_PRIMARY_KEY,
            "CREATE INDEX events_trace_idx ON events(trace_id);",
        ],
    ),
    (
        "no index at all (rowid order; cannot find a trace)",
        &[WITHOUT_USER_AND_SESSION_INDEXES, WITHOUT_PRIMARY_KEY],
    ),
];

fn main() {
    // cargo passes `--bench` too; the numbers are ours.
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let rows = numbers.first().copied().unwrap_or(153_600);
    let commit_rows = numbers.get(1).copied().unwrap_or(800).max(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for spans_per_trace in [1, 10] {
        let templates = templates(&runtime, spans_per_trace, commit_rows);
        println!(
            "store layouts, {spans_per_trace} span(s) per trace: {rows} rows each, \
             {commit_rows}-row commits, CPU µs per row"
        );
        for (name, layout) in LAYOUTS {
            let commits = commits(&templates, rows / commit_rows, spans_per_trace);
            let (mean, steps) = measure(&runtime, &layout.concat(), &commits);
            println!(
                "{mean:6.1} mean | per {REPORT_ROWS} rows: {} | {name}",
                steps.join(" ")
            );
        }
    }
}

/// Writes `commits` into a new database of the given layout: the mean CPU µs per row, and
/// the mean of about each [`REPORT_ROWS`] rows (the cost grows with the table).
fn measure(
    runtime: &tokio::runtime::Runtime,
    layout_sql: &str,
    commits: &[Vec<StoredRow>],
) -> (f64, Vec<String>) {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).expect("temp dir");
    let path = dir.path().join("events.db");
    let store = runtime.block_on(async {
        let pool = spanbridge_sink::db::open_sqlite(&path).await.expect("open");
        rusqlite::Connection::open(&path)
            .and_then(|c| c.execute_batch(layout_sql))
            .expect("layout");
        SqliteStore::open(pool).expect("store")
    });
    let per_row = |seconds: f64, rows: usize| seconds / rows.max(1) as f64 * 1e6;
    let start = cpu_seconds();
    let (mut mark, mut rows_since, mut rows) = (start, 0, 0);
    let mut steps = Vec::new();
    for commit in commits {
        runtime.block_on(store.write(commit)).expect("write");
        rows_since += commit.len();
        rows += commit.len();
        if rows_since >= REPORT_ROWS {
            let now = cpu_seconds();
            steps.push(format!("{:.1}", per_row(now - mark, rows_since)));
            (mark, rows_since) = (now, 0);
        }
    }
    (per_row(cpu_seconds() - start, rows), steps)
}

/// Twenty enriched commits of `commit_rows` spans, as the gateway would store them.
fn templates(
    runtime: &tokio::runtime::Runtime,
    spans_per_trace: usize,
    commit_rows: usize,
) -> Vec<Vec<StoredRow>> {
    (1..=20)
        .map(|seed| {
            let converted = convert(&genai_request_with(seed, commit_rows, spans_per_trace), 0);
            let batch = EventBatch {
                project_id: "5f0c8a2e-6b1d-4c3e-9a7f-2d4b6e8f0a1c".into(),
                rows: converted.traces.into_iter().flat_map(|(_, r)| r).collect(),
                ..Default::default()
            };
            runtime.block_on(enrich(
                vec![batch],
                1,
                &ModelCatalog::none(),
                &PromptIds::none(),
            ))
        })
        .collect()
}

/// The commits to write, built before the timing: the templates' rows with a random trace id,
/// user and session per trace (a real tracer's ids are random; the workload's share a prefix per
/// request, which would insert each commit at one place of the index).
fn commits(
    templates: &[Vec<StoredRow>],
    count: usize,
    spans_per_trace: usize,
) -> Vec<Vec<StoredRow>> {
    let mut random = SplitMix64::new(7);
    (0..count)
        .map(|i| {
            let mut commit = templates[i % templates.len()].clone();
            for trace in commit.chunks_mut(spans_per_trace) {
                let trace_id = format!("{:016x}{:016x}", random.next_u64(), random.next_u64());
                let user_id = format!("user-{}", random.below(5_000));
                let session_id = format!("session-{}", random.below(20_000));
                for stored in trace {
                    stored.row.trace_id.clone_from(&trace_id);
                    stored.row.user_id.clone_from(&user_id);
                    stored.row.session_id.clone_from(&session_id);
                }
            }
            commit
        })
        .collect()
}

/// This process's CPU time (all threads), from `/proc/self/stat` (USER_HZ is 100 on Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    ticks(11)
        .zip(ticks(12))
        .map_or(0.0, |(u, s)| (u + s) / 100.0)
}

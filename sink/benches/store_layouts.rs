//! What the embedded store's write costs per row with each index layout, as CPU time of the
//! whole process (writer and checkpoint thread), on the load generator's rows with one and ten
//! spans per trace and random trace, user and session ids. A span in embedded mode costs its
//! decode, conversion, enrichment and HTTP plus its store write, so these figures bound what
//! embedded mode can reach on a machine with a given layout (docs/performance.md, "Issue 18,
//! ninth pass").
//!
//! `cargo bench -p spanbridge-sink --bench store_layouts [-- ROWS]` (default 153,600 rows per
//! layout, in 800-row commits as 8 connections of 100-span requests make them).

use spanbridge_gateway::convert::convert;
use spanbridge_gateway::sample::{SplitMix64, genai_request_with};
use spanbridge_proto::EventBatch;
use spanbridge_sink::enrich::{StoredRow, enrich};
use spanbridge_sink::meta::PromptIds;
use spanbridge_sink::prices::ModelCatalog;
use spanbridge_sink::store::Store;
use spanbridge_sink::store::sqlite::SqliteStore;

/// The allocator of the `spanbridge` binary, so the rows are built and bound as there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const COMMIT_ROWS: usize = 800;
/// Commits between two reported figures (51,200 rows).
const REPORT_COMMITS: usize = 64;

/// A layout: its name and the SQL that turns the migrated `events` table into it.
const LAYOUTS: [(&str, &str); 4] = [
    (
        "as shipped: primary key (project, trace, span) + user + session indexes",
        "",
    ),
    (
        "primary key only",
        "DROP INDEX events_user_idx; DROP INDEX events_session_idx;",
    ),
    (
        "no primary key, one index on trace_id (the least a trace view needs)",
        "DROP INDEX events_user_idx; DROP INDEX events_session_idx;
         CREATE TABLE bare AS SELECT * FROM events WHERE 0; DROP TABLE events;
         ALTER TABLE bare RENAME TO events; CREATE INDEX events_trace_idx ON events(trace_id);",
    ),
    (
        "no index at all (rowid order; cannot find a trace)",
        "DROP INDEX events_user_idx; DROP INDEX events_session_idx;
         CREATE TABLE bare AS SELECT * FROM events WHERE 0; DROP TABLE events;
         ALTER TABLE bare RENAME TO events;",
    ),
];

fn main() {
    let rows: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(153_600);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for spans_per_trace in [1, 10] {
        let templates = templates(&runtime, spans_per_trace);
        println!(
            "store layouts, {spans_per_trace} span(s) per trace: {rows} rows each, \
             {COMMIT_ROWS}-row commits, CPU µs per row"
        );
        for (name, sql) in LAYOUTS {
            let commits = commits(&templates, rows, spans_per_trace);
            let (mean, steps) = measure(&runtime, sql, &commits);
            println!(
                "{mean:6.1} mean | per {} rows: {} | {name}",
                REPORT_COMMITS * COMMIT_ROWS,
                steps.join(" ")
            );
        }
    }
}

/// Writes `commits` into a new database of the given layout: the mean CPU µs per row, and
/// the mean of each [`REPORT_COMMITS`] commits (the cost grows with the table).
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
    let start = cpu_seconds();
    let mut mark = start;
    let mut steps = Vec::new();
    for (i, commit) in commits.iter().enumerate() {
        runtime.block_on(store.write(commit)).expect("write");
        if (i + 1) % REPORT_COMMITS == 0 {
            let now = cpu_seconds();
            let rows = (REPORT_COMMITS * COMMIT_ROWS) as f64;
            steps.push(format!("{:.1}", (now - mark) / rows * 1e6));
            mark = now;
        }
    }
    let mean = (cpu_seconds() - start) / (commits.len() * COMMIT_ROWS) as f64 * 1e6;
    (mean, steps)
}

/// Twenty enriched 800-span requests, as the gateway would store them.
fn templates(runtime: &tokio::runtime::Runtime, spans_per_trace: usize) -> Vec<Vec<StoredRow>> {
    (1..=20)
        .map(|seed| {
            let converted = convert(&genai_request_with(seed, COMMIT_ROWS, spans_per_trace), 0);
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
/// user and session per trace (a real tracer's ids are random; the sample's share a prefix per
/// request, which would insert each commit at one place of the index).
fn commits(
    templates: &[Vec<StoredRow>],
    rows: usize,
    spans_per_trace: usize,
) -> Vec<Vec<StoredRow>> {
    let mut random = SplitMix64::new(7);
    (0..rows / COMMIT_ROWS)
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

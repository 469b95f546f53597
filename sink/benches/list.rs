//! Page 1 of the trace list (`GET /api/public/traces`) on the embedded store, with and without
//! filters, and with and without the trace-list indexes of migration 0006: TRACES traces (one
//! root span and one generation each, 10,000 users, 100,000 sessions, 20 names, 30 days) are
//! written through `SqliteStore::write`, then each list query runs through
//! `TraceReader::list_traces` (the count, the page's ids, its rows and score ids — all a
//! request reads) and the median of the runs is printed (docs/performance.md, "Trace list on SQLite").
//!
//! `cargo bench -p spanbridge-sink --bench list [-- TRACES [RUNS]]`: by default 1,000,000
//! traces and 9 runs per query.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use spanbridge_proto::{EventRow, StoredRow, TraceFilter, TraceQuery, TraceReader};
use spanbridge_sink::store::Store;
use spanbridge_sink::store::sqlite::SqliteStore;
use spanbridge_workload::SplitMix64;

const PROJECT: &str = "bench-project";
const DAY_US: i64 = 86_400_000_000;
const START_US: i64 = 1_796_000_000_000_000;
const DAYS: i64 = 30;
const USERS: u64 = 10_000;
const SESSIONS: u64 = 100_000;
const NAMES: u64 = 20;
const COMMIT_TRACES: usize = 2_000;

fn trace_rows(n: usize, random: &mut SplitMix64) -> [StoredRow; 2] {
    let trace_id = format!("{:032x}", random.next_u64() as u128 * 7 + n as u128);
    let start = START_US + (n as i64 * (DAYS * DAY_US / 1_000_000)) % (DAYS * DAY_US);
    let user = format!("user-{}", random.next_u64() % USERS);
    let session = format!("session-{}", random.next_u64() % SESSIONS);
    let name = format!("chat-{}", random.next_u64() % NAMES);
    let tags = vec![format!("tag-{}", random.next_u64() % 5), "bench".to_owned()];
    let row = EventRow {
        trace_id: trace_id.clone(),
        span_id: format!("{:016x}", random.next_u64()),
        start_time_us: start,
        end_time_us: Some(start + 1_500_000),
        name: name.clone(),
        trace_name: name,
        user_id: user,
        session_id: session,
        tags,
        r#type: "SPAN".into(),
        environment: if n.is_multiple_of(10) {
            "staging"
        } else {
            "default"
        }
        .into(),
        input: "{\"question\":\"What is the weather like?\"}".into(),
        output: "{\"answer\":\"Sunny.\"}".into(),
        ..Default::default()
    };
    let generation = EventRow {
        span_id: format!("{:016x}", random.next_u64()),
        parent_span_id: row.span_id.clone(),
        start_time_us: start + 100_000,
        end_time_us: Some(start + 1_400_000),
        r#type: "GENERATION".into(),
        name: "llm".into(),
        provided_model_name: "gpt-4o-mini".into(),
        ..row.clone()
    };
    let stored = |row: EventRow, generation: bool| StoredRow {
        project_id: PROJECT.into(),
        row,
        usage_details: if generation {
            BTreeMap::from([
                ("input".into(), 40),
                ("output".into(), 12),
                ("total".into(), 52),
            ])
        } else {
            BTreeMap::new()
        },
        cost_details: if generation {
            BTreeMap::from([("total".into(), 0.000_02)])
        } else {
            BTreeMap::new()
        },
        event_ts_us: start,
        ..Default::default()
    };
    [stored(row, false), stored(generation, true)]
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

async fn time_queries(store: &SqliteStore, queries: &[(&str, TraceQuery)], runs: usize) {
    for (label, query) in queries {
        let mut times = Vec::with_capacity(runs);
        let mut answer = (0, 0);
        for _ in 0..runs {
            let started = Instant::now();
            let page = store
                .list_traces(PROJECT, query)
                .await
                .unwrap_or_else(|error| panic!("{label}: {error}"));
            times.push(started.elapsed());
            answer = (page.traces.len(), page.total_items);
        }
        let (min, max) = (times.iter().min().copied(), times.iter().max().copied());
        println!(
            "  {label:<44} median {:>8.1} ms  (min {:.1}, max {:.1})  {} traces of {}",
            ms(median(times)),
            min.map_or(0.0, ms),
            max.map_or(0.0, ms),
            answer.0,
            answer.1,
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // cargo passes `--bench` too; the numbers are ours.
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let traces = numbers.first().copied().unwrap_or(1_000_000);
    let runs = numbers.get(1).copied().unwrap_or(9).max(1);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("list.db");
    let pool = spanbridge_sink::db::open_sqlite(&path)
        .await
        .expect("the migrated database");
    let store = SqliteStore::open(pool.clone()).expect("the store");

    let started = Instant::now();
    let mut random = SplitMix64::new(37);
    let mut batch = Vec::with_capacity(COMMIT_TRACES * 2);
    for n in 0..traces {
        batch.extend(trace_rows(n, &mut random));
        if batch.len() >= COMMIT_TRACES * 2 || n + 1 == traces {
            store.write(&batch).await.expect("the write");
            batch.clear();
        }
    }
    println!(
        "wrote {traces} traces ({} rows) in {:.1} s",
        traces * 2,
        started.elapsed().as_secs_f64()
    );

    let page = |filter: TraceFilter| TraceQuery {
        filter,
        limit: 50,
        ..Default::default()
    };
    let last_day = START_US + (DAYS - 1) * DAY_US;
    let queries = [
        (
            "no filter (page 1, newest first)",
            page(TraceFilter::default()),
        ),
        (
            "no filter, oldest first",
            TraceQuery {
                ascending: true,
                ..page(TraceFilter::default())
            },
        ),
        (
            "no filter, page 100",
            TraceQuery {
                offset: 99 * 50,
                ..page(TraceFilter::default())
            },
        ),
        (
            "userId",
            page(TraceFilter {
                user_id: Some("user-42".into()),
                ..Default::default()
            }),
        ),
        (
            "sessionId",
            page(TraceFilter {
                session_id: Some("session-42".into()),
                ..Default::default()
            }),
        ),
        (
            "name",
            page(TraceFilter {
                name: Some("chat-7".into()),
                ..Default::default()
            }),
        ),
        (
            "fromTimestamp..toTimestamp (last day)",
            page(TraceFilter {
                from_us: Some(last_day),
                to_us: Some(last_day + DAY_US),
                ..Default::default()
            }),
        ),
        (
            "name + fromTimestamp (last day)",
            page(TraceFilter {
                name: Some("chat-7".into()),
                from_us: Some(last_day),
                ..Default::default()
            }),
        ),
        (
            "environment (10 % of traces)",
            page(TraceFilter {
                environments: vec!["staging".into()],
                ..Default::default()
            }),
        ),
        (
            "tags (one of 5 values)",
            page(TraceFilter {
                tags: vec!["tag-3".into()],
                ..Default::default()
            }),
        ),
    ];
    println!("with the trace-list indexes (as shipped), {runs} runs each:");
    time_queries(&store, &queries, runs).await;

    sqlx::raw_sql("DROP INDEX events_trace_list_idx; DROP INDEX events_trace_name_idx;")
        .execute(&pool)
        .await
        .expect("the indexes dropped");
    // A new store: fresh read connections see the schema without the indexes.
    let store = SqliteStore::open(pool).expect("the store");
    let slow_runs = runs.min(3);
    println!("without them (migration 0006 undone), {slow_runs} runs each:");
    time_queries(&store, &queries[..1], slow_runs).await;
}

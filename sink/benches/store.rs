//! The write path's per-row costs on the load generator's rows, row building outside the
//! timing. `cargo bench -p spanbridge-sink`:
//! - `sqlite_write`: the embedded store, one group commit of 8 requests (800 rows, ~2.3 KB
//!   each) into a growing SQLite file, the way the embedded pipeline writes;
//! - `assemble_new_whole_traces`: assembly of one 100-span request of new traces, each whole
//!   (1 or 10 spans), the commonest input of both the embedded pipeline and the sink.

use divan::counter::ItemsCount;
use spanbridge_gateway::convert::convert;
use spanbridge_proto::EventBatch;
use spanbridge_proto::StoredRow;
use spanbridge_sink::assemble::{Assembler, AssemblySettings};
use spanbridge_sink::enrich::{enrich, now_us};
use spanbridge_sink::meta::PromptIds;
use spanbridge_sink::prices::ModelCatalog;
use spanbridge_sink::store::Store;
use spanbridge_sink::store::sqlite::SqliteStore;
use spanbridge_workload::{START_NS, genai_request, genai_request_with};

fn main() {
    divan::main();
}

const ROWS: usize = 800;

fn rows(seed: u64, runtime: &tokio::runtime::Runtime) -> Vec<StoredRow> {
    let converted = convert(&genai_request(seed, ROWS), 0);
    let batch = EventBatch {
        project_id: "bench".into(),
        rows: converted
            .traces
            .into_iter()
            .flat_map(|(_, rows)| rows)
            .collect(),
        ..Default::default()
    };
    runtime.block_on(enrich(
        vec![batch],
        1,
        &ModelCatalog::none(),
        &PromptIds::none(),
    ))
}

/// A runtime and a SQLite store in a new file (kept while the directory lives).
fn runtime_and_store() -> (tokio::runtime::Runtime, tempfile::TempDir, SqliteStore) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = runtime.block_on(async {
        let pool = spanbridge_sink::db::open_sqlite(&dir.path().join("bench.db"))
            .await
            .unwrap();
        SqliteStore::open(pool).unwrap()
    });
    (runtime, dir, store)
}

#[divan::bench(sample_count = 150, sample_size = 1)]
fn sqlite_write(bencher: divan::Bencher) {
    let (runtime, _dir, store) = runtime_and_store();
    let mut seed = 0;
    bencher
        .counter(ItemsCount::new(ROWS))
        .with_inputs(|| {
            seed += 1;
            rows(seed, &runtime)
        })
        .bench_local_refs(|rows| runtime.block_on(store.write(rows)).unwrap());
}

/// One request's batches as the gateway publishes them: a batch per trace with its fields.
/// Spans start after the assembler was made, so every trace is new to it (no read-back).
fn request_batches(seed: u64, spans_per_trace: usize) -> Vec<EventBatch> {
    let converted = convert(&genai_request_with(seed, 100, spans_per_trace), 0);
    let shift = now_us() + 3_600_000_000 - (START_NS / 1_000) as i64;
    converted
        .traces
        .into_iter()
        .zip(converted.trace_fields)
        .map(|((_, mut rows), trace)| {
            for row in &mut rows {
                row.start_time_us += shift;
                row.end_time_us = row.end_time_us.map(|end| end + shift);
            }
            EventBatch {
                project_id: "bench".into(),
                rows,
                trace: Some(trace),
                ..Default::default()
            }
        })
        .collect()
}

#[divan::bench(args = [1, 10], sample_count = 200, sample_size = 1)]
fn assemble_new_whole_traces(bencher: divan::Bencher, spans_per_trace: usize) {
    let (runtime, _dir, store) = runtime_and_store();
    let assembler = Assembler::new(&AssemblySettings {
        max_bytes: 32 << 20,
        idle: std::time::Duration::from_secs(60),
        max_rewrite_rows: 10_000,
    });
    let mut seed = 0;
    bencher
        .counter(ItemsCount::new(100usize))
        .with_inputs(|| {
            seed += 1;
            request_batches(seed, spans_per_trace)
        })
        .bench_local_values(|batches| runtime.block_on(assembler.assemble(batches, &store)));
}

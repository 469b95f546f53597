//! The embedded store's write cost on the load generator's rows: one group commit of 8
//! requests (800 rows, ~2.3 KB each) into a growing SQLite file, the way the embedded
//! pipeline writes. Row building is outside the timing. `cargo bench -p spanbridge-sink`.

use divan::counter::ItemsCount;
use spanbridge_gateway::convert::convert;
use spanbridge_gateway::sample::genai_request;
use spanbridge_proto::EventBatch;
use spanbridge_sink::enrich::{StoredRow, enrich};
use spanbridge_sink::meta::PromptIds;
use spanbridge_sink::prices::ModelCatalog;
use spanbridge_sink::store::Store;
use spanbridge_sink::store::sqlite::SqliteStore;

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

#[divan::bench(sample_count = 150, sample_size = 1)]
fn sqlite_write(bencher: divan::Bencher) {
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
    let mut seed = 0;
    bencher
        .counter(ItemsCount::new(ROWS))
        .with_inputs(|| {
            seed += 1;
            rows(seed, &runtime)
        })
        .bench_local_refs(|rows| runtime.block_on(store.write(rows)).unwrap());
}

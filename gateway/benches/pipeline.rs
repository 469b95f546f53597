//! Micro benchmarks of the gateway's per-request work on the load generator's payload
//! (100 spans, ~2.3 KB each): protobuf decode (the physical floor), conversion to rows, and
//! encoding the resulting contract messages. `cargo bench -p spanbridge-gateway`.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use spanbridge_gateway::convert::convert;
use spanbridge_proto::EventBatch;
use spanbridge_workload::genai_request;

fn main() {
    divan::main();
}

const SPANS: usize = 100;

#[divan::bench]
fn decode_protobuf(bencher: divan::Bencher) {
    let body = genai_request(1, SPANS).encode_to_vec();
    bencher
        .counter(divan::counter::ItemsCount::new(SPANS))
        .bench(|| ExportTraceServiceRequest::decode(divan::black_box(body.as_slice())));
}

#[divan::bench]
fn decode_json(bencher: divan::Bencher) {
    let body = serde_json::to_vec(&genai_request(1, SPANS)).unwrap_or_default();
    bencher
        .counter(divan::counter::ItemsCount::new(SPANS))
        .bench(|| serde_json::from_slice::<ExportTraceServiceRequest>(divan::black_box(&body)));
}

#[divan::bench]
fn convert_rows(bencher: divan::Bencher) {
    let request = genai_request(1, SPANS);
    bencher
        .counter(divan::counter::ItemsCount::new(SPANS))
        .bench(|| convert(divan::black_box(&request), 0));
}

#[divan::bench]
fn encode_event_batches(bencher: divan::Bencher) {
    let batches: Vec<EventBatch> = convert(&genai_request(1, SPANS), 0)
        .traces
        .into_iter()
        .map(|(_, rows)| EventBatch {
            rows,
            ..Default::default()
        })
        .collect();
    bencher
        .counter(divan::counter::ItemsCount::new(SPANS))
        .bench(|| {
            batches
                .iter()
                .map(|b| b.encode_to_vec().len())
                .sum::<usize>()
        });
}

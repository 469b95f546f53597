//! OTLP/JSON body (strict, then the lenient second chance) → `ExportTraceServiceRequest` → rows, as the HTTP receiver does.
//! A decode error is a 400 and fine; a panic, an abort or a runaway allocation is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanbridge_gateway::convert::convert;
use spanbridge_gateway::receive::decode::{Encoding, decode_request};

fuzz_target!(|body: &[u8]| {
    if let Ok(request) = decode_request(body, Encoding::Json) {
        let converted = convert(&request, 1_786_003_200_000_000);
        let spans: usize = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let rows: usize = converted.traces.iter().map(|(_, rows)| rows.len()).sum();
        assert_eq!(rows as i64 + converted.rejected_spans, spans as i64);
    }
});

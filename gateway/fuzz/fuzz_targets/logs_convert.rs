//! OTLP logs body (protobuf, and OTLP/JSON strict then lenient) → `ExportLogsServiceRequest` →
//! partial rows, scores and EVENT rows, as both receivers do. A decode error is a 400 and fine;
//! a panic, an abort or a runaway allocation is a finding, and so is a record counted twice.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use spanbridge_gateway::convert::logs::{LogOptions, OtherRecords, convert_logs};
use spanbridge_gateway::receive::decode::{Encoding, decode_request};

fuzz_target!(|body: &[u8]| {
    for encoding in [Encoding::Protobuf, Encoding::Json] {
        let Ok(request) = decode_request::<ExportLogsServiceRequest>(body, encoding) else {
            continue;
        };
        let records: usize = request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        for other_records in [OtherRecords::Count, OtherRecords::Event] {
            let options = LogOptions { other_records };
            let converted = convert_logs(request.clone(), 1_786_003_200_000_000, &options);
            // A record is rejected, "other", or used (content or evaluation): never two of them.
            assert!(
                converted.rejected_log_records as u64 + converted.other_records <= records as u64
            );
            assert_eq!(
                converted.rejected_log_records > 0,
                !converted.rejection_message.is_empty()
            );
            let scores: usize = converted.traces.iter().map(|(_, p)| p.scores.len()).sum();
            assert!(scores <= records);
            for (trace_id, pieces) in &converted.traces {
                assert_eq!(
                    trace_id.len(),
                    32,
                    "trace ids are 16 bytes of lowercase hex"
                );
                if other_records == OtherRecords::Count {
                    assert!(pieces.rows.is_empty(), "other records are only counted");
                }
            }
        }
    }
});

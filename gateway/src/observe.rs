//! Request metrics, recorded once per export by the receivers (which know the protocol and
//! encoding). Labels are bounded sets (protocol, encoding, reason); never a key or a payload
//! value.

use std::time::Instant;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

use crate::error::IngestError;

/// Counts the spans of a request (cheap: no conversion).
pub fn span_count(request: &ExportTraceServiceRequest) -> u64 {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum()
}

/// One export request being measured.
pub struct RequestMetrics {
    protocol: &'static str,
    encoding: &'static str,
    started: Instant,
    spans: u64,
}

impl RequestMetrics {
    pub fn start(protocol: &'static str, encoding: &'static str) -> Self {
        Self {
            protocol,
            encoding,
            started: Instant::now(),
            spans: 0,
        }
    }

    /// Records the decompressed size and span count once the body is decoded.
    pub fn decoded(&mut self, body_bytes: usize, request: &ExportTraceServiceRequest) {
        self.spans = span_count(request);
        let labels = [("protocol", self.protocol), ("encoding", self.encoding)];
        metrics::histogram!("spanbridge_request_size_bytes", &labels).record(body_bytes as f64);
        metrics::counter!("spanbridge_spans_received_total", &labels).increment(self.spans);
    }

    /// Records the outcome: accepted and rejected spans, request count and duration.
    pub fn finish(self, result: &Result<ExportTraceServiceResponse, IngestError>) {
        let (protocol, encoding) = (self.protocol, self.encoding);
        metrics::histogram!("spanbridge_request_duration_seconds", "protocol" => protocol, "encoding" => encoding)
            .record(self.started.elapsed().as_secs_f64());
        match result {
            Ok(response) => {
                let rejected = response
                    .partial_success
                    .as_ref()
                    .map_or(0, |p| p.rejected_spans.max(0) as u64);
                metrics::counter!("spanbridge_requests_total", "protocol" => protocol, "encoding" => encoding, "outcome" => "accepted", "reason" => "")
                    .increment(1);
                metrics::counter!("spanbridge_spans_accepted_total", "protocol" => protocol, "encoding" => encoding)
                    .increment(self.spans.saturating_sub(rejected));
                if rejected > 0 {
                    metrics::counter!("spanbridge_spans_rejected_total", "protocol" => protocol, "encoding" => encoding, "reason" => "invalid_span")
                        .increment(rejected);
                }
            }
            Err(error) => {
                let reason = error.reason();
                metrics::counter!("spanbridge_requests_total", "protocol" => protocol, "encoding" => encoding, "outcome" => "rejected", "reason" => reason)
                    .increment(1);
                if self.spans > 0 {
                    metrics::counter!("spanbridge_spans_rejected_total", "protocol" => protocol, "encoding" => encoding, "reason" => reason)
                        .increment(self.spans);
                }
            }
        }
    }
}

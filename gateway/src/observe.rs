//! Request metrics, recorded once per export by the receivers (which know the protocol and
//! encoding). Labels are bounded sets (signal, protocol, encoding, reason); never a key or a
//! payload value. Request counters carry a `signal` label (`traces`, `logs`, `scores`); items
//! have a counter family per signal (`spanbridge_spans_*`, `spanbridge_log_records_*`,
//! `spanbridge_scores_*`), so the dashboard's span series keep their meaning.

use std::time::Instant;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

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

/// Counts the log records of a request (cheap: no conversion).
pub fn log_record_count(request: &ExportLogsServiceRequest) -> u64 {
    request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len() as u64)
        .sum()
}

/// The items one signal's requests carry, and the counters they are recorded in.
#[derive(Debug, Clone, Copy)]
pub struct Items {
    pub signal: &'static str,
    received: &'static str,
    accepted: &'static str,
    rejected: &'static str,
    /// The `reason` label of items `partial_success` rejected.
    invalid: &'static str,
}

pub const SPANS: Items = Items {
    signal: "traces",
    received: "spanbridge_spans_received_total",
    accepted: "spanbridge_spans_accepted_total",
    rejected: "spanbridge_spans_rejected_total",
    invalid: "invalid_span",
};

pub const LOG_RECORDS: Items = Items {
    signal: "logs",
    received: "spanbridge_log_records_received_total",
    accepted: "spanbridge_log_records_accepted_total",
    rejected: "spanbridge_log_records_rejected_total",
    invalid: "invalid_log_record",
};

/// Langfuse scores (`POST /api/public/scores`); rejected ones are the invalid scores of a 207.
pub const SCORES: Items = Items {
    signal: "scores",
    received: "spanbridge_scores_received_total",
    accepted: "spanbridge_scores_accepted_total",
    rejected: "spanbridge_scores_rejected_total",
    invalid: "invalid_score",
};

/// Langfuse SDK 2.x batches (`POST /api/public/ingestion`); rejected ones are the invalid events of a 207.
pub const BATCH_API_EVENTS: Items = Items {
    signal: "batch_api",
    received: "spanbridge_batch_api_events_received_total",
    accepted: "spanbridge_batch_api_events_accepted_total",
    rejected: "spanbridge_batch_api_events_rejected_total",
    invalid: "invalid_event",
};

/// One export request being measured.
pub struct RequestMetrics {
    items: Items,
    protocol: &'static str,
    encoding: &'static str,
    started: Instant,
    count: u64,
}

impl RequestMetrics {
    pub fn start(items: Items, protocol: &'static str, encoding: &'static str) -> Self {
        Self {
            items,
            protocol,
            encoding,
            started: Instant::now(),
            count: 0,
        }
    }

    /// Records the decompressed size and item count once the body is decoded.
    pub fn decoded(&mut self, body_bytes: usize, count: u64) {
        self.count = count;
        let labels = [
            ("signal", self.items.signal),
            ("protocol", self.protocol),
            ("encoding", self.encoding),
        ];
        metrics::histogram!("spanbridge_request_size_bytes", &labels).record(body_bytes as f64);
        metrics::counter!(self.items.received, &labels[1..]).increment(count);
    }

    /// Records the outcome (Ok: how many items `partial_success` rejected): accepted and
    /// rejected items, request count and duration.
    pub fn finish(self, result: Result<u64, &IngestError>) {
        let (signal, protocol, encoding) = (self.items.signal, self.protocol, self.encoding);
        metrics::histogram!("spanbridge_request_duration_seconds", "signal" => signal, "protocol" => protocol, "encoding" => encoding)
            .record(self.started.elapsed().as_secs_f64());
        match result {
            Ok(rejected) => {
                metrics::counter!("spanbridge_requests_total", "signal" => signal, "protocol" => protocol, "encoding" => encoding, "outcome" => "accepted", "reason" => "")
                    .increment(1);
                metrics::counter!(self.items.accepted, "protocol" => protocol, "encoding" => encoding)
                    .increment(self.count.saturating_sub(rejected));
                if rejected > 0 {
                    metrics::counter!(self.items.rejected, "protocol" => protocol, "encoding" => encoding, "reason" => self.items.invalid)
                        .increment(rejected);
                }
            }
            Err(error) => {
                let reason = error.reason();
                metrics::counter!("spanbridge_requests_total", "signal" => signal, "protocol" => protocol, "encoding" => encoding, "outcome" => "rejected", "reason" => reason)
                    .increment(1);
                if self.count > 0 {
                    metrics::counter!(self.items.rejected, "protocol" => protocol, "encoding" => encoding, "reason" => reason)
                        .increment(self.count);
                }
            }
        }
    }
}

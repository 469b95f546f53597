//! The operations port: Prometheus metrics, liveness and readiness. Kept off the OTLP ports so
//! a scrape or a probe never competes with ingestion for admission slots.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use spanbridge_gateway::error::BackendUnavailable;

/// Something `/ready` must reach: the store, the broker.
#[async_trait]
pub trait ReadyCheck: Send + Sync + 'static {
    /// A short name for the answer body (`sqlite`, `kafka`, …).
    fn name(&self) -> &'static str;
    /// Ok, or why not (logged; the answer body says only "unavailable").
    async fn check(&self) -> Result<(), BackendUnavailable>;
}

/// Help text for every metric Spanbridge emits (Prometheus `# HELP`). A metric missing here
/// shows up in `promtool check metrics` as "no help text".
const METRICS: &[(&str, &str)] = &[
    (
        "spanbridge_requests_total",
        "Intake requests by signal (traces, logs, scores), protocol, encoding, outcome and rejection reason",
    ),
    (
        "spanbridge_spans_received_total",
        "Spans received in decoded export requests",
    ),
    (
        "spanbridge_spans_accepted_total",
        "Spans durably accepted (acknowledged to the client)",
    ),
    (
        "spanbridge_spans_rejected_total",
        "Spans not accepted, by reason",
    ),
    (
        "spanbridge_log_records_received_total",
        "OTLP log records received in decoded export requests",
    ),
    (
        "spanbridge_log_records_accepted_total",
        "OTLP log records durably accepted (acknowledged to the client)",
    ),
    (
        "spanbridge_log_records_rejected_total",
        "OTLP log records not accepted, by reason",
    ),
    (
        "spanbridge_scores_received_total",
        "Langfuse scores received (POST /api/public/scores)",
    ),
    (
        "spanbridge_scores_accepted_total",
        "Langfuse scores durably accepted (acknowledged to the client)",
    ),
    (
        "spanbridge_scores_rejected_total",
        "Langfuse scores not accepted, by reason (invalid_score: refused in a 207)",
    ),
    (
        "spanbridge_batch_api_events_received_total",
        "Batch API (`/api/public/ingestion`, SDK 2.x) events received in decoded batches",
    ),
    (
        "spanbridge_batch_api_events_accepted_total",
        "Batch API events durably accepted (201 in the 207 answer; sdk-log included)",
    ),
    (
        "spanbridge_batch_api_events_rejected_total",
        "Batch API events not accepted, by reason (invalid_event: a 400 in the 207 answer)",
    ),
    (
        "spanbridge_log_records_other_total",
        "Log records that are neither GenAI content nor evaluations, by what was kept (counted, event)",
    ),
    (
        "spanbridge_request_duration_seconds",
        "Export request duration from admission to answer",
    ),
    (
        "spanbridge_request_size_bytes",
        "Decompressed export request size",
    ),
    (
        "spanbridge_auth_requests_total",
        "API key verifications by result (cache_hit, cache_miss, failure)",
    ),
    (
        "spanbridge_queue_depth",
        "Requests waiting in the embedded in-process queue",
    ),
    (
        "spanbridge_kafka_produce_duration_seconds",
        "Time until the broker acknowledged a request's messages",
    ),
    (
        "spanbridge_kafka_produce_errors_total",
        "Kafka produce failures",
    ),
    (
        "spanbridge_kafka_inflight_messages",
        "Kafka messages waiting for broker acknowledgement",
    ),
    (
        "spanbridge_kafka_topic_partitions",
        "Partitions of the events topic the gateway groups a request's traces by",
    ),
    ("spanbridge_sink_batch_rows", "Rows per store write"),
    (
        "spanbridge_sink_batch_duration_seconds",
        "Duration of one store write",
    ),
    (
        "spanbridge_sink_rows_written_total",
        "Rows written to the event store",
    ),
    (
        "spanbridge_sink_scores_written_total",
        "Scores written to the scores table",
    ),
    (
        "spanbridge_assembly_pieces_merged_total",
        "Trace-field and partial-row pieces merged into a trace's state by the sink",
    ),
    (
        "spanbridge_assembly_rows_rewritten_total",
        "Stored rows written again because their trace's fields changed",
    ),
    (
        "spanbridge_assembly_cache_total",
        "Assembly cache lookups per trace batch by result (hit, miss, whole: a new trace complete in one batch, not held; resent: an exact re-send of a trace written whole, dropped)",
    ),
    (
        "spanbridge_assembly_cache_evictions_total",
        "Traces evicted from the assembly cache by size or idle time",
    ),
    (
        "spanbridge_assembly_readbacks_total",
        "Traces read back from the event store after an assembly cache miss",
    ),
    (
        "spanbridge_assembly_orphan_pieces_total",
        "Partial rows stored as rows of their own because their span was not known",
    ),
    (
        "spanbridge_store_errors_total",
        "Failed store writes (retried or answered with 503)",
    ),
    (
        "spanbridge_dead_letter_messages_total",
        "Messages sent to the dead-letter topic",
    ),
    (
        "spanbridge_consumer_lag_messages",
        "Sink consumer lag per partition",
    ),
    (
        "spanbridge_model_cache_requests_total",
        "Model price lookups by cache result",
    ),
    (
        "spanbridge_model_catalog_errors_total",
        "Failures loading model prices",
    ),
    (
        "spanbridge_privacy_matches_total",
        "Values masked by privacy rules, by rule index, action, pattern and project",
    ),
    (
        "spanbridge_upstream_requests_total",
        "Requests passed through to the upstream Langfuse, by route family (prompts, datasets, media, ui, other) and the answer's status class",
    ),
    (
        "spanbridge_upstream_request_duration_seconds",
        "Time from a proxied request's arrival to the upstream's answer headers, by route family",
    ),
    (
        "spanbridge_upstream_errors_total",
        "Proxied requests that failed, by kind (unreachable, broken, timeout, body_too_large, overloaded)",
    ),
    (
        "spanbridge_upstream_inflight_requests",
        "Proxied requests in flight (at most upstream.max_concurrent)",
    ),
    (
        "spanbridge_spans_sampled_out_total",
        "Spans and partial observations dropped by trace sampling (answered as accepted), by project",
    ),
    (
        "spanbridge_scores_sampled_out_total",
        "Scores dropped by trace sampling with their trace (answered as accepted), by project",
    ),
];

/// Registers the help text of every metric.
pub fn describe_metrics() {
    for (name, help) in METRICS {
        match name.rsplit('_').next() {
            Some("total") => metrics::describe_counter!(*name, *help),
            Some("seconds" | "bytes" | "rows") => metrics::describe_histogram!(*name, *help),
            _ => metrics::describe_gauge!(*name, *help),
        }
    }
}

/// Installs the global Prometheus recorder with buckets suited to each histogram.
pub fn install_recorder() -> Result<PrometheusHandle, String> {
    const SECONDS: &[f64] = &[
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ];
    const BYTES: &[f64] = &[
        1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    ];
    const ROWS: &[f64] = &[1.0, 10.0, 100.0, 1000.0, 10000.0, 50000.0, 100000.0];
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), BYTES))
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_rows".into()), ROWS))
        .and_then(|b| b.install_recorder())
        .map_err(|error| format!("cannot install the metrics recorder: {error}"))
        .inspect(|_| describe_metrics())
}

struct AdminState {
    metrics: PrometheusHandle,
    checks: Vec<Arc<dyn ReadyCheck>>,
}

/// `/metrics`, `/health`, `/ready`.
pub fn router(metrics: PrometheusHandle, checks: Vec<Arc<dyn ReadyCheck>>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<Arc<AdminState>>| async move { state.metrics.render() }),
        )
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .with_state(Arc::new(AdminState { metrics, checks }))
}

async fn ready(State(state): State<Arc<AdminState>>) -> (StatusCode, String) {
    let mut lines = Vec::new();
    let mut all_ok = true;
    for check in &state.checks {
        match check.check().await {
            Ok(()) => lines.push(format!("{}: ok", check.name())),
            Err(error) => {
                all_ok = false;
                tracing::warn!(check = check.name(), %error, "not ready");
                lines.push(format!("{}: unavailable", check.name()));
            }
        }
    }
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, lines.join("\n") + "\n")
}

//! The protocol-independent request path: both receivers decode into the same
//! `ExportTraceServiceRequest` / `ExportLogsServiceRequest` and call [`Gateway::ingest`] /
//! [`Gateway::ingest_logs`]; nothing below knows the protocol. Langfuse scores arrive already
//! parsed at [`Gateway::ingest_scores`].

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use spanbridge_proto::{EventBatch, SCHEMA_VERSION, Score};

use crate::auth::{Authenticator, Project};
use crate::convert::batch_api::{Outcome, convert_batch};
use crate::convert::convert;
use crate::convert::logs::{LogOptions, convert_logs};
use crate::error::IngestError;
use crate::limits::{InflightLimit, ProjectRateLimit};
use crate::observe::{log_record_count, span_count};
use crate::privacy::Privacy;
use crate::publish::Publisher;

/// Settings the receivers enforce.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted request body after decompression, in bytes.
    pub max_body_bytes: usize,
    /// Longest a request may take from admission to answer; then 503 and the client retries.
    pub request_timeout: std::time::Duration,
}

/// Which SDK sent the request (Langfuse's ingestion attribution headers), `unknown` if absent.
#[derive(Debug, Clone)]
pub struct SdkInfo {
    pub name: String,
    pub version: String,
}

impl SdkInfo {
    pub fn new(name: Option<&str>, version: Option<&str>) -> Self {
        let clean = |value: Option<&str>| {
            value
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| v.chars().take(64).collect())
                .unwrap_or_else(|| "unknown".to_owned())
        };
        Self {
            name: clean(name),
            version: clean(version),
        }
    }
}

/// Everything a receiver needs: admission, authentication, conversion, publishing.
pub struct Gateway {
    pub auth: Authenticator,
    /// Intakes publish through [`Gateway::publish`], never through this directly: that is
    /// where privacy rules and sampling apply.
    pub publisher: Arc<dyn Publisher>,
    /// `[privacy]` and `[sampling]`, compiled at start.
    pub privacy: Arc<Privacy>,
    pub limits: Limits,
    pub inflight: InflightLimit,
    pub rate_limit: ProjectRateLimit,
    /// What becomes of OTLP log records that are not GenAI content or evaluations.
    pub logs: LogOptions,
}

impl Gateway {
    /// Converts and publishes one export request for an authenticated project. Returns only
    /// after every row is durable; invalid spans are reported in `partial_success`.
    pub async fn ingest(
        &self,
        project: &Project,
        sdk: &SdkInfo,
        mut request: ExportTraceServiceRequest,
    ) -> Result<ExportTraceServiceResponse, IngestError> {
        self.rate_limit
            .check(&project.project_id, span_count(&request))?;
        self.privacy_scope(project).mask_spans(&mut request);
        let received_at_us = now_us();
        let converted = convert(&request, received_at_us);
        drop(request);
        let batches: Vec<EventBatch> = converted
            .traces
            .into_iter()
            .zip(converted.trace_fields)
            .map(|((_, rows), trace)| EventBatch {
                rows,
                trace: Some(trace),
                ..envelope(project, sdk, received_at_us)
            })
            .collect();
        self.publish(project, batches).await?;
        let partial_success = (converted.rejected_spans > 0).then_some(ExportTracePartialSuccess {
            rejected_spans: converted.rejected_spans,
            error_message: converted.rejection_message,
        });
        Ok(ExportTraceServiceResponse { partial_success })
    }

    /// Converts and publishes one OTLP logs export: GenAI content becomes partial rows of its
    /// span, evaluation results scores (DESIGN.md "Wire semantics"). Returns only after every
    /// piece is durable; unusable records are reported in `partial_success`.
    pub async fn ingest_logs(
        &self,
        project: &Project,
        sdk: &SdkInfo,
        mut request: ExportLogsServiceRequest,
    ) -> Result<ExportLogsServiceResponse, IngestError> {
        self.rate_limit
            .check(&project.project_id, log_record_count(&request))?;
        self.privacy_scope(project).mask_logs(&mut request);
        let received_at_us = now_us();
        let converted = convert_logs(request, received_at_us, &self.logs);
        if converted.other_records > 0 {
            let kept = if self.logs.keeps_other_records() {
                "event"
            } else {
                "counted"
            };
            metrics::counter!("spanbridge_log_records_other_total", "kept_as" => kept)
                .increment(converted.other_records);
        }
        let batches: Vec<EventBatch> = converted
            .traces
            .into_iter()
            .map(|(_, pieces)| EventBatch {
                rows: pieces.rows,
                partial_rows: pieces.partial_rows,
                scores: pieces.scores,
                ..envelope(project, sdk, received_at_us)
            })
            .collect();
        self.publish(project, batches).await?;
        let partial_success =
            (converted.rejected_log_records > 0).then_some(ExportLogsPartialSuccess {
                rejected_log_records: converted.rejected_log_records,
                error_message: converted.rejection_message,
            });
        Ok(ExportLogsServiceResponse { partial_success })
    }
}

// Langfuse scores: `POST /api/public/scores` parses them with
// `convert::score::parse_score` and publishes them here.
impl Gateway {
    /// Publishes already validated scores, one batch per trace (or per session / dataset run
    /// for scores without a trace), through the same privacy rules and sampling as every
    /// other piece. Returns only after they are durable.
    pub async fn ingest_scores(
        &self,
        project: &Project,
        sdk: &SdkInfo,
        received_at_us: i64,
        scores: Vec<Score>,
    ) -> Result<(), IngestError> {
        let batches = score_batches(project, sdk, received_at_us, scores);
        self.publish(project, batches).await
    }
}

impl Gateway {
    /// Converts and publishes one batch-API batch (`POST /api/public/ingestion`):
    /// every valid event becomes a piece of its trace, every invalid one an error in the
    /// answer. Returns only after the accepted events are durable; an outage is an error for
    /// the whole request (the SDK retries it), never a success for data that is then lost.
    pub async fn ingest_batch(
        &self,
        project: &Project,
        sdk: &SdkInfo,
        batch: &[serde_json::Value],
    ) -> Result<Vec<(String, Outcome)>, IngestError> {
        self.rate_limit
            .check(&project.project_id, batch.len() as u64)?;
        let received_at_us = now_us();
        let converted = convert_batch(batch);
        if converted.sdk_logs > 0 {
            // The SDK's own diagnostics: noted, never stored (their content is not logged).
            tracing::info!(bytes = converted.sdk_logs, project = %project.project_id, "sdk-log events received");
        }
        let mut batches: Vec<EventBatch> = converted
            .groups
            .into_iter()
            .map(|group| EventBatch {
                rows: group.rows,
                partial_rows: group.partial_rows,
                trace: group.trace,
                scores: group.scores,
                ..envelope(project, sdk, received_at_us)
            })
            .collect();
        batches.extend(score_batches(
            project,
            sdk,
            received_at_us,
            converted.scores,
        ));
        self.publish(project, batches).await?;
        Ok(converted.outcomes)
    }
}

/// Scores as batches, one per trace (or per session / dataset run for scores without a
/// trace): each batch is sampled by its own trace and keyed by it.
fn score_batches(
    project: &Project,
    sdk: &SdkInfo,
    received_at_us: i64,
    scores: Vec<Score>,
) -> Vec<EventBatch> {
    let mut batches: Vec<EventBatch> = Vec::new();
    let mut by_target: HashMap<String, usize> = HashMap::new();
    for score in scores {
        let target = [&score.trace_id, &score.session_id, &score.dataset_run_id]
            .into_iter()
            .find(|id| !id.is_empty())
            .cloned()
            .unwrap_or_default();
        let slot = *by_target.entry(target).or_insert_with(|| {
            batches.push(envelope(project, sdk, received_at_us));
            batches.len() - 1
        });
        batches[slot].scores.push(score);
    }
    batches
}

/// An empty batch with who sent it and when: the project always from the key.
fn envelope(project: &Project, sdk: &SdkInfo, received_at_us: i64) -> EventBatch {
    EventBatch {
        schema_version: SCHEMA_VERSION,
        project_id: project.project_id.clone(),
        api_key_id: project.api_key_id.clone(),
        sdk_name: sdk.name.clone(),
        sdk_version: sdk.version.clone(),
        received_at_us,
        ..Default::default()
    }
}

// Privacy and sampling at the door: every intake publishes through here, so no intake can
// skip them.
impl Gateway {
    /// The privacy rules and sampling rate for `project`; intakes mask OTLP attribute lists
    /// with it before conversion (`mask_spans`, `mask_logs`).
    pub fn privacy_scope(&self, project: &Project) -> crate::privacy::Scope<'_> {
        self.privacy
            .scope(&project.project_id, &project.project_name)
    }

    /// Applies sampling and field rules to one request's batches, then publishes what is
    /// left. Sampled-out batches count as accepted: the client is not asked to retry them.
    pub async fn publish(
        &self,
        project: &Project,
        mut batches: Vec<EventBatch>,
    ) -> Result<(), IngestError> {
        let scope = self.privacy_scope(project);
        if !scope.is_noop() {
            scope.apply(&mut batches);
        }
        if !batches.is_empty() {
            self.publisher.publish(batches).await?;
        }
        Ok(())
    }
}

/// Runs one export under the request timeout; a timeout is a retryable 503 (in embedded mode
/// the rows may still be written, and a retried span replaces its earlier row).
pub async fn with_timeout<R>(
    limits: &Limits,
    export: impl std::future::Future<Output = Result<R, IngestError>>,
) -> Result<R, IngestError> {
    tokio::time::timeout(limits.request_timeout, export)
        .await
        .unwrap_or_else(|_| {
            Err(IngestError::Unavailable(
                "request timed out, retry later".into(),
            ))
        })
}

pub use spanbridge_proto::now_us;

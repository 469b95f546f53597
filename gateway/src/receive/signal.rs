//! What differs between the OTLP signals the receivers take (traces, logs): the request and
//! response types, how items are counted, and which [`Gateway`] method ingests them. The HTTP
//! and gRPC receivers are generic over [`Signal`], so decoding, limits, auth, status codes and
//! metrics are one path for every signal (the Collector's receivers share `Export` the same way).

use std::future::Future;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::Project;
use crate::error::IngestError;
use crate::ingest::{Gateway, SdkInfo};
use crate::observe::{self, Items};

/// One OTLP signal as a receiver sees it.
pub trait Signal: Send + Sync + 'static {
    type Request: Message + Default + DeserializeOwned + Send + 'static;
    type Response: Message + Default + Serialize + Send + 'static;
    /// The signal's metric label and item counters.
    const ITEMS: Items;

    /// Items in a decoded request (spans, log records).
    fn count(request: &Self::Request) -> u64;
    /// Items the response's `partial_success` rejected.
    fn rejected(response: &Self::Response) -> u64;
    /// Converts and publishes, answering only once the pieces are durable.
    fn ingest(
        gateway: &Gateway,
        project: &Project,
        sdk: &SdkInfo,
        request: Self::Request,
    ) -> impl Future<Output = Result<Self::Response, IngestError>> + Send;
}

/// OTLP traces: `/v1/traces`, `TraceService`.
pub struct Traces;

/// OTLP logs: `/v1/logs`, `LogsService`.
pub struct Logs;

impl Signal for Traces {
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;
    const ITEMS: Items = observe::SPANS;

    fn count(request: &Self::Request) -> u64 {
        observe::span_count(request)
    }

    fn rejected(response: &Self::Response) -> u64 {
        response
            .partial_success
            .as_ref()
            .map_or(0, |p| p.rejected_spans.max(0) as u64)
    }

    fn ingest(
        gateway: &Gateway,
        project: &Project,
        sdk: &SdkInfo,
        request: Self::Request,
    ) -> impl Future<Output = Result<Self::Response, IngestError>> + Send {
        gateway.ingest(project, sdk, request)
    }
}

impl Signal for Logs {
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    const ITEMS: Items = observe::LOG_RECORDS;

    fn count(request: &Self::Request) -> u64 {
        observe::log_record_count(request)
    }

    fn rejected(response: &Self::Response) -> u64 {
        response
            .partial_success
            .as_ref()
            .map_or(0, |p| p.rejected_log_records.max(0) as u64)
    }

    fn ingest(
        gateway: &Gateway,
        project: &Project,
        sdk: &SdkInfo,
        request: Self::Request,
    ) -> impl Future<Output = Result<Self::Response, IngestError>> + Send {
        gateway.ingest_logs(project, sdk, request)
    }
}

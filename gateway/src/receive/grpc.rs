//! OTLP/gRPC receivers: `opentelemetry.proto.collector.{trace,logs}.v1.{Trace,Logs}Service/Export`,
//! gzip and zstd in both directions, credentials from the `authorization` metadata. Both
//! services run one export path ([`export`], generic over the [`Signal`]). Admission (the
//! in-flight limit) happens in [`Shed`], before tonic reads and decodes the message.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};

use crate::ingest::{Gateway, SdkInfo, with_timeout};
use crate::limits::InflightLimit;
use crate::observe::RequestMetrics;
use crate::receive::signal::{Logs, Signal, Traces};

/// The TraceService and LogsService implementations over the shared [`Gateway`].
pub struct GrpcReceiver {
    gateway: Arc<Gateway>,
}

/// Every OTLP service is built alike: gzip and zstd both ways, the body limit, and load
/// shedding on the in-flight limit all signals share. (The generated servers share no trait,
/// hence a macro.)
macro_rules! limited {
    ($server:ident, $gateway:expr) => {{
        let gateway: Arc<Gateway> = $gateway;
        let limit = gateway.limits.max_body_bytes;
        let inflight = gateway.inflight.clone();
        Shed {
            inner: $server::new(GrpcReceiver { gateway })
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .send_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(limit),
            inflight,
        }
    }};
}

/// A ready-to-serve TraceService with load shedding, compression and the size limit.
pub fn service(gateway: Arc<Gateway>) -> Shed<TraceServiceServer<GrpcReceiver>> {
    limited!(TraceServiceServer, gateway)
}

/// A ready-to-serve LogsService, limited like [`service`] (the in-flight limit is shared).
pub fn logs_service(gateway: Arc<Gateway>) -> Shed<LogsServiceServer<GrpcReceiver>> {
    limited!(LogsServiceServer, gateway)
}

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        export::<Traces>(&self.gateway, request).await
    }
}

#[tonic::async_trait]
impl LogsService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        export::<Logs>(&self.gateway, request).await
    }
}

/// One gRPC export of any signal: authenticate, ingest under the timeout, measure.
async fn export<S: Signal>(
    gateway: &Gateway,
    request: Request<S::Request>,
) -> Result<Response<S::Response>, Status> {
    let (metadata, _, message) = request.into_parts();
    let text = |name: &str| metadata.get(name).and_then(|value| value.to_str().ok());
    let mut metrics = RequestMetrics::start(S::ITEMS, "grpc", "protobuf");
    metrics.decoded(message.encoded_len(), S::count(&message));
    let result = with_timeout(&gateway.limits, async {
        let project = gateway.auth.authenticate(text("authorization")).await?;
        let sdk = SdkInfo::new(text("x-langfuse-sdk-name"), text("x-langfuse-sdk-version"));
        S::ingest(gateway, &project, &sdk, message).await
    })
    .await;
    metrics.finish(result.as_ref().map(S::rejected));
    result.map(Response::new).map_err(|error| {
        tracing::info!(signal = S::ITEMS.signal, protocol = "grpc", encoding = "protobuf", reason = error.reason(), %error, "export rejected");
        error.into()
    })
}

/// tonic refuses a message over `max_decoding_message_size` with OUT_OF_RANGE, and a
/// compressed one that inflates past it with RESOURCE_EXHAUSTED; the OTLP status table
/// (DESIGN.md) says INVALID_ARGUMENT, the gRPC twin of HTTP 413. Both come from tonic's decoder
/// in a trailers-only response (status in the headers). Our own RESOURCE_EXHAUSTED (the rate
/// limit) always carries RetryInfo details (`grpc-status-details-bin`), so it is left alone.
fn message_too_large_is_invalid_argument<B>(mut response: http::Response<B>) -> http::Response<B> {
    let status = response.headers().get("grpc-status");
    let code_is = |code: tonic::Code| {
        status.is_some_and(|v| v.as_bytes() == (code as i32).to_string().as_bytes())
    };
    let too_large = code_is(tonic::Code::OutOfRange)
        || (code_is(tonic::Code::ResourceExhausted)
            && !response.headers().contains_key("grpc-status-details-bin"));
    if too_large {
        let invalid_argument = (tonic::Code::InvalidArgument as i32).to_string();
        if let Ok(value) = http::HeaderValue::from_str(&invalid_argument) {
            response.headers_mut().insert("grpc-status", value);
        }
    }
    response
}

/// Sheds load for one gRPC service: when every in-flight slot is taken, answer UNAVAILABLE at
/// once instead of reading the message (tonic's own load shedding answers RESOURCE_EXHAUSTED,
/// which OTLP exporters treat differently, and limits per connection, not globally).
#[derive(Clone)]
pub struct Shed<S> {
    inner: S,
    inflight: InflightLimit,
}

impl<S: NamedService> NamedService for Shed<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower::Service<http::Request<B>> for Shed<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match self.inflight.admit() {
            Ok(permit) => {
                let response = self.inner.call(request);
                Box::pin(async move {
                    let response = response.await.map(message_too_large_is_invalid_argument);
                    drop(permit);
                    response
                })
            }
            Err(error) => {
                tracing::info!(protocol = "grpc", reason = error.reason(), %error, "export rejected");
                let status: Status = error.into();
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

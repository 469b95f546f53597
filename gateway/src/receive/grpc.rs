//! OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`, gzip and
//! zstd in both directions, credentials from the `authorization` metadata.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::ingest::{Gateway, SdkInfo};

/// The TraceService implementation over the shared [`Gateway`].
pub struct GrpcReceiver {
    gateway: Arc<Gateway>,
}

/// A ready-to-serve TraceService with compression and the body limit configured.
pub fn service(gateway: Arc<Gateway>) -> TraceServiceServer<GrpcReceiver> {
    let limit = gateway.limits.max_body_bytes;
    TraceServiceServer::new(GrpcReceiver { gateway })
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(limit)
}

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let (metadata, _, message) = request.into_parts();
        let text = |name: &str| metadata.get(name).and_then(|value| value.to_str().ok());
        let result = async {
            let project = self
                .gateway
                .auth
                .authenticate(text("authorization"))
                .await?;
            let sdk = SdkInfo::new(text("x-langfuse-sdk-name"), text("x-langfuse-sdk-version"));
            self.gateway.ingest(&project, &sdk, message).await
        }
        .await;
        result.map(Response::new).map_err(|error| {
            tracing::info!(protocol = "grpc", encoding = "protobuf", reason = error.reason(), %error, "export rejected");
            error.into()
        })
    }
}

//! OTLP receivers. Both decode into `ExportTraceServiceRequest` and call `Gateway::ingest`.

pub mod decode;
pub mod grpc;
pub mod http;

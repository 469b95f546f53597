//! OTLP receivers. Both decode into the signal's export request (`ExportTraceServiceRequest`,
//! `ExportLogsServiceRequest`) and call the same `Gateway` method; [`signal`] says which.

pub mod decode;
pub mod grpc;
pub mod http;
pub mod signal;

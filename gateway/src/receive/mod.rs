//! Receivers. The OTLP ones decode into the signal's export request (`ExportTraceServiceRequest`,
//! `ExportLogsServiceRequest`) and call the same `Gateway` method; [`signal`] says which.
//! [`scores`] takes Langfuse's score API on the HTTP port.
//! [`batch_api`] takes the Langfuse SDK 2.x batch API on the HTTP port.

pub mod batch_api;
pub mod decode;
pub mod grpc;
pub mod http;
pub mod scores;
pub mod signal;

//! Receivers. The OTLP ones decode into the signal's export request (`ExportTraceServiceRequest`,
//! `ExportLogsServiceRequest`) and call the same `Gateway` method; [`signal`] says which.
//! [`scores`] takes Langfuse's score API on the HTTP port.
//! [`legacy`] takes the Langfuse SDK 2.x batch API on the HTTP port.

pub mod decode;
pub mod grpc;
pub mod http;
pub mod legacy;
pub mod scores;
pub mod signal;

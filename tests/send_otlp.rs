//! Sending OTLP into the embedded store: traces and logs over HTTP (protobuf, JSON, compressed)
//! and gRPC, read back through the read API; the spans of one trace sent in pieces assembled
//! into one trace.

mod support;

#[path = "send_otlp/assembly.rs"]
mod assembly;
#[path = "send_otlp/logs.rs"]
mod logs;
#[path = "send_otlp/traces.rs"]
mod traces;

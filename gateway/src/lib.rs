//! The Spanbridge gateway: OTLP receivers (gRPC, HTTP), authentication, conversion of GenAI
//! spans into `EventRow`s, and publishing to the sink (Kafka or in-process).
//!
//! Request path, in folder order: `receive/` → `auth` → `convert/` → `publish/`; `api` is the
//! read API over the store's `TraceReader`; `viewer` the browser UI on top of it; `upstream`
//! passes every other HTTP request through to the team's Langfuse.

pub mod api;
pub mod auth;
pub mod convert;
pub mod error;
pub mod ingest;
pub mod limits;
pub mod observe;
pub mod privacy;
pub mod publish;
pub mod receive;
pub mod upstream;
pub mod viewer;

pub use ingest::{Gateway, Limits, SdkInfo};

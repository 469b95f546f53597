//! Langfuse's SDK-2.x batch API (`POST /api/public/ingestion`) in embedded mode: the SDK's own
//! request bodies read back whole, the answers Langfuse gives, and the conformance set.

mod support;

#[path = "batch_api/conformance.rs"]
mod conformance;
#[path = "batch_api/ingestion.rs"]
mod ingestion;

//! Read API seam: the gateway serves `GET /api/public/traces/{id}` and
//! `GET /api/public/observations`; the store answers in Langfuse's public API shape.

use async_trait::async_trait;
use serde_json::Value;

/// Queries the event store, always scoped to one project.
#[async_trait]
pub trait TraceReader: Send + Sync + 'static {
    /// The trace with its `observations`, or None when the project has no such trace.
    async fn trace(&self, project_id: &str, trace_id: &str) -> Result<Option<Value>, String>;
    /// The observations of one trace, ordered by start time.
    async fn observations(&self, project_id: &str, trace_id: &str) -> Result<Vec<Value>, String>;
}

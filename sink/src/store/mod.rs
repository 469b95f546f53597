//! Event stores: SQLite (embedded) and ClickHouse (production), behind the same two traits:
//! [`Store`] for the sink's writes and [`EventReader`] for the read API and `/ready`.

pub mod clickhouse;
pub mod sqlite;

use async_trait::async_trait;

use crate::enrich::StoredRow;
use crate::query::ObservationQuery;
use crate::read::{EventRecord, ScoreRecord};
use crate::scores::StoredScore;

/// Why a store call failed. Whether a retry can help is a property of the variant, so the
/// write driver decides without looking at message text.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Unreachable, overloaded or failed mid-write: the same call may succeed later.
    #[error("{store} unavailable: {detail}")]
    Unavailable { store: &'static str, detail: String },
    /// The store refused the rows as data: the same rows can never be written. The Kafka sink
    /// dead-letters their message instead of retrying forever.
    #[error("{store} refused the rows: {detail}")]
    Rejected { store: &'static str, detail: String },
}

impl StoreError {
    /// Whether retrying the same call can never succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Rejected { .. })
    }
}

/// Writes a batch of rows atomically: all of them are durable when this returns Ok.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn write(&self, rows: &[StoredRow]) -> Result<(), StoreError>;
    /// Writes scores (Langfuse's `scores` table); a score written again replaces its earlier
    /// version (same id).
    async fn write_scores(&self, scores: &[StoredScore]) -> Result<(), StoreError>;

    /// The newest stored version of every row of one trace, whole (every column ingestion
    /// fills), for assembly to merge into and rewrite after its cache lost the trace. A store
    /// that cannot read back (test doubles) has none.
    async fn rows_of_trace(
        &self,
        _project_id: &str,
        _trace_id: &str,
    ) -> Result<Vec<StoredRow>, StoreError> {
        Ok(Vec::new())
    }
}

/// Reads rows back (the read API) and answers `/ready`, whatever the store.
#[async_trait]
pub trait EventReader: Send + Sync + 'static {
    /// `"sqlite"` or `"clickhouse"`: the name `/ready` reports.
    fn name(&self) -> &'static str;
    /// What is written, for the start-up log line.
    fn describe(&self) -> &'static str;
    /// Whether the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Every row of one trace of one project, newest version of each, by start time.
    async fn events_of_trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<EventRecord>, StoreError>;
    /// The scores of one trace of one project, newest version of each, by timestamp.
    async fn scores_of_trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<ScoreRecord>, StoreError>;
    /// One page of a project's observations, newest first, filtered (v4's
    /// `GET /api/public/v2/observations`).
    async fn list_observations(
        &self,
        project_id: &str,
        query: &ObservationQuery,
    ) -> Result<Vec<EventRecord>, StoreError>;
}

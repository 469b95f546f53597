//! Scores as the stores write them (Langfuse's `scores` table, reference langfuse-otel.md §4.1):
//! the contract's `Score` with the batch's project and ingestion attribution, and the write
//! time that versions it (ReplacingMergeTree on `event_ts`; SQLite upserts by id).

use spanbridge_proto::{EventBatch, Score, StoredScore};

use crate::enrich::floor_to_millis;

/// Takes the scores out of the batches (the rows stay for enrichment), in order.
pub fn take_scores(batches: &mut [EventBatch], now_us: i64) -> Vec<StoredScore> {
    let mut out = Vec::new();
    for batch in batches {
        for mut score in std::mem::take(&mut batch.scores) {
            score.timestamp_us = floor_to_millis(score.timestamp_us);
            out.push(StoredScore {
                project_id: batch.project_id.clone(),
                ingestion_api_key: batch.api_key_id.clone(),
                ingestion_sdk_name: batch.sdk_name.clone(),
                ingestion_sdk_version: batch.sdk_version.clone(),
                score,
                event_ts_us: now_us,
                created_at_us: now_us,
                author_user_id: None,
            });
        }
    }
    out
}

/// The score's metadata as one object of its flattened pairs (`metadata` column: a map in
/// ClickHouse, JSON text in SQLite).
pub fn metadata_pairs(score: &Score) -> impl Iterator<Item = (&str, &str)> {
    score
        .metadata_names
        .iter()
        .zip(&score.metadata_values)
        .map(|(name, value)| (name.as_str(), value.as_str()))
}

/// `None` for an empty text: the table's Nullable columns hold NULL, not `''`, for "not set".
pub fn nullable(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

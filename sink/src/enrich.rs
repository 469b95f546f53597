//! Fills the columns the sink owns, as Langfuse's worker does (reference §5): the matched
//! `model_id`, `usage_details` (provided usage plus `total`), the pricing tier, and
//! `cost_details` (provided costs win, else price × units of the matched model's tier), the
//! linked `prompt_id` (§3.13), plus bookkeeping columns. The arithmetic lives in `prices/`,
//! the prompt lookup in `meta/prompts.rs`; this module applies them per row. Every row's times
//! are floored to the millisecond here, once for every intake and store.

use std::sync::Arc;

use spanbridge_proto::{EventBatch, EventRow, StoredRow};

use crate::meta::PromptIds;
use crate::prices::{CompiledModel, ModelCatalog, TierAttributes, price};

/// The write time stamped into `created_at` / `updated_at` / `event_ts`.
pub use spanbridge_proto::now_us;

/// Enriches every row of the batches, in order. A model lookup that fails falls back to the
/// catalog's last loaded prices (see `ModelCatalog`), a prompt lookup that fails leaves
/// `prompt_id` empty; enrichment itself never fails.
pub async fn enrich(
    batches: Vec<EventBatch>,
    now_us: i64,
    catalog: &ModelCatalog,
    prompts: &PromptIds,
) -> Vec<StoredRow> {
    let mut stored = Vec::with_capacity(batches.iter().map(|b| b.rows.len()).sum());
    for batch in batches {
        let EventBatch {
            project_id,
            api_key_id,
            sdk_name,
            sdk_version,
            rows,
            ..
        } = batch;
        // Rows of one batch mostly name the same model: look it up once per run of equal names.
        let mut last: Option<(String, Option<Arc<CompiledModel>>)> = None;
        for row in rows {
            let model = match &last {
                Some((name, model)) if *name == row.provided_model_name => model.clone(),
                _ => {
                    let model = catalog.find(&project_id, &row.provided_model_name).await;
                    last = Some((row.provided_model_name.clone(), model.clone()));
                    model
                }
            };
            let attributes = if model.as_deref().is_some_and(|m| m.reads_attributes()) {
                TierAttributes::from_row(
                    &row.model_parameters,
                    &row.metadata_names,
                    &row.metadata_values,
                )
            } else {
                TierAttributes::default()
            };
            let prompt_id = prompts
                .resolve(&project_id, &row.prompt_name, row.prompt_version)
                .await;
            let priced = price(
                model.as_deref(),
                &row.provided_usage_details,
                &row.provided_cost_details,
                &attributes,
            );
            stored.push(StoredRow {
                project_id: project_id.clone(),
                ingestion_api_key: api_key_id.clone(),
                ingestion_sdk_name: sdk_name.clone(),
                ingestion_sdk_version: sdk_version.clone(),
                model_id: priced.model_id,
                prompt_id,
                usage_details: priced.usage_details,
                cost_details: priced.cost_details,
                usage_pricing_tier_id: priced.usage_pricing_tier_id,
                usage_pricing_tier_name: priced.usage_pricing_tier_name,
                event_bytes: prost::Message::encoded_len(&row) as u64,
                event_ts_us: now_us,
                deleted: false,
                row: with_millisecond_times(row),
            });
        }
    }
    stored
}

/// `µs` floored to a whole millisecond (towards negative infinity, also before 1970).
/// Langfuse's own ingestion stores times this way, and its v2 cursor pagination compares a
/// millisecond cursor with `start_time`: a sub-millisecond start would be skipped at a page
/// boundary.
pub fn floor_to_millis(us: i64) -> i64 {
    us.div_euclid(1000) * 1000
}

/// The row with `start_time`, `end_time` and `completion_start_time` millisecond-aligned, as
/// every store writes them (the contract keeps µs; aligning is the store's convention).
fn with_millisecond_times(mut row: EventRow) -> EventRow {
    row.start_time_us = floor_to_millis(row.start_time_us);
    row.end_time_us = row.end_time_us.map(floor_to_millis);
    row.completion_start_time_us = row.completion_start_time_us.map(floor_to_millis);
    row
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::prices::{provided_cost_details, usage_details};

    #[test]
    fn total_is_the_sum_when_missing() {
        let provided = BTreeMap::from([
            ("input".to_string(), 10),
            ("output".to_string(), 5),
            ("input_cached_tokens".to_string(), 3),
        ]);
        assert_eq!(usage_details(&provided)["total"], 18);
        let with_total = BTreeMap::from([("input".to_string(), 10), ("total".to_string(), 99)]);
        assert_eq!(usage_details(&with_total)["total"], 99);
        assert!(usage_details(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn provided_costs_get_a_total_only_for_input_output() {
        let cost = provided_cost_details(&BTreeMap::from([
            ("input".to_string(), 0.5),
            ("output".to_string(), 0.25),
        ]));
        assert_eq!(cost["total"], 0.75);
        let other = provided_cost_details(&BTreeMap::from([("input_tokens".to_string(), 0.5)]));
        assert!(!other.contains_key("total"));
    }

    #[test]
    fn floor_to_millis_floors_towards_negative_infinity() {
        assert_eq!(
            floor_to_millis(1_786_003_200_123_456),
            1_786_003_200_123_000
        );
        assert_eq!(
            floor_to_millis(1_786_003_200_123_999),
            1_786_003_200_123_000
        );
        assert_eq!(
            floor_to_millis(1_786_003_200_123_000),
            1_786_003_200_123_000
        );
        assert_eq!(floor_to_millis(999), 0);
        assert_eq!(floor_to_millis(0), 0);
        assert_eq!(floor_to_millis(-1), -1_000);
        assert_eq!(floor_to_millis(-1_000), -1_000);
        assert_eq!(floor_to_millis(-1_001), -2_000);
    }

    #[tokio::test]
    async fn stored_times_are_millisecond_aligned() {
        let batch = EventBatch {
            project_id: "p".into(),
            rows: vec![
                EventRow {
                    start_time_us: 1_786_003_200_123_100,
                    end_time_us: Some(1_786_003_200_456_789),
                    completion_start_time_us: Some(1_786_003_200_200_999),
                    ..Default::default()
                },
                EventRow {
                    start_time_us: 1_786_003_200_123_700,
                    end_time_us: None,
                    completion_start_time_us: None,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let stored = enrich(vec![batch], 1, &ModelCatalog::none(), &PromptIds::none()).await;
        let (first, second) = (&stored[0].row, &stored[1].row);
        assert_eq!(first.start_time_us, 1_786_003_200_123_000);
        assert_eq!(first.end_time_us, Some(1_786_003_200_456_000));
        assert_eq!(first.completion_start_time_us, Some(1_786_003_200_200_000));
        // Siblings 0.6 ms apart share their millisecond, as in Langfuse's own rows.
        assert_eq!(second.start_time_us, 1_786_003_200_123_000);
        assert_eq!(second.end_time_us, None);
        assert_eq!(second.completion_start_time_us, None);
    }

    #[tokio::test]
    async fn rows_without_a_catalog_keep_provided_values() {
        let batch = EventBatch {
            project_id: "p".into(),
            rows: vec![EventRow {
                provided_model_name: "gpt-4o".into(),
                provided_usage_details: BTreeMap::from([("input".to_string(), 10)]),
                ..Default::default()
            }],
            ..Default::default()
        };
        let stored = enrich(vec![batch], 1, &ModelCatalog::none(), &PromptIds::none()).await;
        assert_eq!(stored[0].usage_details["total"], 10);
        assert!(stored[0].cost_details.is_empty());
        assert_eq!(stored[0].model_id, "");
    }
}

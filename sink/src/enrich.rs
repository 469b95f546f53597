//! Fills the columns the sink owns: `usage_details` and `cost_details` as Langfuse computes
//! them from the provided values (reference §5), plus bookkeeping columns.

use std::collections::BTreeMap;

use spanbridge_proto::{EventBatch, EventRow};

/// A row ready for the store: the converted row plus what the sink derived.
#[derive(Debug, Clone)]
pub struct StoredRow {
    pub project_id: String,
    pub ingestion_api_key: String,
    pub ingestion_sdk_name: String,
    pub ingestion_sdk_version: String,
    pub row: EventRow,
    pub usage_details: BTreeMap<String, u64>,
    pub cost_details: BTreeMap<String, f64>,
    /// Write time in µs; `created_at`, `updated_at` and `event_ts` (the version column).
    pub event_ts_us: i64,
    pub event_bytes: u64,
}

/// Usage as stored: the provided buckets, plus `total` = sum of all buckets when not provided
/// (Langfuse treats the cache and reasoning buckets as exclusive of input/output).
pub fn usage_details(provided: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut usage = provided.clone();
    if !usage.is_empty() && !usage.contains_key("total") {
        let total = usage.values().fold(0u64, |sum, v| sum.saturating_add(*v));
        usage.insert("total".into(), total);
    }
    usage
}

/// Provided costs win over any calculation; `total` is added from input + output when only
/// those were given (Langfuse §5.4).
pub fn cost_details(provided: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let mut cost = provided.clone();
    if !cost.is_empty()
        && !cost.contains_key("total")
        && cost.keys().all(|k| k == "input" || k == "output")
    {
        cost.insert("total".into(), cost.values().sum());
    }
    cost
}

/// Enriches every row of the batches, in order.
pub fn enrich(batches: Vec<EventBatch>, now_us: i64) -> Vec<StoredRow> {
    batches
        .into_iter()
        .flat_map(|batch| {
            let EventBatch {
                project_id,
                api_key_id,
                sdk_name,
                sdk_version,
                rows,
                ..
            } = batch;
            rows.into_iter().map(move |row| StoredRow {
                project_id: project_id.clone(),
                ingestion_api_key: api_key_id.clone(),
                ingestion_sdk_name: sdk_name.clone(),
                ingestion_sdk_version: sdk_version.clone(),
                usage_details: usage_details(&row.provided_usage_details),
                cost_details: cost_details(&row.provided_cost_details),
                event_bytes: prost::Message::encoded_len(&row) as u64,
                event_ts_us: now_us,
                row,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let cost = cost_details(&BTreeMap::from([
            ("input".to_string(), 0.5),
            ("output".to_string(), 0.25),
        ]));
        assert_eq!(cost["total"], 0.75);
        let other = cost_details(&BTreeMap::from([("input_tokens".to_string(), 0.5)]));
        assert!(!other.contains_key("total"));
    }
}

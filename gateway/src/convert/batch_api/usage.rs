//! Usage and cost of a batch-API observation body (reference langfuse-legacy.md §1.4.1) into
//! the provided usage/cost maps the OTLP path fills, so the sink prices both alike: `usage` in
//! its Langfuse (`input`, `output`, `total`, `*Cost`) or OpenAI (`promptTokens`, …) shape, then
//! `usageDetails` and `costDetails` overlaid key by key.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::read::Invalid;
use crate::convert::fields::usage::openai_shape;
use crate::convert::vocab::value;

/// `usage` keys and the provided-usage bucket each fills, Langfuse shape.
const LANGFUSE_TOKENS: &[(&str, &str)] =
    &[("input", "input"), ("output", "output"), ("total", "total")];
/// The OpenAI shape: any of these keys present (even `null`) makes the whole object read this
/// way, and the Langfuse-shape keys (costs included) are ignored, as Langfuse does.
const OPENAI_TOKENS: &[(&str, &str)] = &[
    ("promptTokens", "input"),
    ("completionTokens", "output"),
    ("totalTokens", "total"),
];
/// `usage` cost keys and the provided-cost bucket each fills.
const LANGFUSE_COSTS: &[(&str, &str)] = &[
    ("inputCost", "input"),
    ("outputCost", "output"),
    ("totalCost", "total"),
];
/// `usage.unit` values Langfuse accepts (the unit itself is not stored).
const UNITS: &[&str] = &[
    "CHARACTERS",
    "TOKENS",
    "SECONDS",
    "MILLISECONDS",
    "IMAGES",
    "REQUESTS",
];

/// Provided usage and cost of one body; both empty when it reports none.
#[derive(Debug, Default, PartialEq)]
pub struct UsageCost {
    pub usage: BTreeMap<String, u64>,
    pub cost: BTreeMap<String, f64>,
}

/// Reads `usage`, `usageDetails` and `costDetails`.
pub fn usage_and_cost(
    usage: Option<&Map<String, Value>>,
    usage_details: Option<&Map<String, Value>>,
    cost_details: Option<&Map<String, Value>>,
) -> Result<UsageCost, Invalid> {
    let mut out = UsageCost::default();
    if let Some(usage) = usage {
        mixed_usage(usage, &mut out)?;
    }
    if let Some(details) = usage_details {
        let details = openai_shape(details).unwrap_or_else(|| details.clone());
        for (key, raw) in details {
            // Langfuse drops floats, negatives and other values silently here.
            if let Some(n) = value::as_token_count(&raw) {
                out.usage.insert(key, n);
            }
        }
    }
    if let Some(details) = cost_details {
        for (key, raw) in details {
            if let Some(n) = raw.as_f64().filter(|n| *n >= 0.0) {
                out.cost.insert(key.clone(), n);
            }
        }
    }
    if !out.usage.is_empty() && !out.usage.contains_key("total") {
        // Same rule as the OTLP path: the buckets are exclusive, the total is their sum.
        let total = out
            .usage
            .iter()
            .filter(|(k, _)| k.starts_with("input") || k.starts_with("output"))
            .fold(0u64, |sum, (_, n)| sum.saturating_add(*n));
        if total > 0 {
            out.usage.insert("total".into(), total);
        }
    }
    Ok(out)
}

/// `MixedUsage`: token counts must be integers (else the event is invalid); negative counts
/// are accepted and dropped, as Langfuse drops them when pricing.
fn mixed_usage(usage: &Map<String, Value>, out: &mut UsageCost) -> Result<(), Invalid> {
    let openai = OPENAI_TOKENS.iter().any(|(k, _)| usage.contains_key(*k));
    let tokens = if openai {
        OPENAI_TOKENS
    } else {
        LANGFUSE_TOKENS
    };
    for (key, _) in LANGFUSE_TOKENS.iter().chain(OPENAI_TOKENS) {
        match usage.get(*key) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
            Some(_) => return Err(Invalid(format!("body.usage.{key}: expected an integer"))),
        }
    }
    for (key, _) in LANGFUSE_COSTS {
        match usage.get(*key) {
            None | Some(Value::Null) | Some(Value::Number(_)) => {}
            Some(_) => return Err(Invalid(format!("body.usage.{key}: expected a number"))),
        }
    }
    match usage.get("unit") {
        None | Some(Value::Null) => {}
        Some(Value::String(unit)) if UNITS.contains(&unit.as_str()) => {}
        Some(_) => {
            return Err(Invalid(format!(
                "body.usage.unit: expected one of {}",
                UNITS.join(", ")
            )));
        }
    }
    for (key, bucket) in tokens {
        if let Some(n) = usage.get(*key).and_then(Value::as_u64) {
            out.usage.insert((*bucket).to_owned(), n);
        }
    }
    if !openai {
        for (key, bucket) in LANGFUSE_COSTS {
            if let Some(n) = usage
                .get(*key)
                .and_then(Value::as_f64)
                .filter(|n| *n >= 0.0)
            {
                out.cost.insert((*bucket).to_owned(), n);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(usage: Value, details: Value, costs: Value) -> Result<UsageCost, Invalid> {
        usage_and_cost(usage.as_object(), details.as_object(), costs.as_object())
    }

    fn map<T: Clone>(pairs: &[(&str, T)]) -> BTreeMap<String, T> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    /// One row per input shape the reference lists: (usage, usageDetails, costDetails) →
    /// (provided usage, provided cost).
    #[test]
    fn every_usage_shape() {
        type Case = (
            Value,
            Value,
            Value,
            &'static [(&'static str, u64)],
            &'static [(&'static str, f64)],
        );
        let cases: Vec<Case> = vec![
            // Langfuse shape with unit and costs; total derived from the buckets
            (
                json!({"input": 10, "output": 5, "unit": "TOKENS", "inputCost": 0.1, "outputCost": 0.2}),
                Value::Null,
                Value::Null,
                &[("input", 10), ("output", 5), ("total", 15)],
                &[("input", 0.1), ("output", 0.2)],
            ),
            // an explicit total is kept
            (
                json!({"input": 1, "output": 2, "total": 7, "totalCost": 1.5}),
                Value::Null,
                Value::Null,
                &[("input", 1), ("output", 2), ("total", 7)],
                &[("total", 1.5)],
            ),
            // OpenAI shape wins over Langfuse-shape keys, costs included
            (
                json!({"promptTokens": 3, "completionTokens": 4, "totalTokens": 7, "input": 99, "inputCost": 9.0}),
                Value::Null,
                Value::Null,
                &[("input", 3), ("output", 4), ("total", 7)],
                &[],
            ),
            // usageDetails overlays usage; floats and negatives dropped; int strings kept
            (
                json!({"input": 10, "output": 5}),
                json!({"input": 1000, "output": 500, "bad": -1, "frac": 1.5, "text": "12"}),
                Value::Null,
                &[
                    ("input", 1000),
                    ("output", 500),
                    ("text", 12),
                    ("total", 1500),
                ],
                &[],
            ),
            // OpenAI Chat usage object in usageDetails
            (
                Value::Null,
                json!({"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30,
                       "prompt_tokens_details": {"cached_tokens": 5}}),
                Value::Null,
                &[
                    ("input", 15),
                    ("input_cached_tokens", 5),
                    ("output", 10),
                    ("total", 30),
                ],
                &[],
            ),
            // OpenAI Responses usage object
            (
                Value::Null,
                json!({"input_tokens": 8, "output_tokens": 6, "total_tokens": 14,
                       "output_tokens_details": {"reasoning_tokens": 2}}),
                Value::Null,
                &[
                    ("input", 8),
                    ("output", 4),
                    ("output_reasoning_tokens", 2),
                    ("total", 14),
                ],
                &[],
            ),
            // costDetails: numbers ≥ 0 only, overlaying usage costs
            (
                json!({"inputCost": 1.0}),
                Value::Null,
                json!({"input": 0.5, "total": 2, "neg": -1, "text": "3"}),
                &[],
                &[("input", 0.5), ("total", 2.0)],
            ),
            // nothing
            (json!({}), json!({}), json!({}), &[], &[]),
        ];
        for (usage, details, costs, want_usage, want_cost) in cases {
            let got = read(usage.clone(), details.clone(), costs.clone()).unwrap();
            assert_eq!(got.usage, map(want_usage), "usage of {usage} {details}");
            assert_eq!(got.cost, map(want_cost), "cost of {usage} {costs}");
        }
    }

    #[test]
    fn non_integer_tokens_and_unknown_units_are_invalid() {
        assert!(read(json!({"input": 1.5}), Value::Null, Value::Null).is_err());
        assert!(read(json!({"promptTokens": "3"}), Value::Null, Value::Null).is_err());
        assert!(read(json!({"unit": "PAGES"}), Value::Null, Value::Null).is_err());
        assert!(read(json!({"inputCost": "1"}), Value::Null, Value::Null).is_err());
        // negative counts pass validation and are dropped
        let got = read(json!({"input": 4, "output": -7}), Value::Null, Value::Null).unwrap();
        assert_eq!(got.usage, map(&[("input", 4), ("total", 4)]));
    }
}

//! Cost arithmetic (reference §5): usage totals, provided costs, price × units of the matched
//! tier. Pure functions; no lookups.

use std::collections::BTreeMap;

use super::matching::CompiledModel;
use super::tiers::TierAttributes;

/// What the sink stores for one observation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Priced {
    pub model_id: String,
    pub usage_pricing_tier_id: Option<String>,
    pub usage_pricing_tier_name: Option<String>,
    pub usage_details: BTreeMap<String, u64>,
    pub cost_details: BTreeMap<String, f64>,
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
pub fn provided_cost_details(provided: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let mut cost = provided.clone();
    if !cost.is_empty()
        && !cost.contains_key("total")
        && cost.keys().all(|k| k == "input" || k == "output")
    {
        cost.insert("total".into(), cost.values().sum());
    }
    cost
}

/// Costs are kept to 12 decimal places (ClickHouse stores them as Decimal64(12)), which also
/// keeps `120 × 2.5e-6` printing as `0.0003`.
fn round_cost(cost: f64) -> f64 {
    (cost * 1e12).round() / 1e12
}

/// Price × units for every usage key with a price of exactly that `usage_type`; `total` is the
/// priced `total` entry if the tier prices `total`, else the sum of the other entries.
pub fn calculated_cost_details(
    usage: &BTreeMap<String, u64>,
    prices: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    let mut cost: BTreeMap<String, f64> = usage
        .iter()
        .filter_map(|(key, units)| {
            prices
                .get(key)
                .map(|price| (key.clone(), round_cost(price * *units as f64)))
        })
        .collect();
    if !cost.is_empty() && !cost.contains_key("total") {
        let total = round_cost(cost.values().sum());
        cost.insert("total".into(), total);
    }
    cost
}

/// Usage, pricing tier and cost of one observation (reference §5). Usage is never tokenised
/// here: without provided usage there is no calculated cost.
pub fn price(
    model: Option<&CompiledModel>,
    provided_usage: &BTreeMap<String, u64>,
    provided_cost: &BTreeMap<String, f64>,
    attributes: &TierAttributes,
) -> Priced {
    let usage = usage_details(provided_usage);
    let mut priced = Priced {
        usage_details: usage,
        ..Priced::default()
    };
    let tier = model.and_then(|model| {
        priced.model_id = model.id.clone();
        if priced.usage_details.is_empty() {
            None
        } else {
            model.tier(&priced.usage_details, attributes)
        }
    });
    if let Some(tier) = tier {
        priced.usage_pricing_tier_id = Some(tier.id.clone());
        priced.usage_pricing_tier_name = Some(tier.name.clone());
    }
    priced.cost_details = if !provided_cost.is_empty() {
        provided_cost_details(provided_cost)
    } else {
        tier.map(|tier| calculated_cost_details(&priced.usage_details, &tier.prices))
            .unwrap_or_default()
    };
    priced
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::prices::{DEFAULT_MODEL_PRICES, definitions_from_file, parse_price_file};

    fn defaults() -> Vec<CompiledModel> {
        let models = parse_price_file(DEFAULT_MODEL_PRICES).unwrap();
        definitions_from_file(&models)
            .iter()
            .map(|m| CompiledModel::compile(m).unwrap())
            .collect()
    }

    fn find<'a>(models: &'a [CompiledModel], name: &str) -> &'a CompiledModel {
        models
            .iter()
            .find(|m| m.matches(name))
            .unwrap_or_else(|| panic!("no model matches {name}"))
    }

    fn usage(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn every_shipped_pattern_compiles_and_has_one_default_tier() {
        assert_eq!(defaults().len(), 167);
    }

    #[test]
    fn gpt_4o_input_output() {
        let models = defaults();
        let model = find(&models, "gpt-4o");
        assert_eq!(model.model_name, "gpt-4o");
        let priced = price(
            Some(model),
            &usage(&[("input", 120), ("output", 30)]),
            &BTreeMap::new(),
            &TierAttributes::default(),
        );
        // 120 × $2.50/M + 30 × $10/M
        assert_eq!(priced.cost_details["input"], 0.0003);
        assert_eq!(priced.cost_details["output"], 0.0003);
        assert_eq!(priced.cost_details["total"], 0.0006);
        assert_eq!(priced.usage_details["total"], 150);
        assert_eq!(priced.usage_pricing_tier_name.as_deref(), Some("Standard"));
        // Case-insensitive, provider prefix allowed; a longer name is another model.
        assert_eq!(find(&models, "OpenAI/GPT-4o").model_name, "gpt-4o");
        assert_eq!(find(&models, "gpt-4o-mini").model_name, "gpt-4o-mini");
    }

    #[test]
    fn attribute_tier_and_usage_tier() {
        let models = defaults();
        let mut attributes = TierAttributes::default();
        attributes
            .model_parameters
            .insert("service_tier".into(), Value::from("priority"));
        let priced = price(
            Some(find(&models, "gpt-4o")),
            &usage(&[("input", 1000), ("output", 100)]),
            &BTreeMap::new(),
            &attributes,
        );
        assert_eq!(priced.usage_pricing_tier_name.as_deref(), Some("Fast mode"));
        // 1000 × 4.25e-6 + 100 × 17e-6
        assert_eq!(priced.cost_details["total"], 0.00595);

        let gemini = find(&models, "gemini-2.5-pro");
        let large = price(
            Some(gemini),
            &usage(&[("input", 250_000), ("output", 1000)]),
            &BTreeMap::new(),
            &TierAttributes::default(),
        );
        assert_eq!(
            large.usage_pricing_tier_name.as_deref(),
            Some("Large Context")
        );
        // 250000 × 2.5e-6 + 1000 × 15e-6
        assert_eq!(large.cost_details["total"], 0.64);
        let small = price(
            Some(gemini),
            &usage(&[("input", 200_000), ("output", 1000)]),
            &BTreeMap::new(),
            &TierAttributes::default(),
        );
        assert_eq!(small.usage_pricing_tier_name.as_deref(), Some("Standard"));
        // 200000 × 1.25e-6 + 1000 × 10e-6
        assert_eq!(small.cost_details["total"], 0.26);
    }

    #[test]
    fn provided_cost_wins_and_unknown_models_cost_nothing() {
        let models = defaults();
        let provided = BTreeMap::from([("total".to_string(), 1.5)]);
        let priced = price(
            Some(find(&models, "gpt-4o")),
            &usage(&[("input", 10)]),
            &provided,
            &TierAttributes::default(),
        );
        assert_eq!(priced.cost_details, provided);
        let unknown = price(
            None,
            &usage(&[("input", 10)]),
            &BTreeMap::new(),
            &TierAttributes::default(),
        );
        assert!(unknown.cost_details.is_empty());
        assert_eq!(unknown.model_id, "");
    }

    #[test]
    fn a_total_price_prices_the_total() {
        let prices = BTreeMap::from([("total".to_string(), 1e-6), ("input".to_string(), 5e-6)]);
        let cost = calculated_cost_details(&usage(&[("input", 10), ("total", 30)]), &prices);
        assert_eq!(cost["total"], 0.00003);
        assert_eq!(cost["input"], 0.00005);
    }
}

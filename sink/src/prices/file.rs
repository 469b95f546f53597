//! Langfuse's price-file format (`default-model-prices.json`): what `prices import` reads and
//! what Spanbridge ships as its default prices.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use super::{ModelDefinition, PricingTier};

/// The default prices shipped with Spanbridge (origin: sink/data/README.md).
pub const DEFAULT_MODEL_PRICES: &str = include_str!("../../data/model-prices.json");

/// One entry of a price file (Langfuse's `default-model-prices.json` format).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceFileModel {
    pub id: String,
    pub model_name: String,
    pub match_pattern: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub start_date: Option<String>,
    #[serde(default)]
    pub tokenizer_id: Option<String>,
    #[serde(default)]
    pub tokenizer_config: Option<Value>,
    pub pricing_tiers: Vec<PriceFileTier>,
}

/// One pricing tier of a price-file model, with its prices per unit by usage key.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceFileTier {
    pub id: String,
    pub name: String,
    pub is_default: bool,
    pub priority: i32,
    #[serde(default)]
    pub conditions: Value,
    pub prices: BTreeMap<String, f64>,
}

impl PriceFileTier {
    /// `conditions` as the JSON text the stores keep: a missing list is stored as `[]`
    /// (the column is NOT NULL in Langfuse's schema).
    pub fn conditions_text(&self) -> String {
        if self.conditions.is_null() {
            "[]".to_owned()
        } else {
            self.conditions.to_string()
        }
    }
}

/// Parses a price file; every pattern must compile, so a bad file is refused as a whole.
pub fn parse_price_file(text: &str) -> Result<Vec<PriceFileModel>, String> {
    let models: Vec<PriceFileModel> =
        serde_json::from_str(text).map_err(|error| format!("not a model price file: {error}"))?;
    for model in &models {
        Regex::new(&model.match_pattern).map_err(|error| {
            format!(
                "model {}: matchPattern does not compile: {error}",
                model.model_name
            )
        })?;
        if model.pricing_tiers.iter().filter(|t| t.is_default).count() != 1 {
            return Err(format!(
                "model {}: needs exactly one default pricing tier",
                model.model_name
            ));
        }
    }
    Ok(models)
}

/// Model definitions from the shipped (or an imported) price file, as global models.
pub fn definitions_from_file(models: &[PriceFileModel]) -> Vec<ModelDefinition> {
    models
        .iter()
        .map(|model| ModelDefinition {
            id: model.id.clone(),
            project_id: None,
            model_name: model.model_name.clone(),
            match_pattern: model.match_pattern.clone(),
            start_date: model.start_date.clone(),
            tiers: model
                .pricing_tiers
                .iter()
                .map(|tier| PricingTier {
                    id: tier.id.clone(),
                    name: tier.name.clone(),
                    is_default: tier.is_default,
                    priority: tier.priority,
                    conditions: tier.conditions.clone(),
                    prices: tier.prices.clone(),
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_one_default_tier_is_refused() {
        let text = r#"[{"id": "m", "modelName": "m", "matchPattern": "m",
                        "pricingTiers": []}]"#;
        let error = parse_price_file(text).unwrap_err();
        assert!(error.contains("exactly one default"), "{error}");
    }
}

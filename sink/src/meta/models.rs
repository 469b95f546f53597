//! Model prices in the metadata store, the rules both dialects share: which price-file models
//! an import writes (`upsert_models`), and how loaded `models`, `pricing_tiers` and `prices`
//! rows become [`ModelDefinition`]s. `sqlite.rs` and `postgres.rs` only supply the SQL.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::MetaStore;
use crate::prices::{ModelDefinition, ModelSource, ModelsUnavailable, PriceFileModel, PricingTier};

/// The dialect half of an import, run inside the caller's transaction.
#[async_trait]
pub(crate) trait ModelTables: Send {
    /// `updated_at` of every stored global model by id, as ISO-8601 text (`…T…Z`), so it
    /// compares as text with a price file's `updatedAt`.
    async fn stored_updated_at(&mut self) -> Result<HashMap<String, String>, sqlx::Error>;
    /// Replaces the global model with this id, its tiers and its prices.
    async fn replace_model(&mut self, model: &PriceFileModel) -> Result<(), sqlx::Error>;
}

/// Seeding leaves a stored model alone unless the file's copy is strictly newer; a file model
/// without `updatedAt` never replaces a stored one. Without `only_newer` (`prices import`)
/// every model is written.
fn should_write(model: &PriceFileModel, stored_updated_at: Option<&str>, only_newer: bool) -> bool {
    match (only_newer, stored_updated_at) {
        (true, Some(stored)) => model.updated_at.as_deref().is_some_and(|new| new > stored),
        _ => true,
    }
}

/// Writes global models (with tiers and prices) from a price file; see
/// [`MetaStore::upsert_models`]. Returns how many models were written.
pub(crate) async fn upsert_models(
    tables: &mut (impl ModelTables + ?Sized),
    models: &[PriceFileModel],
    only_newer: bool,
) -> Result<usize, sqlx::Error> {
    let stored = if only_newer {
        tables.stored_updated_at().await?
    } else {
        HashMap::new()
    };
    let mut written = 0;
    for model in models {
        if should_write(model, stored.get(&model.id).map(String::as_str), only_newer) {
            tables.replace_model(model).await?;
            written += 1;
        }
    }
    Ok(written)
}

/// A `models` row as loaded (`start_date` as ISO-8601 text).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ModelRow {
    pub id: String,
    pub project_id: Option<String>,
    pub model_name: String,
    pub match_pattern: String,
    pub start_date: Option<String>,
}

/// A `pricing_tiers` row as loaded (`conditions` as JSON text).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TierRow {
    pub id: String,
    pub model_id: String,
    pub name: String,
    pub is_default: bool,
    pub priority: i32,
    pub conditions: String,
}

/// A `prices` row as loaded (per unit, as a float).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PriceRow {
    pub model_id: String,
    pub pricing_tier_id: Option<String>,
    pub usage_type: String,
    pub price: f64,
}

/// Puts loaded rows together. Prices without a tier (databases from before Langfuse added
/// pricing tiers) form the model's default tier when it has none. Conditions that are not
/// JSON count as none (the tier then never matches, as in Langfuse).
pub(crate) fn assemble_models(
    models: Vec<ModelRow>,
    tiers: Vec<TierRow>,
    prices: Vec<PriceRow>,
) -> Vec<ModelDefinition> {
    let mut by_id: HashMap<String, ModelDefinition> = HashMap::new();
    let mut order = Vec::with_capacity(models.len());
    for model in models {
        order.push(model.id.clone());
        by_id.insert(
            model.id.clone(),
            ModelDefinition {
                id: model.id,
                project_id: model.project_id,
                model_name: model.model_name,
                match_pattern: model.match_pattern,
                start_date: model.start_date,
                tiers: Vec::new(),
            },
        );
    }
    for tier in tiers {
        if let Some(model) = by_id.get_mut(&tier.model_id) {
            model.tiers.push(PricingTier {
                id: tier.id,
                name: tier.name,
                is_default: tier.is_default,
                priority: tier.priority,
                conditions: serde_json::from_str(&tier.conditions).unwrap_or_default(),
                prices: Default::default(),
            });
        }
    }
    for price in prices {
        let Some(model) = by_id.get_mut(&price.model_id) else {
            continue;
        };
        let tier = match &price.pricing_tier_id {
            Some(tier_id) => model.tiers.iter_mut().find(|t| &t.id == tier_id),
            None => {
                if !model.tiers.iter().any(|t| t.is_default) {
                    model.tiers.push(PricingTier {
                        id: format!("{}_tier_default", model.id),
                        name: "Standard".into(),
                        is_default: true,
                        priority: 0,
                        conditions: serde_json::Value::Array(Vec::new()),
                        prices: Default::default(),
                    });
                }
                model
                    .tiers
                    .iter_mut()
                    .find(|t| t.is_default && t.id.ends_with("_tier_default"))
            }
        };
        if let Some(tier) = tier {
            tier.prices.insert(price.usage_type, price.price);
        }
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect()
}

/// Any `MetaStore` as the sink's model source.
pub struct MetaModels(pub Arc<dyn MetaStore>);

#[async_trait]
impl ModelSource for MetaModels {
    async fn load_models(
        &self,
        project_id: Option<&str>,
    ) -> Result<Vec<ModelDefinition>, ModelsUnavailable> {
        self.0
            .load_models(project_id)
            .await
            .map_err(|error| ModelsUnavailable(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_model(updated_at: Option<&str>) -> PriceFileModel {
        PriceFileModel {
            id: "m".into(),
            model_name: "m".into(),
            match_pattern: "m".into(),
            created_at: None,
            updated_at: updated_at.map(Into::into),
            start_date: None,
            tokenizer_id: None,
            tokenizer_config: None,
            pricing_tiers: Vec::new(),
        }
    }

    #[test]
    fn seeding_writes_only_missing_or_newer_models() {
        let newer = file_model(Some("2026-01-02T00:00:00.000Z"));
        let stored = Some("2026-01-01T00:00:00.000Z");
        assert!(should_write(&newer, stored, true));
        assert!(should_write(&newer, None, true));
        assert!(!should_write(
            &newer,
            Some("2026-01-02T00:00:00.000Z"),
            true
        ));
        assert!(!should_write(&file_model(None), stored, true));
        // `prices import` writes everything.
        assert!(should_write(&file_model(None), stored, false));
    }

    #[test]
    fn prices_without_a_tier_form_the_default_tier() {
        let models = vec![ModelRow {
            id: "m".into(),
            project_id: None,
            model_name: "m".into(),
            match_pattern: "m".into(),
            start_date: None,
        }];
        let prices = vec![PriceRow {
            model_id: "m".into(),
            pricing_tier_id: None,
            usage_type: "input".into(),
            price: 1e-6,
        }];
        let assembled = assemble_models(models, Vec::new(), prices);
        assert_eq!(assembled[0].tiers.len(), 1);
        assert!(assembled[0].tiers[0].is_default);
        assert_eq!(assembled[0].tiers[0].prices["input"], 1e-6);
    }
}

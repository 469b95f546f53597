//! Model prices and costs, as Langfuse computes them: model matching (reference §4.2), pricing
//! tiers and cost arithmetic (§5). The arithmetic is pure; `ModelCatalog` puts a short-TTL
//! in-memory cache in front of any `ModelSource` (SQLite, Postgres, an existing Langfuse
//! database), so every store prices the same way.
//!
//! In dependency order: the model records here, `file` (Langfuse's price-file format),
//! `tiers` (tier conditions), `matching` (compiled models, match order), `cost` (arithmetic),
//! `catalog` (the cache). Nothing points back up.

mod catalog;
mod cost;
mod file;
mod matching;
mod tiers;

use std::collections::BTreeMap;

use serde_json::Value;

pub use catalog::{ModelCatalog, ModelSource, ModelsUnavailable};
pub use cost::{Priced, calculated_cost_details, price, provided_cost_details, usage_details};
pub use file::{
    DEFAULT_MODEL_PRICES, PriceFileModel, PriceFileTier, definitions_from_file, parse_price_file,
};
pub use matching::{CompiledModel, CompiledTier, order_models};
pub use tiers::TierAttributes;

/// A `models` row with its pricing tiers and their `prices`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDefinition {
    pub id: String,
    /// None for a global default model.
    pub project_id: Option<String>,
    pub model_name: String,
    pub match_pattern: String,
    /// ISO-8601; sortable text. The newest wins regardless of the observation's time (as in
    /// Langfuse).
    pub start_date: Option<String>,
    pub tiers: Vec<PricingTier>,
}

/// A `pricing_tiers` row with its prices (per unit, by usage key).
#[derive(Debug, Clone, PartialEq)]
pub struct PricingTier {
    pub id: String,
    pub name: String,
    pub is_default: bool,
    pub priority: i32,
    /// The `conditions` JSON array as stored.
    pub conditions: Value,
    pub prices: BTreeMap<String, f64>,
}

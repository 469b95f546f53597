//! Model prices and costs, as Langfuse computes them: model matching (reference §4.2), pricing
//! tiers and cost arithmetic (§5). The arithmetic is pure; `ModelCatalog` puts a short-TTL
//! in-memory cache in front of any `ModelSource` (SQLite, Postgres, an existing Langfuse
//! database), so every store prices the same way.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The default prices shipped with Spanbridge (origin: sink/data/README.md).
pub const DEFAULT_MODEL_PRICES: &str = include_str!("../data/model-prices.json");

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

/// Where model definitions come from.
#[async_trait]
pub trait ModelSource: Send + Sync + 'static {
    /// Global models (`project_id IS NULL`) for `None`, else the project's own models.
    async fn load_models(&self, project_id: Option<&str>) -> Result<Vec<ModelDefinition>, String>;
}

/// A pricing-tier condition (Langfuse `pricing-tiers/matcher.ts`).
#[derive(Debug, Clone)]
enum Condition {
    /// Sum of usage values whose key matches `pattern`, compared with `value`.
    Usage {
        pattern: Regex,
        operator: Comparison,
        value: f64,
    },
    /// A top-level `model_parameters` or `metadata` key whose value is one of `values`.
    Attribute {
        from_metadata: bool,
        key: String,
        values: Vec<String>,
    },
    /// Unparseable: fails, like Langfuse's matcher on error.
    Never,
}

#[derive(Debug, Clone, Copy)]
enum Comparison {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

fn parse_condition(value: &Value) -> Condition {
    let text = |key: &str| value.get(key).and_then(Value::as_str);
    if let Some(source) = text("source") {
        let values = value
            .get("values")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        return match (source, text("key")) {
            ("model_parameters" | "metadata", Some(key)) => Condition::Attribute {
                from_metadata: source == "metadata",
                key: key.to_owned(),
                values,
            },
            _ => Condition::Never,
        };
    }
    let operator = match text("operator") {
        Some("gt") => Comparison::Gt,
        Some("gte") => Comparison::Gte,
        Some("lt") => Comparison::Lt,
        Some("lte") => Comparison::Lte,
        Some("eq") => Comparison::Eq,
        Some("neq") => Comparison::Neq,
        _ => return Condition::Never,
    };
    let case_sensitive = value
        .get("caseSensitive")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let pattern = text("usageDetailPattern").and_then(|pattern| {
        RegexBuilder::new(pattern)
            .case_insensitive(!case_sensitive)
            .build()
            .ok()
    });
    match (pattern, value.get("value").and_then(Value::as_f64)) {
        (Some(pattern), Some(threshold)) => Condition::Usage {
            pattern,
            operator,
            value: threshold,
        },
        _ => Condition::Never,
    }
}

/// What tier conditions may look at besides usage: the observation's top-level model
/// parameters and metadata. The metadata is borrowed from the row (a tier asks for one or two
/// keys; copying every metadata pair of every row cost more than the pricing).
#[derive(Debug, Default, Clone)]
pub struct TierAttributes<'a> {
    pub model_parameters: Map<String, Value>,
    metadata_names: &'a [String],
    metadata_values: &'a [String],
}

impl<'a> TierAttributes<'a> {
    /// From the row's stored forms: model parameters as JSON object text, metadata as
    /// flattened names/values (a top-level key has no dot).
    pub fn from_row(model_parameters: &str, names: &'a [String], values: &'a [String]) -> Self {
        let model_parameters = match serde_json::from_str::<Value>(model_parameters) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        Self {
            model_parameters,
            metadata_names: names,
            metadata_values: values,
        }
    }

    fn value(&self, from_metadata: bool, key: &str) -> Option<String> {
        if from_metadata {
            // The last pair wins, as it did when the pairs were collected into a map.
            let at = self.metadata_names.iter().rposition(|name| name == key)?;
            return self.metadata_values.get(at).cloned();
        }
        // Beyond Langfuse (which compares raw values): numbers and booleans compare by text.
        self.model_parameters.get(key).map(|value| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
    }
}

impl Condition {
    fn holds(&self, usage: &BTreeMap<String, u64>, attributes: &TierAttributes) -> bool {
        match self {
            Condition::Usage {
                pattern,
                operator,
                value,
            } => {
                let sum: f64 = usage
                    .iter()
                    .filter(|(key, _)| pattern.is_match(key))
                    .map(|(_, units)| *units as f64)
                    .sum();
                match operator {
                    Comparison::Gt => sum > *value,
                    Comparison::Gte => sum >= *value,
                    Comparison::Lt => sum < *value,
                    Comparison::Lte => sum <= *value,
                    Comparison::Eq => sum == *value,
                    Comparison::Neq => sum != *value,
                }
            }
            Condition::Attribute {
                from_metadata,
                key,
                values,
            } => attributes
                .value(*from_metadata, key)
                .is_some_and(|found| values.contains(&found)),
            Condition::Never => false,
        }
    }
}

/// A tier ready for matching.
#[derive(Debug, Clone)]
pub struct CompiledTier {
    pub id: String,
    pub name: String,
    pub is_default: bool,
    pub priority: i32,
    conditions: Vec<Condition>,
    pub prices: BTreeMap<String, f64>,
}

/// A model ready for matching: its pattern compiled, tiers sorted by priority.
#[derive(Debug, Clone)]
pub struct CompiledModel {
    pub id: String,
    pub model_name: String,
    pattern: Regex,
    pub tiers: Vec<CompiledTier>,
}

impl CompiledModel {
    /// Whether a tier condition looks at model parameters or metadata: only then does the
    /// sink build [`TierAttributes`] for a row (most models have usage conditions at most).
    pub fn reads_attributes(&self) -> bool {
        self.tiers.iter().any(|tier| {
            tier.conditions
                .iter()
                .any(|condition| matches!(condition, Condition::Attribute { .. }))
        })
    }

    /// None when the pattern does not compile with Rust's regex (logged; Postgres' POSIX
    /// dialect accepts a few things Rust does not, e.g. back-references).
    pub fn compile(model: &ModelDefinition) -> Option<Self> {
        let pattern = match Regex::new(&model.match_pattern) {
            Ok(pattern) => pattern,
            Err(_) => {
                tracing::warn!(model = %model.model_name, id = %model.id, "match_pattern does not compile; model skipped");
                return None;
            }
        };
        let mut tiers: Vec<CompiledTier> = model
            .tiers
            .iter()
            .map(|tier| CompiledTier {
                id: tier.id.clone(),
                name: tier.name.clone(),
                is_default: tier.is_default,
                priority: tier.priority,
                conditions: tier
                    .conditions
                    .as_array()
                    .map(|list| list.iter().map(parse_condition).collect())
                    .unwrap_or_default(),
                prices: tier.prices.clone(),
            })
            .collect();
        tiers.sort_by_key(|tier| tier.priority);
        Some(Self {
            id: model.id.clone(),
            model_name: model.model_name.clone(),
            pattern,
            tiers,
        })
    }

    pub fn matches(&self, provided_model_name: &str) -> bool {
        self.pattern.is_match(provided_model_name)
    }

    /// Langfuse's `matchPricingTier`: the first non-default tier (by ascending priority) whose
    /// conditions all hold (an empty list never holds), else the default tier.
    pub fn tier(
        &self,
        usage: &BTreeMap<String, u64>,
        attributes: &TierAttributes,
    ) -> Option<&CompiledTier> {
        self.tiers
            .iter()
            .filter(|tier| !tier.is_default)
            .find(|tier| {
                !tier.conditions.is_empty()
                    && tier.conditions.iter().all(|c| c.holds(usage, attributes))
            })
            .or_else(|| self.tiers.iter().find(|tier| tier.is_default))
    }
}

/// Orders candidates as Langfuse's SQL does: project models before global ones, then
/// `start_date DESC NULLS LAST`; the first match wins.
pub fn order_models(models: &mut [ModelDefinition]) {
    models.sort_by(|a, b| {
        a.project_id
            .is_none()
            .cmp(&b.project_id.is_none())
            .then_with(|| match (&a.start_date, &b.start_date) {
                (Some(x), Some(y)) => y.cmp(x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
    });
}

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

type ModelList = Arc<Vec<Arc<CompiledModel>>>;

struct CatalogInner {
    source: Arc<dyn ModelSource>,
    /// Compiled model lists by project id ("" = the global models).
    lists: moka::future::Cache<String, ModelList>,
    /// The last list that loaded, served when a reload fails (a metadata outage must not
    /// strip costs from rows that would have been priced a minute ago).
    last_good: Mutex<HashMap<String, ModelList>>,
    /// Match results by (project id, provided model name), misses included.
    matches: moka::future::Cache<(String, String), Option<Arc<CompiledModel>>>,
}

/// Model matching with a short-TTL in-memory cache, as Langfuse caches matches in-process.
/// Cloning is cheap; `ModelCatalog::none()` prices nothing (provided costs still count).
#[derive(Clone)]
pub struct ModelCatalog {
    inner: Option<Arc<CatalogInner>>,
}

impl ModelCatalog {
    pub fn new(source: Arc<dyn ModelSource>, ttl: Duration) -> Self {
        let inner = CatalogInner {
            source,
            lists: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build(),
            last_good: Mutex::new(HashMap::new()),
            matches: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
        };
        Self {
            inner: Some(Arc::new(inner)),
        }
    }

    /// A catalog without models.
    pub fn none() -> Self {
        Self { inner: None }
    }

    /// The model `provided_model_name` resolves to for `project_id`, if any.
    pub async fn find(
        &self,
        project_id: &str,
        provided_model_name: &str,
    ) -> Option<Arc<CompiledModel>> {
        let inner = self.inner.as_ref()?;
        if provided_model_name.is_empty() {
            return None;
        }
        let key = (project_id.to_owned(), provided_model_name.to_owned());
        if let Some(found) = inner.matches.get(&key).await {
            metrics::counter!("spanbridge_model_cache_requests_total", "result" => "hit")
                .increment(1);
            return found;
        }
        metrics::counter!("spanbridge_model_cache_requests_total", "result" => "miss").increment(1);
        let project = inner.list(Some(project_id)).await;
        let global = inner.list(None).await;
        let found = project
            .iter()
            .chain(global.iter())
            .find(|model| model.matches(provided_model_name))
            .cloned();
        inner.matches.insert(key, found.clone()).await;
        found
    }
}

impl CatalogInner {
    async fn list(&self, project_id: Option<&str>) -> ModelList {
        let key = project_id.unwrap_or_default().to_owned();
        if let Some(list) = self.lists.get(&key).await {
            return list;
        }
        let list = match self.source.load_models(project_id).await {
            Ok(mut models) => {
                order_models(&mut models);
                let list: ModelList = Arc::new(
                    models
                        .iter()
                        .filter_map(CompiledModel::compile)
                        .map(Arc::new)
                        .collect(),
                );
                if let Ok(mut last_good) = self.last_good.lock() {
                    last_good.insert(key.clone(), list.clone());
                }
                list
            }
            Err(error) => {
                metrics::counter!("spanbridge_model_catalog_errors_total").increment(1);
                tracing::warn!(%error, "cannot load model prices; using the last loaded ones");
                let stale = self
                    .last_good
                    .lock()
                    .ok()
                    .and_then(|last_good| last_good.get(&key).cloned());
                // Not cached: the next row tries the source again.
                return stale.unwrap_or_default();
            }
        };
        self.lists.insert(key, list.clone()).await;
        list
    }
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
    fn tier_attributes_read_the_row_without_copying_it() {
        let names = [
            "region".to_string(),
            "attributes.tier".into(),
            "region".into(),
        ];
        let values = ["eu".to_string(), "flex".into(), "us".into()];
        let attributes = TierAttributes::from_row(r#"{"max_tokens": 64}"#, &names, &values);
        assert_eq!(attributes.value(true, "region").as_deref(), Some("us"));
        assert_eq!(
            attributes.value(true, "attributes.tier").as_deref(),
            Some("flex")
        );
        assert_eq!(attributes.value(true, "absent"), None);
        assert_eq!(attributes.value(false, "max_tokens").as_deref(), Some("64"));
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

    #[test]
    fn project_models_and_newer_start_dates_come_first() {
        let model = |id: &str, project: Option<&str>, start: Option<&str>| ModelDefinition {
            id: id.into(),
            project_id: project.map(Into::into),
            model_name: id.into(),
            match_pattern: "x".into(),
            start_date: start.map(Into::into),
            tiers: vec![],
        };
        let mut models = vec![
            model("global-new", None, Some("2025-01-01")),
            model("project-null", Some("p"), None),
            model("project-old", Some("p"), Some("2024-01-01")),
            model("project-new", Some("p"), Some("2025-01-01")),
        ];
        order_models(&mut models);
        let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            ["project-new", "project-old", "project-null", "global-new"]
        );
    }
}

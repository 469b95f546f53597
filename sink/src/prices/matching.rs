//! Model matching (reference §4.2): a model's `match_pattern` is a regex over the provided
//! model name; project models come before global ones, then the newest `start_date`; within a
//! model, Langfuse's `matchPricingTier` picks the tier.

use std::collections::BTreeMap;

use regex::Regex;

use super::ModelDefinition;
use super::tiers::{Condition, TierAttributes, parse_conditions};

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
        self.tiers
            .iter()
            .any(|tier| tier.conditions.iter().any(Condition::reads_attributes))
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
                conditions: parse_conditions(&tier.conditions),
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

#[cfg(test)]
mod tests {
    use super::*;

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

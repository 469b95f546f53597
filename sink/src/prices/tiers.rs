//! Pricing-tier conditions (Langfuse `pricing-tiers/matcher.ts`): usage thresholds over the
//! usage keys a regex selects, and top-level model-parameter or metadata values.

use std::collections::BTreeMap;

use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};

/// One condition of a tier's `conditions` array.
#[derive(Debug, Clone)]
pub(super) enum Condition {
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
pub(super) enum Comparison {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

/// The conditions of a stored `conditions` value; anything but an array is no conditions.
pub(super) fn parse_conditions(conditions: &Value) -> Vec<Condition> {
    conditions
        .as_array()
        .map(|list| list.iter().map(parse_condition).collect())
        .unwrap_or_default()
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
    /// Whether the condition needs [`TierAttributes`] (not only usage).
    pub(super) fn reads_attributes(&self) -> bool {
        matches!(self, Condition::Attribute { .. })
    }

    pub(super) fn holds(&self, usage: &BTreeMap<String, u64>, attributes: &TierAttributes) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

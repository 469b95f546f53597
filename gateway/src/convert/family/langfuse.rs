//! The `langfuse.*` convention (Langfuse SDKs v3+, and anyone who sets these keys by hand).
//! Reference langfuse-otel.md §3.3–3.13.

use serde_json::Value;

use crate::convert::vocab::value;
use crate::convert::vocab::view::SpanView;

/// `langfuse.observation.type`: exact lower-case values only; `"SPAN"` falls through, as in
/// Langfuse's `ObservationTypeMapper`.
pub const OBSERVATION_TYPES: &[(&str, &str)] = &[
    ("span", "SPAN"),
    ("generation", "GENERATION"),
    ("event", "EVENT"),
    ("embedding", "EMBEDDING"),
    ("agent", "AGENT"),
    ("tool", "TOOL"),
    ("chain", "CHAIN"),
    ("retriever", "RETRIEVER"),
    ("guardrail", "GUARDRAIL"),
    ("evaluator", "EVALUATOR"),
];

/// Attributes that only a generation carries; the Python SDK ≤ 3.3 marked such spans `span`.
const GENERATION_ONLY: &[&str] = &[
    "langfuse.observation.model.name",
    "langfuse.observation.cost_details",
    "langfuse.observation.usage_details",
    "langfuse.observation.completion_start_time",
    "langfuse.observation.model.parameters",
    "langfuse.observation.prompt.name",
    "langfuse.observation.prompt.version",
];

/// Python SDK ≤ 3.3.0 sent `langfuse.observation.type = span` for generations; Langfuse
/// overrides it to GENERATION when a generation-only attribute is present (priority 0).
pub fn python_sdk_v330_generation(view: &SpanView) -> Option<&'static str> {
    let declared_span = view.attrs.str("langfuse.observation.type") == Some("span");
    let old_python_sdk = view.scope_name() == "langfuse-sdk"
        && view.resource.str("telemetry.sdk.language") == Some("python")
        && version_at_most(view.scope_version(), (3, 3, 0));
    let generation_like = GENERATION_ONLY.iter().any(|k| view.attrs.contains(k));
    (declared_span && old_python_sdk && generation_like).then_some("GENERATION")
}

/// A `major.minor.patch` version (pre-release suffixes ignored); `None` when unparseable.
fn parse_version(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u64>().ok());
    let mut next = || parts.next().flatten();
    match (next(), next(), next()) {
        (Some(a), b, c) => Some((a, b.unwrap_or(0), c.unwrap_or(0))),
        _ => None,
    }
}

/// Whether a version is at most `max`; unparseable → false.
fn version_at_most(version: &str, max: (u64, u64, u64)) -> bool {
    parse_version(version).is_some_and(|v| v <= max)
}

/// The first major version of each Langfuse SDK that JSON-encodes every metadata value,
/// strings included (Python SDK 5.x `_serialize_metadata_value`: "the server decodes metadata
/// values from v5 SDKs, so encoding every value keeps "123" and 123 distinct"). The JS SDK's
/// 5.x line still sends strings as they are (`@langfuse/tracing` 5.11 `_serialize`), so its
/// encoding major is the next one. Keyed by the resource's `telemetry.sdk.language`.
const METADATA_ENCODING_MAJOR: &[(&str, u64)] = &[("python", 5), ("nodejs", 6), ("webjs", 6)];

/// Whether this span's Langfuse SDK JSON-encoded its metadata values: scope `langfuse-sdk`
/// (what every Langfuse SDK names its tracer) at a version whose major is at least the one in
/// [`METADATA_ENCODING_MAJOR`] for the SDK's language. Never guessed for any other client:
/// older SDKs send plain strings, which stay as they are.
pub fn encodes_metadata_values(view: &SpanView) -> bool {
    if view.scope_name() != "langfuse-sdk" {
        return false;
    }
    let Some(language) = view.resource.str("telemetry.sdk.language") else {
        return false;
    };
    let Some((major, _, _)) = parse_version(view.scope_version()) else {
        return false;
    };
    METADATA_ENCODING_MAJOR
        .iter()
        .any(|(l, first)| *l == language && major >= *first)
}

/// A metadata value as the client meant it: JSON-decoded when the SDK encoded it (see
/// [`encodes_metadata_values`]; text that is not JSON stays as sent), else unchanged.
pub fn metadata_value(encoded: bool, raw: Value) -> Value {
    match raw {
        Value::String(text) if encoded => {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        other => other,
    }
}

/// A `langfuse.{observation,trace}.metadata.<key>` attribute, decoded as [`metadata_value`].
fn metadata_attr(view: &SpanView, key: &str) -> Option<Value> {
    let raw = view.attrs.present(key)?;
    Some(metadata_value(encodes_metadata_values(view), raw))
}

/// User id, session id and tags set through Langfuse metadata keys (§3.8), decoded.
pub fn observation_metadata_user_id(view: &SpanView) -> Option<Value> {
    metadata_attr(view, "langfuse.observation.metadata.langfuse_user_id")
}
pub fn trace_metadata_user_id(view: &SpanView) -> Option<Value> {
    metadata_attr(view, "langfuse.trace.metadata.langfuse_user_id")
}
pub fn observation_metadata_session_id(view: &SpanView) -> Option<Value> {
    metadata_attr(view, "langfuse.observation.metadata.langfuse_session_id")
}
pub fn trace_metadata_session_id(view: &SpanView) -> Option<Value> {
    metadata_attr(view, "langfuse.trace.metadata.langfuse_session_id")
}
pub fn observation_metadata_tags(view: &SpanView) -> Option<Value> {
    metadata_attr(view, "langfuse.observation.metadata.langfuse_tags")
}
pub fn trace_metadata_tags(view: &SpanView) -> Option<Value> {
    metadata_attr(view, "langfuse.trace.metadata.langfuse_tags")
}

/// `langfuse.observation.level` through Langfuse v4's alias table (case-insensitive,
/// trimmed). Unknown values fall through to the span status.
pub fn level(view: &SpanView) -> Option<Value> {
    let raw = view
        .attrs
        .str("langfuse.observation.level")?
        .trim()
        .to_ascii_uppercase();
    let level = match raw.as_str() {
        "DEBUG" | "TRACE" | "VERBOSE" => "DEBUG",
        "DEFAULT" | "INFO" | "LOG" | "NOTICE" | "OK" | "SUCCESS" => "DEFAULT",
        "WARNING" | "WARN" => "WARNING",
        "ERROR" | "FATAL" | "CRITICAL" => "ERROR",
        _ => return None,
    };
    Some(Value::String(level.into()))
}

/// Langfuse's `normalizeEnvironment`: lower-case, strip leading `langfuse` / `langfuse-` /
/// `langfuse_` (repeatedly; the prefix is reserved for Langfuse's own traffic), at most 40
/// characters, `[a-z0-9-_]` only, else `default`.
pub fn normalize_environment(raw: &str) -> String {
    let mut env = raw.trim().to_lowercase();
    while let Some(rest) = env.strip_prefix("langfuse") {
        env = rest.trim_start_matches(['-', '_']).to_owned();
    }
    let env: String = env.chars().take(40).collect();
    let valid = !env.is_empty()
        && env
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid { env } else { "default".to_owned() }
}

/// Tags from any of the accepted shapes: array, JSON-array string, comma-separated string,
/// single string (§3.8). Empty entries are dropped.
pub fn parse_tags(value: &Value) -> Vec<String> {
    let items: Vec<String> = match value {
        Value::Array(items) => items.iter().map(value::to_text).collect(),
        Value::String(s) if s.trim_start().starts_with('[') => match value::parse_json(s) {
            Some(Value::Array(items)) => items.iter().map(value::to_text).collect(),
            _ => vec![s.clone()],
        },
        Value::String(s) if s.contains(',') => s.split(',').map(|t| t.trim().to_owned()).collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    };
    items.into_iter().filter(|t| !t.is_empty()).collect()
}

/// `langfuse.observation.completion_start_time`: an ISO string, or a JSON-quoted ISO string
/// (old SDKs double-encode it). Returns µs as a JSON number.
pub fn completion_start_time(view: &SpanView) -> Option<Value> {
    let raw = view
        .attrs
        .get("langfuse.observation.completion_start_time")?;
    let us = match &raw {
        Value::String(s) => value::parse_timestamp_us(s)?,
        _ => return None,
    };
    Some(Value::from(us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_is_normalised_like_langfuse() {
        assert_eq!(normalize_environment("Production"), "production");
        assert_eq!(
            normalize_environment("langfuse-langfuse_staging"),
            "staging"
        );
        assert_eq!(normalize_environment("has space"), "default");
        assert_eq!(normalize_environment("langfuse"), "default");
    }

    #[test]
    fn tags_accept_every_shape() {
        assert_eq!(parse_tags(&serde_json::json!(["a", "b"])), ["a", "b"]);
        assert_eq!(parse_tags(&serde_json::json!("[\"a\",\"b\"]")), ["a", "b"]);
        assert_eq!(parse_tags(&serde_json::json!("a, b")), ["a", "b"]);
        assert_eq!(parse_tags(&serde_json::json!("a")), ["a"]);
    }

    #[test]
    fn old_python_sdk_versions() {
        assert!(version_at_most("3.3.0", (3, 3, 0)));
        assert!(version_at_most("2.60.3", (3, 3, 0)));
        assert!(!version_at_most("3.3.1", (3, 3, 0)));
        assert!(!version_at_most("", (3, 3, 0)));
    }
}

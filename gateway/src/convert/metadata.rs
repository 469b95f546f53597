//! Observation metadata (reference §3.8, events path): the raw span attributes (content keys
//! removed), resource attributes and scope, with the user's metadata keys on top, flattened
//! into dot-joined paths and string leaves as Langfuse's `flattenJsonToPathArrays` does.

use std::sync::LazyLock;

use rustc_hash::FxHashSet;
use serde_json::{Map, Value};

use super::io::{CONTENT_KEYS, CONTENT_PREFIXES};
use super::view::{Attrs, SpanView};
use super::{openllmetry, value};

/// Prefixes whose `<prefix>.<key>` attributes become top-level user metadata keys, by domain.
const OBSERVATION_PREFIXES: &[&str] = &[
    "langfuse.observation.metadata.",
    "langfuse.metadata.",
    "ai.telemetry.metadata.",
];
const TRACE_PREFIXES: &[&str] = &[
    "langfuse.trace.metadata.",
    "langfuse.metadata.",
    "ai.telemetry.metadata.",
];

/// `ai.telemetry.metadata.*` keys that are fields of their own, not metadata.
const RESERVED_TELEMETRY_KEYS: &[&str] = &["userId", "sessionId", "tags", "langfusePrompt"];

/// Where conversion problems of a span are recorded (a span is flagged, never dropped).
pub const WARNINGS_KEY: &str = "spanbridge.conversion_warnings";
/// Where roll-up usage of agent/workflow spans is kept instead of the usage columns.
pub const ROLLUP_USAGE_KEY: &str = "spanbridge.rollup_usage";

/// `extractMetadata(attrs, domain)`: the JSON blob (`langfuse.<domain>.metadata`, else
/// `langfuse.metadata`) overlaid with the prefixed keys. Values stay as decoded (a
/// JSON-encoded string stays a string).
fn user_metadata(
    attrs: &Attrs,
    blob_key: &str,
    prefixes: &[&str],
    out: &mut Map<String, Value>,
    warnings: &mut Vec<String>,
) {
    let blob = attrs
        .get(blob_key)
        .filter(value::is_truthy)
        .map(|v| (blob_key, v));
    let blob = blob.or_else(|| {
        attrs
            .get("langfuse.metadata")
            .filter(value::is_truthy)
            .map(|v| ("langfuse.metadata", v))
    });
    if let Some((key, raw)) = blob {
        match value::as_object(&raw) {
            Some(object) => out.extend(object),
            None if raw.is_string() => warnings.push(format!("{key} is not a JSON object")),
            None => {}
        }
    }
    for prefix in prefixes {
        for (key, raw) in attrs.with_prefix(prefix) {
            let reserved =
                *prefix == "ai.telemetry.metadata." && RESERVED_TELEMETRY_KEYS.contains(&key);
            if !reserved && !key.is_empty() {
                out.insert(key.to_owned(), value::to_json(raw));
            }
        }
    }
}

/// [`CONTENT_KEYS`] as a set: every attribute of every span is checked against it.
static CONTENT: LazyLock<FxHashSet<&'static str>> =
    LazyLock::new(|| CONTENT_KEYS.iter().copied().collect());

fn is_content(key: &str) -> bool {
    CONTENT.contains(key) || CONTENT_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// `metadata.attributes`: every span attribute except content and user-metadata keys, non-strings
/// as JSON text. Omitted for the Langfuse SDK, whose attributes are all mapped to fields.
fn attributes(view: &SpanView) -> Option<Map<String, Value>> {
    if view.scope_name().starts_with("langfuse-sdk") {
        return None;
    }
    let kept = view.attrs.iter().filter(|(k, _)| !is_content(k));
    Some(
        kept.map(|(k, v)| (k.to_owned(), Value::String(value::text_of(v))))
            .collect(),
    )
}

/// The metadata object of one span, before flattening.
pub fn metadata(view: &SpanView, warnings: &mut Vec<String>) -> Map<String, Value> {
    let mut out = Map::new();
    // Resource-level trace metadata first, lowest precedence (Langfuse's legacy trace
    // metadata reads it; the events path forgets it).
    user_metadata(
        view.resource,
        "langfuse.trace.metadata",
        TRACE_PREFIXES,
        &mut out,
        warnings,
    );
    if let Some(attrs) = attributes(view) {
        out.insert("attributes".into(), Value::Object(attrs));
    }
    out.insert(
        "resourceAttributes".into(),
        Value::Object(view.resource.to_object()),
    );
    if let Some(scope) = view.scope {
        let mut s = Map::new();
        s.insert("name".into(), Value::String(scope.name.clone()));
        s.insert("version".into(), Value::String(scope.version.clone()));
        if !view.scope_attrs.is_empty() {
            s.insert(
                "attributes".into(),
                Value::Object(view.scope_attrs.to_object()),
            );
        }
        out.insert("scope".into(), Value::Object(s));
    }
    // beyond Langfuse: OpenInference's `metadata` JSON and OpenLLMetry association properties.
    if let Some(object) = view
        .attrs
        .get("metadata")
        .and_then(|v| value::as_object(&v))
    {
        out.extend(object);
    }
    out.extend(openllmetry::association_properties(view));
    user_metadata(
        &view.attrs,
        "langfuse.observation.metadata",
        OBSERVATION_PREFIXES,
        &mut out,
        warnings,
    );
    user_metadata(
        &view.attrs,
        "langfuse.trace.metadata",
        TRACE_PREFIXES,
        &mut out,
        warnings,
    );
    out
}

/// Flattens to parallel name/value arrays: objects recurse with dot-joined paths, strings are
/// leaves (moved, not copied), other leaves and arrays are JSON text.
pub fn flatten(object: Map<String, Value>) -> (Vec<String>, Vec<String>) {
    fn walk(
        path: &mut String,
        object: Map<String, Value>,
        names: &mut Vec<String>,
        values: &mut Vec<String>,
    ) {
        for (key, value) in object {
            let parent = path.len();
            if parent > 0 {
                path.push('.');
            }
            path.push_str(&key);
            match value {
                Value::Object(children) => walk(path, children, names, values),
                Value::Null => {}
                Value::String(text) => {
                    names.push(path.clone());
                    values.push(text);
                }
                leaf => {
                    names.push(path.clone());
                    values.push(leaf.to_string());
                }
            }
            path.truncate(parent);
        }
    }
    let (mut names, mut values) = (Vec::new(), Vec::new());
    walk(&mut String::new(), object, &mut names, &mut values);
    (names, values)
}

//! Observation metadata (reference §3.8, events path): the raw span attributes (content keys
//! removed), resource attributes and scope, with the user's metadata keys on top, flattened
//! into dot-joined paths and string leaves as Langfuse's `flattenJsonToPathArrays` does.

use opentelemetry_proto::tonic::common::v1::AnyValue;
use serde_json::{Map, Value};

use crate::convert::family::{langfuse, mlflow, openllmetry};
use crate::convert::vocab::content::is_content;
use crate::convert::vocab::section::{ATTRIBUTES, Flat, RESOURCE, SCOPE, Section, walk};
use crate::convert::vocab::value;
use crate::convert::vocab::view::{Attrs, SpanView};

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
/// JSON-encoded string stays a string), except where the Langfuse SDK says it JSON-encoded
/// every value (`encoded`, [`langfuse::encodes_metadata_values`]): those are decoded once.
fn user_metadata(
    attrs: &Attrs,
    blob_key: &str,
    prefixes: &[&str],
    encoded: bool,
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
        let raw = langfuse::metadata_value(encoded, raw);
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
                let decoded = langfuse::metadata_value(encoded, value::to_json(raw));
                out.insert(key.to_owned(), decoded);
            }
        }
    }
}

/// `metadata.attributes`: every span attribute except content and user-metadata keys, non-strings
/// as JSON text. Omitted for the Langfuse SDK, whose attributes are all mapped to fields.
fn attributes<'a>(view: &SpanView<'a>) -> Option<Vec<(&'a str, &'a AnyValue)>> {
    if view.scope_name().starts_with("langfuse-sdk") {
        return None;
    }
    Some(view.attrs.iter().filter(|(k, _)| !is_content(k)).collect())
}

/// The metadata object of one span, before flattening. The user's keys are a JSON object; the
/// span's own sections (`attributes`, `resourceAttributes`, `scope`) hold their place in it
/// as `null` and are emitted from their flat forms, unless a user key of the same name
/// replaced them — the same result as one object, without decoding every attribute per span.
pub struct Metadata<'a> {
    object: Map<String, Value>,
    attributes: Option<Vec<(&'a str, &'a AnyValue)>>,
    /// MLflow JSON-encodes every attribute value: its JSON strings are shown decoded.
    decode_json_strings: bool,
    resource: Option<&'a Section>,
    scope: Option<&'a Section>,
}

/// The metadata of one span, before flattening.
pub fn metadata<'a>(view: &SpanView<'a>, warnings: &mut Vec<String>) -> Metadata<'a> {
    let mut object = Map::new();
    // Resource attributes are the application's, not the SDK's: never decoded.
    // Resource-level trace metadata first, lowest precedence (Langfuse's path through
    // ingestion events into the v3 tables reads it; the events path forgets it).
    user_metadata(
        view.resource,
        "langfuse.trace.metadata",
        TRACE_PREFIXES,
        false,
        &mut object,
        warnings,
    );
    let attributes = attributes(view);
    if attributes.is_some() {
        object.insert(ATTRIBUTES.into(), Value::Null);
    }
    object.insert(RESOURCE.into(), Value::Null);
    if view.scope_metadata.is_some() {
        object.insert(SCOPE.into(), Value::Null);
    }
    let mut user = Map::new();
    // beyond Langfuse: OpenInference's `metadata` JSON and OpenLLMetry association properties.
    if let Some(o) = view
        .attrs
        .get("metadata")
        .and_then(|v| value::as_object(&v))
    {
        user.extend(o);
    }
    user.extend(openllmetry::association_properties(view));
    let encoded = langfuse::encodes_metadata_values(view);
    user_metadata(
        &view.attrs,
        "langfuse.observation.metadata",
        OBSERVATION_PREFIXES,
        encoded,
        &mut user,
        warnings,
    );
    user_metadata(
        &view.attrs,
        "langfuse.trace.metadata",
        TRACE_PREFIXES,
        encoded,
        &mut user,
        warnings,
    );
    let mut metadata = Metadata {
        object,
        attributes,
        decode_json_strings: mlflow::is_mlflow(view),
        resource: Some(view.resource_metadata),
        scope: view.scope_metadata,
    };
    for (key, value) in user {
        metadata.insert(key, value);
    }
    metadata
}

/// Text that is a JSON string literal (`"\"CHAT_MODEL\""`) as the string; anything else as is.
fn json_string(text: String) -> String {
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::String(decoded)) if text.starts_with('"') => decoded,
        _ => text,
    }
}

impl<'a> Metadata<'a> {
    /// Sets a key; a user key named like a section replaces that section.
    pub fn insert(&mut self, key: String, value: Value) {
        match key.as_str() {
            ATTRIBUTES => self.attributes = None,
            RESOURCE => self.resource = None,
            SCOPE => self.scope = None,
            _ => {}
        }
        self.object.insert(key, value);
    }

    /// Removes a key (`serde_json`'s `remove`: the last key takes its place).
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.object.remove(key)
    }

    /// Removes raw attributes from `metadata.attributes` (in the same order-perturbing way as
    /// [`Metadata::remove`]).
    pub fn remove_attributes(&mut self, keys: &[&str]) {
        match &mut self.attributes {
            Some(list) => {
                for key in keys {
                    if let Some(i) = list.iter().position(|(k, _)| k == key) {
                        list.swap_remove(i);
                    }
                }
            }
            None => {
                if let Some(Value::Object(replaced)) = self.object.get_mut(ATTRIBUTES) {
                    for key in keys {
                        replaced.remove(*key);
                    }
                }
            }
        }
    }

    /// Flattens to parallel name/value arrays (see [`crate::convert::vocab::section::flatten`]).
    pub fn flatten(self) -> Flat {
        let sections = self.attributes.as_ref().map_or(0, Vec::len)
            + self.resource.map_or(0, |s| s.names().len())
            + self.scope.map_or(0, |s| s.names().len());
        let leaves = self.object.len() + sections;
        let mut out = (Vec::with_capacity(leaves), Vec::with_capacity(leaves));
        let mut path = String::new();
        for (key, value) in self.object {
            match (key.as_str(), &self.attributes, self.resource, self.scope) {
                (ATTRIBUTES, Some(list), _, _) => {
                    for (k, v) in list {
                        let mut name = String::with_capacity(ATTRIBUTES.len() + 1 + k.len());
                        name.push_str(ATTRIBUTES);
                        name.push('.');
                        name.push_str(k);
                        out.0.push(name);
                        let text = value::text_of(v);
                        out.1.push(match self.decode_json_strings {
                            true => json_string(text),
                            false => text,
                        });
                    }
                }
                (RESOURCE, _, Some(section), _) | (SCOPE, _, _, Some(section)) => {
                    out.0.extend_from_slice(section.names());
                    out.1.extend_from_slice(section.values());
                }
                _ => walk(&mut path, key, value, &mut out),
            }
        }
        out
    }
}

//! Flattened metadata (reference §3.8): dot-joined paths and string leaves, as Langfuse's
//! `flattenJsonToPathArrays` writes them, and the [`Section`]s of a row's metadata object that
//! are flattened once per resource / scope rather than once per span.

use serde_json::{Map, Value};

/// `metadata.attributes`: the span's raw attributes.
pub const ATTRIBUTES: &str = "attributes";
/// `metadata.resourceAttributes`: the resource attributes.
pub const RESOURCE: &str = "resourceAttributes";
/// `metadata.scope`: name, version and attributes of the instrumentation scope.
pub const SCOPE: &str = "scope";

/// One metadata section already flattened (`resourceAttributes`, `scope`): built once per
/// resource / scope and copied into each of its spans' rows.
#[derive(Debug, Default)]
pub struct Section {
    names: Vec<String>,
    values: Vec<String>,
}

impl Section {
    /// The section `{key: value}` flattened.
    pub fn of(key: &str, value: Value) -> Section {
        let (names, values) = flatten(Map::from_iter([(key.to_owned(), value)]));
        Section { names, values }
    }

    /// Flattened paths, parallel to [`Section::values`].
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Flattened string leaves, parallel to [`Section::names`].
    pub fn values(&self) -> &[String] {
        &self.values
    }
}

/// Parallel name/value arrays, as `EventRow` stores metadata.
pub type Flat = (Vec<String>, Vec<String>);

/// Flattens to parallel name/value arrays: objects recurse with dot-joined paths, strings are
/// leaves (moved, not copied), other leaves and arrays are JSON text.
pub fn flatten(object: Map<String, Value>) -> Flat {
    let mut out = (Vec::new(), Vec::new());
    let mut path = String::new();
    for (key, value) in object {
        walk(&mut path, key, value, &mut out);
    }
    out
}

/// Flattens `key: value` below `path` into `out` (the step [`flatten`] repeats per key).
pub fn walk(path: &mut String, key: String, value: Value, out: &mut Flat) {
    let parent = path.len();
    if parent > 0 {
        path.push('.');
    }
    path.push_str(&key);
    match value {
        Value::Object(children) => {
            for (key, value) in children {
                walk(path, key, value, out);
            }
        }
        Value::Null => {}
        Value::String(text) => {
            out.0.push(path.clone());
            out.1.push(text);
        }
        leaf => {
            out.0.push(path.clone());
            out.1.push(leaf.to_string());
        }
    }
    path.truncate(parent);
}

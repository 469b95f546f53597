//! v2's JSON columns: values as v2 stores them (jsonb of what the client sent, NUL-free),
//! metadata rebuilt from the row's flattened dot-paths, and lodash's `merge` (v2's
//! `mergeJson`) for metadata updates.

use serde_json::{Map, Value};

/// Strips NUL characters from every string of a JSON value (jsonb rejects `\u0000`).
fn without_nul(value: Value) -> Value {
    match value {
        Value::String(text) if text.contains('\0') => Value::String(text.replace('\0', "")),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nul).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.replace('\0', ""), without_nul(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The jsonb text of a row's input/output/parameters: JSON text as that JSON, any other text
/// as a JSON string (v2 stores a string input as the JSON string).
pub fn jsonb_text(text: &str) -> String {
    let value =
        serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_owned()));
    without_nul(value).to_string()
}

/// A leaf of the flattened metadata: numbers, booleans, arrays and objects were JSON text on
/// the way in (the flattening keeps strings as they are), so they come back typed.
fn leaf(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ (Value::Number(_) | Value::Bool(_) | Value::Array(_) | Value::Object(_))) => {
            without_nul(value)
        }
        _ => Value::String(text.replace('\0', "")),
    }
}

/// The metadata object of a row's flattened dot-paths.
pub fn metadata(names: &[String], values: &[String]) -> Value {
    let mut root = Map::new();
    for (name, value) in names.iter().zip(values) {
        let name = name.replace('\0', "");
        if !insert_path(&mut root, &name, leaf(value)) {
            root.insert(name, leaf(value));
        }
    }
    Value::Object(root)
}

fn insert_path(map: &mut Map<String, Value>, path: &str, value: Value) -> bool {
    match path.split_once('.') {
        None => {
            if map.get(path).is_some_and(Value::is_object) {
                return false;
            }
            map.insert(path.to_owned(), value);
            true
        }
        Some((head, rest)) => match map
            .entry(head.to_owned())
            .or_insert_with(|| Value::Object(Map::new()))
        {
            Value::Object(child) => insert_path(child, rest, value),
            _ => false,
        },
    }
}

/// A stored metadata value as the row's flattened dot-paths (the inverse of [`metadata`]).
pub fn flatten(value: Option<Value>) -> (Vec<String>, Vec<String>) {
    let mut out = (Vec::new(), Vec::new());
    match value {
        Some(Value::Object(map)) => {
            for (key, value) in map {
                walk(key, value, &mut out);
            }
        }
        Some(Value::Null) | None => {}
        Some(other) => walk("metadata".to_owned(), other, &mut out),
    }
    out
}

fn walk(path: String, value: Value, out: &mut (Vec<String>, Vec<String>)) {
    match value {
        Value::Object(children) if !children.is_empty() => {
            for (key, child) in children {
                walk(format!("{path}.{key}"), child, out);
            }
        }
        Value::Null => {}
        Value::String(text) => {
            out.0.push(path);
            out.1.push(text);
        }
        other => {
            out.0.push(path);
            out.1.push(other.to_string());
        }
    }
}

/// lodash `merge(existing, new)`: objects merge key by key, arrays index by index, and a
/// `null` in the new value does not overwrite (lodash skips `undefined`; JSON has only null,
/// which v2's zod schemas strip from metadata before the merge).
pub fn merge(existing: Value, new: Value) -> Value {
    match (existing, new) {
        (Value::Object(mut before), Value::Object(after)) => {
            for (key, value) in after {
                let merged = match before.remove(&key) {
                    Some(old) => merge(old, value),
                    None => value,
                };
                before.insert(key, merged);
            }
            Value::Object(before)
        }
        (Value::Array(mut before), Value::Array(after)) => {
            for (i, value) in after.into_iter().enumerate() {
                if i < before.len() {
                    let old = std::mem::take(&mut before[i]);
                    before[i] = merge(old, value);
                } else {
                    before.push(value);
                }
            }
            Value::Array(before)
        }
        (old, Value::Null) => old,
        (_, new) => new,
    }
}

/// A Postgres array literal of texts (`{"a","b\"c"}`), bound as one element of a `text[]`
/// and cast to `text[]` in SQL.
pub fn pg_text_array(items: &[String]) -> String {
    let mut out = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in item.chars() {
            match c {
                '"' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                '\0' => {}
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn metadata_leaves_come_back_typed_and_merge_deeply() {
        let names = ["env", "nested.a", "finished", "list"].map(String::from);
        let values = ["test", "1", "true", "[1,2]"].map(String::from);
        let built = metadata(&names, &values);
        assert_eq!(
            built,
            json!({"env": "test", "nested": {"a": 1}, "finished": true, "list": [1, 2]})
        );
        let merged = merge(built, json!({"nested": {"b": 2}, "list": [9], "env": null}));
        assert_eq!(
            merged,
            json!({"env": "test", "nested": {"a": 1, "b": 2}, "finished": true, "list": [9, 2]})
        );
        let (n, v) = flatten(Some(merged));
        assert!(n.contains(&"nested.b".to_owned()) && v.contains(&"2".to_owned()));
    }

    #[test]
    fn json_columns_hold_json_and_no_nul() {
        assert_eq!(jsonb_text(r#"{"q": 1}"#), r#"{"q":1}"#);
        assert_eq!(jsonb_text("Paris"), r#""Paris""#);
        assert_eq!(jsonb_text("a\0b"), r#""ab""#);
        assert_eq!(jsonb_text(r#"{"k":"x\u0000y"}"#), r#"{"k":"xy"}"#);
        assert_eq!(
            pg_text_array(&["a".into(), "b\"c".into()]),
            r#"{"a","b\"c"}"#
        );
    }
}

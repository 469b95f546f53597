//! Golden tests: every OTLP/JSON request in `tests/fixtures/otlp/` is converted and its whole
//! rows are compared with the hand-reviewed rows in `tests/fixtures/expected/<name>.json`.
//!
//! `BLESS=1 cargo test -p spanbridge-gateway --test golden` rewrites the expected files; review
//! the diff against reference/genai-semconv.md §9 before committing it.
//!
//! Rows are written as JSON objects with EventRow's field names; fields at their default
//! (empty string, empty list or map, `false`, absent) are left out so the files stay readable.
//! Metadata is shown as a `{name: value}` object of the flattened pairs, in order.
//!
//! Whole rows, not a list of fields: [`row_json`] and [`row_from_json`] name every field of
//! `EventRow` without `..` (a field added to the contract does not compile here until it is
//! written and read), the expected file is read back into `EventRow`s and compared with `==`,
//! and every actual row must survive `row_from_json(row_json(row))` unchanged, so the file
//! format cannot silently drop a field or a metadata pair.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::{Map, Value, json};
use spanbridge_gateway::convert::{Converted, convert};
use spanbridge_proto::EventRow;

/// Receive time used for spans without timestamps (none of the fixtures needs it).
const RECEIVED_AT_US: i64 = 1_786_003_200_000_000;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn pairs(names: &[String], values: &[String]) -> Value {
    Value::Object(
        names
            .iter()
            .cloned()
            .zip(values.iter().cloned().map(Value::String))
            .collect(),
    )
}

/// One row as JSON, every field named, default-valued fields left out.
fn row_json(row: &EventRow) -> Value {
    // No `..`: a new EventRow field must be added here before this compiles.
    let EventRow {
        trace_id,
        span_id,
        parent_span_id,
        start_time_us,
        end_time_us,
        completion_start_time_us,
        name,
        r#type,
        environment,
        version,
        release,
        level,
        status_message,
        trace_name,
        user_id,
        session_id,
        tags,
        public,
        is_app_root,
        prompt_name,
        prompt_version,
        provided_model_name,
        model_parameters,
        provided_usage_details,
        provided_cost_details,
        tool_definitions,
        tool_calls,
        tool_call_names,
        input,
        output,
        metadata_names,
        metadata_values,
        experiment_id,
        experiment_name,
        experiment_description,
        experiment_dataset_id,
        experiment_item_id,
        experiment_item_version_us,
        experiment_item_expected_output,
        experiment_metadata_names,
        experiment_metadata_values,
        experiment_item_metadata_names,
        experiment_item_metadata_values,
        experiment_item_root_span_id,
        service_name,
        service_version,
        scope_name,
        scope_version,
        telemetry_sdk_language,
        telemetry_sdk_name,
        telemetry_sdk_version,
        source,
        trace_input,
        trace_output,
    } = row;
    let fields = [
        ("trace_id", json!(trace_id)),
        ("span_id", json!(span_id)),
        ("parent_span_id", json!(parent_span_id)),
        ("start_time_us", json!(start_time_us)),
        ("end_time_us", json!(end_time_us)),
        ("completion_start_time_us", json!(completion_start_time_us)),
        ("name", json!(name)),
        ("type", json!(r#type)),
        ("environment", json!(environment)),
        ("version", json!(version)),
        ("release", json!(release)),
        ("level", json!(level)),
        ("status_message", json!(status_message)),
        ("trace_name", json!(trace_name)),
        ("user_id", json!(user_id)),
        ("session_id", json!(session_id)),
        ("tags", json!(tags)),
        ("public", json!(public)),
        ("is_app_root", json!(is_app_root)),
        ("prompt_name", json!(prompt_name)),
        ("prompt_version", json!(prompt_version)),
        ("provided_model_name", json!(provided_model_name)),
        ("model_parameters", json!(model_parameters)),
        ("provided_usage_details", json!(provided_usage_details)),
        ("provided_cost_details", json!(provided_cost_details)),
        ("tool_definitions", json!(tool_definitions)),
        ("tool_calls", json!(tool_calls)),
        ("tool_call_names", json!(tool_call_names)),
        ("input", json!(input)),
        ("output", json!(output)),
        ("trace_input", json!(trace_input)),
        ("trace_output", json!(trace_output)),
        ("metadata", pairs(metadata_names, metadata_values)),
        ("experiment_id", json!(experiment_id)),
        ("experiment_name", json!(experiment_name)),
        ("experiment_description", json!(experiment_description)),
        ("experiment_dataset_id", json!(experiment_dataset_id)),
        ("experiment_item_id", json!(experiment_item_id)),
        (
            "experiment_item_version_us",
            json!(experiment_item_version_us),
        ),
        (
            "experiment_item_expected_output",
            json!(experiment_item_expected_output),
        ),
        (
            "experiment_metadata",
            pairs(experiment_metadata_names, experiment_metadata_values),
        ),
        (
            "experiment_item_metadata",
            pairs(
                experiment_item_metadata_names,
                experiment_item_metadata_values,
            ),
        ),
        (
            "experiment_item_root_span_id",
            json!(experiment_item_root_span_id),
        ),
        ("service_name", json!(service_name)),
        ("service_version", json!(service_version)),
        ("scope_name", json!(scope_name)),
        ("scope_version", json!(scope_version)),
        ("telemetry_sdk_language", json!(telemetry_sdk_language)),
        ("telemetry_sdk_name", json!(telemetry_sdk_name)),
        ("telemetry_sdk_version", json!(telemetry_sdk_version)),
        ("source", json!(source)),
    ];
    let is_default = |v: &Value| match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) => false,
    };
    Value::Object(
        fields
            .into_iter()
            .filter(|(_, v)| !is_default(v))
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// Reads a [`row_json`] object back, strictly: an unknown key or a value of the wrong type
/// is an error, an absent key is the field's default.
struct Fields {
    object: Map<String, Value>,
}

impl Fields {
    fn take(&mut self, key: &str) -> Option<Value> {
        self.object.remove(key)
    }

    fn string(&mut self, key: &str) -> Result<String, String> {
        match self.take(key) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(format!("{key}: expected a string, got {other}")),
        }
    }

    fn bool(&mut self, key: &str) -> Result<bool, String> {
        match self.take(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(b),
            Some(other) => Err(format!("{key}: expected a boolean, got {other}")),
        }
    }

    fn i64(&mut self, key: &str) -> Result<i64, String> {
        Ok(self.optional_i64(key)?.unwrap_or(0))
    }

    fn optional_i64(&mut self, key: &str) -> Result<Option<i64>, String> {
        match self.take(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("{key}: expected an integer, got {v}")),
        }
    }

    fn optional_u32(&mut self, key: &str) -> Result<Option<u32>, String> {
        match self.optional_i64(key)? {
            None => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| format!("{key}: {n} is not a u32")),
        }
    }

    fn strings(&mut self, key: &str) -> Result<Vec<String>, String> {
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    other => Err(format!("{key}: expected strings, got {other}")),
                })
                .collect(),
            Some(other) => Err(format!("{key}: expected an array, got {other}")),
        }
    }

    fn map<T>(
        &mut self,
        key: &str,
        entry: impl Fn(&Value) -> Option<T>,
    ) -> Result<BTreeMap<String, T>, String> {
        match self.take(key) {
            None => Ok(BTreeMap::new()),
            Some(Value::Object(o)) => o
                .into_iter()
                .map(|(k, v)| match entry(&v) {
                    Some(t) => Ok((k, t)),
                    None => Err(format!("{key}.{k}: unexpected value {v}")),
                })
                .collect(),
            Some(other) => Err(format!("{key}: expected an object, got {other}")),
        }
    }

    /// A `{name: value}` object back into parallel name/value arrays.
    fn pairs(&mut self, key: &str) -> Result<(Vec<String>, Vec<String>), String> {
        let mut out = (Vec::new(), Vec::new());
        match self.take(key) {
            None => {}
            Some(Value::Object(o)) => {
                for (name, value) in o {
                    match value {
                        Value::String(s) => {
                            out.0.push(name);
                            out.1.push(s);
                        }
                        other => {
                            return Err(format!("{key}.{name}: expected a string, got {other}"));
                        }
                    }
                }
            }
            Some(other) => return Err(format!("{key}: expected an object, got {other}")),
        }
        Ok(out)
    }
}

/// The inverse of [`row_json`].
fn row_from_json(value: &Value) -> Result<EventRow, String> {
    let Value::Object(object) = value else {
        return Err(format!("a row must be an object, got {value}"));
    };
    let mut f = Fields {
        object: object.clone(),
    };
    let (metadata_names, metadata_values) = f.pairs("metadata")?;
    let (experiment_metadata_names, experiment_metadata_values) = f.pairs("experiment_metadata")?;
    let (experiment_item_metadata_names, experiment_item_metadata_values) =
        f.pairs("experiment_item_metadata")?;
    // No `..Default::default()`: a new EventRow field must be read here before this compiles.
    let row = EventRow {
        trace_id: f.string("trace_id")?,
        span_id: f.string("span_id")?,
        parent_span_id: f.string("parent_span_id")?,
        start_time_us: f.i64("start_time_us")?,
        end_time_us: f.optional_i64("end_time_us")?,
        completion_start_time_us: f.optional_i64("completion_start_time_us")?,
        name: f.string("name")?,
        r#type: f.string("type")?,
        environment: f.string("environment")?,
        version: f.string("version")?,
        release: f.string("release")?,
        level: f.string("level")?,
        status_message: f.string("status_message")?,
        trace_name: f.string("trace_name")?,
        user_id: f.string("user_id")?,
        session_id: f.string("session_id")?,
        tags: f.strings("tags")?,
        public: f.bool("public")?,
        is_app_root: f.bool("is_app_root")?,
        prompt_name: f.string("prompt_name")?,
        prompt_version: f.optional_u32("prompt_version")?,
        provided_model_name: f.string("provided_model_name")?,
        model_parameters: f.string("model_parameters")?,
        provided_usage_details: f.map("provided_usage_details", Value::as_u64)?,
        provided_cost_details: f.map("provided_cost_details", Value::as_f64)?,
        tool_definitions: f.map("tool_definitions", |v| v.as_str().map(str::to_owned))?,
        tool_calls: f.strings("tool_calls")?,
        tool_call_names: f.strings("tool_call_names")?,
        input: f.string("input")?,
        output: f.string("output")?,
        metadata_names,
        metadata_values,
        experiment_id: f.string("experiment_id")?,
        experiment_name: f.string("experiment_name")?,
        experiment_description: f.string("experiment_description")?,
        experiment_dataset_id: f.string("experiment_dataset_id")?,
        experiment_item_id: f.string("experiment_item_id")?,
        experiment_item_version_us: f.optional_i64("experiment_item_version_us")?,
        experiment_item_expected_output: f.string("experiment_item_expected_output")?,
        experiment_metadata_names,
        experiment_metadata_values,
        experiment_item_metadata_names,
        experiment_item_metadata_values,
        experiment_item_root_span_id: f.string("experiment_item_root_span_id")?,
        service_name: f.string("service_name")?,
        service_version: f.string("service_version")?,
        scope_name: f.string("scope_name")?,
        scope_version: f.string("scope_version")?,
        telemetry_sdk_language: f.string("telemetry_sdk_language")?,
        telemetry_sdk_name: f.string("telemetry_sdk_name")?,
        telemetry_sdk_version: f.string("telemetry_sdk_version")?,
        source: f.string("source")?,
        trace_input: f.string("trace_input")?,
        trace_output: f.string("trace_output")?,
    };
    match f.object.keys().next() {
        Some(unknown) => Err(format!("unknown row field `{unknown}`")),
        None => Ok(row),
    }
}

fn convert_file(request_path: &Path) -> Converted {
    let text = std::fs::read_to_string(request_path).unwrap_or_default();
    let request: ExportTraceServiceRequest = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => panic!(
            "{} is not an OTLP/JSON trace request: {e}",
            request_path.display()
        ),
    };
    convert(&request, RECEIVED_AT_US)
}

/// The golden file form of a conversion.
fn converted_json(converted: &Converted) -> Value {
    let traces: Map<String, Value> = converted
        .traces
        .iter()
        .map(|(id, rows)| {
            (
                id.clone(),
                Value::Array(rows.iter().map(row_json).collect()),
            )
        })
        .collect();
    json!({
        "rejected_spans": converted.rejected_spans,
        "rejection_message": converted.rejection_message,
        "traces": traces,
    })
}

/// A golden file read back into a [`Converted`] (rows as `EventRow`s).
fn converted_from_json(value: &Value) -> Result<Converted, String> {
    let rejected_spans = value
        .get("rejected_spans")
        .and_then(Value::as_i64)
        .ok_or("rejected_spans: expected an integer")?;
    let rejection_message = value
        .get("rejection_message")
        .and_then(Value::as_str)
        .ok_or("rejection_message: expected a string")?
        .to_owned();
    let traces = value
        .get("traces")
        .and_then(Value::as_object)
        .ok_or("traces: expected an object")?
        .iter()
        .map(|(id, rows)| {
            let rows = rows
                .as_array()
                .ok_or_else(|| format!("traces.{id}: expected an array"))?
                .iter()
                .enumerate()
                .map(|(i, row)| row_from_json(row).map_err(|e| format!("traces.{id}[{i}]: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((id.clone(), rows))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Converted {
        traces,
        // Not in golden files: trace fields are unit-tested in convert/tests.rs.
        trace_fields: Vec::new(),
        rejected_spans,
        rejection_message,
    })
}

/// Readable differences between two golden forms, one line per differing field.
fn diff(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let keys: std::collections::BTreeSet<&String> = e.keys().chain(a.keys()).collect();
            for k in keys {
                let null = Value::Null;
                diff(
                    &format!("{path}.{k}"),
                    e.get(k).unwrap_or(&null),
                    a.get(k).unwrap_or(&null),
                    out,
                );
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, out);
            }
        }
        (e, a) if e != a => out.push(format!("{path}: expected {e}, got {a}")),
        _ => {}
    }
}

/// Every actual row must be written losslessly, or the comparison would not cover it.
fn check_lossless(stem: &str, converted: &Converted, failures: &mut Vec<String>) {
    for (id, rows) in &converted.traces {
        for (i, row) in rows.iter().enumerate() {
            match row_from_json(&row_json(row)) {
                Ok(back) if back == *row => {}
                Ok(back) => failures.push(format!(
                    "{stem}: traces.{id}[{i}] is not written losslessly (duplicate metadata \
                     names?): {row:?} became {back:?}"
                )),
                Err(e) => failures.push(format!("{stem}: traces.{id}[{i}]: {e}")),
            }
        }
    }
}

#[test]
fn golden_rows_match() {
    let dir = fixtures();
    let bless = std::env::var_os("BLESS").is_some();
    let mut requests: Vec<PathBuf> = std::fs::read_dir(dir.join("otlp"))
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    requests.retain(|p| p.extension().is_some_and(|x| x == "json"));
    // OTLP log requests (`*.logs.json`) carry content for spans of another file; joining log
    // records onto spans is not part of conversion yet (DESIGN.md: /v1/logs comes later).
    requests.retain(|p| !p.to_string_lossy().ends_with(".logs.json"));
    requests.sort();
    assert!(!requests.is_empty(), "no fixtures under {}", dir.display());

    let mut failures = Vec::new();
    for request in &requests {
        let stem = request
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .replace(".traces.json", ".json");
        let expected_path = dir.join("expected").join(&stem);
        let actual = convert_file(request);
        check_lossless(&stem, &actual, &mut failures);
        let actual_json = converted_json(&actual);
        if bless {
            let text = serde_json::to_string_pretty(&actual_json).unwrap_or_default() + "\n";
            if let Err(e) = std::fs::write(&expected_path, text) {
                panic!("cannot write {}: {e}", expected_path.display());
            }
            continue;
        }
        let expected_json: Value = match std::fs::read_to_string(&expected_path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or(Value::Null),
            Err(_) => {
                failures.push(format!(
                    "{stem}: no expected file (run with BLESS=1, then review it)"
                ));
                continue;
            }
        };
        let expected = match converted_from_json(&expected_json) {
            Ok(expected) => expected,
            Err(e) => {
                failures.push(format!("{stem}: unreadable expected file: {e}"));
                continue;
            }
        };
        // Trace fields are not in the golden files (unit-tested in convert/tests.rs).
        let actual = Converted {
            trace_fields: Vec::new(),
            ..actual
        };
        if expected != actual {
            let mut lines = Vec::new();
            diff(&stem, &converted_json(&expected), &actual_json, &mut lines);
            if lines.is_empty() {
                lines.push(format!("{stem}: rows differ: {expected:?} != {actual:?}"));
            }
            failures.extend(lines);
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}

/// The comparison covers every field: changing any one field of a converted row, or adding a
/// metadata pair, makes the expected rows differ from it.
#[test]
fn a_change_in_any_field_is_a_mismatch() {
    let dir = fixtures();
    let converted = convert_file(&dir.join("otlp/06-langfuse-python-v3-span-generation.json"));
    let Some(row) = converted.traces.first().and_then(|(_, rows)| rows.first()) else {
        panic!("fixture 06 has no rows");
    };
    let original = row_json(row);
    let Value::Object(fields) = &original else {
        panic!("a row is an object");
    };
    // One change per field the row carries and one per field at its default.
    let mut changed = Vec::new();
    for (key, value) in fields {
        let replacement = match value {
            Value::String(s) => json!(format!("{s}-changed")),
            Value::Number(n) => json!(n.as_i64().unwrap_or(0) + 1),
            Value::Bool(b) => json!(!b),
            Value::Array(items) => json!(items.iter().skip(1).collect::<Vec<_>>()),
            Value::Object(o) => {
                let mut o = o.clone();
                o.insert("added".into(), json!("1"));
                Value::Object(o)
            }
            Value::Null => continue,
        };
        let mut copy = fields.clone();
        copy.insert(key.clone(), replacement);
        changed.push((key.clone(), Value::Object(copy)));
    }
    for (key, value) in [
        ("trace_input", json!("in")),
        ("trace_output", json!("out")),
        ("is_app_root", json!(true)),
        ("prompt_version", json!(3)),
        ("experiment_item_version_us", json!(1)),
        ("tool_definitions", json!({"t": "{}"})),
        ("experiment_item_metadata", json!({"k": "v"})),
    ] {
        let mut copy = fields.clone();
        copy.insert(key.into(), value);
        changed.push((key.to_owned(), Value::Object(copy)));
    }
    for (key, json) in changed {
        match row_from_json(&json) {
            Ok(other) => assert_ne!(&other, row, "changing `{key}` went unnoticed"),
            Err(e) => panic!("changing `{key}` gave an unreadable row: {e}"),
        }
    }
}

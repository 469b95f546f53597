//! Golden tests: every OTLP/JSON request in `tests/fixtures/otlp/` is converted and compared
//! field by field with the hand-reviewed rows in `tests/fixtures/expected/<name>.json`.
//!
//! `BLESS=1 cargo test -p spanbridge-gateway --test golden` rewrites the expected files; review
//! the diff against reference/genai-semconv.md §9 before committing it.
//!
//! Rows are written as JSON objects with EventRow's field names; fields at their default
//! (empty string, empty list, `false`, absent) are left out so the files stay readable.
//! Metadata is shown as a `{name: value}` object of the flattened pairs.

use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::{Map, Value, json};
use spanbridge_gateway::convert::convert;
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

/// One row as JSON, default-valued fields left out.
fn row_json(row: &EventRow) -> Value {
    let fields = [
        ("trace_id", json!(row.trace_id)),
        ("span_id", json!(row.span_id)),
        ("parent_span_id", json!(row.parent_span_id)),
        ("start_time_us", json!(row.start_time_us)),
        ("end_time_us", json!(row.end_time_us)),
        (
            "completion_start_time_us",
            json!(row.completion_start_time_us),
        ),
        ("name", json!(row.name)),
        ("type", json!(row.r#type)),
        ("environment", json!(row.environment)),
        ("version", json!(row.version)),
        ("release", json!(row.release)),
        ("level", json!(row.level)),
        ("status_message", json!(row.status_message)),
        ("trace_name", json!(row.trace_name)),
        ("user_id", json!(row.user_id)),
        ("session_id", json!(row.session_id)),
        ("tags", json!(row.tags)),
        ("public", json!(row.public)),
        ("is_app_root", json!(row.is_app_root)),
        ("prompt_name", json!(row.prompt_name)),
        ("prompt_version", json!(row.prompt_version)),
        ("provided_model_name", json!(row.provided_model_name)),
        ("model_parameters", json!(row.model_parameters)),
        ("provided_usage_details", json!(row.provided_usage_details)),
        ("provided_cost_details", json!(row.provided_cost_details)),
        ("tool_definitions", json!(row.tool_definitions)),
        ("tool_calls", json!(row.tool_calls)),
        ("tool_call_names", json!(row.tool_call_names)),
        ("input", json!(row.input)),
        ("output", json!(row.output)),
        ("metadata", pairs(&row.metadata_names, &row.metadata_values)),
        ("experiment_id", json!(row.experiment_id)),
        ("experiment_name", json!(row.experiment_name)),
        ("experiment_description", json!(row.experiment_description)),
        ("experiment_dataset_id", json!(row.experiment_dataset_id)),
        ("experiment_item_id", json!(row.experiment_item_id)),
        (
            "experiment_item_version_us",
            json!(row.experiment_item_version_us),
        ),
        (
            "experiment_item_expected_output",
            json!(row.experiment_item_expected_output),
        ),
        (
            "experiment_metadata",
            pairs(
                &row.experiment_metadata_names,
                &row.experiment_metadata_values,
            ),
        ),
        (
            "experiment_item_metadata",
            pairs(
                &row.experiment_item_metadata_names,
                &row.experiment_item_metadata_values,
            ),
        ),
        (
            "experiment_item_root_span_id",
            json!(row.experiment_item_root_span_id),
        ),
        ("service_name", json!(row.service_name)),
        ("service_version", json!(row.service_version)),
        ("scope_name", json!(row.scope_name)),
        ("scope_version", json!(row.scope_version)),
        ("telemetry_sdk_language", json!(row.telemetry_sdk_language)),
        ("telemetry_sdk_name", json!(row.telemetry_sdk_name)),
        ("telemetry_sdk_version", json!(row.telemetry_sdk_version)),
        ("source", json!(row.source)),
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

fn actual_for(request_path: &Path) -> Value {
    let text = std::fs::read_to_string(request_path).unwrap_or_default();
    let request: ExportTraceServiceRequest = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => panic!(
            "{} is not an OTLP/JSON trace request: {e}",
            request_path.display()
        ),
    };
    let converted = convert(&request, RECEIVED_AT_US);
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

/// Field-by-field differences, as readable lines.
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
        let actual = actual_for(request);
        if bless {
            let text = serde_json::to_string_pretty(&actual).unwrap_or_default() + "\n";
            if let Err(e) = std::fs::write(&expected_path, text) {
                panic!("cannot write {}: {e}", expected_path.display());
            }
            continue;
        }
        let expected: Value = match std::fs::read_to_string(&expected_path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or(Value::Null),
            Err(_) => {
                failures.push(format!(
                    "{stem}: no expected file (run with BLESS=1, then review it)"
                ));
                continue;
            }
        };
        let mut lines = Vec::new();
        diff(&stem, &expected, &actual, &mut lines);
        failures.extend(lines);
    }
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}

//! Golden tests of log conversion: every OTLP/JSON logs request in `tests/fixtures/otlp-logs/`
//! (the openai-v2 captures of `../shared/fixtures/otlp-logs/` and hand-written edge cases) is
//! converted and compared with the hand-reviewed pieces in
//! `tests/fixtures/expected-logs/<name>.json`.
//!
//! `BLESS=1 cargo test -p spanbridge-gateway --test golden_logs` rewrites the expected files;
//! review the diff against reference/genai-semconv.md before committing it.
//!
//! A partial row is shown with the fields it names and only those (`set`), content parsed from
//! its JSON text so the files read like the messages; a score and an EVENT row with their
//! non-default fields.

use std::path::PathBuf;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use serde_json::{Map, Value, json};
use spanbridge_gateway::convert::logs::{
    ConvertedLogs, LogOptions, OtherRecords, Pieces, convert_logs,
};
use spanbridge_proto::{EventRow, PartialRow, Score};

/// Receive time used for records without timestamps.
const RECEIVED_AT_US: i64 = 1_795_770_630_000_000;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// Content stored as JSON text, shown parsed.
fn content(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

fn pairs(names: &[String], values: &[String]) -> Value {
    Value::Object(
        names
            .iter()
            .cloned()
            .zip(values.iter().map(|v| content(v)))
            .collect(),
    )
}

/// The value of one named field of a partial row.
fn field(row: &EventRow, name: &str) -> Value {
    match name {
        "input" => content(&row.input),
        "output" => content(&row.output),
        "tool_calls" => Value::from_iter(row.tool_calls.iter().map(|c| content(c))),
        "tool_call_names" => json!(row.tool_call_names),
        "provided_model_name" => json!(row.provided_model_name),
        "model_parameters" => content(&row.model_parameters),
        "provided_usage_details" => json!(row.provided_usage_details),
        "provided_cost_details" => json!(row.provided_cost_details),
        "metadata_names" => pairs(&row.metadata_names, &row.metadata_values),
        other => panic!("the golden test does not show field {other}; add it"),
    }
}

fn partial_json(piece: &PartialRow) -> Value {
    let row = piece.row.clone().unwrap_or_default();
    let set: Map<String, Value> = piece
        .fields
        .iter()
        .map(|name| (name.clone(), field(&row, name)))
        .collect();
    json!({
        "trace_id": row.trace_id,
        "span_id": row.span_id,
        "event_time_us": piece.event_time_us,
        "fields": piece.fields,
        "set": set,
    })
}

fn score_json(score: &Score) -> Value {
    json!({
        "id": score.id,
        "trace_id": score.trace_id,
        "observation_id": score.observation_id,
        "name": score.name,
        "data_type": score.data_type,
        "value": score.value,
        "string_value": score.string_value,
        "source": score.source,
        "comment": score.comment,
        "metadata": pairs(&score.metadata_names, &score.metadata_values),
        "environment": score.environment,
        "timestamp_us": score.timestamp_us,
    })
}

fn event_row_json(row: &EventRow) -> Value {
    json!({
        "trace_id": row.trace_id,
        "span_id": row.span_id,
        "parent_span_id": row.parent_span_id,
        "name": row.name,
        "type": row.r#type,
        "level": row.level,
        "environment": row.environment,
        "start_time_us": row.start_time_us,
        "end_time_us": row.end_time_us,
        "input": content(&row.input),
        "metadata": pairs(&row.metadata_names, &row.metadata_values),
        "service_name": row.service_name,
        "scope_name": row.scope_name,
    })
}

fn converted_json(converted: &ConvertedLogs) -> Value {
    let traces: Vec<Value> = converted
        .traces
        .iter()
        .map(|(trace_id, pieces)| {
            let Pieces {
                rows,
                partial_rows,
                scores,
            } = pieces;
            json!({
                "trace_id": trace_id,
                "partial_rows": partial_rows.iter().map(partial_json).collect::<Vec<_>>(),
                "scores": scores.iter().map(score_json).collect::<Vec<_>>(),
                "event_rows": rows.iter().map(event_row_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "traces": traces,
        "rejected_log_records": converted.rejected_log_records,
        "rejection_message": converted.rejection_message,
        "other_records": converted.other_records,
    })
}

#[test]
fn log_fixtures_convert_to_the_reviewed_pieces() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(fixtures().join("otlp-logs")).unwrap() {
        let path = entry.unwrap().path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".logs.json"))
        else {
            continue;
        };
        cases.push((stem.to_owned(), path.clone(), OtherRecords::Count));
        if stem == "edge-cases" {
            cases.push((
                format!("{stem}.other-as-event"),
                path.clone(),
                OtherRecords::Event,
            ));
        }
    }
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(cases.len() >= 4, "fixtures missing: {cases:?}");
    let mut failures = Vec::new();
    for (name, path, other_records) in cases {
        let text = std::fs::read_to_string(&path).unwrap();
        let request: ExportLogsServiceRequest = serde_json::from_str(&text).unwrap();
        let options = LogOptions { other_records };
        let actual = converted_json(&convert_logs(request, RECEIVED_AT_US, &options));
        let expected_path = fixtures().join(format!("expected-logs/{name}.json"));
        if bless {
            let mut pretty = serde_json::to_string_pretty(&actual).unwrap();
            pretty.push('\n');
            std::fs::write(&expected_path, pretty).unwrap();
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) => {
                let expected: Value = serde_json::from_str(&expected).unwrap();
                if expected != actual {
                    failures.push(format!(
                        "{name}: differs from {}\nactual:\n{}",
                        expected_path.display(),
                        serde_json::to_string_pretty(&actual).unwrap()
                    ));
                }
            }
            Err(_) => failures.push(format!(
                "{name}: no expected file (run with BLESS=1, then review it)"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A record sent twice converts to the same pieces (same score id, same EVENT row id), so a
/// retried export replaces what it wrote instead of adding to it.
#[test]
fn a_resent_request_converts_to_the_same_ids() {
    let path = fixtures().join("otlp-logs/edge-cases.logs.json");
    let text = std::fs::read_to_string(path).unwrap();
    let options = LogOptions {
        other_records: OtherRecords::Event,
    };
    let convert = |received_at_us| {
        let request: ExportLogsServiceRequest = serde_json::from_str(&text).unwrap();
        convert_logs(request, received_at_us, &options)
    };
    assert_eq!(convert(1), convert(1));
    let (first, second) = (convert(1), convert(2));
    assert_eq!(first.traces[0].1.scores, second.traces[0].1.scores);
    assert_eq!(
        first.traces[0].1.rows[0].span_id,
        second.traces[0].1.rows[0].span_id
    );
}

//! Conformance set of the SDK-2.x batch API: every case of
//! `tests/conformance/legacy/` (README there) is posted to `POST /api/public/ingestion` of a
//! running Spanbridge and read back through `GET /api/public/traces/{id}`; every expected
//! trace, observation and score field must match. Mismatches of all cases are reported together.

use crate::support;

use std::path::PathBuf;

use serde_json::Value;
use support::batch_api::*;
use support::*;

fn cases() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/legacy");
    let mut cases: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("conformance dir")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("case file");
            let case: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                case,
            )
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

/// The case's requests: inline, or its fixture split before the given indexes / per event.
fn requests(case: &Value) -> Vec<Vec<Value>> {
    if let Some(requests) = case["requests"].as_array() {
        return requests
            .iter()
            .map(|r| r.as_array().expect("request is an array").clone())
            .collect();
    }
    let events = fixture(case["fixture"].as_str().expect("fixture or requests"));
    match &case["split"] {
        Value::String(each) if each == "each" => events.into_iter().map(|e| vec![e]).collect(),
        Value::Array(at) => {
            let mut out = Vec::new();
            let mut start = 0;
            for index in at.iter().filter_map(Value::as_u64) {
                out.push(events[start..index as usize].to_vec());
                start = index as usize;
            }
            out.push(events[start..].to_vec());
            out
        }
        _ => vec![events],
    }
}

fn matches(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(a), Value::Number(e)) => match (a.as_f64(), e.as_f64()) {
            (Some(a), Some(e)) => (a - e).abs() < 1e-9,
            _ => false,
        },
        (Value::Object(a), Value::Object(e)) => {
            a.len() == e.len()
                && e.iter()
                    .all(|(k, v)| a.get(k).is_some_and(|av| matches(av, v)))
        }
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(a, e)| matches(a, e))
        }
        _ => actual == expected,
    }
}

/// Compares the listed fields; `trace` (the owner) is not a field.
fn compare(case: &str, what: &str, actual: &Value, expected: &Value, mismatches: &mut Vec<String>) {
    for (field, want) in expected.as_object().expect("expected fields") {
        if field == "trace" {
            continue;
        }
        let got = if field == "observationCount" {
            Value::from(actual["observations"].as_array().map_or(0, Vec::len))
        } else {
            actual.get(field).cloned().unwrap_or(Value::Null)
        };
        if !matches(&got, want) {
            mismatches.push(format!("{case}: {what} {field}: got {got}, want {want}"));
        }
    }
}

fn find<'a>(list: &'a Value, id: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|item| item["id"] == id)
}

#[tokio::test]
async fn every_batch_api_conformance_case_reads_back_as_expected() {
    let server = Server::start();
    let url = server.http_url(INGESTION);
    let read_url = |path: &str| server.http_url(path);
    let mut mismatches = Vec::new();
    let cases = cases();
    assert!(cases.len() >= 8, "the conformance set is missing cases");
    for (name, case) in &cases {
        let expect = &case["expect"];
        for (i, events) in requests(case).iter().enumerate() {
            let (status, answer) =
                post_batch(&url, &test_auth(), &serde_json::json!({ "batch": events })).await;
            if status != 207 {
                mismatches.push(format!("{name}: request {i}: status {status}: {answer}"));
                continue;
            }
            let ids = |list: &str| -> Value {
                answer[list]
                    .as_array()
                    .map(|l| l.iter().map(|e| e["id"].clone()).collect())
                    .unwrap_or_default()
            };
            match expect["answers"].get(i) {
                Some(want) => {
                    for list in ["successes", "errors"] {
                        if ids(list) != want[list] {
                            mismatches.push(format!(
                                "{name}: request {i} {list}: got {}, want {}",
                                ids(list),
                                want[list]
                            ));
                        }
                    }
                }
                None if ids("errors") != Value::Array(Vec::new()) => {
                    mismatches.push(format!("{name}: request {i}: unexpected errors {answer}"));
                }
                None => {}
            }
        }
        let mut traces = std::collections::BTreeMap::new();
        for (trace_id, want) in expect["traces"].as_object().expect("traces") {
            let trace = read_trace(&read_url, trace_id).await;
            compare(
                name,
                &format!("trace {trace_id}"),
                &trace,
                want,
                &mut mismatches,
            );
            traces.insert(trace_id.clone(), trace);
        }
        for (kind, list) in [("observations", "observations"), ("scores", "scores")] {
            let Some(expected) = expect[kind].as_object() else {
                continue;
            };
            for (id, want) in expected {
                let trace_id = want["trace"].as_str().expect("owner trace");
                let Some(trace) = traces.get(trace_id) else {
                    mismatches.push(format!(
                        "{name}: {kind} {id}: trace {trace_id} not expected"
                    ));
                    continue;
                };
                match find(&trace[list], id) {
                    Some(item) => {
                        compare(name, &format!("{kind} {id}"), item, want, &mut mismatches)
                    }
                    None => mismatches.push(format!("{name}: {kind} {id} missing")),
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

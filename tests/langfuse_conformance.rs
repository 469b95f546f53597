//! Conformance: Langfuse's own OTel-mapping tests (`tests/conformance/langfuse-suite/`, 235
//! cases, see ORIGIN.md) pass through our endpoint. Each case is sent the way a client sends it
//! (OTLP/JSON `POST /v1/traces`) and read back the way a user reads it (`GET
//! /api/public/traces/{id}`); its expectations are checked with the suite's matcher language
//! (`conformance/matcher.rs`). Cases where Spanbridge deliberately does better than Langfuse are
//! listed with our expected value and the reason in `conformance/deliberate-differences.json`.
//! Every case must pass, except those in `KNOWN_DIFFERENCES` (empty), which must fail.
//!
//! Isolation: trace and span ids repeat across cases, so every case gets its own project key
//! (`spanbridge keys create`); the read API only sees the key's project. One server serves all
//! cases, which is several times faster than one server per case.
//!
//! Stores: the suite runs through the embedded SQLite store, and through ClickHouse (the
//! engine behind deploy/dev/chdb_http.py, one per `clickhouse.tables` mode: `events`,
//! `v3`, `both`), the embedded server writing to it directly and the read API answering
//! from the mode's tables; cases in flight are written together, so each mode costs one
//! ClickHouse server and a few hundred inserts.
//!
//! `CONFORMANCE_ALL_MISMATCHES=1` prints every mismatch of a failing case, not just the first;
//! `CONFORMANCE_SUITE_DIR=<dir>` runs another copy of the suite.

mod support;

#[path = "conformance/matcher.rs"]
mod matcher;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use matcher::{Context, Mismatch, Representation, check, check_absent, show};
use serde_json::{Map, Value};
use support::services::{ClickHouse, available};
use support::{Server, basic_auth, client};

/// Cases the suite holds (README "Counts"); a different number means files were lost.
const SUITE_CASES: usize = 235;
/// Cases known to fail, with the reason: (suite file, why Spanbridge's answer differs and why
/// that is accepted). Every other case must pass (overridden ones by their override), and every
/// case listed here must fail, so a fixed difference cannot stay listed. Empty: all 235 pass.
/// A deliberate improvement over Langfuse belongs in `deliberate-differences.json` (it asserts
/// our value); this list is for differences not (yet) resolved. docs/conversion.md shows it.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];
/// Cases that fail through one store only, with the reason: (store run, suite file, why).
/// Like `KNOWN_DIFFERENCES`, each must fail in that run, so a fixed one cannot stay listed.
const STORE_KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "clickhouse events",
        "001-langfuse-sdk-generation-and-span.json",
        TRACE_IO_IN_EVENTS_FULL,
    ),
    (
        "clickhouse events",
        "231-langfuse-trace-input-output.json",
        TRACE_IO_IN_EVENTS_FULL,
    ),
];
const TRACE_IO_IN_EVENTS_FULL: &str = "events_full has no trace-level input/output: Langfuse v4 \
    reads a trace's input/output from its root row (argMaxIf(input, event_ts, parent_span_id = \
    '')), so an explicit langfuse.trace.input/output that differs from the root observation's \
    own has no column to land in (Langfuse v4 loses it the same way). The v3 traces row holds \
    it: the legacy and both runs pass these cases.";

/// Cases in flight at once: key creation (bcrypt, in a child process) overlaps with HTTP.
const CONCURRENCY: usize = 4;

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

struct Case {
    file: String,
    body: Value,
}

fn load_cases() -> Vec<Case> {
    // Another copy (e.g. with mutated expectations, to check that the runner catches them).
    let dir = std::env::var_os("CONFORMANCE_SUITE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| conformance_dir().join("langfuse-suite"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
            let body = serde_json::from_str(&text)
                .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()));
            let file = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            Case { file, body }
        })
        .collect()
}

/// One entry of `deliberate-differences.json`: field-level replacements of the case's `expect`
/// and `absent` (same layout), expectations to `drop` (`"expect.observations.<id>.<field>"`),
/// and why our behaviour is the better one.
struct Override {
    reason: String,
    expect: Value,
    absent: Value,
    drop: Vec<String>,
}

fn load_overrides(cases: &[Case]) -> BTreeMap<String, Override> {
    let path = conformance_dir().join("deliberate-differences.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let root: Value = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()));
    let entries = root["cases"]
        .as_object()
        .cloned()
        .unwrap_or_else(|| panic!("{}: needs a \"cases\" object", path.display()));
    let known: BTreeSet<&str> = cases.iter().map(|case| case.file.as_str()).collect();
    entries
        .into_iter()
        .map(|(file, entry)| {
            assert!(
                known.contains(file.as_str()),
                "deliberate-differences.json names {file}, which is not a suite file"
            );
            let reason = entry["reason"].as_str().unwrap_or_default().to_owned();
            assert!(
                !reason.is_empty(),
                "deliberate-differences.json: {file} needs a reason"
            );
            let drop = entry["drop"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let entry = Override {
                reason,
                expect: entry["expect"].clone(),
                absent: entry["absent"].clone(),
                drop,
            };
            (file, entry)
        })
        .collect()
}

/// The case's `expect` and `absent` with an override applied field by field.
fn effective_spec(case: &Case, overriding: Option<&Override>) -> (Value, Value) {
    let mut expect = case.body["expect"].clone();
    let mut absent = case
        .body
        .get("absent")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    let Some(overriding) = overriding else {
        return (expect, absent);
    };
    for (target, replacement) in [
        (&mut expect, &overriding.expect),
        (&mut absent, &overriding.absent),
    ] {
        for kind in ["traces", "observations"] {
            let Some(records) = replacement.get(kind).and_then(Value::as_object) else {
                continue;
            };
            for (id, fields) in records {
                let record = &mut target[kind][id];
                if !record.is_object() {
                    *record = Value::Object(Map::new());
                }
                for (field, value) in fields.as_object().into_iter().flatten() {
                    record[field] = value.clone();
                }
            }
        }
    }
    for dropped in &overriding.drop {
        let parts: Vec<&str> = dropped.splitn(4, '.').collect();
        let target = match parts.first() {
            Some(&"expect") => &mut expect,
            Some(&"absent") => &mut absent,
            _ => panic!(
                "deliberate-differences.json: drop path {dropped:?} must start with expect. or absent."
            ),
        };
        match parts[1..] {
            [kind, id, field] => {
                if let Some(record) = target[kind][id].as_object_mut() {
                    record.remove(field);
                }
            }
            _ => panic!(
                "deliberate-differences.json: drop path {dropped:?} must be <expect|absent>.<kind>.<id>.<field>"
            ),
        }
    }
    (expect, absent)
}

/// A project key of its own for one case.
fn create_key(server: &Server, file: &str) -> (String, String) {
    let project = format!("conformance-{}", file.trim_end_matches(".json"));
    let output = server.cli(&["keys", "create", "--project", &project, "--json"]);
    assert!(
        output.status.success(),
        "keys create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value =
        serde_json::from_slice(&output.stdout).expect("keys create --json prints JSON");
    let field = |name: &str| {
        created[name]
            .as_str()
            .unwrap_or_else(|| panic!("keys create --json has no {name}: {created}"))
            .to_owned()
    };
    (field("publicKey"), field("secretKey"))
}

/// What the read API returned for one case: traces by id (None = 404) and all their
/// observations by id.
struct ReadBack {
    traces: BTreeMap<String, Option<Value>>,
    observations: BTreeMap<String, Value>,
    /// The export response's `partialSuccess`, shown when something is missing.
    partial_success: Option<Value>,
}

fn trace_ids(request: &Value) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for resource_spans in request["resourceSpans"].as_array().into_iter().flatten() {
        for scope_spans in resource_spans["scopeSpans"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for span in scope_spans["spans"].as_array().into_iter().flatten() {
                if let Some(id) = span["traceId"].as_str() {
                    ids.insert(id.to_ascii_lowercase());
                }
            }
        }
    }
    ids
}

/// Exports the case's request and reads back every trace it touches.
async fn send_and_read(
    server: &Server,
    case: &Case,
    auth: &str,
    expected_traces: &Value,
) -> Result<ReadBack, Mismatch> {
    let http = client();
    let request = &case.body["request"];
    let response = http
        .post(server.http_url("/v1/traces"))
        .header("content-type", "application/json")
        .header("authorization", auth)
        .body(request.to_string())
        .send()
        .await
        .expect("POST /v1/traces");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    if status != 200 {
        return Err(Mismatch {
            path: "POST /v1/traces".into(),
            expected: "200".into(),
            actual: format!("{status} {text}"),
        });
    }
    let partial_success = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|body| body.get("partialSuccess").cloned());

    let mut ids = trace_ids(request);
    ids.extend(
        expected_traces
            .as_object()
            .into_iter()
            .flat_map(|traces| traces.keys().cloned()),
    );
    let mut read = ReadBack {
        traces: BTreeMap::new(),
        observations: BTreeMap::new(),
        partial_success,
    };
    for id in ids {
        let response = http
            .get(server.http_url(&format!("/api/public/traces/{id}")))
            .header("authorization", auth)
            .send()
            .await
            .expect("GET /api/public/traces");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let trace = match status {
            200 => {
                for observation in body["observations"].as_array().into_iter().flatten() {
                    if let Some(observation_id) = observation["id"].as_str() {
                        read.observations
                            .insert(observation_id.to_owned(), observation.clone());
                    }
                }
                Some(body)
            }
            404 => None,
            other => {
                return Err(Mismatch {
                    path: format!("GET /api/public/traces/{id}"),
                    expected: "200 or 404".into(),
                    actual: format!("{other} {body}"),
                });
            }
        };
        read.traces.insert(id, trace);
    }
    Ok(read)
}

/// Every mismatch of one record (trace or observation) against its expected fields.
fn check_record(
    kind: &str,
    id: &str,
    wanted: &Value,
    absent: Option<&Value>,
    record: &Value,
    mismatches: &mut Vec<Mismatch>,
) {
    let object = record.as_object();
    for (field, expected) in wanted.as_object().into_iter().flatten() {
        let context = Context {
            record: object,
            representation: Representation::of_field(field),
        };
        if let Err(mismatch) = check(
            expected,
            record.get(field),
            context,
            &format!("{kind}.{id}.{field}"),
        ) {
            mismatches.push(mismatch);
        }
    }
    if let Some(Value::Object(spec)) = absent
        && let Err(mismatch) = check_absent(spec, Some(record), &format!("{kind}.{id}"))
    {
        mismatches.push(mismatch);
    }
}

/// All mismatches of a case against what was read back (empty = pass).
fn judge(expect: &Value, absent: &Value, read: &ReadBack) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    let missing = |kind: &str, id: &str| Mismatch {
        path: format!("{kind}.{id}"),
        expected: "to exist".into(),
        actual: match &read.partial_success {
            Some(partial) => format!("missing (partialSuccess {})", show(Some(partial))),
            None => "missing".into(),
        },
    };
    for (id, wanted) in expect["traces"].as_object().into_iter().flatten() {
        match read.traces.get(id).and_then(Option::as_ref) {
            Some(trace) => check_record(
                "traces",
                id,
                wanted,
                absent["traces"].get(id),
                trace,
                &mut mismatches,
            ),
            None => mismatches.push(missing("traces", id)),
        }
    }
    for (id, wanted) in expect["observations"].as_object().into_iter().flatten() {
        match read.observations.get(id) {
            Some(observation) => check_record(
                "observations",
                id,
                wanted,
                absent["observations"].get(id),
                observation,
                &mut mismatches,
            ),
            None => mismatches.push(missing("observations", id)),
        }
    }
    // `absent` entries for records that have no `expect` entry.
    for kind in ["traces", "observations"] {
        for (id, spec) in absent[kind].as_object().into_iter().flatten() {
            if expect[kind].get(id).is_some() {
                continue;
            }
            let record = if kind == "traces" {
                read.traces.get(id).cloned().flatten()
            } else {
                read.observations.get(id).cloned()
            };
            if let (Some(record), Value::Object(spec)) = (record, spec)
                && let Err(mismatch) = check_absent(spec, Some(&record), &format!("{kind}.{id}"))
            {
                mismatches.push(mismatch);
            }
        }
    }
    mismatches
}

struct Outcome {
    file: String,
    overridden: bool,
    mismatches: Vec<Mismatch>,
}

async fn run_case(server: Arc<Server>, case: &Case, overriding: Option<&Override>) -> Outcome {
    let key_server = Arc::clone(&server);
    let file = case.file.clone();
    let (public_key, secret_key) =
        tokio::task::spawn_blocking(move || create_key(&key_server, &file))
            .await
            .expect("key creation task");
    let auth = basic_auth(&public_key, &secret_key);
    let (expect, absent) = effective_spec(case, overriding);
    let mismatches = match send_and_read(&server, case, &auth, &expect["traces"]).await {
        Ok(read) => judge(&expect, &absent, &read),
        Err(mismatch) => vec![mismatch],
    };
    Outcome {
        file: case.file.clone(),
        overridden: overriding.is_some(),
        mismatches,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn langfuse_otel_mapping_suite_passes_through_the_endpoint_and_read_api() {
    run_suite("sqlite", Server::start()).await;
}

/// The embedded server over a fresh ClickHouse with the mode's tables (`spanbridge migrate`
/// first, as users run it).
async fn run_suite_on_clickhouse(mode: &str) {
    if !available(&format!("conformance through ClickHouse ({mode})")) {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    let (clickhouse, settings) = ClickHouse::migrated(mode);
    let settings = settings
        .each_ref()
        .map(|(key, value)| (*key, value.as_str()));
    run_suite(&format!("clickhouse {mode}"), Server::start_with(&settings)).await;
    drop(clickhouse);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_through_clickhouse_events_full() {
    run_suite_on_clickhouse("events").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_through_clickhouse_v3_tables() {
    run_suite_on_clickhouse("v3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_through_clickhouse_in_dual_mode() {
    run_suite_on_clickhouse("both").await;
}

/// Runs every case against one server; `store` names the run in the summary.
async fn run_suite(store: &str, server: Server) {
    let started = Instant::now();
    let cases = load_cases();
    assert_eq!(
        cases.len(),
        SUITE_CASES,
        "the suite holds {SUITE_CASES} case files"
    );
    let overrides = load_overrides(&cases);
    let server = Arc::new(server);

    let outcomes: Vec<Outcome> = futures::stream::iter(&cases)
        .map(|case| run_case(Arc::clone(&server), case, overrides.get(&case.file)))
        .buffered(CONCURRENCY)
        .collect()
        .await;

    let show_all = std::env::var_os("CONFORMANCE_ALL_MISMATCHES").is_some();
    let mut passed = 0;
    for outcome in &outcomes {
        let Some(first) = outcome.mismatches.first() else {
            passed += 1;
            continue;
        };
        let tag = if outcome.overridden {
            " [with deliberate-differences override]"
        } else {
            ""
        };
        let more = outcome.mismatches.len() - 1;
        let more = if more > 0 {
            format!(" (+{more} more)")
        } else {
            String::new()
        };
        println!("FAIL [{store}] {}{tag}: {first}{more}", outcome.file);
        if show_all {
            for mismatch in &outcome.mismatches[1..] {
                println!("     {mismatch}");
            }
        }
    }
    for (file, overriding) in &overrides {
        println!("deliberate difference {file}: {}", overriding.reason);
    }
    let known: BTreeMap<&str, &str> = KNOWN_DIFFERENCES
        .iter()
        .copied()
        .chain(
            STORE_KNOWN_DIFFERENCES
                .iter()
                .filter(|(run, _, _)| *run == store)
                .map(|(_, file, reason)| (*file, *reason)),
        )
        .collect();
    for (file, reason) in &known {
        assert!(
            !reason.trim().is_empty(),
            "KNOWN_DIFFERENCES: {file} needs a reason"
        );
        assert!(
            cases.iter().any(|case| case.file == *file),
            "KNOWN_DIFFERENCES names {file}, which is not a suite file"
        );
        println!("known difference {file}: {reason}");
    }
    let unexpected_failures: Vec<&str> = outcomes
        .iter()
        .filter(|outcome| {
            !outcome.mismatches.is_empty() && !known.contains_key(outcome.file.as_str())
        })
        .map(|outcome| outcome.file.as_str())
        .collect();
    let stale_known: Vec<&str> = outcomes
        .iter()
        .filter(|outcome| {
            outcome.mismatches.is_empty() && known.contains_key(outcome.file.as_str())
        })
        .map(|outcome| outcome.file.as_str())
        .collect();
    let failed = outcomes.len() - passed;
    println!(
        "conformance [{store}]: {passed} passed, {failed} failed ({} known differences; {} cases by deliberate-differences override), {:.1} s",
        known.len(),
        overrides.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        unexpected_failures.is_empty(),
        "[{store}] {} of {} cases fail and are not in KNOWN_DIFFERENCES (see the FAIL lines above): {unexpected_failures:?}",
        unexpected_failures.len(),
        outcomes.len()
    );
    assert!(
        stale_known.is_empty(),
        "KNOWN_DIFFERENCES lists cases that pass now; remove them: {stale_known:?}"
    );
}

#[test]
fn overrides_replace_and_drop_expectations_field_by_field() {
    let case = Case {
        file: "x.json".into(),
        body: serde_json::json!({"expect": {"traces": {}, "observations": {"a": {"type": "SPAN", "name": "n"}}},
                                 "absent": {"observations": {"a": {"model": null}}}}),
    };
    let overriding = Override {
        reason: "test".into(),
        expect: serde_json::json!({"observations": {"a": {"type": "GENERATION"}}, "traces": {"t": {"sessionId": "s"}}}),
        absent: Value::Null,
        drop: vec![
            "absent.observations.a.model".into(),
            "expect.observations.a.name".into(),
        ],
    };
    let (expect, absent) = effective_spec(&case, Some(&overriding));
    assert_eq!(
        expect,
        serde_json::json!({"traces": {"t": {"sessionId": "s"}}, "observations": {"a": {"type": "GENERATION"}}})
    );
    assert_eq!(absent, serde_json::json!({"observations": {"a": {}}}));
}

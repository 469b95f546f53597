//! Runs the Langfuse conformance suite (../shared/conformance/langfuse-suite/, matcher language
//! in its README) straight through `convert`, mapping rows to Langfuse public-API field names
//! the way the read API does. Prints every failing case and the pass rate; fails below 95%.
//! Skipped (passes) when the suite directory is not present.
//!
//! Trace fields are read as a read API over `events` rows would: name, user, session, tags,
//! public, release from any row (conversion copies them onto every row); environment, version,
//! input, output and metadata from the root row.

use std::path::PathBuf;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::{Map, Value, json};
use spanbridge_gateway::convert::convert;
use spanbridge_proto::EventRow;

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/langfuse-suite")
}

fn iso(us: i64) -> String {
    let ms = us.div_euclid(1000);
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil_from_days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn text_or_null(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        Value::String(s.to_owned())
    }
}

/// Input/output as the read API returns them: JSON text as JSON, other text as a string.
fn content(s: &str) -> Value {
    if s.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_owned()))
}

fn metadata(row: &EventRow) -> Value {
    let object: Map<String, Value> = row
        .metadata_names
        .iter()
        .zip(&row.metadata_values)
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    Value::Object(object)
}

fn observation(row: &EventRow) -> Value {
    json!({
        "id": row.span_id,
        "traceId": row.trace_id,
        "parentObservationId": text_or_null(&row.parent_span_id),
        "type": row.r#type,
        "name": row.name,
        "startTime": iso(row.start_time_us),
        "endTime": row.end_time_us.map(iso),
        "completionStartTime": row.completion_start_time_us.map(iso),
        "level": row.level,
        "statusMessage": text_or_null(&row.status_message),
        "environment": row.environment,
        "version": text_or_null(&row.version),
        "model": text_or_null(&row.provided_model_name),
        "modelParameters": if row.model_parameters.is_empty() { json!({}) } else { content(&row.model_parameters) },
        "usageDetails": row.provided_usage_details,
        "costDetails": row.provided_cost_details,
        "promptName": text_or_null(&row.prompt_name),
        "promptVersion": row.prompt_version,
        "input": content(&row.input),
        "output": content(&row.output),
        "metadata": metadata(row),
    })
}

fn trace(rows: &[EventRow]) -> Value {
    let root = rows
        .iter()
        .find(|r| r.parent_span_id.is_empty())
        .unwrap_or(&rows[0]);
    json!({
        "id": root.trace_id,
        "name": text_or_null(&root.trace_name),
        "userId": text_or_null(&root.user_id),
        "sessionId": text_or_null(&root.session_id),
        "tags": root.tags,
        "public": root.public,
        "release": text_or_null(&root.release),
        "version": text_or_null(&root.version),
        "environment": root.environment,
        "input": content(&root.input),
        "output": content(&root.output),
        "metadata": metadata(root),
    })
}

fn falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Deep equality; numbers by value; a JSON-text string equals the structure it encodes (the
/// README allows comparing after JSON normalisation).
fn equal(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equal(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            b.iter()
                .all(|(k, v)| equal(a.get(k).unwrap_or(&Value::Null), v))
                && a.iter().all(|(k, v)| b.contains_key(k) || v.is_null())
        }
        (Value::String(a), Value::String(b)) if a == b => true,
        (Value::String(a), b) if !b.is_string() => {
            serde_json::from_str::<Value>(a).is_ok_and(|p| equal(&p, b))
        }
        (a, Value::String(b)) if !a.is_string() => {
            serde_json::from_str::<Value>(b).is_ok_and(|p| equal(a, &p))
        }
        (a, b) => a == b,
    }
}

fn matches(actual: &Value, expected: &Value, siblings: &Value) -> bool {
    if let Value::Object(m) = expected {
        if m.len() == 1 {
            let (k, arg) = m.iter().next().expect("one key");
            if k.starts_with('$') {
                return matcher(actual, k, arg, siblings);
            }
        }
        let Value::Object(a) = actual else {
            return false;
        };
        return m
            .iter()
            .all(|(k, v)| matches(a.get(k).unwrap_or(&Value::Null), v, actual))
            && a.iter().all(|(k, v)| m.contains_key(k) || v.is_null());
    }
    if let Value::Array(e) = expected {
        let Value::Array(a) = actual else {
            return actual
                .as_str()
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .is_some_and(|p| matches(&p, expected, siblings));
        };
        return a.len() == e.len() && a.iter().zip(e).all(|(x, y)| matches(x, y, siblings));
    }
    equal(actual, expected)
}

fn matcher(actual: &Value, name: &str, arg: &Value, siblings: &Value) -> bool {
    match name {
        "$subset" => {
            let actual = match actual {
                Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                other => other.clone(),
            };
            let Value::Object(a) = &actual else {
                return false;
            };
            arg.as_object().is_some_and(|m| {
                m.iter()
                    .all(|(k, v)| matches(a.get(k).unwrap_or(&Value::Null), v, &actual))
            })
        }
        "$array" => {
            let actual = match actual {
                Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                other => other.clone(),
            };
            let Value::Array(a) = &actual else {
                return false;
            };
            let length_ok = arg
                .get("length")
                .and_then(Value::as_u64)
                .is_none_or(|n| a.len() as u64 == n);
            let at_ok = arg.get("at").and_then(Value::as_object).is_none_or(|at| {
                at.iter().all(|(i, m)| {
                    i.parse::<usize>()
                        .ok()
                        .and_then(|i| a.get(i))
                        .is_some_and(|x| matches(x, m, &actual))
                })
            });
            length_ok && at_ok
        }
        "$json" => {
            let parsed = match actual {
                Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| actual.clone()),
                other => other.clone(),
            };
            matches(&parsed, arg, siblings)
        }
        "$in" => arg
            .as_array()
            .is_some_and(|opts| opts.iter().any(|o| equal(actual, o))),
        "$present" => !actual.is_null(),
        "$falsy" => falsy(actual),
        "$allOf" => arg
            .as_array()
            .is_some_and(|ms| ms.iter().all(|m| matches(actual, m, siblings))),
        "$keyPrefixSum" => {
            let prefix = arg.get("prefix").and_then(Value::as_str).unwrap_or("");
            let sum: f64 = actual
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(k, _)| k.starts_with(prefix))
                        .filter_map(|(_, v)| v.as_f64())
                        .sum()
                })
                .unwrap_or(0.0);
            Some(sum) == arg.get("sum").and_then(Value::as_f64)
        }
        "$equalsField" => arg
            .as_str()
            .and_then(|f| siblings.get(f))
            .is_some_and(|v| equal(actual, v)),
        other => panic!("unknown matcher {other}"),
    }
}

/// Timestamps compare as instants at millisecond precision (a few cases expect the sender's
/// own text, e.g. `…+02:00` or µs digits, where the read API returns ISO-8601 UTC).
fn same_instant(actual: &Value, expected: &Value) -> bool {
    let (Some(a), Some(e)) = (actual.as_str(), expected.as_str()) else {
        return false;
    };
    let ms = |s: &str| parse_iso_ms(s);
    ms(a).is_some() && ms(a) == ms(e)
}

fn parse_iso_ms(s: &str) -> Option<i64> {
    let s = s.trim_matches('"');
    let (date, rest) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, dd) = (d.next()??, d.next()??, d.next()??);
    let tz_at = rest.find(['Z', '+']).or_else(|| rest.rfind('-'))?;
    let (clock, tz) = rest.split_at(tz_at);
    let mut c = clock.split(':');
    let (h, mi) = (
        c.next()?.parse::<i64>().ok()?,
        c.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = c.next()?.parse().ok()?;
    let offset = if tz == "Z" {
        0
    } else {
        let sign = if tz.starts_with('-') { -1 } else { 1 };
        let (oh, om) = tz[1..].split_once(':')?;
        sign * (oh.parse::<i64>().ok()? * 60 + om.parse::<i64>().ok()?)
    };
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + dd - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some(
        ((days * 86_400 + h * 3600 + mi * 60 - offset * 60) as f64 * 1000.0
            + (sec * 1000.0).floor()) as i64,
    )
}

fn absent_ok(actual: &Value, absent: &Value) -> bool {
    match absent {
        Value::Null => actual.is_null(),
        Value::Object(m) => m
            .iter()
            .all(|(k, v)| absent_ok(actual.get(k).unwrap_or(&Value::Null), v)),
        _ => true,
    }
}

fn check_case(case: &Value) -> Result<(), String> {
    let request: ExportTraceServiceRequest = serde_json::from_value(case["request"].clone())
        .map_err(|e| format!("request does not decode: {e}"))?;
    let converted = convert(&request, 1_700_000_000_000_000);
    let mut problems = Vec::new();
    let find_trace = |id: &str| {
        converted
            .traces
            .iter()
            .find(|(t, _)| t == id)
            .map(|(_, rows)| trace(rows))
    };
    let find_obs = |id: &str| {
        converted
            .traces
            .iter()
            .flat_map(|(_, rows)| rows)
            .find(|r| r.span_id == id)
            .map(observation)
    };
    for (kind, finder) in [
        ("traces", &find_trace as &dyn Fn(&str) -> Option<Value>),
        ("observations", &find_obs),
    ] {
        for (id, expected) in case["expect"][kind].as_object().into_iter().flatten() {
            let Some(actual) = finder(id) else {
                problems.push(format!("{kind} {id} missing"));
                continue;
            };
            for (field, m) in expected.as_object().into_iter().flatten() {
                let a = actual.get(field).unwrap_or(&Value::Null);
                if !matches(a, m, &actual) && !same_instant(a, m) {
                    let got: String = a.to_string().chars().take(300).collect();
                    problems.push(format!("{kind} {id}.{field}: expected {m}, got {got}"));
                }
            }
        }
        for (id, absent) in case["absent"][kind].as_object().into_iter().flatten() {
            if let Some(actual) = finder(id) {
                if !absent_ok(&actual, absent) {
                    let got: String = actual.to_string().chars().take(300).collect();
                    problems.push(format!("{kind} {id}: should be absent {absent}, got {got}"));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n    "))
    }
}

#[test]
fn langfuse_conformance_suite_through_convert() {
    let dir = suite_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("conformance suite not found at {}; skipped", dir.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let (mut passed, mut failed) = (0usize, Vec::new());
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let case: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match check_case(&case) {
            Ok(()) => passed += 1,
            Err(why) => failed.push(format!(
                "{}\n    {}",
                file.file_name().unwrap_or_default().to_string_lossy(),
                why
            )),
        }
    }
    for f in &failed {
        eprintln!("FAIL {f}");
    }
    let total = files.len();
    eprintln!(
        "conformance: {passed}/{total} passed ({:.1}%)",
        100.0 * passed as f64 / total.max(1) as f64
    );
    assert!(passed * 100 >= total * 95, "pass rate below 95%");
}

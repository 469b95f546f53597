//! The read API's answers in Langfuse's public API shapes (`GET /api/public/traces/{id}`,
//! `GET /api/public/observations`, v4's `GET /api/public/v2/observations`), built from the
//! rows and scores any store reads back.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use spanbridge_proto::read::metadata;
use spanbridge_proto::{ListedTrace, SessionSummary, StoredRow, StoredScore};

/// Score data types the trace endpoint returns (Langfuse's `getScoresForTraces`).
const TRACE_SCORE_TYPES: &[&str] = &["NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT"];

/// Langfuse omits scores older than the trace's timestamp minus this (µs).
const SCORE_LOOKBACK_US: i64 = 3_600_000_000;

/// One score in the public API shape (`APIScoreSchemaV1`): `value` omitted for TEXT,
/// `stringValue` null for NUMERIC, metadata values JSON-parsed.
pub fn score(stored: &StoredScore) -> Value {
    let score = &stored.score;
    let metadata: Map<String, Value> = score
        .metadata_names
        .iter()
        .zip(&score.metadata_values)
        .map(|(name, value)| {
            let parsed =
                serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.clone()));
            (name.clone(), parsed)
        })
        .collect();
    let string_value = match &score.string_value {
        Some(text) if score.data_type != "NUMERIC" => Value::String(text.clone()),
        _ => Value::Null,
    };
    let mut out = json!({
        "id": score.id,
        "projectId": stored.project_id,
        "environment": score.environment,
        "name": score.name,
        "value": score.value,
        "source": score.source,
        "authorUserId": stored.author_user_id,
        "comment": text_or_null(&score.comment),
        "metadata": metadata,
        "configId": text_or_null(&score.config_id),
        "queueId": text_or_null(&score.queue_id),
        "executionTraceId": text_or_null(&score.execution_trace_id),
        "createdAt": iso_time(stored.created_at_us),
        "updatedAt": iso_time(stored.event_ts_us),
        "timestamp": iso_time(score.timestamp_us),
        "traceId": text_or_null(&score.trace_id),
        "observationId": text_or_null(&score.observation_id),
        "dataType": score.data_type,
        "stringValue": string_value,
    });
    if score.data_type == "TEXT"
        && let Value::Object(object) = &mut out
    {
        object.remove("value");
    }
    out
}

/// Adds `scores` to a trace built by [`trace`]: the trace endpoint's data types, not older than
/// an hour before the trace's timestamp (as Langfuse filters them), by timestamp.
pub fn attach_scores(trace: &mut Value, records: &[StoredRow], scores: &[StoredScore]) {
    let since = trace_timestamp_us(records).saturating_sub(SCORE_LOOKBACK_US);
    let scores: Vec<Value> = scores
        .iter()
        .filter(|s| {
            TRACE_SCORE_TYPES.contains(&s.score.data_type.as_str()) && s.score.timestamp_us >= since
        })
        .map(score)
        .collect();
    if let Value::Object(object) = trace {
        object.insert("scores".into(), Value::Array(scores));
    }
}

/// The trace's timestamp: its root's start, else its earliest start.
fn trace_timestamp_us(records: &[StoredRow]) -> i64 {
    let root = records
        .iter()
        .find(|r| is_trace_row(r))
        .or_else(|| records.iter().find(|r| r.row.is_app_root))
        .or_else(|| records.iter().find(|r| r.row.parent_span_id.is_empty()));
    root.map(|r| r.row.start_time_us)
        .or_else(|| records.iter().map(|r| r.row.start_time_us).min())
        .unwrap_or_default()
}

/// ISO-8601 UTC with millisecond precision, as Langfuse's API returns times.
pub fn iso_time(us: i64) -> Value {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .ok()
        .and_then(|time| time.format(&format).ok())
        .map_or(Value::Null, Value::String)
}

fn text_or_null(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        Value::String(text.to_owned())
    }
}

/// Content that arrived as JSON text is returned as JSON; other text as a string.
pub fn content(text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

fn total_cost(record: &StoredRow) -> Value {
    record
        .cost_details
        .get("total")
        .map_or(Value::Null, |total| json!(total))
}

/// Whether a row is a batch-API trace's own row (`t-<traceId>`, as Langfuse v4 files a trace
/// sent through the batch API): it is the trace, not one of its observations.
pub fn is_trace_row(record: &StoredRow) -> bool {
    record
        .row
        .span_id
        .strip_prefix("t-")
        .is_some_and(|trace| trace == record.row.trace_id)
}

/// The observations of a trace in the public API shape (a batch-API trace's own row is the
/// trace, not an observation).
pub fn observations(records: &[StoredRow]) -> Vec<Value> {
    records
        .iter()
        .filter(|r| !is_trace_row(r))
        .map(observation)
        .collect()
}

/// One observation in the public API shape. A top-level observation of a batch-API trace hangs
/// under the trace's row in storage; here, as in Langfuse's v1 API, it has no parent.
pub fn observation(record: &StoredRow) -> Value {
    let parent = record
        .row
        .parent_span_id
        .strip_prefix("t-")
        .filter(|trace| *trace == record.row.trace_id)
        .map_or(record.row.parent_span_id.as_str(), |_| "");
    json!({
        "id": record.row.span_id,
        "traceId": record.row.trace_id,
        "parentObservationId": text_or_null(parent),
        "type": record.row.r#type,
        "name": record.row.name,
        "startTime": iso_time(record.row.start_time_us),
        "endTime": record.row.end_time_us.map_or(Value::Null, iso_time),
        "completionStartTime": record.row.completion_start_time_us.map_or(Value::Null, iso_time),
        "level": record.row.level,
        "statusMessage": text_or_null(&record.row.status_message),
        "environment": record.row.environment,
        "version": text_or_null(&record.row.version),
        "model": text_or_null(&record.row.provided_model_name),
        "modelId": text_or_null(&record.model_id),
        "modelParameters": content(&record.row.model_parameters),
        "usageDetails": record.usage_details,
        "costDetails": record.cost_details,
        "totalCost": total_cost(record),
        "promptName": text_or_null(&record.row.prompt_name),
        "promptVersion": record.row.prompt_version,
        "input": content(&record.row.input),
        "output": content(&record.row.output),
        "metadata": metadata(&record.row.metadata_names, &record.row.metadata_values),
    })
}

/// The field groups of `GET /api/public/v2/observations` and the keys each one adds
/// (reference langfuse-legacy.md §6.1); `core` is always returned.
pub const V2_FIELD_GROUPS: &[(&str, &[&str])] = &[
    (
        "core",
        &[
            "id",
            "traceId",
            "startTime",
            "endTime",
            "projectId",
            "parentObservationId",
            "type",
        ],
    ),
    (
        "basic",
        &[
            "name",
            "level",
            "statusMessage",
            "version",
            "environment",
            "bookmarked",
            "public",
            "userId",
            "sessionId",
            "isRootObservation",
        ],
    ),
    ("time", &["completionStartTime", "createdAt", "updatedAt"]),
    ("io", &["input", "output"]),
    ("metadata", &["metadata"]),
    ("model", &["model", "internalModelId", "modelParameters"]),
    (
        "usage",
        &[
            "usageDetails",
            "inputUsage",
            "outputUsage",
            "totalUsage",
            "costDetails",
            "inputCost",
            "outputCost",
            "totalCost",
            "usagePricingTierId",
            "usagePricingTierName",
        ],
    ),
    ("prompt", &["promptId", "promptName", "promptVersion"]),
    ("metrics", &["latency", "timeToFirstToken"]),
    ("trace_context", &["traceName", "tags", "release"]),
];

/// Keys every v2 observation has, whatever the groups (prices: Spanbridge keeps none per row,
/// so they are null).
const V2_ALWAYS: &[&str] = &[
    "latency",
    "timeToFirstToken",
    "modelId",
    "inputPrice",
    "outputPrice",
    "totalPrice",
];

/// Sum of the values whose key contains `part` (Langfuse's input/output usage and cost).
fn sum_containing<V: Copy + Into<f64>>(map: &BTreeMap<String, V>, part: &str) -> f64 {
    map.iter()
        .filter(|(key, _)| key.to_ascii_lowercase().contains(part))
        .map(|(_, value)| (*value).into())
        .sum()
}

fn seconds_between(from_us: i64, to_us: Option<i64>) -> Value {
    to_us.map_or(Value::Null, |to| json!((to - from_us) as f64 / 1e6))
}

/// One observation in v4's v2 shape, with the keys of the requested groups (`core` always).
/// Input/output are the stored text; metadata is flat by dot-joined path, values JSON-parsed.
pub fn observation_v2(record: &StoredRow, groups: &[&str]) -> Value {
    let optional = |text: &str| text_or_null(text);
    let usage_u64: BTreeMap<String, f64> = record
        .usage_details
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64))
        .collect();
    let metadata: Map<String, Value> = record
        .row
        .metadata_names
        .iter()
        .zip(&record.row.metadata_values)
        .map(|(name, value)| {
            let parsed =
                serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.clone()));
            (name.clone(), parsed)
        })
        .collect();
    let wants_time = groups.contains(&"time") || groups.contains(&"metrics");
    let all: Map<String, Value> = [
        ("id", json!(record.row.span_id)),
        ("traceId", json!(record.row.trace_id)),
        ("startTime", json!(iso_time(record.row.start_time_us))),
        (
            "endTime",
            json!(record.row.end_time_us.map_or(Value::Null, iso_time)),
        ),
        ("projectId", json!(record.project_id)),
        (
            "parentObservationId",
            json!(optional(&record.row.parent_span_id)),
        ),
        ("type", json!(record.row.r#type)),
        ("name", json!(record.row.name)),
        ("level", json!(record.row.level)),
        ("statusMessage", json!(optional(&record.row.status_message))),
        ("version", json!(optional(&record.row.version))),
        ("environment", json!(record.row.environment)),
        ("bookmarked", json!(false)),
        ("public", json!(record.row.public)),
        ("userId", json!(optional(&record.row.user_id))),
        ("sessionId", json!(optional(&record.row.session_id))),
        (
            "isRootObservation",
            json!(record.row.parent_span_id.is_empty() || record.row.is_app_root),
        ),
        (
            "completionStartTime",
            json!(
                record
                    .row
                    .completion_start_time_us
                    .map_or(Value::Null, iso_time)
            ),
        ),
        ("createdAt", json!(iso_time(record.event_ts_us))),
        ("updatedAt", json!(iso_time(record.event_ts_us))),
        ("input", json!(optional(&record.row.input))),
        ("output", json!(optional(&record.row.output))),
        ("metadata", json!(metadata)),
        ("model", json!(optional(&record.row.provided_model_name))),
        ("internalModelId", json!(optional(&record.model_id))),
        (
            "modelParameters",
            json!(content(&record.row.model_parameters)),
        ),
        ("usageDetails", json!(record.usage_details)),
        ("inputUsage", json!(sum_containing(&usage_u64, "input"))),
        ("outputUsage", json!(sum_containing(&usage_u64, "output"))),
        (
            "totalUsage",
            json!(record.usage_details.get("total").copied().unwrap_or(0)),
        ),
        ("costDetails", json!(record.cost_details)),
        (
            "inputCost",
            json!(sum_containing(&record.cost_details, "input")),
        ),
        (
            "outputCost",
            json!(sum_containing(&record.cost_details, "output")),
        ),
        (
            "totalCost",
            json!(record.cost_details.get("total").copied().unwrap_or(0.0)),
        ),
        ("usagePricingTierId", json!(record.usage_pricing_tier_id)),
        (
            "usagePricingTierName",
            json!(record.usage_pricing_tier_name),
        ),
        ("promptId", json!(optional(&record.prompt_id))),
        ("promptName", json!(optional(&record.row.prompt_name))),
        ("promptVersion", json!(record.row.prompt_version)),
        (
            "latency",
            json!(seconds_between(
                record.row.start_time_us,
                record.row.end_time_us
            )),
        ),
        (
            "timeToFirstToken",
            json!(if wants_time {
                seconds_between(
                    record.row.start_time_us,
                    record.row.completion_start_time_us,
                )
            } else {
                Value::Null
            }),
        ),
        ("traceName", json!(optional(&record.row.trace_name))),
        ("tags", json!(record.row.tags)),
        ("release", json!(optional(&record.row.release))),
        ("modelId", json!(optional(&record.model_id))),
        ("inputPrice", json!(Value::Null)),
        ("outputPrice", json!(Value::Null)),
        ("totalPrice", json!(Value::Null)),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();

    let mut all = all;
    let mut out = Map::new();
    let wanted = V2_FIELD_GROUPS
        .iter()
        .filter(|(group, _)| *group == "core" || groups.contains(group))
        .flat_map(|(_, keys)| keys.iter())
        .chain(V2_ALWAYS);
    for key in wanted {
        if let Some(value) = all.remove(*key) {
            out.insert((*key).to_owned(), value);
        }
    }
    Value::Object(out)
}

/// The trace (its fields taken from the root row, trace-level fields from any row, root first)
/// with all its observations; None when there are no rows.
pub fn trace(records: &[StoredRow]) -> Option<Value> {
    let first = records.first()?;
    let root = records
        .iter()
        .find(|r| is_trace_row(r))
        .or_else(|| records.iter().find(|r| r.row.is_app_root))
        .or_else(|| records.iter().find(|r| r.row.parent_span_id.is_empty()));
    // Root first, then the others in start order: the first non-empty value wins.
    let ordered: Vec<&StoredRow> = root.into_iter().chain(records.iter()).collect();
    let pick = |field: fn(&StoredRow) -> &str| {
        ordered
            .iter()
            .map(|r| field(r))
            .find(|v| !v.is_empty())
            .map_or(Value::Null, |v| Value::String(v.to_owned()))
    };
    let name = match pick(|r| &r.row.trace_name) {
        Value::Null => root.map_or(Value::Null, |r| Value::String(r.row.name.clone())),
        name => name,
    };
    let tags = ordered
        .iter()
        .map(|r| &r.row.tags)
        .find(|t| !t.is_empty())
        .cloned()
        .unwrap_or_default();
    let start = records
        .iter()
        .map(|r| r.row.start_time_us)
        .min()
        .unwrap_or(first.row.start_time_us);
    let end = records
        .iter()
        .filter_map(|r| r.row.end_time_us)
        .max()
        .unwrap_or(start);
    // A fold from +0.0: an empty f64 sum is -0.0, which a trace without costs must not show.
    let total_cost = records
        .iter()
        .filter_map(|r| r.cost_details.get("total"))
        .fold(0.0, |sum, cost| sum + cost);
    Some(json!({
        "id": first.row.trace_id,
        "name": name,
        "timestamp": iso_time(root.map_or(start, |r| r.row.start_time_us)),
        "environment": root.unwrap_or(first).row.environment,
        "userId": pick(|r| &r.row.user_id),
        "sessionId": pick(|r| &r.row.session_id),
        "tags": tags,
        "release": pick(|r| &r.row.release),
        "version": pick(|r| &r.row.version),
        "public": ordered.iter().any(|r| r.row.public),
        "input": trace_content(&ordered, root, |r| &r.row.trace_input, |r| &r.row.input),
        "output": trace_content(&ordered, root, |r| &r.row.trace_output, |r| &r.row.output),
        "metadata": root.map_or_else(|| json!({}), |r| metadata(&r.row.metadata_names, &r.row.metadata_values)),
        "latency": (end - start) as f64 / 1e6,
        "totalCost": total_cost,
        "observations": observations(records),
    }))
}

/// A trace of `GET /api/public/traces` (Langfuse's `TraceWithDetails`): the fields of
/// [`trace`], with observation and score ids instead of whole objects, the viewer's path, and
/// the token total (a Spanbridge extra); None when the trace has no rows.
pub fn listed_trace(listed: &ListedTrace, project_id: &str) -> Option<Value> {
    let mut trace = trace(&listed.rows)?;
    let observation_ids: Vec<&str> = listed
        .rows
        .iter()
        .filter(|r| !is_trace_row(r))
        .map(|r| r.row.span_id.as_str())
        .collect();
    let total_tokens: u64 = listed
        .rows
        .iter()
        .filter_map(|r| r.usage_details.get("total"))
        .sum();
    let created = listed.rows.iter().map(|r| r.event_ts_us).min();
    let updated = listed.rows.iter().map(|r| r.event_ts_us).max();
    if let Value::Object(object) = &mut trace {
        object.insert("observations".into(), json!(observation_ids));
        object.insert("scores".into(), json!(listed.score_ids));
        object.insert("projectId".into(), json!(project_id));
        object.insert(
            "htmlPath".into(),
            json!(format!("/project/{project_id}/traces/{}", listed.trace_id)),
        );
        object.insert("bookmarked".into(), json!(false));
        object.insert("externalId".into(), Value::Null);
        object.insert("totalTokens".into(), json!(total_tokens));
        object.insert("createdAt".into(), created.map_or(Value::Null, iso_time));
        object.insert("updatedAt".into(), updated.map_or(Value::Null, iso_time));
    }
    Some(trace)
}

/// A session of `GET /api/public/sessions` (Langfuse's `Session`, with `countTraces`).
pub fn session(session: &SessionSummary, project_id: &str) -> Value {
    json!({
        "id": session.id,
        "createdAt": iso_time(session.created_at_us),
        "projectId": project_id,
        "environment": session.environment,
        "countTraces": session.count_traces,
    })
}

/// A UTC day number (days since 1970-01-01) as `YYYY-MM-DD`.
pub fn iso_date(day: i64) -> Value {
    let format = format_description!("[year]-[month]-[day]");
    i32::try_from(day + 2_440_588)
        .ok()
        .and_then(|julian| time::Date::from_julian_day(julian).ok())
        .and_then(|date| date.format(&format).ok())
        .map_or(Value::Null, Value::String)
}

/// Trace I/O: what a span set explicitly for the trace, else the root observation's I/O.
fn trace_content(
    ordered: &[&StoredRow],
    root: Option<&StoredRow>,
    explicit: fn(&StoredRow) -> &str,
    observed: fn(&StoredRow) -> &str,
) -> Value {
    match ordered.iter().map(|r| explicit(r)).find(|v| !v.is_empty()) {
        Some(text) => content(text),
        None => root.map_or(Value::Null, |r| content(observed(r))),
    }
}

#[cfg(test)]
mod tests {
    use spanbridge_proto::{EventRow, Score};

    use super::*;

    fn stored(row: EventRow) -> StoredRow {
        StoredRow {
            row,
            ..Default::default()
        }
    }

    #[test]
    fn day_numbers_are_iso_dates() {
        assert_eq!(iso_date(0), json!("1970-01-01"));
        assert_eq!(iso_date(20_795), json!("2026-12-08"));
    }

    #[test]
    fn a_listed_trace_has_ids_and_its_path() {
        let row = |span: &str, parent: &str, cost: f64| StoredRow {
            row: EventRow {
                trace_id: "t".into(),
                span_id: span.into(),
                parent_span_id: parent.into(),
                start_time_us: 1_000_000,
                end_time_us: Some(3_000_000),
                ..Default::default()
            },
            cost_details: BTreeMap::from([("total".into(), cost)]),
            usage_details: BTreeMap::from([("total".into(), 7)]),
            ..Default::default()
        };
        let listed = ListedTrace {
            trace_id: "t".into(),
            rows: vec![row("a", "", 0.25), row("b", "a", 0.5)],
            score_ids: vec!["s1".into()],
        };
        let trace = listed_trace(&listed, "p").unwrap();
        assert_eq!(trace["observations"], json!(["a", "b"]));
        assert_eq!(trace["scores"], json!(["s1"]));
        assert_eq!(trace["htmlPath"], "/project/p/traces/t");
        assert_eq!(trace["totalCost"], 0.75);
        assert_eq!(trace["totalTokens"], 14);
        assert_eq!(trace["latency"], 2.0);
    }

    #[test]
    fn times_are_iso_milliseconds() {
        assert_eq!(
            iso_time(1_746_026_930_686_364),
            json!("2025-04-30T15:28:50.686Z")
        );
    }

    #[test]
    fn metadata_is_unflattened() {
        let names = ["resourceAttributes.service.name", "key1", "tools"].map(String::from);
        let values = ["svc", "value1", "[1,2]"].map(String::from);
        assert_eq!(
            metadata(&names, &values),
            json!({"resourceAttributes": {"service": {"name": "svc"}}, "key1": "value1", "tools": [1, 2]})
        );
    }

    #[test]
    fn content_parses_json_text_only() {
        assert_eq!(content("{\"a\":1}"), json!({"a": 1}));
        assert_eq!(content("hello"), json!("hello"));
        assert_eq!(content(""), Value::Null);
    }

    #[test]
    fn scores_have_langfuse_shape_and_window() {
        let root = stored(EventRow {
            trace_id: "t".into(),
            span_id: "a".into(),
            start_time_us: 10_000_000_000,
            ..Default::default()
        });
        let score = |score: Score| StoredScore {
            score,
            ..Default::default()
        };
        let numeric = Score {
            id: "s1".into(),
            trace_id: "t".into(),
            name: "relevance".into(),
            value: 0.5,
            data_type: "NUMERIC".into(),
            string_value: Some("ignored".into()),
            metadata_names: vec!["k".into(), "s".into()],
            metadata_values: vec!["[1]".into(), "x".into()],
            timestamp_us: 10_000_000_000,
            ..Default::default()
        };
        let text = score(Score {
            id: "s2".into(),
            data_type: "TEXT".into(),
            string_value: Some("fine".into()),
            ..numeric.clone()
        });
        let too_old = score(Score {
            id: "s3".into(),
            timestamp_us: 10_000_000_000 - 3_600_000_001,
            ..numeric.clone()
        });
        let correction = score(Score {
            id: "s4".into(),
            data_type: "CORRECTION".into(),
            ..numeric.clone()
        });
        let numeric = score(numeric);
        let mut trace = trace(std::slice::from_ref(&root)).unwrap();
        attach_scores(&mut trace, &[root], &[numeric, text, too_old, correction]);
        let scores = trace["scores"].as_array().unwrap();
        assert_eq!(scores.len(), 2, "{scores:?}");
        assert_eq!(scores[0]["value"], 0.5);
        assert_eq!(scores[0]["stringValue"], Value::Null);
        assert_eq!(scores[0]["metadata"], json!({"k": [1], "s": "x"}));
        assert_eq!(scores[0]["traceId"], "t");
        assert_eq!(scores[0]["comment"], Value::Null);
        assert!(
            scores[1].get("value").is_none(),
            "TEXT scores have no value"
        );
        assert_eq!(scores[1]["stringValue"], "fine");
    }

    #[test]
    fn v2_observations_have_the_requested_groups() {
        let record = StoredRow {
            row: EventRow {
                trace_id: "t".into(),
                span_id: "g".into(),
                parent_span_id: "r".into(),
                start_time_us: 1_000_000,
                end_time_us: Some(3_500_000),
                completion_start_time_us: Some(1_500_000),
                r#type: "GENERATION".into(),
                provided_model_name: "gpt-4o".into(),
                input: "{\"a\":1}".into(),
                metadata_names: vec!["resourceAttributes.service.name".into(), "n".into()],
                metadata_values: vec!["svc".into(), "1".into()],
                ..Default::default()
            },
            usage_details: BTreeMap::from([
                ("input".into(), 10),
                ("output".into(), 5),
                ("total".into(), 15),
            ]),
            cost_details: BTreeMap::from([("input".into(), 0.5), ("total".into(), 0.75)]),
            ..Default::default()
        };
        let default = observation_v2(&record, &["core", "basic"]);
        let keys: Vec<&String> = default.as_object().unwrap().keys().collect();
        assert!(keys.iter().any(|k| *k == "userId"));
        assert!(!keys.iter().any(|k| *k == "input" || *k == "usageDetails"));
        assert_eq!(default["latency"], 2.5);
        assert_eq!(default["timeToFirstToken"], Value::Null);
        assert_eq!(default["parentObservationId"], "r");
        assert_eq!(default["isRootObservation"], false);
        let all = observation_v2(&record, &["io", "metadata", "model", "usage", "metrics"]);
        assert_eq!(all["input"], "{\"a\":1}", "raw text");
        assert_eq!(
            all["metadata"],
            json!({"resourceAttributes.service.name": "svc", "n": 1})
        );
        assert_eq!(all["model"], "gpt-4o");
        assert_eq!(all["inputUsage"], 10.0);
        assert_eq!(all["totalUsage"], 15);
        assert_eq!(all["totalCost"], 0.75);
        assert_eq!(all["timeToFirstToken"], 0.5);
        assert!(all.get("name").is_none(), "basic not requested");
    }

    #[test]
    fn trace_name_falls_back_to_the_root_span() {
        let root = EventRow {
            trace_id: "t".into(),
            span_id: "a".into(),
            name: "root".into(),
            ..Default::default()
        };
        let child = EventRow {
            parent_span_id: "a".into(),
            span_id: "b".into(),
            user_id: "u1".into(),
            ..root.clone()
        };
        let trace = trace(&[stored(root), stored(child)]).unwrap();
        assert_eq!(trace["name"], "root");
        assert_eq!(trace["userId"], "u1");
        assert_eq!(trace["observations"].as_array().unwrap().len(), 2);
        assert!(
            trace["totalCost"]
                .as_f64()
                .is_some_and(|cost| cost == 0.0 && cost.is_sign_positive()),
            "no costs: 0, not -0: {}",
            trace["totalCost"]
        );
    }
}

//! The read API's answers in Langfuse's public API shape (`GET /api/public/traces/{id}`,
//! `GET /api/public/observations`), built from stored rows and scores of any store.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::enrich::StoredRow;

/// One stored row, as the read API needs it.
#[derive(Debug, Clone, Default)]
pub struct EventRecord {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub start_time_us: i64,
    pub end_time_us: Option<i64>,
    pub completion_start_time_us: Option<i64>,
    pub name: String,
    pub r#type: String,
    pub environment: String,
    pub version: String,
    pub release: String,
    pub trace_name: String,
    pub user_id: String,
    pub session_id: String,
    pub tags: Vec<String>,
    pub level: String,
    pub status_message: String,
    pub public: bool,
    pub is_app_root: bool,
    pub prompt_name: String,
    pub prompt_version: Option<u32>,
    pub provided_model_name: String,
    pub model_id: String,
    pub model_parameters: String,
    pub usage_details: BTreeMap<String, u64>,
    pub cost_details: BTreeMap<String, f64>,
    pub input: String,
    pub output: String,
    pub metadata_names: Vec<String>,
    pub metadata_values: Vec<String>,
    pub trace_input: String,
    pub trace_output: String,
    pub project_id: String,
    pub prompt_id: String,
    pub usage_pricing_tier_id: Option<String>,
    pub usage_pricing_tier_name: Option<String>,
    /// When this version was written (µs): `createdAt` / `updatedAt`.
    pub event_ts_us: i64,
}

impl From<StoredRow> for EventRecord {
    /// A whole stored row (as a store reads it back) narrowed to what the read API shows.
    fn from(stored: StoredRow) -> Self {
        let row = stored.row;
        EventRecord {
            trace_id: row.trace_id,
            span_id: row.span_id,
            parent_span_id: row.parent_span_id,
            start_time_us: row.start_time_us,
            end_time_us: row.end_time_us,
            completion_start_time_us: row.completion_start_time_us,
            name: row.name,
            r#type: row.r#type,
            environment: row.environment,
            version: row.version,
            release: row.release,
            trace_name: row.trace_name,
            user_id: row.user_id,
            session_id: row.session_id,
            tags: row.tags,
            level: row.level,
            status_message: row.status_message,
            public: row.public,
            is_app_root: row.is_app_root,
            prompt_name: row.prompt_name,
            prompt_version: row.prompt_version,
            provided_model_name: row.provided_model_name,
            model_id: stored.model_id,
            model_parameters: row.model_parameters,
            usage_details: stored.usage_details,
            cost_details: stored.cost_details,
            input: row.input,
            output: row.output,
            metadata_names: row.metadata_names,
            metadata_values: row.metadata_values,
            trace_input: row.trace_input,
            trace_output: row.trace_output,
            project_id: stored.project_id,
            prompt_id: stored.prompt_id,
            usage_pricing_tier_id: stored.usage_pricing_tier_id,
            usage_pricing_tier_name: stored.usage_pricing_tier_name,
            event_ts_us: stored.event_ts_us,
        }
    }
}

/// One stored score, as the read API needs it (reference langfuse-legacy.md §4.4).
#[derive(Debug, Clone, Default)]
pub struct ScoreRecord {
    pub id: String,
    pub project_id: String,
    pub timestamp_us: i64,
    pub environment: String,
    pub trace_id: Option<String>,
    pub observation_id: Option<String>,
    pub name: String,
    pub value: f64,
    pub source: String,
    pub comment: Option<String>,
    /// Flat `{name: value}` pairs (the `metadata` map column).
    pub metadata: Vec<(String, String)>,
    pub author_user_id: Option<String>,
    pub config_id: Option<String>,
    pub queue_id: Option<String>,
    pub execution_trace_id: Option<String>,
    pub data_type: String,
    pub string_value: Option<String>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
}

/// Score data types the trace endpoint returns (Langfuse's `getScoresForTraces`).
const TRACE_SCORE_TYPES: &[&str] = &["NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT"];

/// Langfuse omits scores older than the trace's timestamp minus this (µs).
const SCORE_LOOKBACK_US: i64 = 3_600_000_000;

/// One score in the public API shape (`APIScoreSchemaV1`): `value` omitted for TEXT,
/// `stringValue` null for NUMERIC, metadata values JSON-parsed.
pub fn score(record: &ScoreRecord) -> Value {
    let metadata: Map<String, Value> = record
        .metadata
        .iter()
        .map(|(name, value)| {
            let parsed =
                serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.clone()));
            (name.clone(), parsed)
        })
        .collect();
    let optional = |text: &Option<String>| text.clone().map_or(Value::Null, Value::String);
    let mut out = json!({
        "id": record.id,
        "projectId": record.project_id,
        "environment": record.environment,
        "name": record.name,
        "value": record.value,
        "source": record.source,
        "authorUserId": optional(&record.author_user_id),
        "comment": optional(&record.comment),
        "metadata": metadata,
        "configId": optional(&record.config_id),
        "queueId": optional(&record.queue_id),
        "executionTraceId": optional(&record.execution_trace_id),
        "createdAt": iso_time(record.created_at_us),
        "updatedAt": iso_time(record.updated_at_us),
        "timestamp": iso_time(record.timestamp_us),
        "traceId": optional(&record.trace_id),
        "observationId": optional(&record.observation_id),
        "dataType": record.data_type,
        "stringValue": if record.data_type == "NUMERIC" { Value::Null } else { optional(&record.string_value) },
    });
    if record.data_type == "TEXT"
        && let Value::Object(object) = &mut out
    {
        object.remove("value");
    }
    out
}

/// Adds `scores` to a trace built by [`trace`]: the trace endpoint's data types, not older than
/// an hour before the trace's timestamp (as Langfuse filters them), by timestamp.
pub fn attach_scores(trace: &mut Value, records: &[EventRecord], scores: &[ScoreRecord]) {
    let since = trace_timestamp_us(records).saturating_sub(SCORE_LOOKBACK_US);
    let scores: Vec<Value> = scores
        .iter()
        .filter(|s| TRACE_SCORE_TYPES.contains(&s.data_type.as_str()) && s.timestamp_us >= since)
        .map(score)
        .collect();
    if let Value::Object(object) = trace {
        object.insert("scores".into(), Value::Array(scores));
    }
}

/// The trace's timestamp: its root's start, else its earliest start.
fn trace_timestamp_us(records: &[EventRecord]) -> i64 {
    let root = records
        .iter()
        .find(|r| is_trace_row(r))
        .or_else(|| records.iter().find(|r| r.is_app_root))
        .or_else(|| records.iter().find(|r| r.parent_span_id.is_empty()));
    root.map(|r| r.start_time_us)
        .or_else(|| records.iter().map(|r| r.start_time_us).min())
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

/// Rebuilds the metadata object from its flattened dot-paths. A leaf that was a JSON object or
/// array (stringified on the way in) is returned parsed.
pub fn metadata(names: &[String], values: &[String]) -> Value {
    let mut root = Map::new();
    for (name, value) in names.iter().zip(values) {
        let leaf = match serde_json::from_str::<Value>(value) {
            Ok(parsed @ (Value::Object(_) | Value::Array(_))) => parsed,
            _ => Value::String(value.clone()),
        };
        if !insert_path(&mut root, name, leaf.clone()) {
            // A path that collides with an existing leaf keeps its full name at the top level.
            root.insert(name.clone(), leaf);
        }
    }
    Value::Object(root)
}

fn insert_path(map: &mut Map<String, Value>, path: &str, leaf: Value) -> bool {
    match path.split_once('.') {
        None => {
            if map.get(path).is_some_and(Value::is_object) {
                return false;
            }
            map.insert(path.to_owned(), leaf);
            true
        }
        Some((head, rest)) => match map
            .entry(head.to_owned())
            .or_insert_with(|| Value::Object(Map::new()))
        {
            Value::Object(child) => insert_path(child, rest, leaf),
            _ => false,
        },
    }
}

fn total_cost(record: &EventRecord) -> Value {
    record
        .cost_details
        .get("total")
        .map_or(Value::Null, |total| json!(total))
}

/// Whether a row is a legacy trace's own row (`t-<traceId>`, as Langfuse v4 files a trace sent
/// through the legacy ingestion API): it is the trace, not one of its observations.
pub fn is_trace_row(record: &EventRecord) -> bool {
    record
        .span_id
        .strip_prefix("t-")
        .is_some_and(|trace| trace == record.trace_id)
}

/// The observations of a trace in the public API shape (a legacy trace's own row is the
/// trace, not an observation).
pub fn observations(records: &[EventRecord]) -> Vec<Value> {
    records
        .iter()
        .filter(|r| !is_trace_row(r))
        .map(observation)
        .collect()
}

/// One observation in the public API shape. A top-level observation of a legacy trace hangs
/// under the trace's row in storage; here, as in Langfuse's v1 API, it has no parent.
pub fn observation(record: &EventRecord) -> Value {
    let parent = record
        .parent_span_id
        .strip_prefix("t-")
        .filter(|trace| *trace == record.trace_id)
        .map_or(record.parent_span_id.as_str(), |_| "");
    json!({
        "id": record.span_id,
        "traceId": record.trace_id,
        "parentObservationId": text_or_null(parent),
        "type": record.r#type,
        "name": record.name,
        "startTime": iso_time(record.start_time_us),
        "endTime": record.end_time_us.map_or(Value::Null, iso_time),
        "completionStartTime": record.completion_start_time_us.map_or(Value::Null, iso_time),
        "level": record.level,
        "statusMessage": text_or_null(&record.status_message),
        "environment": record.environment,
        "version": text_or_null(&record.version),
        "model": text_or_null(&record.provided_model_name),
        "modelId": text_or_null(&record.model_id),
        "modelParameters": content(&record.model_parameters),
        "usageDetails": record.usage_details,
        "costDetails": record.cost_details,
        "totalCost": total_cost(record),
        "promptName": text_or_null(&record.prompt_name),
        "promptVersion": record.prompt_version,
        "input": content(&record.input),
        "output": content(&record.output),
        "metadata": metadata(&record.metadata_names, &record.metadata_values),
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
pub fn observation_v2(record: &EventRecord, groups: &[&str]) -> Value {
    let optional = |text: &str| text_or_null(text);
    let usage_u64: BTreeMap<String, f64> = record
        .usage_details
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64))
        .collect();
    let metadata: Map<String, Value> = record
        .metadata_names
        .iter()
        .zip(&record.metadata_values)
        .map(|(name, value)| {
            let parsed =
                serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.clone()));
            (name.clone(), parsed)
        })
        .collect();
    let wants_time = groups.contains(&"time") || groups.contains(&"metrics");
    let all: Map<String, Value> = [
        ("id", json!(record.span_id)),
        ("traceId", json!(record.trace_id)),
        ("startTime", json!(iso_time(record.start_time_us))),
        (
            "endTime",
            json!(record.end_time_us.map_or(Value::Null, iso_time)),
        ),
        ("projectId", json!(record.project_id)),
        (
            "parentObservationId",
            json!(optional(&record.parent_span_id)),
        ),
        ("type", json!(record.r#type)),
        ("name", json!(record.name)),
        ("level", json!(record.level)),
        ("statusMessage", json!(optional(&record.status_message))),
        ("version", json!(optional(&record.version))),
        ("environment", json!(record.environment)),
        ("bookmarked", json!(false)),
        ("public", json!(record.public)),
        ("userId", json!(optional(&record.user_id))),
        ("sessionId", json!(optional(&record.session_id))),
        (
            "isRootObservation",
            json!(record.parent_span_id.is_empty() || record.is_app_root),
        ),
        (
            "completionStartTime",
            json!(
                record
                    .completion_start_time_us
                    .map_or(Value::Null, iso_time)
            ),
        ),
        ("createdAt", json!(iso_time(record.event_ts_us))),
        ("updatedAt", json!(iso_time(record.event_ts_us))),
        ("input", json!(optional(&record.input))),
        ("output", json!(optional(&record.output))),
        ("metadata", json!(metadata)),
        ("model", json!(optional(&record.provided_model_name))),
        ("internalModelId", json!(optional(&record.model_id))),
        ("modelParameters", json!(content(&record.model_parameters))),
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
        ("promptName", json!(optional(&record.prompt_name))),
        ("promptVersion", json!(record.prompt_version)),
        (
            "latency",
            json!(seconds_between(record.start_time_us, record.end_time_us)),
        ),
        (
            "timeToFirstToken",
            json!(if wants_time {
                seconds_between(record.start_time_us, record.completion_start_time_us)
            } else {
                Value::Null
            }),
        ),
        ("traceName", json!(optional(&record.trace_name))),
        ("tags", json!(record.tags)),
        ("release", json!(optional(&record.release))),
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
pub fn trace(records: &[EventRecord]) -> Option<Value> {
    let first = records.first()?;
    let root = records
        .iter()
        .find(|r| is_trace_row(r))
        .or_else(|| records.iter().find(|r| r.is_app_root))
        .or_else(|| records.iter().find(|r| r.parent_span_id.is_empty()));
    // Root first, then the others in start order: the first non-empty value wins.
    let ordered: Vec<&EventRecord> = root.into_iter().chain(records.iter()).collect();
    let pick = |field: fn(&EventRecord) -> &str| {
        ordered
            .iter()
            .map(|r| field(r))
            .find(|v| !v.is_empty())
            .map_or(Value::Null, |v| Value::String(v.to_owned()))
    };
    let name = match pick(|r| &r.trace_name) {
        Value::Null => root.map_or(Value::Null, |r| Value::String(r.name.clone())),
        name => name,
    };
    let tags = ordered
        .iter()
        .map(|r| &r.tags)
        .find(|t| !t.is_empty())
        .cloned()
        .unwrap_or_default();
    let start = records
        .iter()
        .map(|r| r.start_time_us)
        .min()
        .unwrap_or(first.start_time_us);
    let end = records
        .iter()
        .filter_map(|r| r.end_time_us)
        .max()
        .unwrap_or(start);
    // A fold from 0.0, not `sum()`: an empty f64 sum is -0.0, which JSON shows as `-0.0`.
    let total_cost: f64 = records
        .iter()
        .filter_map(|r| r.cost_details.get("total"))
        .fold(0.0, |sum, cost| sum + cost);
    Some(json!({
        "id": first.trace_id,
        "name": name,
        "timestamp": iso_time(root.map_or(start, |r| r.start_time_us)),
        "environment": root.unwrap_or(first).environment,
        "userId": pick(|r| &r.user_id),
        "sessionId": pick(|r| &r.session_id),
        "tags": tags,
        "release": pick(|r| &r.release),
        "version": pick(|r| &r.version),
        "public": ordered.iter().any(|r| r.public),
        "input": trace_content(&ordered, root, |r| &r.trace_input, |r| &r.input),
        "output": trace_content(&ordered, root, |r| &r.trace_output, |r| &r.output),
        "metadata": root.map_or_else(|| json!({}), |r| metadata(&r.metadata_names, &r.metadata_values)),
        "latency": (end - start) as f64 / 1e6,
        "totalCost": total_cost,
        "observations": observations(records),
    }))
}

/// Trace I/O: what a span set explicitly for the trace, else the root observation's I/O.
fn trace_content(
    ordered: &[&EventRecord],
    root: Option<&EventRecord>,
    explicit: fn(&EventRecord) -> &str,
    observed: fn(&EventRecord) -> &str,
) -> Value {
    match ordered.iter().map(|r| explicit(r)).find(|v| !v.is_empty()) {
        Some(text) => content(text),
        None => root.map_or(Value::Null, |r| content(observed(r))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let root = EventRecord {
            trace_id: "t".into(),
            span_id: "a".into(),
            start_time_us: 10_000_000_000,
            ..Default::default()
        };
        let numeric = ScoreRecord {
            id: "s1".into(),
            trace_id: Some("t".into()),
            name: "relevance".into(),
            value: 0.5,
            data_type: "NUMERIC".into(),
            string_value: Some("ignored".into()),
            metadata: vec![("k".into(), "[1]".into()), ("s".into(), "x".into())],
            timestamp_us: 10_000_000_000,
            ..Default::default()
        };
        let text = ScoreRecord {
            id: "s2".into(),
            data_type: "TEXT".into(),
            string_value: Some("fine".into()),
            ..numeric.clone()
        };
        let too_old = ScoreRecord {
            id: "s3".into(),
            timestamp_us: 10_000_000_000 - 3_600_000_001,
            ..numeric.clone()
        };
        let correction = ScoreRecord {
            id: "s4".into(),
            data_type: "CORRECTION".into(),
            ..numeric.clone()
        };
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
        let record = EventRecord {
            trace_id: "t".into(),
            span_id: "g".into(),
            parent_span_id: "r".into(),
            start_time_us: 1_000_000,
            end_time_us: Some(3_500_000),
            completion_start_time_us: Some(1_500_000),
            r#type: "GENERATION".into(),
            provided_model_name: "gpt-4o".into(),
            usage_details: BTreeMap::from([
                ("input".into(), 10),
                ("output".into(), 5),
                ("total".into(), 15),
            ]),
            cost_details: BTreeMap::from([("input".into(), 0.5), ("total".into(), 0.75)]),
            input: "{\"a\":1}".into(),
            metadata_names: vec!["resourceAttributes.service.name".into(), "n".into()],
            metadata_values: vec!["svc".into(), "1".into()],
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
        let root = EventRecord {
            trace_id: "t".into(),
            span_id: "a".into(),
            name: "root".into(),
            ..Default::default()
        };
        let child = EventRecord {
            parent_span_id: "a".into(),
            span_id: "b".into(),
            user_id: "u1".into(),
            ..root.clone()
        };
        let trace = trace(&[root, child]).unwrap();
        assert_eq!(trace["name"], "root");
        assert_eq!(trace["userId"], "u1");
        assert_eq!(trace["observations"].as_array().unwrap().len(), 2);
    }
}

//! Langfuse v3's `traces` and `observations` tables (reference langfuse-legacy.md §3): one row
//! builder per table, in the column formats Langfuse's worker writes — DateTime64(3)
//! milliseconds, NULL (not `''`) in Nullable columns for "not set", `environment` defaulting to
//! `default`, metadata as a map of top-level keys whose non-string values are JSON text
//! (§3.3), costs as Decimal64(12), `total_cost` = `cost_details['total']` — and the inverse
//! read-back for assembly and the read API.

use std::collections::{BTreeMap, HashMap};

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use spanbridge_proto::EventRow;

use super::{cost_ticks, costs, counts, from_ticks};
use crate::scores::nullable;
use spanbridge_proto::StoredRow;

fn millis(us: i64) -> i64 {
    us.div_euclid(1000)
}

fn or_default<'a>(text: &'a str, default: &'a str) -> &'a str {
    if text.is_empty() { default } else { text }
}

/// Langfuse's metadata map (`convertRecordValuesToString`): the flattened dot-paths rebuilt
/// into an object, then each top-level value kept if a string, else JSON text.
pub(super) fn metadata_map(names: &[String], values: &[String]) -> Vec<(String, String)> {
    match spanbridge_proto::read::metadata(names, values) {
        Value::Object(object) => object
            .into_iter()
            .map(|(key, value)| match value {
                Value::String(text) => (key, text),
                other => (key, other.to_string()),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// One `observations` row as inserted.
#[derive(Row, Serialize)]
pub(super) struct ObservationsRow<'a> {
    id: &'a str,
    trace_id: &'a str,
    project_id: &'a str,
    environment: &'a str,
    #[serde(rename = "type")]
    r#type: &'a str,
    parent_observation_id: Option<&'a str>,
    start_time: i64,
    end_time: Option<i64>,
    name: &'a str,
    metadata: Vec<(String, String)>,
    level: &'a str,
    status_message: Option<&'a str>,
    version: Option<&'a str>,
    input: Option<&'a str>,
    output: Option<&'a str>,
    provided_model_name: Option<&'a str>,
    internal_model_id: Option<&'a str>,
    model_parameters: Option<&'a str>,
    provided_usage_details: Vec<(&'a str, u64)>,
    usage_details: Vec<(&'a str, u64)>,
    provided_cost_details: Vec<(&'a str, i64)>,
    cost_details: Vec<(&'a str, i64)>,
    total_cost: Option<i64>,
    completion_start_time: Option<i64>,
    prompt_id: Option<&'a str>,
    prompt_name: Option<&'a str>,
    prompt_version: Option<u16>,
    created_at: i64,
    updated_at: i64,
    event_ts: i64,
    is_deleted: u8,
    usage_pricing_tier_id: Option<&'a str>,
    usage_pricing_tier_name: Option<&'a str>,
    tool_definitions: Vec<(&'a str, &'a str)>,
    tool_calls: &'a [String],
    tool_call_names: &'a [String],
}

/// The observation row of a stored row (Langfuse's `observations` columns, §3.2).
pub(super) fn observation_row(stored: &StoredRow) -> ObservationsRow<'_> {
    let r = &stored.row;
    let start = millis(r.start_time_us);
    let written = millis(stored.event_ts_us);
    // Langfuse clamps an end before the start to the start.
    let end = r.end_time_us.map(|end| millis(end).max(start));
    // Langfuse writes the JSON of the parameters object, `{}` when a model was named without
    // any; none at all for observations without a model.
    let model_parameters = match (
        r.model_parameters.as_str(),
        r.provided_model_name.is_empty(),
    ) {
        ("", false) => Some("{}"),
        ("", true) => None,
        (parameters, _) => Some(parameters),
    };
    ObservationsRow {
        id: &r.span_id,
        trace_id: &r.trace_id,
        project_id: &stored.project_id,
        environment: or_default(&r.environment, "default"),
        r#type: or_default(&r.r#type, "SPAN"),
        parent_observation_id: nullable(&r.parent_span_id),
        start_time: start,
        end_time: end,
        name: &r.name,
        metadata: metadata_map(&r.metadata_names, &r.metadata_values),
        level: or_default(&r.level, "DEFAULT"),
        status_message: nullable(&r.status_message),
        version: nullable(&r.version),
        input: nullable(&r.input),
        output: nullable(&r.output),
        provided_model_name: nullable(&r.provided_model_name),
        internal_model_id: nullable(&stored.model_id),
        model_parameters,
        provided_usage_details: counts(&r.provided_usage_details),
        usage_details: counts(&stored.usage_details),
        provided_cost_details: costs(&r.provided_cost_details),
        cost_details: costs(&stored.cost_details),
        total_cost: stored
            .cost_details
            .get("total")
            .and_then(|t| cost_ticks(*t)),
        completion_start_time: r.completion_start_time_us.map(millis),
        prompt_id: nullable(&stored.prompt_id),
        prompt_name: nullable(&r.prompt_name),
        prompt_version: r.prompt_version.and_then(|v| u16::try_from(v).ok()),
        created_at: written,
        updated_at: written,
        event_ts: written,
        is_deleted: u8::from(stored.deleted),
        usage_pricing_tier_id: stored.usage_pricing_tier_id.as_deref(),
        usage_pricing_tier_name: stored.usage_pricing_tier_name.as_deref(),
        tool_definitions: r
            .tool_definitions
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        tool_calls: &r.tool_calls,
        tool_call_names: &r.tool_call_names,
    }
}

/// Which `observations` row a stored row is: the table's sorting key (type and start date are
/// in it, so a tombstone with the same key as a live row would hide that row).
pub(super) fn observation_key(stored: &StoredRow) -> (&str, &str, &str, i64) {
    let r = &stored.row;
    (
        &stored.project_id,
        &r.span_id,
        or_default(&r.r#type, "SPAN"),
        millis(r.start_time_us).div_euclid(86_400_000),
    )
}

/// One `traces` row, as inserted and as read back.
#[derive(Row, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(super) struct TracesRow {
    pub id: String,
    pub timestamp: i64,
    pub name: String,
    pub user_id: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub release: Option<String>,
    pub version: Option<String>,
    pub project_id: String,
    pub environment: String,
    pub public: bool,
    pub bookmarked: bool,
    pub tags: Vec<String>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub session_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub event_ts: i64,
    pub is_deleted: u8,
}

fn owned(text: &str) -> Option<String> {
    nullable(text).map(str::to_owned)
}

/// The live rows of each trace in the batch, in batch order, keyed by (project, trace id).
pub(super) fn traces_in(rows: &[StoredRow]) -> Vec<((String, String), Vec<&StoredRow>)> {
    let mut groups: Vec<((String, String), Vec<&StoredRow>)> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for stored in rows.iter().filter(|s| !s.deleted) {
        let key = (stored.project_id.clone(), stored.row.trace_id.clone());
        match index.get(&key) {
            Some(&i) => groups[i].1.push(stored),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![stored]));
            }
        }
    }
    groups
}

/// The trace's root among the rows: the app root, else a row without a parent.
pub(super) fn root_of<'a>(rows: &[&'a StoredRow]) -> Option<&'a StoredRow> {
    rows.iter()
        .find(|s| s.row.is_app_root)
        .or_else(|| rows.iter().find(|s| s.row.parent_span_id.is_empty()))
        .copied()
}

/// The `traces` row of one trace (§3.1) from its rows in this batch — each carries the
/// trace's merged fields (assembly) — over the row stored before, if any. The root's start
/// is the timestamp, its name the fallback name, its input/output the fallback trace I/O and
/// its metadata the trace's; a batch without the root keeps those of the stored row, whose
/// timestamp and environment never move (Langfuse keeps them immutable, and the timestamp's
/// date is in the sorting key).
pub(super) fn trace_row(rows: &[&StoredRow], before: Option<&TracesRow>) -> Option<TracesRow> {
    let first = rows.first()?;
    let root = root_of(rows);
    let pick = |field: fn(&EventRow) -> &str| {
        root.into_iter()
            .chain(rows.iter().copied())
            .map(|s| field(&s.row))
            .find(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let written = millis(rows.iter().map(|s| s.event_ts_us).max().unwrap_or_default());
    let earliest = millis(
        rows.iter()
            .map(|s| s.row.start_time_us)
            .min()
            .unwrap_or_default(),
    );
    let io = |explicit: fn(&EventRow) -> &str, observed: fn(&EventRow) -> &str| {
        pick(explicit).or_else(|| root.and_then(|r| owned(observed(&r.row))))
    };
    // Union in first-seen order, root first (as assembly merges them; Langfuse's worker sorts
    // the set, which loses the order the client sent).
    let mut tags: Vec<String> = Vec::new();
    for tag in root
        .into_iter()
        .chain(rows.iter().copied())
        .flat_map(|s| s.row.tags.iter())
    {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    let mut row = TracesRow {
        id: first.row.trace_id.clone(),
        timestamp: root.map_or(earliest, |r| millis(r.row.start_time_us)),
        name: pick(|r| &r.trace_name)
            .or_else(|| root.map(|r| r.row.name.clone()))
            .unwrap_or_default(),
        user_id: pick(|r| &r.user_id),
        metadata: root.map_or_else(Vec::new, |r| {
            metadata_map(&r.row.metadata_names, &r.row.metadata_values)
        }),
        release: pick(|r| &r.release),
        version: root.and_then(|r| owned(&r.row.version)),
        project_id: first.project_id.clone(),
        environment: or_default(
            root.map_or(first.row.environment.as_str(), |r| &r.row.environment),
            "default",
        )
        .to_owned(),
        public: rows.iter().any(|s| s.row.public),
        bookmarked: false,
        tags: Vec::new(),
        input: io(|r| &r.trace_input, |r| &r.input),
        output: io(|r| &r.trace_output, |r| &r.output),
        session_id: pick(|r| &r.session_id),
        created_at: written,
        updated_at: written,
        event_ts: written,
        is_deleted: 0,
    };
    if let Some(before) = before {
        let same_day =
            before.timestamp.div_euclid(86_400_000) == row.timestamp.div_euclid(86_400_000);
        if root.is_none() || !same_day {
            row.timestamp = before.timestamp;
        }
        row.environment.clone_from(&before.environment);
        row.created_at = before.created_at;
        if row.name.is_empty() {
            row.name.clone_from(&before.name);
        }
        let keep = |now: &mut Option<String>, then: &Option<String>| {
            if now.is_none() {
                now.clone_from(then);
            }
        };
        keep(&mut row.user_id, &before.user_id);
        keep(&mut row.session_id, &before.session_id);
        keep(&mut row.release, &before.release);
        keep(&mut row.version, &before.version);
        keep(&mut row.input, &before.input);
        keep(&mut row.output, &before.output);
        if row.metadata.is_empty() {
            row.metadata.clone_from(&before.metadata);
        }
        row.public |= before.public && root.is_none();
        // Tags are never removed: the stored ones first, then new ones.
        let mut merged = before.tags.clone();
        for tag in tags.drain(..) {
            if !merged.contains(&tag) {
                merged.push(tag);
            }
        }
        tags = merged;
    }
    row.tags = tags;
    Some(row)
}

/// One `observations` row as read back (every column Spanbridge writes).
#[derive(Row, Deserialize)]
pub(super) struct ObservationRead {
    id: String,
    trace_id: String,
    project_id: String,
    environment: String,
    #[serde(rename = "type")]
    r#type: String,
    parent_observation_id: Option<String>,
    start_time: i64,
    end_time: Option<i64>,
    name: String,
    metadata: Vec<(String, String)>,
    level: String,
    status_message: Option<String>,
    version: Option<String>,
    input: Option<String>,
    output: Option<String>,
    provided_model_name: Option<String>,
    internal_model_id: Option<String>,
    model_parameters: Option<String>,
    provided_usage_details: Vec<(String, u64)>,
    usage_details: Vec<(String, u64)>,
    provided_cost_details: Vec<(String, i64)>,
    cost_details: Vec<(String, i64)>,
    completion_start_time: Option<i64>,
    prompt_id: Option<String>,
    prompt_name: Option<String>,
    prompt_version: Option<u16>,
    event_ts: i64,
    usage_pricing_tier_id: Option<String>,
    usage_pricing_tier_name: Option<String>,
    tool_definitions: Vec<(String, String)>,
    tool_calls: Vec<String>,
    tool_call_names: Vec<String>,
}

impl ObservationRead {
    pub(super) fn trace_id(&self) -> &str {
        &self.trace_id
    }
}

/// A stored row rebuilt from an `observations` row and its trace's `traces` row: what
/// assembly merges into and the read API shows. Columns v3 has no place for (service, scope,
/// SDK, experiment fields) come back empty.
pub(super) fn stored_row(read: ObservationRead, trace: Option<&TracesRow>) -> StoredRow {
    let us = |ms: i64| ms * 1000;
    let parent = read.parent_observation_id.unwrap_or_default();
    let (metadata_names, metadata_values) = read.metadata.into_iter().unzip();
    let text = |value: Option<&Option<String>>| value.cloned().flatten().unwrap_or_default();
    let row = EventRow {
        trace_id: read.trace_id,
        span_id: read.id,
        is_app_root: parent.is_empty(),
        parent_span_id: parent,
        start_time_us: us(read.start_time),
        end_time_us: read.end_time.map(us),
        completion_start_time_us: read.completion_start_time.map(us),
        name: read.name,
        r#type: read.r#type,
        environment: read.environment,
        version: read.version.unwrap_or_default(),
        release: text(trace.map(|t| &t.release)),
        level: read.level,
        status_message: read.status_message.unwrap_or_default(),
        trace_name: trace.map(|t| t.name.clone()).unwrap_or_default(),
        user_id: text(trace.map(|t| &t.user_id)),
        session_id: text(trace.map(|t| &t.session_id)),
        tags: trace.map(|t| t.tags.clone()).unwrap_or_default(),
        public: trace.is_some_and(|t| t.public),
        prompt_name: read.prompt_name.unwrap_or_default(),
        prompt_version: read.prompt_version.map(u32::from),
        provided_model_name: read.provided_model_name.unwrap_or_default(),
        model_parameters: read.model_parameters.unwrap_or_default(),
        provided_usage_details: read.provided_usage_details.into_iter().collect(),
        provided_cost_details: from_ticks(read.provided_cost_details).into_iter().collect(),
        tool_definitions: read.tool_definitions.into_iter().collect(),
        tool_calls: read.tool_calls,
        tool_call_names: read.tool_call_names,
        input: read.input.unwrap_or_default(),
        output: read.output.unwrap_or_default(),
        metadata_names,
        metadata_values,
        trace_input: text(trace.map(|t| &t.input)),
        trace_output: text(trace.map(|t| &t.output)),
        ..Default::default()
    };
    StoredRow {
        project_id: read.project_id,
        ingestion_api_key: String::new(),
        ingestion_sdk_name: String::new(),
        ingestion_sdk_version: String::new(),
        model_id: read.internal_model_id.unwrap_or_default(),
        prompt_id: read.prompt_id.unwrap_or_default(),
        usage_details: read.usage_details.into_iter().collect::<BTreeMap<_, _>>(),
        cost_details: from_ticks(read.cost_details),
        usage_pricing_tier_id: read.usage_pricing_tier_id,
        usage_pricing_tier_name: read.usage_pricing_tier_name,
        event_ts_us: us(read.event_ts),
        event_bytes: 0,
        deleted: false,
        row,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(span: &str, parent: &str, start_ms: i64) -> StoredRow {
        StoredRow {
            project_id: "p".into(),
            ingestion_api_key: String::new(),
            ingestion_sdk_name: String::new(),
            ingestion_sdk_version: String::new(),
            model_id: String::new(),
            prompt_id: String::new(),
            usage_details: BTreeMap::new(),
            cost_details: BTreeMap::new(),
            usage_pricing_tier_id: None,
            usage_pricing_tier_name: None,
            event_ts_us: 9_000_000_000,
            event_bytes: 0,
            deleted: false,
            row: EventRow {
                trace_id: "t".into(),
                span_id: span.into(),
                parent_span_id: parent.into(),
                start_time_us: start_ms * 1000 + 456,
                name: format!("span {span}"),
                r#type: "SPAN".into(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn metadata_keeps_strings_and_stringifies_the_rest() {
        let names = ["resourceAttributes.service.name", "plain", "list"].map(String::from);
        let values = ["svc", "1", "[1,2]"].map(String::from);
        let map: BTreeMap<String, String> = metadata_map(&names, &values).into_iter().collect();
        assert_eq!(map["resourceAttributes"], r#"{"service":{"name":"svc"}}"#);
        assert_eq!(map["plain"], "1");
        assert_eq!(map["list"], "[1,2]");
    }

    #[test]
    fn observation_columns_are_langfuse_formats() {
        let mut generation = stored("g", "r", 5_000);
        generation.row.r#type = "GENERATION".into();
        generation.row.end_time_us = Some(4_000_000);
        generation.row.provided_model_name = "gpt-4o".into();
        generation.cost_details = BTreeMap::from([("input".into(), 0.25), ("total".into(), 0.5)]);
        let row = observation_row(&generation);
        assert_eq!(row.start_time, 5_000, "milliseconds");
        assert_eq!(
            row.end_time,
            Some(5_000),
            "an end before the start is clamped"
        );
        assert_eq!(row.environment, "default");
        assert_eq!(row.level, "DEFAULT");
        assert_eq!(row.parent_observation_id, Some("r"));
        assert_eq!(row.status_message, None, "NULL, not ''");
        assert_eq!(row.input, None);
        assert_eq!(row.model_parameters, Some("{}"));
        assert_eq!(row.total_cost, Some(500_000_000_000));
        assert_eq!(row.event_ts, 9_000_000);
        let span = stored("s", "", 5_000);
        assert_eq!(observation_row(&span).model_parameters, None);
        assert_eq!(observation_row(&span).parent_observation_id, None);
    }

    #[test]
    fn the_trace_row_comes_from_the_root_and_keeps_the_stored_timestamp() {
        let mut root = stored("r", "", 1_000);
        root.row.trace_name = "chat".into();
        root.row.user_id = "u".into();
        root.row.tags = vec!["b".into(), "a".into()];
        root.row.input = r#"{"q":1}"#.into();
        root.row.metadata_names = vec!["k".into()];
        root.row.metadata_values = vec!["v".into()];
        let mut child = stored("c", "r", 2_000);
        child.row.user_id = "u".into();
        let written = trace_row(&[&child, &root], None).unwrap();
        assert_eq!(written.timestamp, 1_000);
        assert_eq!(written.name, "chat");
        assert_eq!(written.user_id.as_deref(), Some("u"));
        assert_eq!(written.tags, ["b", "a"], "as sent, root first");
        assert_eq!(
            written.input.as_deref(),
            Some(r#"{"q":1}"#),
            "the root's input"
        );
        assert_eq!(written.metadata, [("k".to_owned(), "v".to_owned())]);
        assert_eq!(written.environment, "default");

        // A later child alone: the stored row's root-derived values stay.
        let mut late = stored("d", "r", 3_000);
        late.row.session_id = "s".into();
        let next = trace_row(&[&late], Some(&written)).unwrap();
        assert_eq!(next.timestamp, 1_000);
        assert_eq!(next.name, "chat");
        assert_eq!(next.input, written.input);
        assert_eq!(next.metadata, written.metadata);
        assert_eq!(next.session_id.as_deref(), Some("s"));
        assert_eq!(next.user_id.as_deref(), Some("u"));
    }
}

//! Langfuse reads our rows as its own: a realistic trace (and an evaluation score of its
//! generation) goes through the Kafka deployment (gateway → tansu → sink → ClickHouse), once per
//! `clickhouse.tables` mode, then every read query Langfuse v4.16 sends to the tables of that
//! mode (`../shared/langfuse-queries/queries.json`: for `events_full` the v2 observations API
//! and its cursor pagination, the trace detail view, the trace aggregate, the observations
//! table, the traces API; for v3 `traces` + `observations` + `scores` the trace detail (tRPC and
//! public API), its observations and scores, the traces and observations public lists and the
//! UI traces table with its metrics) runs verbatim with its parameters filled in, as ClickHouse
//! query parameters like Langfuse's client sends them. Each must return what was sent: ids, parents, types, names,
//! model, usage, cost, input/output, times (floored to the millisecond, as Langfuse stores
//! them) and the trace fields; paging the v2 query with `limit=1` must visit every observation
//! once, including two siblings that start in the same millisecond.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use serde_json::Value;
use support::services::{ClickHouse, Stack, available};
use support::*;

/// `clickhouse.tables` modes the test runs in (`SPANBRIDGE_CLICKHOUSE__TABLES`), with the
/// `tables` families of queries.json each one serves (DESIGN.md "Storage targets for every
/// Langfuse deployment").
const MODES: &[(&str, &[&str])] = &[
    ("events", &["events"]),
    ("v3", &["legacy"]),
    ("both", &["events", "legacy"]),
];

/// The evaluation score of the generation (a `gen_ai.evaluation.result` log record).
const SCORE_NAME: &str = "relevance";
const SCORE_VALUE: f64 = 0.8;

const TRACE_ID: &str = "4c1f0e2d3b5a69788796a5b4c3d2e1f0";
const TRACE_NAME: &str = "support-chat";
const USER_ID: &str = "user-42";
const SESSION_ID: &str = "session-7";
const TAGS: [&str; 2] = ["support", "beta"];
const MODEL: &str = "gpt-4o";
/// 2026-08-06T08:00:00Z in ns; span times are offsets from it, with sub-ms digits on purpose.
const BASE_NS: u64 = 1_786_003_200_000_000_000;
/// gpt-4o in sink/data/model-prices.json: $2.5 per 1M input tokens, $10 per 1M output tokens.
const INPUT_TOKENS: u64 = 120;
const OUTPUT_TOKENS: u64 = 30;
const INPUT_COST: f64 = 120.0 * 2.5e-6;
const OUTPUT_COST: f64 = 30.0 * 1e-5;

/// One observation as sent, and what Langfuse must read back for it.
struct Sent {
    id: &'static str,
    parent: &'static str,
    /// The OTLP span name.
    span_name: &'static str,
    /// The observation type and name Spanbridge derives (docs/conversion.md).
    kind: &'static str,
    name: &'static str,
    start_ns: u64,
    end_ns: u64,
    completion_start_ns: Option<u64>,
    input: &'static str,
    output: &'static str,
    attributes: Vec<KeyValue>,
}

const ROOT_INPUT: &str = r#"{"question":"What is the weather in Paris?"}"#;
const ROOT_OUTPUT: &str = r#"{"answer":"Sunny, 22 °C"}"#;
const GENERATION_INPUT: &str =
    r#"[{"role":"user","parts":[{"type":"text","content":"What is the weather in Paris?"}]}]"#;
const GENERATION_OUTPUT: &str = r#"[{"role":"assistant","parts":[{"type":"tool_call","id":"call_1","name":"get_weather","arguments":{"city":"Paris"}}],"finish_reason":"tool_call"}]"#;
const TOOL_INPUT: &str = r#"{"city":"Paris"}"#;
const TOOL_OUTPUT: &str = r#"{"temperature_c":22,"sky":"sunny"}"#;

/// The trace: an agent root with the trace fields, a priced generation, a tool call, and two
/// retrieval siblings 0.6 ms apart inside one millisecond (…02.123100 and …02.123700).
fn sent() -> Vec<Sent> {
    vec![
        Sent {
            id: "1111111111111111",
            parent: "",
            span_name: "invoke_agent weather-agent",
            kind: "AGENT",
            name: "invoke_agent weather-agent",
            start_ns: BASE_NS + 123_456_789,
            end_ns: BASE_NS + 3_000_999_999,
            completion_start_ns: None,
            input: ROOT_INPUT,
            output: ROOT_OUTPUT,
            attributes: vec![
                string_attr("gen_ai.operation.name", "invoke_agent"),
                string_attr("langfuse.trace.name", TRACE_NAME),
                string_attr("user.id", USER_ID),
                string_attr("langfuse.user.id", USER_ID),
                string_attr("session.id", SESSION_ID),
                strings_attr("langfuse.trace.tags", &TAGS),
                string_attr("langfuse.observation.input", ROOT_INPUT),
                string_attr("langfuse.observation.output", ROOT_OUTPUT),
            ],
        },
        Sent {
            id: "2222222222222222",
            parent: "1111111111111111",
            span_name: "chat gpt-4o",
            kind: "GENERATION",
            name: "chat gpt-4o",
            start_ns: BASE_NS + 200_300_400,
            end_ns: BASE_NS + 1_500_600_700,
            completion_start_ns: Some(BASE_NS + 650_999_000),
            input: GENERATION_INPUT,
            output: GENERATION_OUTPUT,
            attributes: vec![
                string_attr("gen_ai.operation.name", "chat"),
                string_attr("gen_ai.request.model", MODEL),
                string_attr("gen_ai.response.model", MODEL),
                int_attr("gen_ai.usage.input_tokens", INPUT_TOKENS as i64),
                int_attr("gen_ai.usage.output_tokens", OUTPUT_TOKENS as i64),
                string_attr("gen_ai.input.messages", GENERATION_INPUT),
                string_attr("gen_ai.output.messages", GENERATION_OUTPUT),
                string_attr(
                    "langfuse.observation.completion_start_time",
                    "2026-08-06T08:00:00.650999Z",
                ),
            ],
        },
        Sent {
            id: "3333333333333333",
            parent: "1111111111111111",
            span_name: "execute_tool get_weather",
            kind: "TOOL",
            name: "get_weather",
            start_ns: BASE_NS + 1_600_100_200,
            end_ns: BASE_NS + 1_700_900_000,
            completion_start_ns: None,
            input: TOOL_INPUT,
            output: TOOL_OUTPUT,
            attributes: vec![
                string_attr("gen_ai.operation.name", "execute_tool"),
                string_attr("gen_ai.tool.name", "get_weather"),
                string_attr("gen_ai.tool.call.id", "call_1"),
                string_attr("gen_ai.tool.call.arguments", TOOL_INPUT),
                string_attr("gen_ai.tool.call.result", TOOL_OUTPUT),
            ],
        },
        Sent {
            id: "4444444444444444",
            parent: "1111111111111111",
            span_name: "search docs",
            kind: "SPAN",
            name: "search docs",
            start_ns: BASE_NS + 2_123_100_000,
            end_ns: BASE_NS + 2_400_000_000,
            completion_start_ns: None,
            input: "",
            output: "",
            attributes: vec![],
        },
        Sent {
            id: "5555555555555555",
            parent: "1111111111111111",
            span_name: "search web",
            kind: "SPAN",
            name: "search web",
            start_ns: BASE_NS + 2_123_700_000,
            end_ns: BASE_NS + 2_500_500_500,
            completion_start_ns: None,
            input: "",
            output: "",
            attributes: vec![],
        },
    ]
}

fn strings_attr(key: &str, values: &[&str]) -> KeyValue {
    let values = values
        .iter()
        .map(|v| AnyValue {
            value: Some(any_value::Value::StringValue((*v).into())),
        })
        .collect();
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue { values })),
        }),
        ..Default::default()
    }
}

fn otlp_span(sent: &Sent) -> Span {
    Span {
        trace_id: hex::decode(TRACE_ID).unwrap(),
        span_id: hex::decode(sent.id).unwrap(),
        parent_span_id: hex::decode(sent.parent).unwrap(),
        name: sent.span_name.into(),
        kind: 1,
        start_time_unix_nano: sent.start_ns,
        end_time_unix_nano: sent.end_ns,
        attributes: sent.attributes.clone(),
        status: Some(Status::default()),
        ..Default::default()
    }
}

/// ns → µs floored to the millisecond: what Langfuse's own ingestion stores.
fn stored_us(ns: u64) -> i64 {
    (ns / 1_000_000 * 1_000) as i64
}

/// µs since the epoch of a ClickHouse `DateTime64` as JSON shows it (`2026-08-06
/// 08:00:00.123000`, UTC), the way Langfuse parses it back (as UTC).
fn clickhouse_time_us(value: &Value) -> i64 {
    let text = value.as_str().unwrap_or_else(|| panic!("a time: {value}"));
    let (date, time) = text.split_once(' ').unwrap();
    let date: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let clock: Vec<i64> = clock.split(':').map(|p| p.parse().unwrap()).collect();
    let micros: i64 = format!("{fraction:0<6}")[..6].parse().unwrap();
    let days = days_from_civil(date[0], date[1], date[2]);
    ((days * 86_400 + clock[0] * 3_600 + clock[1] * 60 + clock[2]) * 1_000_000) + micros
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A JS `Date` as Langfuse's ClickHouse client (`@clickhouse/client` `formatQueryParams`)
/// sends it: Unix seconds, plus `.mmm` when the milliseconds are not zero.
fn js_date_param(ms: i64) -> String {
    let (seconds, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    if millis == 0 {
        format!("{seconds}")
    } else {
        format!("{seconds}.{millis:03}")
    }
}

/// A parameter value as `@clickhouse/client` formats it: strings escaped (unquoted at the top
/// level), arrays as `['a','b']`, numbers as they are; placeholders filled in.
fn param_text(value: &Value, placeholders: &BTreeMap<&str, String>, quoted: bool) -> String {
    match value {
        Value::String(text) => {
            let filled = match placeholders.get(text.as_str()) {
                Some(filled) => filled.clone(),
                None => {
                    assert!(
                        !(text.starts_with("__") && text.ends_with("__")),
                        "placeholder {text} is not filled"
                    );
                    text.clone()
                }
            };
            let escaped = filled
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
                .replace('\t', "\\t")
                .replace('\n', "\\n");
            if quoted {
                format!("'{escaped}'")
            } else {
                escaped
            }
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|item| param_text(item, placeholders, true))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

/// Runs one captured query with `param_<name>` query parameters; rows as JSON objects.
async fn run_query(
    clickhouse: &ClickHouse,
    sql: &str,
    params: &serde_json::Map<String, Value>,
    placeholders: &BTreeMap<&str, String>,
) -> Vec<Value> {
    let mut url_params: Vec<(String, String)> = params
        .iter()
        .map(|(name, value)| {
            (
                format!("param_{name}"),
                param_text(value, placeholders, false),
            )
        })
        .collect();
    url_params.push(("default_format".into(), "JSONEachRow".into()));
    // Langfuse reads ClickHouse's times as UTC (its ClickHouse runs in UTC).
    url_params.push(("session_timezone".into(), "UTC".into()));
    let body = clickhouse.query_with(sql, &url_params).await;
    body.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("JSONEachRow line"))
        .collect()
}

/// Text that is JSON compares as the value it parses to (whitespace and key order aside).
fn same_content(actual: &Value, expected: &str) -> bool {
    let actual = actual.as_str().unwrap_or_default();
    match (
        serde_json::from_str::<Value>(actual),
        serde_json::from_str::<Value>(expected),
    ) {
        (Ok(a), Ok(e)) => a == e,
        _ => actual == expected,
    }
}

fn tags_of(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("tags: {value}"))
        .iter()
        .map(|t| t.as_str().unwrap_or_default().to_owned())
        .collect()
}

fn expected_tags() -> BTreeSet<String> {
    TAGS.iter().map(|t| t.to_string()).collect()
}

/// Compares the columns a query returned, each with the check for its column; columns the
/// query does not select are skipped. Counts the values compared.
struct Columns<'a> {
    query: &'a str,
    what: String,
    row: &'a serde_json::Map<String, Value>,
    checked: usize,
}

impl Columns<'_> {
    fn expect(
        &mut self,
        column: &str,
        ok: impl Fn(&Value) -> bool,
        expected: impl std::fmt::Display,
    ) {
        if let Some(actual) = self.row.get(column) {
            assert!(
                ok(actual),
                "{}: {} column {column} = {actual}, expected {expected}",
                self.query,
                self.what
            );
            self.checked += 1;
        }
    }

    fn equals(&mut self, column: &str, expected: &str) {
        self.expect(column, |v| v == expected, expected);
    }
}

fn usage_map(value: &Value) -> BTreeMap<String, u64> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("a map: {value}"))
        .iter()
        .map(|(k, v)| (k.clone(), number(v) as u64))
        .collect()
}

/// Checks every observation column the query returned against what was sent for that row;
/// returns how many values were compared.
fn check_observation(query: &str, row: &Value, sent: &Sent, project_id: &str) -> usize {
    let mut columns = Columns {
        query,
        what: format!("observation {}", sent.id),
        row: row.as_object().unwrap(),
        checked: 0,
    };
    let is_generation = sent.kind == "GENERATION";
    let is_root = sent.parent.is_empty();

    columns.equals("id", sent.id);
    columns.equals("trace_id", TRACE_ID);
    columns.equals("project_id", project_id);
    // v3 `observations` hold NULL where events_full holds '' (Nullable columns).
    columns.expect(
        "parent_observation_id",
        |v| v == sent.parent || (sent.parent.is_empty() && v.is_null()),
        sent.parent,
    );
    columns.equals("type", sent.kind);
    columns.equals("name", sent.name);
    columns.equals("level", "DEFAULT");
    columns.equals("environment", "default");
    columns.equals("user_id", USER_ID);
    columns.equals("session_id", SESSION_ID);
    columns.equals("trace_name", TRACE_NAME);
    columns.expect(
        "tags",
        |v| tags_of(v) == expected_tags(),
        format!("{TAGS:?}"),
    );
    columns.expect("is_root_observation", |v| *v == is_root, is_root);

    let (start, end) = (stored_us(sent.start_ns), stored_us(sent.end_ns));
    columns.expect(
        "start_time",
        |v| clickhouse_time_us(v) == start,
        format!("{start} µs (sent {} ns, floored to ms)", sent.start_ns),
    );
    columns.expect(
        "end_time",
        |v| clickhouse_time_us(v) == end,
        format!("{end} µs (sent {} ns, floored to ms)", sent.end_ns),
    );
    let completion_start = sent.completion_start_ns.map(stored_us);
    columns.expect(
        "completion_start_time",
        |v| match completion_start {
            Some(expected) => clickhouse_time_us(v) == expected,
            None => v.is_null(),
        },
        format!("{completion_start:?} µs"),
    );
    columns.expect(
        "latency",
        |v| number(v) as i64 == (end - start) / 1000,
        format!("{} ms", (end - start) / 1000),
    );
    let first_token = completion_start.map(|first| (first - start) / 1000);
    columns.expect(
        "time_to_first_token",
        |v| match first_token {
            Some(ms) => number(v) as i64 == ms,
            None => v.is_null(),
        },
        format!("{first_token:?} ms"),
    );

    let model = if is_generation { MODEL } else { "" };
    columns.expect(
        "provided_model_name",
        |v| v.as_str().unwrap_or_default() == model && (v.is_string() || model.is_empty()),
        model,
    );
    columns.expect(
        "internal_model_id",
        |v| v.as_str().unwrap_or_default().is_empty() != is_generation,
        format!("a model id only on the {MODEL} generation"),
    );
    let usage: BTreeMap<String, u64> = if is_generation {
        BTreeMap::from([
            ("input".to_string(), INPUT_TOKENS),
            ("output".to_string(), OUTPUT_TOKENS),
            ("total".to_string(), INPUT_TOKENS + OUTPUT_TOKENS),
        ])
    } else {
        BTreeMap::new()
    };
    // The conversion adds the missing `total` to the provided usage too (docs/conversion.md,
    // deliberate differences).
    columns.expect(
        "provided_usage_details",
        |v| usage_map(v) == usage,
        format!("{usage:?}"),
    );
    columns.expect(
        "usage_details",
        |v| usage_map(v) == usage,
        format!("{usage:?}"),
    );
    let total_cost = if is_generation {
        INPUT_COST + OUTPUT_COST
    } else {
        0.0
    };
    columns.expect(
        "cost_details",
        |v| {
            let costs = v.as_object().unwrap();
            if !is_generation {
                return costs.is_empty();
            }
            costs.len() == 3
                && close(number(&costs["input"]), INPUT_COST)
                && close(number(&costs["output"]), OUTPUT_COST)
                && close(number(&costs["total"]), total_cost)
        },
        format!("input {INPUT_COST}, output {OUTPUT_COST}, total {total_cost} (gpt-4o prices)"),
    );
    columns.expect(
        "provided_cost_details",
        |v| v.as_object().is_some_and(|m| m.is_empty()),
        "{}",
    );
    columns.expect(
        "total_cost",
        |v| (v.is_null() && !is_generation) || close(number(v), total_cost),
        total_cost,
    );
    columns.expect("input", |v| same_content(v, sent.input), sent.input);
    columns.expect("output", |v| same_content(v, sent.output), sent.output);
    let tool_calls: &[&str] = if is_generation { &["get_weather"] } else { &[] };
    columns.expect(
        "tool_call_names",
        |v| {
            v.as_array().is_some_and(|names| {
                names
                    .iter()
                    .map(|n| n.as_str().unwrap_or_default())
                    .collect::<Vec<_>>()
                    == tool_calls
            })
        },
        format!("{tool_calls:?}"),
    );
    columns.checked
}

/// Checks a trace row of the aggregate queries; `with_io` when the query selects input/output.
fn check_trace(query: &str, row: &Value, all: &[Sent], project_id: &str, with_io: bool) -> usize {
    let mut columns = Columns {
        query,
        what: "trace".into(),
        row: row.as_object().unwrap(),
        checked: 0,
    };
    let root = &all[0];
    columns.equals("id", TRACE_ID);
    columns.equals("project_id", project_id);
    columns.equals("name", TRACE_NAME);
    columns.equals("user_id", USER_ID);
    columns.equals("session_id", SESSION_ID);
    columns.equals("environment", "default");
    columns.expect(
        "tags",
        |v| tags_of(v) == expected_tags(),
        format!("{TAGS:?}"),
    );
    let timestamp = stored_us(root.start_ns);
    columns.expect(
        "timestamp",
        |v| clickhouse_time_us(v) == timestamp,
        format!("{timestamp} µs: the root's start, floored to ms"),
    );
    columns.equals(
        "htmlPath",
        &format!("/project/{project_id}/traces/{TRACE_ID}"),
    );
    if with_io {
        columns.expect("input", |v| same_content(v, root.input), root.input);
        columns.expect("output", |v| same_content(v, root.output), root.output);
    }
    let ids: BTreeSet<String> = all.iter().map(|s| s.id.to_owned()).collect();
    columns.expect(
        "observations",
        |v| {
            v.as_array().is_some_and(|list| {
                let listed: BTreeSet<String> = list
                    .iter()
                    .map(|id| id.as_str().unwrap_or_default().to_owned())
                    .collect();
                listed == ids && list.len() == ids.len()
            })
        },
        format!("{ids:?}"),
    );
    columns.expect(
        "totalCost",
        |v| close(number(v), INPUT_COST + OUTPUT_COST),
        INPUT_COST + OUTPUT_COST,
    );
    // The UI traces table's metrics (v3): per-trace sums over the observations, and scores.
    columns.expect(
        "observation_count",
        |v| number(v) as usize == all.len(),
        all.len(),
    );
    columns.equals("level", "DEFAULT");
    let usage = BTreeMap::from([
        ("input".to_string(), INPUT_TOKENS),
        ("output".to_string(), OUTPUT_TOKENS),
        ("total".to_string(), INPUT_TOKENS + OUTPUT_TOKENS),
    ]);
    columns.expect(
        "usage_details",
        |v| usage_map(v) == usage,
        format!("{usage:?}"),
    );
    columns.expect(
        "cost_details",
        |v| close(number(&v["total"]), INPUT_COST + OUTPUT_COST),
        INPUT_COST + OUTPUT_COST,
    );
    columns.expect(
        "scores_avg",
        |v| {
            v.as_array().is_some_and(|scores| {
                scores.len() == 1
                    && scores[0][0] == SCORE_NAME
                    && close(number(&scores[0][1]), SCORE_VALUE)
            })
        },
        format!("[({SCORE_NAME}, {SCORE_VALUE})]"),
    );
    columns.expect(
        "scores",
        |v| v.as_array().is_some_and(|ids| ids.len() == 1),
        "the score's id",
    );
    let first_start = all.iter().map(|s| stored_us(s.start_ns)).min().unwrap();
    let last_end = all.iter().map(|s| stored_us(s.end_ns)).max().unwrap();
    let latency_seconds = ((last_end - first_start) / 1000) as f64 / 1000.0;
    columns.expect(
        "latency",
        |v| close(number(v), latency_seconds),
        format!("{latency_seconds} s"),
    );
    columns.checked
}

/// Checks observation rows: each is a sent observation, each appears once, all are there.
fn check_observations(
    query: &str,
    rows: &[Value],
    all: &[Sent],
    project_id: &str,
    order: Order,
) -> usize {
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    let expected: BTreeSet<&str> = all.iter().map(|s| s.id).collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "{query}: an observation twice: {ids:?}"
    );
    assert_eq!(unique, expected, "{query}: observations returned");
    let starts: Vec<i64> = rows
        .iter()
        .map(|r| clickhouse_time_us(&r["start_time"]))
        .collect();
    match order {
        // start_time DESC, then (one trace) span_id DESC: the same-millisecond siblings too.
        Order::NewestFirst => assert_eq!(
            ids,
            [
                "5555555555555555",
                "4444444444444444",
                "3333333333333333",
                "2222222222222222",
                "1111111111111111"
            ],
            "{query}: order"
        ),
        Order::OldestFirst => assert!(starts.is_sorted(), "{query}: order {ids:?}"),
        Order::NewestStartFirst => assert!(
            starts.windows(2).all(|pair| pair[0] >= pair[1]),
            "{query}: order {ids:?}"
        ),
        Order::Any => {}
    }
    rows.iter()
        .map(|row| {
            let sent = all.iter().find(|s| s.id == row["id"]).unwrap();
            check_observation(query, row, sent, project_id)
        })
        .sum()
}

#[derive(Clone, Copy)]
enum Order {
    NewestFirst,
    OldestFirst,
    /// By start time, newest first; rows of one millisecond in any order.
    NewestStartFirst,
    /// Any order (Langfuse orders by `event_ts`).
    Any,
}

/// What each captured query must return. Every entry of queries.json needs one here, so a
/// newly captured query cannot pass unchecked.
fn check(name: &str, rows: &[Value], all: &[Sent], project_id: &str) -> usize {
    match name {
        "v2_observations_default" | "v2_observations_all_fields" => {
            check_observations(name, rows, all, project_id, Order::NewestFirst)
        }
        "trace_detail_observations" | "trace_detail_observations_ts" => {
            check_observations(name, rows, all, project_id, Order::OldestFirst)
        }
        "events_table_user_filter" => {
            check_observations(name, rows, all, project_id, Order::NewestFirst)
        }
        "trace_by_id_full"
        | "public_traces_user_filter"
        | "public_traces_user_filter_all_fields" => {
            assert_eq!(rows.len(), 1, "{name}: {rows:?}");
            check_trace(name, &rows[0], all, project_id, true)
        }
        // The tRPC access check selects no input/output ('' by design).
        "trace_by_id_trpc" => {
            assert_eq!(rows.len(), 1, "{name}: {rows:?}");
            check_trace(name, &rows[0], all, project_id, false)
        }
        "legacy_trace_by_id_trpc" | "legacy_trace_by_id_public" => {
            assert_eq!(rows.len(), 1, "{name}: {rows:?}");
            check_trace(name, &rows[0], all, project_id, true)
        }
        "legacy_public_traces_user_filter"
        | "legacy_traces_table_user_filter"
        | "legacy_traces_table_metrics" => {
            assert_eq!(rows.len(), 1, "{name}: {rows:?}");
            check_trace(name, &rows[0], all, project_id, true)
        }
        "legacy_trace_observations_ui" | "legacy_trace_observations_public" => {
            check_observations(name, rows, all, project_id, Order::Any)
        }
        "legacy_public_observations_trace_filter" => {
            check_observations(name, rows, all, project_id, Order::NewestStartFirst)
        }
        "legacy_trace_scores_public" | "legacy_trace_scores_ui" => {
            check_scores(name, rows, project_id)
        }
        other => panic!("no expectations for the captured query {other}"),
    }
}

/// The evaluation score as Langfuse's score queries return it.
fn check_scores(query: &str, rows: &[Value], project_id: &str) -> usize {
    assert_eq!(rows.len(), 1, "{query}: one score: {rows:?}");
    let mut columns = Columns {
        query,
        what: "score".into(),
        row: rows[0].as_object().unwrap(),
        checked: 0,
    };
    columns.equals("project_id", project_id);
    columns.equals("trace_id", TRACE_ID);
    columns.equals("observation_id", "2222222222222222");
    columns.equals("name", SCORE_NAME);
    columns.equals("data_type", "NUMERIC");
    columns.equals("environment", "default");
    columns.expect("value", |v| close(number(v), SCORE_VALUE), SCORE_VALUE);
    columns.checked
}

/// The score of the generation as an OTLP log record, one second after the root starts.
fn evaluation_logs() -> opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    let value = KeyValue {
        key: "gen_ai.evaluation.score.value".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(SCORE_VALUE)),
        }),
        ..Default::default()
    };
    let record = LogRecord {
        time_unix_nano: BASE_NS + 1_123_456_789,
        trace_id: hex::decode(TRACE_ID).unwrap(),
        span_id: hex::decode("2222222222222222").unwrap(),
        event_name: "gen_ai.evaluation.result".into(),
        attributes: vec![string_attr("gen_ai.evaluation.name", SCORE_NAME), value],
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![record],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A DateTime64(3) query parameter as Langfuse passes the trace timestamp (UTC).
fn datetime_param(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// The proleptic Gregorian date of days since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// queries.json beside the repository (`../shared`, as CI checks it out).
fn queries_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/langfuse-queries/queries.json")
}

/// The only SQL of a single-query entry, with its params.
fn only_query(entry: &Value) -> (&str, &serde_json::Map<String, Value>) {
    let queries = entry["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 1, "{}: one query", entry["name"]);
    (
        queries[0]["query"].as_str().unwrap(),
        queries[0]["params"].as_object().unwrap(),
    )
}

/// Pages `GET /api/public/v2/observations?traceId=…&limit=1` as Langfuse does: the first
/// page's query, then the cursor query with the last returned row's start time (a JS Date:
/// milliseconds), trace id and id, until a page comes back without a next one. Returns the ids
/// in the order visited.
async fn page_with_limit_1(
    clickhouse: &ClickHouse,
    entries: &[Value],
    placeholders: &BTreeMap<&str, String>,
) -> Vec<String> {
    let find = |name: &str| {
        entries
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} in queries.json"))
    };
    let (first_sql, first_params) = only_query(find("v2_observations_page1_limit1"));
    let (cursor_sql, cursor_params) = only_query(find("v2_observations_cursor_limit1"));
    // Langfuse asks for limit + 1 rows to know whether there is a next page.
    let page_size = first_params["limit"].as_u64().unwrap() as usize - 1;
    assert_eq!(page_size, 1);
    let mut visited = Vec::new();
    let mut rows = run_query(clickhouse, first_sql, first_params, placeholders).await;
    loop {
        let has_next = rows.len() > page_size;
        rows.truncate(page_size);
        let Some(last) = rows.last() else { break };
        visited.extend(rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        if !has_next {
            break;
        }
        assert!(visited.len() <= 10, "pagination does not end: {visited:?}");
        let start_ms = clickhouse_time_us(&last["start_time"]).div_euclid(1000);
        let mut with_cursor = placeholders.clone();
        with_cursor.insert("__CURSOR_START_TIME__", js_date_param(start_ms));
        with_cursor.insert(
            "__CURSOR_TRACE_ID__",
            last["trace_id"].as_str().unwrap().into(),
        );
        with_cursor.insert("__CURSOR_ID__", last["id"].as_str().unwrap().into());
        rows = run_query(clickhouse, cursor_sql, cursor_params, &with_cursor).await;
    }
    visited
}

#[tokio::test(flavor = "multi_thread")]
async fn langfuse_read_queries_return_what_was_sent_through_the_kafka_deployment() {
    if !available("Langfuse read queries") {
        return;
    }
    let text = std::fs::read_to_string(queries_path()).unwrap_or_else(|error| {
        panic!(
            "{}: {error} (the shared directory belongs beside the repository)",
            queries_path().display()
        )
    });
    let entries: Vec<Value> = serde_json::from_str(&text).expect("queries.json");
    let all = sent();

    for (mode, families) in MODES {
        let stack = Stack::start(&[("SPANBRIDGE_CLICKHOUSE__TABLES", mode)]);
        let mut sink = stack.sink(&[]);
        let gateway = stack.gateway();

        let request = request(all.iter().map(otlp_span).collect());
        let response = post(
            gateway.http_url("/v1/traces"),
            "application/x-protobuf",
            None,
            prost::Message::encode_to_vec(&request),
            &test_auth(),
        )
        .await;
        assert_eq!(response.status(), 200, "{mode}: the trace is accepted");
        let response = post(
            gateway.http_url("/v1/logs"),
            "application/x-protobuf",
            None,
            prost::Message::encode_to_vec(&evaluation_logs()),
            &test_auth(),
        )
        .await;
        assert_eq!(response.status(), 200, "{mode}: the score is accepted");

        let clickhouse = &stack.clickhouse;
        let deadline = Instant::now() + Duration::from_secs(60);
        // The v3 table when written: Langfuse reads it without FINAL too.
        let table = if families.contains(&"legacy") {
            "observations"
        } else {
            "events_full"
        };
        let landed = format!("SELECT count() FROM {table} WHERE trace_id = '{TRACE_ID}'");
        let scored = format!("SELECT count() FROM scores WHERE trace_id = '{TRACE_ID}'");
        while clickhouse.count(&scored).await < 1 {
            assert!(Instant::now() < deadline, "{mode}: the score did not land");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        while clickhouse.count(&landed).await < all.len() as u64 {
            assert!(Instant::now() < deadline, "{mode}: rows did not land");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // Langfuse reads without FINAL: each observation must be one row as written.
        assert_eq!(clickhouse.count(&landed).await, all.len() as u64);
        let projects = clickhouse
            .rows(&format!(
                "SELECT DISTINCT project_id FROM {table} WHERE trace_id = '{TRACE_ID}'"
            ))
            .await;
        assert_eq!(projects.len(), 1, "{projects:?}");
        let project_id = projects[0]["project_id"].as_str().unwrap().to_owned();
        assert!(!project_id.is_empty());

        let root_start_ms = stored_us(all[0].start_ns) / 1000;
        let placeholders = BTreeMap::from([
            ("__PROJECT_ID__", project_id.clone()),
            ("__TRACE_ID__", TRACE_ID.to_owned()),
            ("__USER_ID__", USER_ID.to_owned()),
            // Langfuse passes the trace timestamp minus one hour as a JS Date.
            (
                "__TRACE_TS_MINUS_1H__",
                js_date_param(root_start_ms - 3_600_000),
            ),
            // The v3 queries take the trace timestamp itself (they subtract the hour in SQL).
            ("__TRACE_TS__", datetime_param(root_start_ms)),
        ]);

        // Cursor pagination with limit=1 visits every observation exactly once, the two
        // siblings in one millisecond included (v4's events tables).
        if families.contains(&"events") {
            let visited = page_with_limit_1(clickhouse, &entries, &placeholders).await;
            let expected: Vec<&str> = vec![
                "5555555555555555",
                "4444444444444444",
                "3333333333333333",
                "2222222222222222",
                "1111111111111111",
            ];
            let missed: Vec<&&str> = expected
                .iter()
                .filter(|id| !visited.iter().any(|v| v == *id))
                .collect();
            assert_eq!(
                visited, expected,
                "{mode}: paging with limit=1 must visit every observation once (missed {missed:?})"
            );
        }
        let mut ran = 0;
        for entry in entries
            .iter()
            .filter(|e| families.contains(&e["tables"].as_str().unwrap_or_default()))
        {
            let name = entry["name"].as_str().unwrap();
            if name.starts_with("v2_observations_cursor") {
                continue; // needs a cursor: run by the pagination below
            }
            let (sql, params) = only_query(entry);
            let rows = run_query(clickhouse, sql, params, &placeholders).await;
            let checked = if name == "v2_observations_page1_limit1" {
                // The first page: limit + 1 rows, newest first.
                assert_eq!(rows.len(), 2, "{name}: {rows:?}");
                rows.iter()
                    .map(|row| {
                        let sent = all.iter().find(|s| s.id == row["id"]).unwrap();
                        check_observation(name, row, sent, &project_id)
                    })
                    .sum()
            } else {
                check(name, &rows, &all, &project_id)
            };
            assert!(checked > 0, "{name}: nothing compared");
            eprintln!(
                "{mode}: {name}: {} rows, {checked} values as sent",
                rows.len()
            );
            ran += 1;
        }
        let applicable: Vec<&Value> = entries
            .iter()
            .filter(|e| families.contains(&e["tables"].as_str().unwrap_or_default()))
            .collect();
        let paged = applicable
            .iter()
            .filter(|e| {
                e["name"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("v2_observations_cursor")
            })
            .count();
        assert_eq!(
            ran,
            applicable.len() - paged,
            "{mode}: every applicable query ran (the cursor query in the pagination)"
        );

        assert!(sink.stop().success(), "{mode}: sink exits 0 on SIGTERM");
    }
}

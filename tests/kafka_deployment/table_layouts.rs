//! The tables of every Langfuse version, written in the Kafka deployment: `spanbridge
//! gateway` and `spanbridge sink` processes, tansu between them, the ClickHouse engine as the
//! store, once per `clickhouse.tables` mode. The spans of one trace arrive in three requests
//! (a generation, its root a second later, then a late tool call); afterwards each mode's
//! tables hold exactly what Langfuse of that version reads, each row once with `FINAL`:
//! `v3` one `traces` row with the root's trace fields and one `observations` row per span
//! (type, parent, model, usage, cost) and no `events_full`; `both` those and `events_full`;
//! `events` only `events_full`. The v1 and v2 read APIs answer from the mode's tables.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::pieces::*;
use support::services::{ClickHouse, Process, Stack, available};
use support::*;

const TOOL: &str = "3333333333333333";
/// `support::span`'s start, floored to the millisecond (every span starts then).
const START_MS: i64 = 1_786_003_200_123;
/// gpt-4o in sink/data/model-prices.json: $2.5 / 1M input tokens, $10 / 1M output tokens.
const INPUT_COST: f64 = 120.0 * 2.5e-6;
const OUTPUT_COST: f64 = 30.0 * 1e-5;

fn tool(trace_id: &str) -> opentelemetry_proto::tonic::trace::v1::Span {
    span(
        trace_id,
        TOOL,
        ROOT,
        "execute_tool get_weather",
        vec![
            string_attr("gen_ai.operation.name", "execute_tool"),
            string_attr("gen_ai.tool.name", "get_weather"),
            string_attr("gen_ai.tool.call.arguments", r#"{"city":"Paris"}"#),
        ],
    )
}

async fn table_exists(clickhouse: &ClickHouse, table: &str) -> bool {
    clickhouse
        .count(&format!(
            "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = '{table}'"
        ))
        .await
        > 0
}

/// Sends the three pieces of one trace in separate requests, a second apart.
async fn send_pieces(gateway: &Process, trace_id: &str) {
    let url = gateway.http_url("/v1/traces");
    export(&url, request(vec![generation(trace_id)])).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    export(&url, request(vec![root(trace_id)])).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    export(&url, request(vec![tool(trace_id)])).await;
}

/// Waits until `sql` (a count) reaches `expected`.
async fn wait_count(clickhouse: &ClickHouse, sql: &str, expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let count = clickhouse.count(sql).await;
        if count >= expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sql}: {count} of {expected} within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The v3 tables as Langfuse v3 (and v4 in its `legacy` and `dual` write modes) reads them.
async fn check_v3_tables(clickhouse: &ClickHouse, trace_id: &str) {
    // The trace row is written last for the late tool: wait for the tool's observation, then
    // for the trace row that follows it in the same write.
    wait_count(
        clickhouse,
        &format!("SELECT count() FROM observations FINAL WHERE trace_id = '{trace_id}'"),
        3,
    )
    .await;
    let traces = clickhouse
        .rows(&format!(
            "SELECT id, toUnixTimestamp64Milli(timestamp) AS ts, name, user_id, session_id, \
                    tags, environment, public, bookmarked, metadata, release, input, output \
             FROM traces FINAL WHERE id = '{trace_id}' AND is_deleted = 0"
        ))
        .await;
    assert_eq!(traces.len(), 1, "one traces row with FINAL: {traces:?}");
    let trace = &traces[0];
    assert_eq!(trace["name"], "support-chat", "{trace}");
    assert_eq!(trace["user_id"], "user-42", "{trace}");
    assert_eq!(trace["session_id"], "session-7", "{trace}");
    assert_eq!(
        trace["tags"],
        serde_json::json!(["beta", "support"]),
        "{trace}"
    );
    assert_eq!(trace["environment"], "default", "{trace}");
    assert_eq!(
        number(&trace["ts"]) as i64,
        START_MS,
        "the root's start, ms: {trace}"
    );
    assert_eq!(trace["bookmarked"], false);
    // Langfuse's metadata map: top-level keys, non-string values as JSON text.
    let resource = trace["metadata"]["resourceAttributes"]
        .as_str()
        .unwrap_or_else(|| panic!("resourceAttributes as JSON text: {trace}"));
    let resource: Value = serde_json::from_str(resource).expect("JSON text");
    assert!(resource.to_string().contains("e2e-service"), "{resource}");

    let observations = clickhouse
        .rows(&format!(
            "SELECT id, type, name, parent_observation_id, provided_model_name, \
                    internal_model_id, usage_details, cost_details, total_cost, level, \
                    environment, toUnixTimestamp64Milli(start_time) AS start, \
                    toUnixTimestamp64Milli(end_time) AS end, input, status_message \
             FROM observations FINAL WHERE trace_id = '{trace_id}' AND is_deleted = 0 ORDER BY id"
        ))
        .await;
    let ids: Vec<&str> = observations
        .iter()
        .map(|o| o["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        ids,
        [ROOT, GENERATION, TOOL],
        "each observation once with FINAL"
    );
    let (root_row, generation_row, tool_row) =
        (&observations[0], &observations[1], &observations[2]);
    assert_eq!(root_row["parent_observation_id"], Value::Null, "{root_row}");
    assert_eq!(root_row["provided_model_name"], Value::Null, "{root_row}");
    assert_eq!(
        root_row["status_message"],
        Value::Null,
        "NULL, not '': {root_row}"
    );
    assert_eq!(root_row["total_cost"], Value::Null, "{root_row}");
    assert_eq!(generation_row["type"], "GENERATION", "{generation_row}");
    assert_eq!(generation_row["parent_observation_id"], ROOT);
    assert_eq!(generation_row["provided_model_name"], "gpt-4o");
    assert!(
        generation_row["internal_model_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{generation_row}"
    );
    let usage = &generation_row["usage_details"];
    assert_eq!(
        (
            number(&usage["input"]),
            number(&usage["output"]),
            number(&usage["total"])
        ),
        (120.0, 30.0, 150.0),
        "{generation_row}"
    );
    assert!(
        close(number(&generation_row["cost_details"]["input"]), INPUT_COST),
        "{generation_row}"
    );
    assert!(
        close(
            number(&generation_row["cost_details"]["output"]),
            OUTPUT_COST
        ),
        "{generation_row}"
    );
    assert!(
        close(
            number(&generation_row["total_cost"]),
            INPUT_COST + OUTPUT_COST
        ),
        "{generation_row}"
    );
    assert_eq!(generation_row["level"], "DEFAULT");
    assert_eq!(generation_row["environment"], "default");
    assert_eq!(number(&generation_row["start"]) as i64, START_MS);
    assert_eq!(number(&generation_row["end"]) as i64, START_MS + 1_500);
    assert_eq!(tool_row["type"], "TOOL", "{tool_row}");
    assert_eq!(tool_row["name"], "get_weather", "{tool_row}");
    assert_eq!(tool_row["parent_observation_id"], ROOT);
}

/// `GET /api/public/traces/{id}`, `/api/public/observations` and `/api/public/v2/observations`
/// (paged by two with its cursor) answer with the trace as sent.
async fn check_read_api(gateway: &Process, trace_id: &str) {
    let auth = test_auth();
    let get = |path: String| get_json_at(gateway.http_url(&path), &auth);
    let (status, trace) = get(format!("/api/public/traces/{trace_id}")).await;
    assert_eq!(status, 200, "{trace}");
    assert_eq!(trace["name"], "support-chat", "{trace}");
    assert_eq!(trace["userId"], "user-42");
    assert_eq!(trace["sessionId"], "session-7");
    let observations = trace["observations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(observations.len(), 3, "{trace}");
    let generation = observations
        .iter()
        .find(|o| o["id"] == GENERATION)
        .unwrap_or_else(|| panic!("the generation: {trace}"));
    assert_eq!(generation["model"], "gpt-4o");
    assert_eq!(generation["usageDetails"]["total"], 150);
    assert!(
        close(number(&generation["totalCost"]), INPUT_COST + OUTPUT_COST),
        "{generation}"
    );
    assert_eq!(generation["parentObservationId"], ROOT);

    let (status, list) = get(format!("/api/public/observations?traceId={trace_id}")).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"].as_array().map(Vec::len), Some(3), "{list}");

    let first_page = format!(
        "/api/public/v2/observations?traceId={trace_id}&limit=2&fields=core,basic,model,usage"
    );
    let (status, page) = get(first_page.clone()).await;
    assert_eq!(status, 200, "{page}");
    let data = page["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(data.len(), 2, "{page}");
    assert_eq!(
        data[0]["userId"], "user-42",
        "trace fields on every row: {page}"
    );
    let cursor = page["meta"]["cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("a cursor: {page}"))
        .to_owned();
    let (status, next) = get(format!("{first_page}&cursor={}", urlencode(&cursor))).await;
    assert_eq!(status, 200, "{next}");
    let rest = next["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(rest.len(), 1, "{next}");
    assert_eq!(next["meta"], serde_json::json!({}), "the last page: {next}");
    let mut ids: Vec<String> = data
        .iter()
        .chain(&rest)
        .map(|o| o["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, [ROOT, GENERATION, TOOL], "every observation once");
    let generation = data
        .iter()
        .chain(&rest)
        .find(|o| o["id"] == GENERATION)
        .cloned()
        .unwrap_or_default();
    assert_eq!(generation["model"], "gpt-4o", "{generation}");
    assert_eq!(generation["totalUsage"], 150, "{generation}");
    assert!(
        generation.get("input").is_none(),
        "io not requested: {generation}"
    );
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs one mode: tables created by migrate (and checked when run again), the pieces sent,
/// the mode's tables checked, the read API checked.
async fn run_mode(mode: &str, trace_id: &str) {
    let stack = Stack::start(&[("SPANBRIDGE_CLICKHOUSE__TABLES", mode)]);
    let again = stack.cli(&["migrate"]);
    let out = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success(),
        "{mode}: {out} {}",
        String::from_utf8_lossy(&again.stderr)
    );
    for table in ["traces", "observations", "events_full", "scores"] {
        let wanted = match table {
            "traces" | "observations" => mode != "events",
            "events_full" => mode != "v3",
            _ => true,
        };
        assert_eq!(
            out.contains(&format!(".{table}: exists, columns checked")),
            wanted,
            "{mode}: migrate run again: {out}"
        );
    }

    let mut sink = stack.sink(&[]);
    let gateway = stack.gateway();
    send_pieces(&gateway, trace_id).await;
    let clickhouse = &stack.clickhouse;
    if mode == "events" {
        wait_count(
            clickhouse,
            &format!("SELECT count() FROM events_full FINAL WHERE trace_id = '{trace_id}' AND is_deleted = 0"),
            3,
        )
        .await;
        assert!(!table_exists(clickhouse, "traces").await);
        assert!(!table_exists(clickhouse, "observations").await);
    } else {
        check_v3_tables(clickhouse, trace_id).await;
    }
    match mode {
        "v3" => assert!(
            !table_exists(clickhouse, "events_full").await,
            "legacy mode writes no events_full"
        ),
        _ => {
            let rows = clickhouse
                .rows(&format!(
                    "SELECT span_id, user_id, trace_name FROM events_full FINAL \
                     WHERE trace_id = '{trace_id}' AND is_deleted = 0 ORDER BY span_id"
                ))
                .await;
            wait_count(
                clickhouse,
                &format!("SELECT count() FROM events_full FINAL WHERE trace_id = '{trace_id}' AND is_deleted = 0 AND user_id = 'user-42'"),
                3,
            )
            .await;
            assert_eq!(rows.len(), 3, "{mode}: events_full once each: {rows:?}");
        }
    }
    check_read_api(&gateway, trace_id).await;
    assert!(sink.stop().success(), "{mode}: the sink exits 0");
}

#[tokio::test(flavor = "multi_thread")]
async fn v3_mode_writes_v3_traces_and_observations_and_no_events_full() {
    if !available("legacy tables") {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    run_mode("v3", "16000000000000000000000000000001").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn both_mode_writes_v3_tables_and_events_full() {
    if !available("both table sets") {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    run_mode("both", "16000000000000000000000000000002").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn events_mode_writes_only_events_full() {
    if !available("events tables") {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    run_mode("events", "16000000000000000000000000000003").await;
}

/// An existing table without a column Spanbridge writes stops migrate, naming both.
#[tokio::test(flavor = "multi_thread")]
async fn migrate_stops_on_an_existing_table_missing_a_column() {
    if !available("migrate column check") {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    let stack = Stack::start(&[("SPANBRIDGE_CLICKHOUSE__TABLES", "v3")]);
    stack
        .clickhouse
        .query("ALTER TABLE observations DROP COLUMN tool_call_names")
        .await;
    let again = stack.cli(&["migrate"]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success(), "migrate must fail: {err}");
    assert!(
        err.contains("observations") && err.contains("tool_call_names"),
        "names table and column: {err}"
    );
}

/// A table retyped after migrate (here `end_time` in milliseconds, as an older schema had it)
/// would misread the sink's RowBinary: microseconds taken as milliseconds, times a thousand
/// times too late. The sink checks each table's columns before its first insert, so it holds
/// the rows instead (transient store errors, nothing dead-lettered, nothing written) until the
/// table is put back, then writes them with their true times.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_retyped_after_migrate_holds_the_rows_until_it_is_put_back() {
    if !available("retyped table") {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    let trace_id = "16000000000000000000000000000004";
    let stack = Stack::start(&[("SPANBRIDGE_CLICKHOUSE__TABLES", "events")]);
    let clickhouse = &stack.clickhouse;
    clickhouse
        .query("ALTER TABLE events_full MODIFY COLUMN end_time Nullable(DateTime64(3))")
        .await;
    let mut sink = stack.sink(&[("SPANBRIDGE_SINK__MAX_RETRY_BACKOFF_MS", "300")]);
    let gateway = stack.gateway();
    send_pieces(&gateway, trace_id).await;

    let admin = format!("http://127.0.0.1:{}", sink.admin_port);
    let deadline = Instant::now() + Duration::from_secs(60);
    let scrape = loop {
        let scrape = scrape_metrics(&admin).await;
        if sample_sum(
            &scrape,
            "spanbridge_store_errors_total",
            &["kind=\"transient\""],
        ) >= 2.0
        {
            break scrape;
        }
        assert!(
            Instant::now() < deadline,
            "no retried write within 60 s: {scrape}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(
        sample_sum(
            &scrape,
            "spanbridge_store_errors_total",
            &["kind=\"rejected\""]
        ),
        0.0,
        "{scrape}"
    );
    assert_eq!(
        sample_sum(&scrape, "spanbridge_dead_letter_messages_total", &[]),
        0.0,
        "{scrape}"
    );
    let rows = format!("SELECT count() FROM events_full WHERE trace_id = '{trace_id}'");
    assert_eq!(
        clickhouse.count(&rows).await,
        0,
        "nothing written into the retyped table"
    );

    clickhouse
        .query("ALTER TABLE events_full MODIFY COLUMN end_time Nullable(DateTime64(6))")
        .await;
    wait_count(clickhouse, &format!("{rows} AND is_deleted = 0"), 3).await;
    let end_ms = clickhouse
        .rows(&format!(
            "SELECT DISTINCT toUnixTimestamp64Milli(end_time) AS end_ms FROM events_full FINAL \
             WHERE trace_id = '{trace_id}'"
        ))
        .await;
    // The spans end 1.5–2.5 s after they start; misread, they would end in the year 58,000.
    assert!(!end_ms.is_empty());
    for end in &end_ms {
        let after_start = number(&end["end_ms"]) - START_MS as f64;
        assert!((1_500.0..=2_500.0).contains(&after_start), "{end_ms:?}");
    }
    assert!(sink.stop().success(), "the sink exits 0");
}

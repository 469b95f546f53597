//! The SDK-2.x batch API in the Kafka deployment: `spanbridge gateway` and
//! `spanbridge sink` processes, tansu between them, the ClickHouse engine as the store. The
//! SDK 2.60.10 stories of tests/batch_api/ingestion.rs read back the same; updates that arrive after a sink
//! restart are merged into the stored rows (read back from ClickHouse), and a broker outage
//! is a 503 with `Retry-After`, never a 207.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::batch_api::*;
use support::services::{Stack, available};
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn sdk_v2_batches_land_in_clickhouse_and_read_back_whole() {
    if !available("legacy ingestion on Kafka + ClickHouse") {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    let stack = Stack::start(&[]);
    let _sink = stack.sink(&[]);
    let gateway = stack.gateway();
    let url = gateway.http_url(INGESTION);
    let read_url = |path: &str| gateway.http_url(path);
    low_level_story(&url, &read_url).await;
    decorator_story(&url, &read_url).await;
    langchain_story_event_by_event(&url, &read_url).await;
    mixed_batch_story(&url, &read_url).await;

    // Every observation is one row with FINAL, and every batch-API trace has its own row.
    let duplicates = stack
        .clickhouse
        .count(
            "SELECT count() FROM (SELECT span_id FROM events_full FINAL WHERE is_deleted = 0 \
             GROUP BY project_id, trace_id, span_id HAVING count() > 1)",
        )
        .await;
    assert_eq!(duplicates, 0, "an observation stored twice");
    let trace_rows = stack
        .clickhouse
        .count(
            "SELECT count() FROM events_full FINAL WHERE is_deleted = 0 \
             AND span_id = concat('t-', trace_id) AND source = 'ingestion-api'",
        )
        .await;
    assert_eq!(trace_rows, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_after_a_sink_restart_completes_the_stored_row_and_an_outage_is_a_503() {
    if !available("legacy ingestion across a sink restart") {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    let mut stack = Stack::start(&[("SPANBRIDGE_KAFKA__DELIVERY_TIMEOUT_MS", "3000")]);
    let mut sink = stack.sink(&[]);
    let gateway = stack.gateway();
    let url = gateway.http_url(INGESTION);
    let t = |s: u32| format!("2026-11-27T11:00:{s:02}.000Z");
    let create = json!([
        {"id": "c1", "type": "trace-create", "timestamp": t(0),
         "body": {"id": "restart-trace", "name": "restart", "userId": "u-9"}},
        {"id": "c2", "type": "generation-create", "timestamp": t(1),
         "body": {"id": "gen-r", "traceId": "restart-trace", "name": "llm", "model": "gpt-4o",
                  "input": "question", "startTime": t(1)}},
    ]);
    post_all_accepted(&url, create.as_array().unwrap()).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while stack
        .clickhouse
        .count("SELECT count() FROM events_full FINAL WHERE span_id = 'gen-r'")
        .await
        < 1
    {
        assert!(Instant::now() < deadline, "the generation did not land");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The sink forgets everything; the update is merged into the row read back. Its envelope
    // time is after the restart, so only the update's lack of a start time tells the sink the
    // observation may be stored already.
    sink.stop();
    let update = json!([
        {"id": "u1", "type": "generation-update", "timestamp": "2099-01-01T00:00:00Z",
         "body": {"id": "gen-r", "traceId": "restart-trace", "output": "answer", "endTime": t(4),
                  "usage": {"input": 100, "output": 10}}},
    ]);
    post_all_accepted(&url, update.as_array().unwrap()).await;
    sink.start_again();
    let read_url = |path: &str| gateway.http_url(path);
    let trace = read_trace_until(&read_url, "restart-trace", &|t| {
        t["observations"]
            .as_array()
            .is_some_and(|o| o.len() == 1 && o[0]["output"] == "answer")
    })
    .await;
    let generation = observation(&trace, "llm");
    assert_eq!(
        generation["input"], "question",
        "the create's fields survive"
    );
    assert_eq!(generation["model"], "gpt-4o");
    assert_eq!(generation["startTime"], t(1));
    assert_eq!(generation["endTime"], t(4));
    assert_eq!(
        generation["usageDetails"],
        json!({"input": 100, "output": 10, "total": 110})
    );
    assert_eq!(trace["userId"], "u-9");
    assert_eq!(trace["name"], "restart");

    // Broker down: the SDK is told to retry, nothing is acknowledged.
    stack.broker.kill();
    let response = client()
        .post(&url)
        .header("authorization", test_auth())
        .json(
            &json!({"batch": [{"id": "lost?", "type": "trace-create", "timestamp": t(9),
                                 "body": {"id": "outage-trace"}}]}),
        )
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let answer: serde_json::Value = response.json().await.expect("JSON error");
    assert_eq!(answer["error"], "ServiceUnavailableError", "{answer}");
}

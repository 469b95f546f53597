//! Assembly in the Kafka deployment: `spanbridge gateway` and `spanbridge sink`
//! processes, tansu between them, the ClickHouse engine as the store. The spans of a trace
//! arrive in separate requests; every row in `events_full` read with `FINAL` must carry the
//! root's trace fields, also when the sink restarts between the pieces (cache lost, read back
//! from ClickHouse) and when two sinks share the partitions and one is killed mid-stream.

use crate::support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::pieces::*;
use support::services::{ClickHouse, Process, Stack, available};
use support::*;

async fn send(
    gateway: &Process,
    request: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
) {
    export(&gateway.http_url("/v1/traces"), request).await;
}

/// (trace_id, span_id, user_id, trace_name, session_id) of every row read with FINAL.
async fn final_rows(clickhouse: &ClickHouse) -> Vec<[String; 5]> {
    clickhouse
        .rows(
            "SELECT trace_id, span_id, user_id, trace_name, session_id FROM events_full FINAL \
             WHERE is_deleted = 0 ORDER BY trace_id, span_id",
        )
        .await
        .iter()
        .map(|row| {
            ["trace_id", "span_id", "user_id", "trace_name", "session_id"]
                .map(|column| row[column].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

/// Waits until `events_full` FINAL holds exactly the root and generation of every trace, each
/// once, all with the root's trace fields.
async fn wait_assembled(clickhouse: &ClickHouse, trace_ids: &[String], within: Duration) {
    let expected: BTreeSet<(String, String)> = trace_ids
        .iter()
        .flat_map(|t| {
            [
                (t.clone(), ROOT.to_owned()),
                (t.clone(), GENERATION.to_owned()),
            ]
        })
        .collect();
    let deadline = Instant::now() + within;
    loop {
        let rows = final_rows(clickhouse).await;
        let landed: Vec<(String, String)> =
            rows.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
        let unique: BTreeSet<_> = landed.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            landed.len(),
            "a span counted twice with FINAL"
        );
        let assembled = rows
            .iter()
            .all(|r| r[2] == "user-42" && r[3] == "support-chat" && r[4] == "session-7");
        if unique == expected && assembled {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not assembled within {within:?}: {} of {} rows, unassembled: {:?}",
            unique.len(),
            expected.len(),
            rows.iter()
                .filter(|r| r[2] != "user-42")
                .take(5)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pieces_apart_are_assembled_in_events_full_also_across_a_sink_restart() {
    if !available("assembly on the production path") {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    let stack = Stack::start(&[]);
    let mut sink = stack.sink(&[]);
    let gateway = stack.gateway();

    // Children first, the root a second later, one sink throughout.
    let first = trace_id(1, 0);
    send(&gateway, request(vec![generation(&first)])).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    send(&gateway, request(vec![root(&first)])).await;
    wait_assembled(
        &stack.clickhouse,
        std::slice::from_ref(&first),
        Duration::from_secs(60),
    )
    .await;

    // The generation lands, the sink restarts (its cache is gone), then the root arrives: the
    // generation is read back from ClickHouse and rewritten.
    let second = trace_id(1, 1);
    send(&gateway, request(vec![generation(&second)])).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while stack
        .clickhouse
        .count(&format!(
            "SELECT count() FROM events_full FINAL WHERE trace_id = '{second}'"
        ))
        .await
        < 1
    {
        assert!(Instant::now() < deadline, "the generation did not land");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    sink.stop();
    send(&gateway, request(vec![root(&second)])).await;
    sink.start_again();
    wait_assembled(&stack.clickhouse, &[first, second], Duration::from_secs(60)).await;
}

/// Sinks scale out and fail: two sinks in one consumer group on a 2-partition topic; one is
/// SIGKILLed mid-stream and another starts. Every acknowledged piece lands assembled, once.
#[tokio::test(flavor = "multi_thread")]
async fn two_sinks_in_one_group_one_killed_mid_stream_every_piece_lands_assembled() {
    if !available("two sinks in one consumer group") {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    let stack = Stack::start(&[]);
    let mut first_sink = stack.sink(&[]);
    let _second_sink = stack.sink(&[]);
    let gateway = stack.gateway();
    let traces: Vec<String> = (0..40).map(|i| trace_id(2, i)).collect();

    // Every trace's generation, then half of the roots, while both sinks run.
    for trace in &traces {
        send(&gateway, request(vec![generation(trace)])).await;
    }
    for trace in &traces[..20] {
        send(&gateway, request(vec![root(trace)])).await;
    }
    first_sink.kill();
    let _third_sink = stack.sink(&[]);
    for trace in &traces[20..] {
        send(&gateway, request(vec![root(trace)])).await;
    }
    wait_assembled(&stack.clickhouse, &traces, Duration::from_secs(120)).await;
}

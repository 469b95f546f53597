//! The Kafka deployment as users run it: `spanbridge gateway` and `spanbridge sink` as separate
//! processes, a real Kafka-protocol broker (tansu) between them and the ClickHouse engine as the
//! store. Spans go in over OTLP; rows are read back from `events_full` (with `FINAL`) and
//! compared with what was sent, also across faults: the broker down, ClickHouse down, the sink
//! killed in the middle of a batch. librdkafka's mock cluster stands in for the broker only
//! where a fault must be injected that a real broker cannot be made to produce on demand.
//!
//! Every fault test asserts the same promise: no span acknowledged to a client is missing
//! afterwards, and none is counted twice when read with `FINAL`.

use crate::support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;
use support::services::{ClickHouse, Process, Stack, available};
use support::*;

const TOPIC: &str = "spanbridge.events.v1";
const GROUP: &str = "spanbridge-sink";

/// Posts one GenAI trace (2 spans) as OTLP/HTTP protobuf; returns the status and whether a
/// `Retry-After` came with it.
async fn post_trace(gateway: &Process, trace_id: &str) -> (u16, bool) {
    let response =
        export_genai_trace(&gateway.http_url("/v1/traces"), trace_id, &test_auth()).await;
    (
        response.status().as_u16(),
        response.headers().contains_key("retry-after"),
    )
}

/// An OTLP client with retries: sends until accepted, as exporters do on 503. Returns how many
/// retryable refusals it got; any other answer fails the test.
async fn send_until_accepted(gateway: &Process, trace_id: &str, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    let mut refusals = 0;
    loop {
        match post_trace(gateway, trace_id).await {
            (200, _) => return refusals,
            (503, retry_after) => {
                assert!(retry_after, "503 without Retry-After");
                refusals += 1;
            }
            (status, _) => panic!("trace {trace_id}: non-retryable answer {status}"),
        }
        assert!(
            Instant::now() < deadline,
            "trace {trace_id} not accepted within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The (trace id, span id) pairs of the traces, as `genai_trace` builds them.
fn expected_spans(trace_ids: &[String]) -> BTreeSet<(String, String)> {
    trace_ids
        .iter()
        .flat_map(|t| {
            [
                (t.clone(), "1111111111111111".to_owned()),
                (t.clone(), "2222222222222222".to_owned()),
            ]
        })
        .collect()
}

/// Waits until `events_full` read with FINAL holds at least `expected` rows.
async fn wait_for_rows(clickhouse: &ClickHouse, expected: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let count = clickhouse
            .count("SELECT count() FROM events_full FINAL")
            .await;
        if count >= expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {count} of {expected} rows landed within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every acknowledged span is in `events_full` exactly once when read with FINAL, and
/// nothing else is.
async fn assert_exactly(clickhouse: &ClickHouse, trace_ids: &[String]) {
    let rows = clickhouse
        .rows("SELECT trace_id, span_id FROM events_full FINAL ORDER BY trace_id, span_id")
        .await;
    let landed: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["trace_id"].as_str().unwrap_or_default().to_owned(),
                r["span_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let unique: BTreeSet<_> = landed.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        landed.len(),
        "a span is counted twice with FINAL"
    );
    let expected = expected_spans(trace_ids);
    let missing: Vec<_> = expected.difference(&unique).collect();
    assert!(
        missing.is_empty(),
        "acknowledged spans missing: {missing:?}"
    );
    assert_eq!(unique, expected, "unexpected rows in events_full");
}

/// Offsets the sink group has committed on the events topic, summed over partitions.
fn committed_offsets(brokers: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", GROUP)
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for partition in 0..2 {
        list.add_partition(TOPIC, partition);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("committed offsets");
    committed
        .elements()
        .iter()
        .map(|element| match element.offset() {
            Offset::Offset(offset) => offset,
            _ => 0,
        })
        .sum()
}

/// Messages in the events topic (sum of high watermarks).
fn end_offsets(brokers: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("consumer");
    (0..2)
        .map(|partition| {
            consumer
                .fetch_watermarks(TOPIC, partition, Duration::from_secs(10))
                .map(|(_, high)| high)
                .expect("watermarks")
        })
        .sum()
}

async fn wait_until(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A Collector's batch: one request holding many traces. The gateway sends it as one message
/// per partition (each an `EventBatches` of the traces whose ids choose that partition), not
/// one per trace, and every span of every trace lands once.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_of_many_traces_is_one_message_per_partition_and_every_span_lands() {
    if !available("grouped messages") {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    let stack = Stack::start(&[]);
    let mut sink = stack.sink(&[]);
    let gateway = stack.gateway();
    let brokers = stack.broker.bootstrap();

    // The first request makes the gateway ask the topic's partition count (2 here).
    let first = trace_id(9, 0);
    assert_eq!(post_trace(&gateway, &first).await.0, 200);
    let admin = format!("http://127.0.0.1:{}", gateway.admin_port);
    let mut scrape = String::new();
    for _ in 0..40 {
        scrape = scrape_metrics(&admin).await;
        if scrape.contains("spanbridge_kafka_topic_partitions 2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        scrape.contains("spanbridge_kafka_topic_partitions 2"),
        "the gateway learns the topic's partitions"
    );

    let traces: Vec<String> = (1..=20).map(|i| trace_id(9, i)).collect();
    let spans = traces
        .iter()
        .flat_map(|t| {
            genai_trace(t).resource_spans[0].scope_spans[0]
                .spans
                .clone()
        })
        .collect();
    let messages_before = end_offsets(&brokers);
    support::pieces::export(&gateway.http_url("/v1/traces"), request(spans)).await;
    let messages = end_offsets(&brokers) - messages_before;
    assert!(
        (1..=2).contains(&messages),
        "20 traces on 2 partitions make at most 2 messages, not {messages}"
    );

    let mut all = vec![first];
    all.extend(traces);
    wait_for_rows(&stack.clickhouse, 42, Duration::from_secs(60)).await;
    assert_exactly(&stack.clickhouse, &all).await;
    assert!(sink.stop().success(), "the sink exits cleanly on SIGTERM");
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_flow_from_gateway_through_kafka_into_clickhouse_with_their_values() {
    if !available("production happy path") {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    let stack = Stack::start(&[]);
    let mut sink = stack.sink(&[]);
    let gateway = stack.gateway();

    // One trace over OTLP/HTTP protobuf, one over OTLP/gRPC.
    let http_trace = trace_id(1, 0);
    assert_eq!(post_trace(&gateway, &http_trace).await.0, 200);
    let grpc_trace = trace_id(1, 1);
    let mut grpc = TraceServiceClient::connect(gateway.grpc_url())
        .await
        .expect("gRPC connect");
    let mut request = tonic::Request::new(genai_trace(&grpc_trace));
    request.metadata_mut().insert(
        "authorization",
        test_auth().parse().expect("metadata value"),
    );
    grpc.export(request).await.expect("gRPC export accepted");

    wait_for_rows(&stack.clickhouse, 4, Duration::from_secs(60)).await;
    assert_exactly(&stack.clickhouse, &[http_trace.clone(), grpc_trace.clone()]).await;

    // The values as sent, column by column.
    let rows = stack
        .clickhouse
        .rows(&format!(
            "SELECT span_id, parent_span_id, name, type, trace_name, user_id, session_id,
                    provided_model_name, usage_details, environment, level, service_name,
                    scope_name, scope_version, telemetry_sdk_language, source,
                    toUnixTimestamp64Micro(start_time) AS start_us,
                    toUnixTimestamp64Micro(end_time) AS end_us,
                    input, ingestion_api_key != '' AS attributed, project_id != '' AS has_project,
                    is_deleted, event_ts > toDateTime64('2020-01-01', 6) AS versioned
             FROM events_full FINAL WHERE trace_id = '{http_trace}' ORDER BY span_id
             SETTINGS output_format_json_quote_64bit_integers = 0"
        ))
        .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (root, generation) = (&rows[0], &rows[1]);
    assert_eq!(root["span_id"], "1111111111111111");
    assert_eq!(root["parent_span_id"], "");
    assert_eq!(root["name"], "agent-run");
    assert_eq!(root["trace_name"], "support-chat");
    assert_eq!(root["user_id"], "user-42");
    assert_eq!(root["session_id"], "session-7");
    // Sent with ns precision (…123_456_789); stored floored to the millisecond, as Langfuse does.
    assert_eq!(root["start_us"], 1_786_003_200_123_000i64);
    assert_eq!(root["end_us"], 1_786_003_201_623_000i64);
    assert_eq!(generation["parent_span_id"], "1111111111111111");
    assert_eq!(generation["name"], "chat gpt-4o");
    assert_eq!(generation["type"], "GENERATION");
    assert_eq!(generation["provided_model_name"], "gpt-4o");
    assert_eq!(
        generation["usage_details"],
        serde_json::json!({"input": 120, "output": 30, "total": 150})
    );
    assert!(
        generation["input"]
            .as_str()
            .is_some_and(|input| input.contains("\"hi\"")),
        "{}",
        generation["input"]
    );
    for row in &rows {
        assert_eq!(row["environment"], "default");
        assert_eq!(row["level"], "DEFAULT");
        assert_eq!(row["service_name"], "e2e-service");
        assert_eq!(row["scope_name"], "e2e-scope");
        assert_eq!(row["scope_version"], "1.0.0");
        assert_eq!(row["telemetry_sdk_language"], "rust");
        assert_eq!(row["source"], "otel");
        assert_eq!(row["attributed"], 1);
        assert_eq!(row["has_project"], 1);
        assert_eq!(row["is_deleted"], 0);
        assert_eq!(row["versioned"], 1);
    }
    // Langfuse's materialized view fed events_core from the same insert.
    assert_eq!(
        stack
            .clickhouse
            .count("SELECT count() FROM events_core FINAL")
            .await,
        4
    );

    // The gateway's read API answers from ClickHouse.
    let response = client()
        .get(gateway.http_url(&format!("/api/public/traces/{grpc_trace}")))
        .header("authorization", test_auth())
        .send()
        .await
        .expect("GET trace");
    assert_eq!(response.status(), 200);
    let trace: Value = response.json().await.expect("trace JSON");
    assert_eq!(trace["id"], grpc_trace.as_str());
    assert_eq!(trace["name"], "support-chat");
    assert_eq!(trace["userId"], "user-42");
    let observations = trace["observations"].as_array().expect("observations");
    assert_eq!(observations.len(), 2);
    let generation = observations
        .iter()
        .find(|o| o["id"] == "2222222222222222")
        .expect("generation");
    assert_eq!(generation["model"], "gpt-4o");
    assert_eq!(generation["usageDetails"]["total"], 150);
    assert_eq!(generation["startTime"], "2026-08-06T08:00:00.123Z");
    assert!(generation["input"].is_array(), "{}", generation["input"]);

    // Everything is written, so the sink committed everything; SIGTERM exits cleanly.
    let brokers = stack.broker.bootstrap();
    wait_until("offsets committed", Duration::from_secs(20), || {
        committed_offsets(&brokers) == end_offsets(&brokers)
    })
    .await;
    assert!(sink.stop().success(), "sink exits 0 on SIGTERM");
}

#[tokio::test(flavor = "multi_thread")]
async fn clickhouse_down_commits_nothing_and_everything_lands_after_it_returns() {
    if !available("ClickHouse down") {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    let mut stack = Stack::start(&[]);
    let mut sink = stack.sink(&[]);
    let gateway = stack.gateway();
    let brokers = stack.broker.bootstrap();

    let mut sent = vec![trace_id(2, 0)];
    assert_eq!(post_trace(&gateway, &sent[0]).await.0, 200);
    wait_for_rows(&stack.clickhouse, 2, Duration::from_secs(60)).await;
    wait_until("first batch committed", Duration::from_secs(20), || {
        committed_offsets(&brokers) == end_offsets(&brokers)
    })
    .await;
    let committed_before = committed_offsets(&brokers);

    stack.clickhouse.kill();
    // Kafka is up, so clients are answered 200: their spans are durable in the topic.
    for i in 1..6 {
        let trace = trace_id(2, i);
        assert_eq!(post_trace(&gateway, &trace).await.0, 200);
        sent.push(trace);
    }
    // Several batch windows and retries pass; the sink keeps retrying and commits nothing.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        sink.is_running(),
        "the sink keeps running while ClickHouse is down"
    );
    assert_eq!(
        committed_offsets(&brokers),
        committed_before,
        "offsets committed while ClickHouse was down"
    );
    assert!(end_offsets(&brokers) > committed_before);

    stack.clickhouse.restart();
    wait_for_rows(&stack.clickhouse, 12, Duration::from_secs(60)).await;
    assert_exactly(&stack.clickhouse, &sent).await;
    wait_until(
        "offsets committed after the write",
        Duration::from_secs(20),
        || committed_offsets(&brokers) == end_offsets(&brokers),
    )
    .await;
    assert!(sink.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn sink_killed_in_the_middle_of_a_batch_replays_it_after_restart() {
    if !available("sink SIGKILL") {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    let stack = Stack::start(&[]);
    // A long batch window: the sink holds consumed messages for 6 s before writing them.
    let slow_batches = [("SPANBRIDGE_SINK__MAX_BATCH_WAIT_MS", "6000")];
    let mut sink = stack.sink(&slow_batches);
    let gateway = stack.gateway();
    let brokers = stack.broker.bootstrap();

    let mut sent = vec![trace_id(3, 0)];
    assert_eq!(post_trace(&gateway, &sent[0]).await.0, 200);
    wait_for_rows(&stack.clickhouse, 2, Duration::from_secs(60)).await;
    wait_until("first batch committed", Duration::from_secs(20), || {
        committed_offsets(&brokers) == end_offsets(&brokers)
    })
    .await;

    let started = Instant::now();
    for i in 1..11 {
        let trace = trace_id(3, i);
        assert_eq!(post_trace(&gateway, &trace).await.0, 200);
        sent.push(trace);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    sink.kill();
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "the kill must land inside the batch window"
    );
    // Killed mid-batch: the held messages were neither written nor committed.
    assert_eq!(
        stack
            .clickhouse
            .count("SELECT count() FROM events_full FINAL")
            .await,
        2
    );
    assert!(committed_offsets(&brokers) < end_offsets(&brokers));

    sink.start_again();
    wait_for_rows(&stack.clickhouse, 22, Duration::from_secs(90)).await;
    assert_exactly(&stack.clickhouse, &sent).await;
    wait_until(
        "offsets committed after the replay",
        Duration::from_secs(30),
        || committed_offsets(&brokers) == end_offsets(&brokers),
    )
    .await;
    assert!(sink.stop().success());
}

/// The broker stops answering for longer than the gateway's delivery timeout: clients get
/// retryable answers and nothing is acknowledged; when it answers again their retries land, and
/// the sink, which waited through it, stores everything once.
///
/// The outage stays within the sink's group session. The test broker (tansu, in memory) does not
/// model the longer outages a real broker survives: killed, it comes back empty, and it never
/// answers OFFSET_OUT_OF_RANGE, so a consumer's old position may skip what lands below it; and
/// once a consumer's session lapses, its group coordinator keeps naming the lapsed member id as
/// the group's leader, so the consumer's rejoin never gets an assignment.
#[tokio::test(flavor = "multi_thread")]
async fn broker_down_gives_retryable_errors_and_everything_lands_after_it_returns() {
    if !available("broker down") {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    let stack = Stack::start(&[("SPANBRIDGE_KAFKA__DELIVERY_TIMEOUT_MS", "3000")]);
    let mut sink = stack.sink(&[("SPANBRIDGE_KAFKA__OPTIONS__SESSION_TIMEOUT_MS", "20000")]);
    let gateway = std::sync::Arc::new(stack.gateway());

    let mut sent = vec![trace_id(4, 0)];
    assert_eq!(post_trace(&gateway, &sent[0]).await.0, 200);
    wait_for_rows(&stack.clickhouse, 2, Duration::from_secs(60)).await;

    // The broker stops answering (SIGSTOP), keeping its log and groups.
    stack.broker.pause();
    let clients: Vec<_> = (1..7)
        .map(|i| {
            let gateway = gateway.clone();
            let trace = trace_id(4, i);
            tokio::spawn(async move {
                let refusals = send_until_accepted(&gateway, &trace, Duration::from_secs(90)).await;
                (trace, refusals)
            })
        })
        .collect();
    // Long enough for every client to be refused at least once (delivery timeout 3 s).
    tokio::time::sleep(Duration::from_secs(8)).await;

    // The broker answers again: clients' retries land, and the sink goes on where it was.
    stack.broker.resume();
    for client in clients {
        let (trace, refusals) = client.await.expect("client task");
        assert!(
            refusals > 0,
            "{trace} was accepted while the broker was down"
        );
        sent.push(trace);
    }
    wait_for_rows(&stack.clickhouse, 14, Duration::from_secs(120)).await;
    assert_exactly(&stack.clickhouse, &sent).await;
    assert!(sink.stop().success());
}

/// A fault only a mock broker produces on demand: it refuses every write (NOT_ENOUGH_REPLICAS,
/// which the producer retries) until the delivery timeout passes. Clients must get a
/// retryable answer on both protocols, never 500/INTERNAL, and be accepted once the broker
/// takes writes again.
#[tokio::test(flavor = "multi_thread")]
async fn refused_writes_until_the_delivery_timeout_are_retryable_on_both_protocols() {
    let _serial = support::services::one_stack_at_a_time().await;
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, 2, 1).expect("topic");
    let dir = tempfile::tempdir().expect("temp dir");
    let brokers = cluster.bootstrap_servers();
    let gateway = Process::gateway_with(
        dir.path(),
        &[
            ("SPANBRIDGE_KAFKA__BROKERS", brokers.as_str()),
            ("SPANBRIDGE_KAFKA__DELIVERY_TIMEOUT_MS", "1500"),
        ],
    );
    // Healthy first: accepted.
    assert_eq!(post_trace(&gateway, &trace_id(5, 0)).await.0, 200);

    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS; 10_000],
    );
    assert_eq!(
        post_trace(&gateway, &trace_id(5, 1)).await,
        (503, true),
        "HTTP: 503 with Retry-After"
    );
    let mut grpc = TraceServiceClient::connect(gateway.grpc_url())
        .await
        .expect("gRPC connect");
    let mut request = tonic::Request::new(genai_trace(&trace_id(5, 2)));
    request.metadata_mut().insert(
        "authorization",
        test_auth().parse().expect("metadata value"),
    );
    let status = grpc.export(request).await.expect_err("refused");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");

    cluster.clear_request_errors(RDKafkaApiKey::Produce);
    send_until_accepted(&gateway, &trace_id(5, 1), Duration::from_secs(60)).await;
}

/// A message that can never be stored — not an `EventBatch`, or one of an unknown major
/// version — goes to the dead-letter topic unchanged with the reason in a header, is counted,
/// and does not hold back the valid traffic around it.
#[tokio::test(flavor = "multi_thread")]
async fn undecodable_and_unknown_version_messages_go_to_the_dead_letter_topic() {
    if !available("dead letters") {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    let stack = Stack::start(&[]);
    let mut sink = stack.sink(&[]);
    let gateway = stack.gateway();
    let brokers = stack.broker.bootstrap();

    let producer: rdkafka::producer::FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("producer");
    let future_version = spanbridge_proto::EventBatch {
        schema_version: spanbridge_proto::GROUPED_SCHEMA_VERSION + 1,
        project_id: "p".into(),
        ..Default::default()
    }
    .encode_to_vec();
    for (key, payload) in [
        ("garbage", b"\xff\xff not a batch".to_vec()),
        ("future", future_version),
    ] {
        producer
            .send(
                rdkafka::producer::FutureRecord::to(TOPIC)
                    .key(key)
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(error, _)| error)
            .expect("produce a bad message");
    }
    let trace = trace_id(6, 0);
    assert_eq!(post_trace(&gateway, &trace).await.0, 200);
    wait_for_rows(&stack.clickhouse, 2, Duration::from_secs(60)).await;
    assert_exactly(&stack.clickhouse, std::slice::from_ref(&trace)).await;

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "dead-letter-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer
        .subscribe(&["spanbridge.events.v1.dead-letter"])
        .expect("subscribe");
    let mut reasons = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while reasons.len() < 2 && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(500)) {
            use rdkafka::message::{Headers, Message as _};
            let reason = message
                .headers()
                .and_then(|headers| {
                    headers
                        .iter()
                        .find(|h| h.key == "spanbridge-error")
                        .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
                })
                .unwrap_or_default();
            let key = message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned());
            reasons.push((key.unwrap_or_default(), reason));
        }
    }
    reasons.sort();
    assert_eq!(reasons.len(), 2, "two dead letters: {reasons:?}");
    assert_eq!(reasons[0].0, "future");
    assert!(reasons[0].1.contains("schema version"), "{reasons:?}");
    assert_eq!(reasons[1].0, "garbage");
    assert!(!reasons[1].1.is_empty(), "{reasons:?}");

    let metrics = client()
        .get(format!("http://127.0.0.1:{}/metrics", sink.admin_port))
        .send()
        .await
        .expect("scrape the sink")
        .text()
        .await
        .expect("metrics");
    let dead_lettered: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("spanbridge_dead_letter_messages_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(dead_lettered, 2.0, "{metrics}");
    assert!(sink.stop().success());
}

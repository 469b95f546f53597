//! OTLP logs as users send them: GenAI instrumentations export message content and evaluation
//! results as log records over `/v1/logs` (HTTP) or LogsService (gRPC). The intake answers with
//! the traces' status codes and `partial_success`; evaluation results land as scores on the
//! trace (`GET /api/public/traces/{id}`), on SQLite here and on ClickHouse in
//! [`scores_land_in_clickhouse_and_are_read_back_with_the_trace`].
//!
//! Content on the generation is the sink's assembly at work: the log records' partial rows are
//! merged into the span's row whichever arrives first.

use crate::support;

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use prost::Message;
use serde_json::Value;
use support::services::{Stack, available};
use support::*;

const RECORD_TIME_NS: u64 = 1_786_003_200_500_000_000;

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/otlp-logs")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn double_attr(key: &str, value: f64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(value)),
        }),
        ..Default::default()
    }
}

/// One log record of `trace_id`/`span_id` (hex; "" for none) with an event name.
fn record(trace_id: &str, span_id: &str, event: &str, attributes: Vec<KeyValue>) -> LogRecord {
    LogRecord {
        time_unix_nano: RECORD_TIME_NS,
        trace_id: hex::decode(trace_id).expect("hex trace id"),
        span_id: hex::decode(span_id).expect("hex span id"),
        event_name: event.into(),
        attributes,
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue("hello".into())),
        }),
        ..Default::default()
    }
}

fn logs_request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A `gen_ai.evaluation.result` of the generation `2222222222222222` of `genai_trace`.
fn evaluation(trace_id: &str) -> LogRecord {
    record(
        trace_id,
        "2222222222222222",
        "gen_ai.evaluation.result",
        vec![
            string_attr("gen_ai.evaluation.name", "relevance"),
            double_attr("gen_ai.evaluation.score.value", 0.8),
            string_attr("gen_ai.evaluation.explanation", "on topic"),
        ],
    )
}

/// Polls the read API until the trace has `scores` scores (the sink writes asynchronously in
/// the Kafka deployment; embedded, the answer came after the write).
async fn trace_with_scores(base_url: &str, trace_id: &str, scores: usize) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get_trace(base_url, trace_id).await;
        if status == 200 && body["scores"].as_array().is_some_and(|s| s.len() >= scores) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "trace {trace_id} without {scores} score(s): {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn assert_relevance_score(trace: &Value, trace_id: &str) {
    let scores = trace["scores"].as_array().expect("scores");
    assert_eq!(scores.len(), 1, "{scores:?}");
    let score = &scores[0];
    assert_eq!(score["name"], "relevance");
    assert_eq!(score["value"], 0.8);
    assert_eq!(score["dataType"], "NUMERIC");
    assert_eq!(score["stringValue"], Value::Null);
    assert_eq!(score["source"], "EVAL");
    assert_eq!(score["comment"], "on topic");
    assert_eq!(score["traceId"], trace_id);
    assert_eq!(score["observationId"], "2222222222222222");
    assert_eq!(score["environment"], "default");
    assert_eq!(score["timestamp"], "2026-08-06T08:00:00.500Z");
    assert!(score["id"].as_str().is_some_and(|id| id.len() == 32));
    assert!(score["projectId"].as_str().is_some_and(|p| !p.is_empty()));
}

#[tokio::test]
async fn the_logs_endpoints_answer_like_the_traces_endpoints() {
    let server = Server::start_with(&[("SPANBRIDGE_GATEWAY__MAX_BODY_BYTES", "8192")]);
    let body = logs_request(vec![record(
        "a0000000000000000000000000000001",
        "1111111111111111",
        "app.started",
        vec![],
    )])
    .encode_to_vec();
    for path in ["/v1/logs", "/api/public/otel/v1/logs"] {
        let response = post(
            server.http_url(path),
            "application/x-protobuf",
            None,
            body.clone(),
            &test_auth(),
        )
        .await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "application/x-protobuf");
        let answer = ExportLogsServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
        assert_eq!(answer.partial_success, None);
    }
    // OTLP/JSON (the fixture) gzip-compressed; the answer in JSON.
    let response = post(
        server.http_url("/v1/logs"),
        "application/json",
        Some("gzip"),
        gzip(&fixture("openai-v2-legacy-events.logs.json")),
        &test_auth(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer.get("partialSuccess").cloned().unwrap_or(Value::Null),
        Value::Null
    );
    // Malformed bodies, bad keys, unknown media types, bodies over the limit.
    let malformed = post(
        server.http_url("/v1/logs"),
        "application/json",
        None,
        b"{\"resourceLogs\": 7}".to_vec(),
        &test_auth(),
    )
    .await;
    assert_eq!(malformed.status(), 400);
    let garbage = post(
        server.http_url("/v1/logs"),
        "application/x-protobuf",
        None,
        vec![0xff, 0xff, 0xff],
        &test_auth(),
    )
    .await;
    assert_eq!(garbage.status(), 400);
    let unauthenticated = post(
        server.http_url("/v1/logs"),
        "application/x-protobuf",
        None,
        body.clone(),
        &basic_auth("pk-lf-nope", "sk-lf-nope"),
    )
    .await;
    assert_eq!(unauthenticated.status(), 401);
    let text = post(
        server.http_url("/v1/logs"),
        "text/plain",
        None,
        body.clone(),
        &test_auth(),
    )
    .await;
    assert_eq!(text.status(), 415);
    let mut huge = record(
        "a0000000000000000000000000000002",
        "1111111111111111",
        "gen_ai.user.message",
        vec![],
    );
    huge.body = Some(AnyValue {
        value: Some(any_value::Value::StringValue("x".repeat(100_000))),
    });
    let huge = logs_request(vec![huge]).encode_to_vec();
    let too_large = post(
        server.http_url("/v1/logs"),
        "application/x-protobuf",
        Some("gzip"),
        gzip(&huge),
        &test_auth(),
    )
    .await;
    assert_eq!(
        too_large.status(),
        413,
        "the limit applies after decompression"
    );

    let metrics = scrape_metrics(&server.admin_url("")).await;
    assert!(
        metrics.contains("spanbridge_log_records_received_total"),
        "log records are counted"
    );
    assert!(
        metrics.contains("signal=\"logs\""),
        "requests carry the signal"
    );
    assert!(metrics.contains("spanbridge_log_records_other_total"));
}

#[tokio::test]
async fn records_with_bad_ids_are_rejected_one_by_one_and_scores_land_on_the_trace() {
    let server = Server::start();
    let trace_id = "a1000000000000000000000000000001";
    let response = export_genai_trace(&server.http_url("/v1/traces"), trace_id, &test_auth()).await;
    assert_eq!(response.status(), 200);
    let mut no_span = record(trace_id, "", "gen_ai.user.message", vec![]);
    no_span.span_id = vec![1, 2, 3];
    let zero_trace = record(
        "00000000000000000000000000000000",
        "2222222222222222",
        "gen_ai.choice",
        vec![],
    );
    let request = logs_request(vec![evaluation(trace_id), no_span, zero_trace]);
    let response = post(
        server.http_url("/v1/logs"),
        "application/x-protobuf",
        None,
        request.encode_to_vec(),
        &test_auth(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let answer = ExportLogsServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    let partial = answer.partial_success.expect("partial success");
    assert_eq!(partial.rejected_log_records, 2);
    assert!(partial.error_message.contains("span id"), "{partial:?}");
    assert!(partial.error_message.contains("trace id"), "{partial:?}");

    let trace = trace_with_scores(&server.http_url(""), trace_id, 1).await;
    assert_relevance_score(&trace, trace_id);

    // Sent again (an exporter retry): the same score, not a second one.
    let again = post(
        server.http_url("/v1/logs"),
        "application/x-protobuf",
        None,
        logs_request(vec![evaluation(trace_id)]).encode_to_vec(),
        &test_auth(),
    )
    .await;
    assert_eq!(again.status(), 200);
    let (_, trace) = get_trace(&server.http_url(""), trace_id).await;
    assert_relevance_score(&trace, trace_id);
}

#[tokio::test]
async fn grpc_logs_service_takes_records_with_the_same_auth_and_limits() {
    let server = Server::start_with(&[("SPANBRIDGE_GATEWAY__MAX_BODY_BYTES", "8192")]);
    let trace_id = "a2000000000000000000000000000001";
    let response = export_genai_trace(&server.http_url("/v1/traces"), trace_id, &test_auth()).await;
    assert_eq!(response.status(), 200);
    let mut client = LogsServiceClient::connect(server.grpc_url())
        .await
        .expect("gRPC connect")
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);

    let mut request = tonic::Request::new(logs_request(vec![evaluation(trace_id)]));
    request
        .metadata_mut()
        .insert("authorization", test_auth().parse().unwrap());
    let answer = client.export(request).await.expect("accepted").into_inner();
    assert_eq!(answer.partial_success, None);
    let trace = trace_with_scores(&server.http_url(""), trace_id, 1).await;
    assert_relevance_score(&trace, trace_id);

    let mut bad_key = tonic::Request::new(logs_request(vec![evaluation(trace_id)]));
    bad_key.metadata_mut().insert(
        "authorization",
        basic_auth("pk-lf-nope", "sk-lf-nope").parse().unwrap(),
    );
    let status = client.export(bad_key).await.expect_err("bad key");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    let mut huge = evaluation(trace_id);
    huge.body = Some(AnyValue {
        value: Some(any_value::Value::StringValue("x".repeat(100_000))),
    });
    let mut oversized = tonic::Request::new(logs_request(vec![huge]));
    oversized
        .metadata_mut()
        .insert("authorization", test_auth().parse().unwrap());
    let status = client.export(oversized).await.expect_err("over the limit");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");

    let mut no_span = record(trace_id, "", "gen_ai.user.message", vec![]);
    no_span.span_id = Vec::new();
    let mut partial = tonic::Request::new(logs_request(vec![no_span]));
    partial
        .metadata_mut()
        .insert("authorization", test_auth().parse().unwrap());
    let answer = client.export(partial).await.expect("accepted").into_inner();
    assert_eq!(
        answer.partial_success.map(|p| p.rejected_log_records),
        Some(1)
    );
}

/// Sends a fixture's logs and spans (in the order `logs_first` says) and reads the generation.
async fn content_lands_on_the_generation(mode: &str, logs_first: bool) {
    let server = Server::start();
    let logs = || async {
        let response = post(
            server.http_url("/v1/logs"),
            "application/json",
            None,
            fixture(&format!("{mode}.logs.json")),
            &test_auth(),
        )
        .await;
        assert_eq!(response.status(), 200);
    };
    let spans = || async {
        let response = post(
            server.http_url("/v1/traces"),
            "application/json",
            None,
            fixture(&format!("{mode}.traces.json")),
            &test_auth(),
        )
        .await;
        assert_eq!(response.status(), 200);
    };
    if logs_first {
        logs().await;
        spans().await;
    } else {
        spans().await;
        logs().await;
    }
    let request: Value =
        serde_json::from_slice(&fixture(&format!("{mode}.traces.json"))).expect("fixture JSON");
    // The instrumentation's scope holds the generation spans, one per call (trace).
    let spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .expect("spans")
        .clone();
    assert_eq!(
        spans.len(),
        2,
        "two calls per fixture (their generation spans)"
    );
    for span in spans {
        let trace_id = span["traceId"].as_str().expect("trace id");
        let (status, trace) = get_trace(&server.http_url(""), trace_id).await;
        assert_eq!(status, 200, "{trace}");
        let generations: Vec<&Value> = trace["observations"]
            .as_array()
            .expect("observations")
            .iter()
            .filter(|o| o["type"] == "GENERATION")
            .collect();
        assert_eq!(generations.len(), 1, "{trace}");
        let generation = generations[0];
        let input = generation["input"].to_string();
        assert!(input.contains("Answer briefly."), "{mode}: input {input}");
        assert!(
            input.contains("How are spans exported?"),
            "{mode}: input {input}"
        );
        let output = generation["output"].to_string();
        assert!(
            output.contains("Spans are exported in batches"),
            "{mode}: output {output}"
        );
        assert!(
            generation["usageDetails"]["input"].as_u64().is_some(),
            "{mode}: usage {generation}"
        );
    }
}

#[tokio::test]
async fn legacy_events_content_lands_on_the_generation_whichever_comes_first() {
    content_lands_on_the_generation("openai-v2-legacy-events", true).await;
    content_lands_on_the_generation("openai-v2-legacy-events", false).await;
}

#[tokio::test]
async fn operation_details_content_lands_on_the_generation_whichever_comes_first() {
    content_lands_on_the_generation("openai-v2-operation-details", true).await;
    content_lands_on_the_generation("openai-v2-operation-details", false).await;
}

/// Kafka deployment: gateway → Kafka → sink → ClickHouse `scores`, read back by the gateway's
/// read API with `FINAL`.
#[tokio::test(flavor = "multi_thread")]
async fn scores_land_in_clickhouse_and_are_read_back_with_the_trace() {
    if !available("scores in ClickHouse") {
        return;
    }
    let stack = Stack::start(&[]);
    let _sink = stack.sink(&[]);
    let gateway = stack.gateway();
    let trace_id = "a3000000000000000000000000000001";
    let response =
        export_genai_trace(&gateway.http_url("/v1/traces"), trace_id, &test_auth()).await;
    assert_eq!(response.status(), 200);
    for _ in 0..2 {
        // Twice: a retried export is still one score after FINAL.
        let response = post(
            gateway.http_url("/v1/logs"),
            "application/x-protobuf",
            None,
            logs_request(vec![evaluation(trace_id)]).encode_to_vec(),
            &test_auth(),
        )
        .await;
        assert_eq!(response.status(), 200);
    }
    let trace = trace_with_scores(&gateway.http_url(""), trace_id, 1).await;
    assert_relevance_score(&trace, trace_id);
    let stored = stack
        .clickhouse
        .rows(&format!(
            "SELECT name, data_type, source, observation_id, ingestion_api_key != '' AS attributed
             FROM scores FINAL WHERE trace_id = '{trace_id}'"
        ))
        .await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["data_type"], "NUMERIC");
    assert_eq!(stored[0]["source"], "EVAL");
    assert_eq!(stored[0]["observation_id"], "2222222222222222");
    assert_eq!(stored[0]["attributed"], 1);
}

//! Langfuse's SDK-2.x batch API in embedded mode: the Python SDK 2.60.10's own
//! request bodies (tests/fixtures/ingestion) posted to `POST /api/public/ingestion` in one
//! request or split event by event, read back through the API with every field they sent;
//! the 207 split of mixed batches; 400, 401, 413 and gzip at the request level; the projects
//! auth check. The same stories run in the Kafka deployment in
//! tests/kafka_deployment/batch_api.rs.

use crate::support;

use std::io::Write;

use serde_json::{Value, json};
use support::batch_api::*;
use support::*;

#[tokio::test]
async fn projects_answers_the_keys_project_in_langfuses_shape() {
    let server = Server::start();
    let url = server.http_url("/api/public/projects");
    let (status, body) = get_json(&server, "/api/public/projects", &test_auth()).await;
    assert_eq!(status, 200, "{body}");
    let projects = body["data"].as_array().expect("data array");
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0]["name"], "e2e");
    assert!(projects[0]["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(
        projects[0]["organization"]["id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert!(projects[0]["organization"]["name"].is_string());
    assert_eq!(projects[0]["metadata"], json!({}));
    let wrong = client()
        .get(&url)
        .header("authorization", basic_auth(PUBLIC_KEY, "sk-lf-wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert!(body["message"].is_string(), "{body}");
}

#[tokio::test]
async fn low_level_client_batch_in_two_requests_reads_back_whole() {
    let server = Server::start();
    let url = server.http_url(INGESTION);
    low_level_story(&url, &|path| server.http_url(path)).await;
}

#[tokio::test]
async fn decorator_batch_and_langchain_events_one_request_each_read_back_whole() {
    let server = Server::start();
    let url = server.http_url(INGESTION);
    decorator_story(&url, &|path| server.http_url(path)).await;
    langchain_story_event_by_event(&url, &|path| server.http_url(path)).await;
}

#[tokio::test]
async fn mixed_batches_are_answered_207_with_the_right_split_and_only_valid_events_land() {
    let server = Server::start();
    let url = server.http_url(INGESTION);
    mixed_batch_story(&url, &|path| server.http_url(path)).await;
}

#[tokio::test]
async fn request_level_errors_have_langfuses_shape() {
    let server = Server::start_with(&[("SPANBRIDGE_GATEWAY__MAX_BODY_BYTES", "20000")]);
    let url = server.http_url(INGESTION);
    for body in [&b"not json"[..], b"{\"batch\": 3}", b"[1, 2]"] {
        let response = client()
            .post(&url)
            .header("authorization", test_auth())
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["message"], "Invalid request data", "{answer}");
        assert!(answer["errors"][0].is_string());
    }
    let (status, answer) = post_batch(
        &url,
        &basic_auth(PUBLIC_KEY, "sk-lf-wrong"),
        &json!({"batch": []}),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(answer["error"], "UnauthorizedError", "{answer}");

    // Over the limit after decompression: 413, however small the gzip body is.
    let big = json!({"batch": [{"id": "e", "type": "sdk-log", "timestamp": "2026-01-01T00:00:00Z",
                                "body": {"log": "x".repeat(50_000)}}]});
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(big.to_string().as_bytes()).unwrap();
    let compressed = gzip.finish().unwrap();
    assert!(compressed.len() < 20_000);
    let response = client()
        .post(&url)
        .header("authorization", test_auth())
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(compressed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // A gzip body within the limit is taken; an sdk-log is in neither list.
    let small = json!({"batch": [
        {"id": "log-1", "type": "sdk-log", "timestamp": "2026-01-01T00:00:00Z", "body": {"log": "hi"}},
        {"id": "tr-1", "type": "trace-create", "timestamp": "2026-01-01T00:00:00Z",
         "body": {"id": "gz-trace", "name": "gzipped"}}]});
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(small.to_string().as_bytes()).unwrap();
    let response = client()
        .post(&url)
        .header("authorization", test_auth())
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 207);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer,
        json!({"successes": [{"id": "tr-1", "status": 201}], "errors": []})
    );
    let trace = read_trace(&|path| server.http_url(path), "gz-trace").await;
    assert_eq!(trace["name"], "gzipped");
    assert_eq!(trace["observations"], json!([]));
}

#[tokio::test]
async fn the_project_rate_limit_counts_events() {
    let server = Server::start_with(&[("SPANBRIDGE_GATEWAY__PROJECT_SPANS_PER_SECOND", "5")]);
    let url = server.http_url(INGESTION);
    let events: Vec<Value> = (0..50)
        .map(|i| {
            json!({"id": format!("e{i}"), "type": "span-create", "timestamp": "2026-01-01T00:00:00Z",
                   "body": {"id": format!("s{i}"), "traceId": "rate"}})
        })
        .collect();
    let (status, _) = post_batch(&url, &test_auth(), &json!({ "batch": events })).await;
    assert_eq!(
        status, 207,
        "a request larger than the burst takes a full bucket"
    );
    let response = client()
        .post(&url)
        .header("authorization", test_auth())
        .json(&json!({ "batch": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
}

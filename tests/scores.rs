//! Langfuse scores as users send them: SDK 5.x posts every score to `POST /api/public/scores`
//! as a JSON array (202, or 207 with the invalid ones), older clients one object (200 `{id}`).
//! The scores are read back with their trace (`GET /api/public/traces/{id}`) in Langfuse's
//! shape — on SQLite right after the answer (it comes only once they are committed), and on
//! Kafka + ClickHouse in [`scores_reach_clickhouse_through_kafka`].

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::services::{Stack, available};
use support::*;

const TRACE_ID: &str = "5c0e0000000000000000000000000001";
const GENERATION_ID: &str = "2222222222222222";

async fn post_scores(base_url: &str, body: &Value, auth: &str) -> (u16, reqwest::Response) {
    let response = client()
        .post(format!("{base_url}/api/public/scores"))
        .header("content-type", "application/json")
        .header("authorization", auth)
        .body(body.to_string())
        .send()
        .await
        .expect("POST /api/public/scores");
    (response.status().as_u16(), response)
}

/// Posts and returns status and JSON body.
async fn send(server: &Server, body: &Value) -> (u16, Value) {
    let (status, response) = post_scores(&server.http_url(""), body, &test_auth()).await;
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn export_trace(server: &Server, trace_id: &str) {
    let response = export_genai_trace(&server.http_url("/v1/traces"), trace_id, &test_auth()).await;
    assert_eq!(response.status(), 200);
}

async fn trace_scores(server: &Server, trace_id: &str) -> Vec<Value> {
    trace(server, trace_id).await["scores"]
        .as_array()
        .cloned()
        .expect("scores")
}

fn by_name<'a>(scores: &'a [Value], name: &str) -> &'a Value {
    scores
        .iter()
        .find(|score| score["name"] == name)
        .unwrap_or_else(|| panic!("no score {name} in {scores:?}"))
}

/// What the Langfuse Python SDK 5.x sends for `span.score(...)` (BOOLEAN, on the
/// generation) and `score_trace(...)` (NUMERIC, CATEGORICAL), plus a TEXT note.
fn sdk_batch(trace_id: &str) -> Value {
    json!([
        {"id": "a1b2c3d4e5f60001", "traceId": trace_id, "observationId": GENERATION_ID,
         "name": "correct", "value": 1.0, "dataType": "BOOLEAN", "environment": "production",
         "timestamp": "2026-11-27T10:00:00.123456+00:00"},
        {"id": "a1b2c3d4e5f60002", "traceId": trace_id, "name": "quality", "value": 0.85,
         "comment": "mostly right", "metadata": {"judge": "gpt-4o", "run": {"n": 1}},
         "timestamp": "2026-11-27T10:00:01Z"},
        {"id": "a1b2c3d4e5f60003", "traceId": trace_id, "name": "tone", "value": "friendly",
         "dataType": "CATEGORICAL", "timestamp": "2026-11-27T10:00:02Z"},
        {"id": "a1b2c3d4e5f60004", "traceId": trace_id, "name": "note", "value": "check units",
         "dataType": "TEXT", "timestamp": "2026-11-27T10:00:03Z"},
    ])
}

/// The scores of [`sdk_batch`] as `GET /api/public/traces/{id}` must return them.
fn assert_sdk_scores(scores: &[Value], trace_id: &str) {
    assert_eq!(scores.len(), 4, "{scores:?}");
    let correct = by_name(scores, "correct");
    assert_eq!(correct["id"], "a1b2c3d4e5f60001");
    assert_eq!(correct["dataType"], "BOOLEAN");
    assert_eq!(correct["value"], 1.0);
    assert_eq!(correct["stringValue"], "True");
    assert_eq!(correct["traceId"], trace_id);
    assert_eq!(correct["observationId"], GENERATION_ID);
    assert_eq!(correct["environment"], "production");
    assert_eq!(correct["source"], "API");
    assert_eq!(correct["timestamp"], "2026-11-27T10:00:00.123Z");

    let quality = by_name(scores, "quality");
    assert_eq!(quality["dataType"], "NUMERIC", "inferred from a number");
    assert_eq!(quality["value"], 0.85);
    assert_eq!(quality["stringValue"], Value::Null);
    assert_eq!(quality["observationId"], Value::Null);
    assert_eq!(quality["comment"], "mostly right");
    assert_eq!(
        quality["metadata"],
        json!({"judge": "gpt-4o", "run": {"n": 1}})
    );
    assert_eq!(quality["environment"], "default");

    let tone = by_name(scores, "tone");
    assert_eq!(tone["dataType"], "CATEGORICAL");
    assert_eq!(tone["stringValue"], "friendly");
    assert_eq!(tone["value"], 0.0);

    let note = by_name(scores, "note");
    assert_eq!(note["dataType"], "TEXT");
    assert_eq!(note["stringValue"], "check units");
    assert!(
        note.get("value").is_none(),
        "TEXT scores have no value: {note}"
    );
}

#[tokio::test]
async fn an_sdk_batch_is_accepted_and_read_back_with_the_trace() {
    let server = Server::start();
    export_trace(&server, TRACE_ID).await;
    let (status, body) = send(&server, &sdk_batch(TRACE_ID)).await;
    assert_eq!((status, &body), (202, &json!({"message": "Accepted"})));
    // No waiting: the 202 comes only after the scores are committed.
    assert_sdk_scores(&trace_scores(&server, TRACE_ID).await, TRACE_ID);

    // Sent again (the SDK retries a 5xx), still one score per id.
    assert_eq!(send(&server, &sdk_batch(TRACE_ID)).await.0, 202);
    assert_eq!(trace_scores(&server, TRACE_ID).await.len(), 4);

    let scrape = scrape_metrics(&server.admin_url("")).await;
    for sample in [
        r#"spanbridge_scores_received_total{protocol="http",encoding="json"} 8"#,
        r#"spanbridge_scores_accepted_total{protocol="http",encoding="json"} 8"#,
        r#"spanbridge_requests_total{signal="scores",protocol="http",encoding="json",outcome="accepted",reason=""} 2"#,
    ] {
        assert!(scrape.contains(sample), "{sample} missing in\n{scrape}");
    }
}

#[tokio::test]
async fn a_mixed_array_answers_207_and_keeps_the_valid_scores() {
    let server = Server::start();
    let trace_id = "5c0e0000000000000000000000000002";
    export_trace(&server, trace_id).await;
    let (status, body) = send(
        &server,
        &json!([
            {"traceId": trace_id, "name": "good-1", "value": 3},
            {"traceId": trace_id, "name": "bad-boolean", "value": 2, "dataType": "BOOLEAN"},
            {"traceId": trace_id, "name": "good-2", "value": "yes", "dataType": "CATEGORICAL"},
            {"name": "no-target", "value": 1},
            "not an object",
        ]),
    )
    .await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["rejected"], 3);
    let messages: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|error| error["message"].as_str().expect("message"))
        .collect();
    assert_eq!(messages.len(), 3);
    assert!(
        messages[0].starts_with("score 1: ") && messages[0].contains("BOOLEAN"),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("score 3: ") && messages[1].contains("traceId"),
        "{messages:?}"
    );
    assert!(
        messages[2].starts_with("score 4: ") && messages[2].contains("JSON object"),
        "{messages:?}"
    );

    let scores = trace_scores(&server, trace_id).await;
    let mut names: Vec<&str> = scores.iter().filter_map(|s| s["name"].as_str()).collect();
    names.sort();
    assert_eq!(names, ["good-1", "good-2"]);
    // Ids generated for scores sent without one: UUID-shaped and distinct.
    assert_eq!(
        by_name(&scores, "good-1")["id"].as_str().map(str::len),
        Some(36)
    );
    assert_ne!(
        by_name(&scores, "good-1")["id"],
        by_name(&scores, "good-2")["id"]
    );

    // Nothing valid at all is still a 207 (the SDK does not retry it), and an empty array a 202.
    let (status, body) = send(&server, &json!([{"traceId": trace_id, "value": 1}])).await;
    assert_eq!(status, 207);
    assert_eq!(
        (body["accepted"].as_u64(), body["rejected"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(send(&server, &json!([])).await.0, 202);

    let scrape = scrape_metrics(&server.admin_url("")).await;
    assert!(
        scrape.contains(r#"spanbridge_scores_rejected_total{protocol="http",encoding="json",reason="invalid_score"} 4"#),
        "{scrape}"
    );
}

#[tokio::test]
async fn a_single_object_answers_200_with_its_id() {
    let server = Server::start();
    let trace_id = "5c0e0000000000000000000000000003";
    export_trace(&server, trace_id).await;
    let (status, body) = send(
        &server,
        &json!({"traceId": trace_id, "name": "helpful", "value": 0, "dataType": "BOOLEAN"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let generated = body["id"].as_str().expect("id").to_owned();
    assert_eq!(generated.len(), 36, "{generated}");

    let score = json!({"id": "manual-1", "traceId": trace_id, "name": "stars", "value": 4,
        "timestamp": "2026-11-27T09:00:00Z"});
    assert_eq!(
        send(&server, &score).await,
        (200, json!({"id": "manual-1"}))
    );
    // The same id and timestamp again updates the score (Langfuse's documented update).
    let update = json!({"id": "manual-1", "traceId": trace_id, "name": "stars", "value": 5,
        "timestamp": "2026-11-27T09:00:00Z"});
    assert_eq!(send(&server, &update).await.0, 200);

    let scores = trace_scores(&server, trace_id).await;
    assert_eq!(scores.len(), 2, "{scores:?}");
    let helpful = by_name(&scores, "helpful");
    assert_eq!(helpful["id"], generated.as_str());
    assert_eq!(
        (helpful["value"].as_f64(), &helpful["stringValue"]),
        (Some(0.0), &json!("False"))
    );
    assert_eq!(by_name(&scores, "stars")["value"], 5.0);

    // An invalid single score is a 400 that says why.
    let (status, body) = send(
        &server,
        &json!({"traceId": trace_id, "name": "x", "value": "high", "dataType": "NUMERIC"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("NUMERIC score needs a number")),
        "{body}"
    );
    assert_eq!(trace_scores(&server, trace_id).await.len(), 2);
}

/// Session and dataset-run scores have no trace to be read with; they land in `scores` all the
/// same, with their target and no trace id.
#[tokio::test]
async fn session_and_dataset_run_scores_are_stored() {
    use sqlx::Connection;
    let server = Server::start();
    let (status, body) = send(
        &server,
        &json!([
            {"id": "session-score", "sessionId": "session-7", "name": "satisfied", "value": 1, "dataType": "BOOLEAN"},
            {"id": "run-score", "datasetRunId": "run-1", "name": "accuracy", "value": 0.5},
        ]),
    )
    .await;
    assert_eq!((status, &body), (202, &json!({"message": "Accepted"})));
    let mut db =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", server.db_path().display()))
            .await
            .unwrap();
    /// id, trace_id, session_id, dataset_run_id, data_type, string_value
    type Row = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, trace_id, session_id, dataset_run_id, data_type, string_value
             FROM scores ORDER BY id",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                "run-score".into(),
                None,
                None,
                Some("run-1".into()),
                "NUMERIC".into(),
                None
            ),
            (
                "session-score".into(),
                None,
                Some("session-7".into()),
                None,
                "BOOLEAN".into(),
                Some("True".into())
            ),
        ]
    );
}

#[tokio::test]
async fn request_errors_are_401_400_413_and_gzip_is_accepted() {
    let server = Server::start_with(&[("SPANBRIDGE_GATEWAY__MAX_BODY_BYTES", "4096")]);
    let trace_id = "5c0e0000000000000000000000000004";
    let score = json!([{"traceId": trace_id, "name": "n", "value": 1}]);
    let base = server.http_url("");

    let (status, response) =
        post_scores(&base, &score, &basic_auth("pk-lf-nope", "sk-lf-nope")).await;
    assert_eq!(status, 401);
    let body: Value = response.json().await.expect("json");
    assert!(body["message"].is_string(), "{body}");
    let unauthenticated = client()
        .post(format!("{base}/api/public/scores"))
        .body(score.to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(unauthenticated.status(), 401);

    for (body, expected) in [
        ("{not json", "not valid JSON"),
        ("\"a string\"", "score object or an array"),
        ("42", "score object or an array"),
    ] {
        let response = client()
            .post(format!("{base}/api/public/scores"))
            .header("content-type", "application/json")
            .header("authorization", test_auth())
            .body(body)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.expect("json");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.contains(expected)),
            "{answer}"
        );
    }

    let big = json!([{"traceId": trace_id, "name": "n", "value": 1, "comment": "x".repeat(5000)}]);
    assert_eq!(post_scores(&base, &big, &test_auth()).await.0, 413);
    // 4 KB of JSON that gzip shrinks under the limit is still over it once decompressed.
    let compressed = gzip(big.to_string().as_bytes());
    assert!(compressed.len() < 4096);
    let response = client()
        .post(format!("{base}/api/public/scores"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .header("authorization", test_auth())
        .body(compressed)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 413);

    export_trace(&server, trace_id).await;
    let response = client()
        .post(format!("{base}/api/public/scores"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .header("authorization", test_auth())
        .body(gzip(score.to_string().as_bytes()))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 202);
    assert_eq!(trace_scores(&server, trace_id).await.len(), 1);
}

#[tokio::test]
async fn the_project_rate_limit_counts_scores() {
    let server = Server::start_with(&[("SPANBRIDGE_GATEWAY__PROJECT_SPANS_PER_SECOND", "2")]);
    let trace_id = "5c0e0000000000000000000000000005";
    let two = json!([
        {"traceId": trace_id, "name": "a", "value": 1},
        {"traceId": trace_id, "name": "b", "value": 2},
    ]);
    assert_eq!(
        send(&server, &two).await.0,
        202,
        "2 scores fit the 2/s burst"
    );
    let (status, response) = post_scores(&server.http_url(""), &two, &test_auth()).await;
    assert_eq!(status, 429);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_locked_store_gets_503_with_retry_after_and_a_retry_lands() {
    let server = Server::start_with(&[("SPANBRIDGE_EMBEDDED__QUEUE_CAPACITY", "1")]);
    let trace_id = "5c0e0000000000000000000000000006";
    export_trace(&server, trace_id).await;
    let locker = server.lock_store().await;
    let sends = (0..6).map(|i| {
        let server = &server;
        async move {
            let score = json!([{"id": format!("locked-{i}"), "traceId": trace_id, "name": format!("n{i}"), "value": i}]);
            let (status, response) = post_scores(&server.http_url(""), &score, &test_auth()).await;
            (score, status, response.headers().get("retry-after").cloned())
        }
    });
    let results = futures::future::join_all(sends).await;
    locker.release().await;
    let mut unavailable = 0;
    for (score, status, retry_after) in &results {
        match status {
            202 => {}
            503 => {
                unavailable += 1;
                assert_eq!(retry_after.as_ref().map(|v| v.to_str().unwrap()), Some("1"));
                assert_eq!(send(&server, score).await.0, 202, "the retry lands");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(unavailable >= 1, "a full queue must answer 503");
    assert_eq!(trace_scores(&server, trace_id).await.len(), 6);
}

#[tokio::test]
async fn privacy_rules_mask_score_comments_and_metadata() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("spanbridge.toml");
    std::fs::write(
        &path,
        "[[privacy.rules]]\nfields = [\"comment\", \"metadata\"]\naction = \"redact\"\npatterns = [\"email\"]\n",
    )
    .expect("settings");
    let server = Server::start_with(&[("SPANBRIDGE_CONFIG", &path.display().to_string())]);
    let trace_id = "5c0e0000000000000000000000000007";
    export_trace(&server, trace_id).await;
    let score = json!({"traceId": trace_id, "name": "review", "value": 1,
        "comment": "ask jane.doe@example.com", "metadata": {"reviewer": "bob@example.org"}});
    assert_eq!(send(&server, &score).await.0, 200);
    let scores = trace_scores(&server, trace_id).await;
    let text = Value::Array(scores.clone()).to_string();
    assert!(
        !text.contains("example.com") && !text.contains("example.org"),
        "{text}"
    );
    assert_eq!(scores[0]["comment"], "ask [REDACTED:email]");
    assert_eq!(scores[0]["metadata"]["reviewer"], "[REDACTED:email]");
}

/// Kafka deployment: gateway → Kafka → sink → ClickHouse `scores`, read back with the trace.
#[tokio::test(flavor = "multi_thread")]
async fn scores_reach_clickhouse_through_kafka() {
    if !available("scores API into ClickHouse") {
        return;
    }
    let stack = Stack::start(&[]);
    let _sink = stack.sink(&[]);
    let gateway = stack.gateway();
    let trace_id = "5c0e0000000000000000000000000008";
    let response =
        export_genai_trace(&gateway.http_url("/v1/traces"), trace_id, &test_auth()).await;
    assert_eq!(response.status(), 200);
    let (status, _) = post_scores(&gateway.http_url(""), &sdk_batch(trace_id), &test_auth()).await;
    assert_eq!(status, 202);
    // A score without a trace travels in a message of its own, keyed by its session.
    let session_score = json!({"id": "ch-session-score", "sessionId": "session-ch", "name": "satisfied", "value": 1});
    let (status, _) = post_scores(&gateway.http_url(""), &session_score, &test_auth()).await;
    assert_eq!(status, 200);

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let scores = loop {
        let response = client()
            .get(gateway.http_url(&format!("/api/public/traces/{trace_id}")))
            .header("authorization", test_auth())
            .send()
            .await
            .expect("GET trace");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == 200 && body["scores"].as_array().is_some_and(|s| s.len() >= 4) {
            break body["scores"].as_array().cloned().unwrap_or_default();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scores: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_sdk_scores(&scores, trace_id);
    let stored = stack
        .clickhouse
        .rows(&format!(
            "SELECT name, data_type, string_value, source, ingestion_api_key != '' AS attributed
             FROM scores FINAL WHERE trace_id = '{trace_id}' ORDER BY name"
        ))
        .await;
    assert_eq!(stored.len(), 4, "{stored:?}");
    assert_eq!(stored[0]["name"], "correct");
    assert_eq!(stored[0]["data_type"], "BOOLEAN");
    assert_eq!(stored[0]["string_value"], "True");
    assert_eq!(stored[0]["source"], "API");
    assert_eq!(stored[0]["attributed"], 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while stack
        .clickhouse
        .count(
            "SELECT count() FROM scores FINAL WHERE session_id = 'session-ch' AND trace_id IS NULL",
        )
        .await
        != 1
    {
        assert!(
            std::time::Instant::now() < deadline,
            "session score not in ClickHouse"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

//! Stories of the SDK-2.x batch API, shared by the embedded test (tests/batch_api/ingestion.rs)
//! and the Kafka deployment's (tests/kafka_deployment/batch_api.rs): post the SDK
//! 2.60.10 fixture batches, read every field back through the read API (polling, as the
//! Kafka deployment's sink writes after the gateway answered).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{client, test_auth};

pub const INGESTION: &str = "/api/public/ingestion";

/// Builds a read-API URL from a path.
pub type ReadUrl<'a> = &'a dyn Fn(&str) -> String;

/// The `batch` array of a fixture file.
pub fn fixture(name: &str) -> Vec<Value> {
    let path = format!(
        "{}/tests/fixtures/ingestion/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let body: Value = serde_json::from_str(&text).expect("fixture JSON");
    body["batch"].as_array().expect("batch").clone()
}

/// POSTs a body; returns status and JSON answer.
pub async fn post_batch(url: &str, auth: &str, body: &Value) -> (u16, Value) {
    let response = client()
        .post(url)
        .header("authorization", auth)
        .header("x-langfuse-sdk-name", "python")
        .header("x-langfuse-sdk-version", "2.60.10")
        .json(body)
        .send()
        .await
        .expect("POST ingestion");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// POSTs events and expects every one in `successes`.
pub async fn post_all_accepted(url: &str, events: &[Value]) {
    let (status, answer) = post_batch(url, &test_auth(), &json!({ "batch": events })).await;
    assert_eq!(status, 207, "{answer}");
    assert_eq!(answer["errors"], json!([]), "{answer}");
    let ids: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] != "sdk-log")
        .map(|e| &e["id"])
        .collect();
    let accepted: Vec<&Value> = answer["successes"]
        .as_array()
        .expect("successes")
        .iter()
        .map(|s| {
            assert_eq!(s["status"], 201);
            &s["id"]
        })
        .collect();
    assert_eq!(accepted, ids);
}

/// The trace, once `ready` holds for it (rows land after the answer in the Kafka deployment).
pub async fn read_trace_until(
    read_url: ReadUrl<'_>,
    trace_id: &str,
    ready: &dyn Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = client()
            .get(read_url(&format!("/api/public/traces/{trace_id}")))
            .header("authorization", test_auth())
            .send()
            .await
            .expect("GET trace");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == 200 && ready(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "trace {trace_id} not as expected within 60 s: {status} {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn read_trace(read_url: ReadUrl<'_>, trace_id: &str) -> Value {
    read_trace_until(read_url, trace_id, &|_| true).await
}

pub fn observation<'a>(trace: &'a Value, name: &str) -> &'a Value {
    trace["observations"]
        .as_array()
        .and_then(|list| list.iter().find(|o| o["name"] == name))
        .unwrap_or_else(|| panic!("observation {name} missing in {trace:#}"))
}

fn observation_count(trace: &Value) -> usize {
    trace["observations"].as_array().map_or(0, Vec::len)
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-9)
}

/// Low-level client (`Langfuse().trace/span/event/generation`, `.end()`, `trace.update`,
/// `trace.score`), in two requests: the generation's update, the trace's output and the score
/// come after the creates, as a flush boundary splits them.
pub async fn low_level_story(url: &str, read_url: ReadUrl<'_>) {
    let batch = fixture("python-sdk-2.60.10-low-level.json");
    post_all_accepted(url, &batch[..5]).await;
    post_all_accepted(url, &batch[5..]).await;
    let trace_id = "8e82a255-473f-418d-a9ab-a13582b10680";
    let trace = read_trace_until(read_url, trace_id, &|t| {
        observation_count(t) == 3
            && t["output"] == json!({"a": "hello"})
            && t["scores"].as_array().is_some_and(|s| s.len() == 1)
            && t["observations"]
                .as_array()
                .is_some_and(|o| o.iter().any(|o| o["output"] == "hello"))
    })
    .await;
    assert_eq!(trace["id"], trace_id);
    assert_eq!(trace["name"], "v2-trace");
    assert_eq!(trace["userId"], "u1");
    assert_eq!(trace["sessionId"], "s1");
    assert_eq!(trace["release"], "r1");
    assert_eq!(trace["version"], "v1");
    assert_eq!(trace["tags"], json!(["a"]));
    assert_eq!(trace["metadata"], json!({"k": "v"}));
    assert_eq!(trace["input"], json!({"q": "hi"}));
    assert_eq!(trace["timestamp"], "2026-11-27T09:09:02.524Z");
    assert_eq!(trace["environment"], "default");

    let retrieve = observation(&trace, "retrieve");
    assert_eq!(retrieve["id"], "7123efc1-972d-42e6-960d-5007e7dd71d4");
    assert_eq!(retrieve["type"], "SPAN");
    assert_eq!(retrieve["parentObservationId"], Value::Null);
    assert_eq!(retrieve["input"], json!({"query": "hi"}));
    assert_eq!(retrieve["output"], json!({"docs": 2}));
    assert_eq!(retrieve["startTime"], "2026-11-27T09:09:02.524Z");
    assert_eq!(retrieve["endTime"], "2026-11-27T09:09:02.525Z");

    let event = observation(&trace, "cache-miss");
    assert_eq!(event["type"], "EVENT");
    assert_eq!(event["level"], "WARNING");
    assert_eq!(
        event["parentObservationId"],
        "7123efc1-972d-42e6-960d-5007e7dd71d4"
    );

    let chat = observation(&trace, "chat");
    assert_eq!(chat["id"], "66e2b34b-22fa-48a7-aa23-d6865f9ac94c");
    assert_eq!(chat["type"], "GENERATION");
    assert_eq!(chat["model"], "gpt-4o");
    assert_eq!(chat["modelParameters"], json!({"temperature": "0.2"}));
    assert_eq!(chat["input"], json!([{"role": "user", "content": "hi"}]));
    assert_eq!(chat["output"], "hello");
    assert_eq!(chat["startTime"], "2026-11-27T09:09:02.525Z");
    assert_eq!(chat["endTime"], "2026-11-27T09:09:02.526Z");
    // The update's usageDetails replace the create's usage (Langfuse replaces the map).
    assert_eq!(
        chat["usageDetails"],
        json!({"input": 1000, "output": 500, "total": 1500})
    );
    // gpt-4o's default prices: 2.5e-6 per input token, 1e-5 per output token.
    assert!(close(&chat["costDetails"]["input"], 0.0025), "{chat}");
    assert!(close(&chat["costDetails"]["output"], 0.005), "{chat}");
    assert!(close(&chat["totalCost"], 0.0075), "{chat}");

    let score = &trace["scores"][0];
    assert_eq!(score["id"], "b92dae61-7091-4d59-a718-d66df9617801");
    assert_eq!(score["name"], "quality");
    assert_eq!(score["value"], 0.9);
    assert_eq!(score["dataType"], "NUMERIC");
    assert_eq!(score["comment"], "ok");
    assert_eq!(score["source"], "API");
    assert_eq!(score["traceId"], trace_id);
    assert_eq!(score["timestamp"], "2026-11-27T09:09:02.526Z");
}

/// `@observe()` decorators: the outermost function is the trace (three `trace-create`s with
/// partial fields), the inner one a span whose update adds metadata and output.
pub async fn decorator_story(url: &str, read_url: ReadUrl<'_>) {
    post_all_accepted(url, &fixture("python-sdk-2.60.10-observe-decorators.json")).await;
    let trace = read_trace_until(read_url, "d5870813-9ea3-451f-91c4-12d99ca4bf78", &|t| {
        observation_count(t) == 1 && t["output"] == json!(7)
    })
    .await;
    assert_eq!(trace["name"], "outer-fn");
    assert_eq!(trace["input"], json!({"args": [3], "kwargs": {}}));
    assert_eq!(trace["userId"], "u2");
    assert_eq!(trace["sessionId"], "s2");
    assert_eq!(trace["tags"], json!(["deco"]));
    assert_eq!(trace["timestamp"], "2026-11-27T09:09:02.586Z");
    let inner = observation(&trace, "inner");
    assert_eq!(inner["id"], "007df665-3888-4310-937b-f7c8268b957d");
    assert_eq!(inner["parentObservationId"], Value::Null);
    assert_eq!(inner["input"], json!({"args": [3], "kwargs": {}}));
    assert_eq!(inner["output"], json!(6));
    assert_eq!(inner["metadata"], json!({"inner": "true"}));
    assert_eq!(inner["endTime"], "2026-11-27T09:09:02.587Z");
}

/// LangChain `CallbackHandler`, every event in a request of its own: each update completes an
/// observation created in an earlier request; the last `trace-create` adds only the output.
pub async fn langchain_story_event_by_event(url: &str, read_url: ReadUrl<'_>) {
    for event in fixture("python-sdk-2.60.10-langchain-callback.json") {
        post_all_accepted(url, &[event]).await;
    }
    let answer_output = "fake answer";
    let trace = read_trace_until(read_url, "01a21c43-effc-76b4-a928-e13bc2c46021", &|t| {
        observation_count(t) == 3
            && t["output"]["content"] == answer_output
            && t["observations"]
                .as_array()
                .is_some_and(|o| o.iter().all(|o| !o["endTime"].is_null()))
    })
    .await;
    assert_eq!(trace["name"], "lc-chain");
    assert_eq!(trace["userId"], "lc-user");
    assert_eq!(trace["sessionId"], "lc-sess");
    assert_eq!(trace["input"], json!({"q": "what is otel?"}));
    let sequence = observation(&trace, "RunnableSequence");
    assert_eq!(sequence["parentObservationId"], Value::Null);
    assert_eq!(sequence["output"]["content"], answer_output);
    let sequence_id = "22f78847-7b41-4c3a-b4a9-e990e3c5925e";
    let prompt = observation(&trace, "ChatPromptTemplate");
    assert_eq!(prompt["parentObservationId"], sequence_id);
    assert_eq!(prompt["metadata"], json!({"tags": ["seq:step:1"]}));
    assert_eq!(prompt["output"]["messages"][1]["content"], "what is otel?");
    let model = observation(&trace, "FakeListChatModel");
    assert_eq!(model["type"], "GENERATION");
    assert_eq!(model["parentObservationId"], sequence_id);
    assert_eq!(
        model["input"],
        json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is otel?"}])
    );
    assert_eq!(
        model["output"],
        json!({"role": "assistant", "content": answer_output})
    );
    assert_eq!(model["metadata"]["ls_provider"], "fakelistchatmodel");
    assert_eq!(model["endTime"], "2026-11-27T09:09:04.133Z");
}

/// A batch of valid and invalid events: 207 with the right split, only the valid ones land;
/// and the places where Langfuse loses data or state, done right (docs/conversion.md).
pub async fn mixed_batch_story(url: &str, read_url: ReadUrl<'_>) {
    let t = |s: u32| format!("2026-11-27T10:00:{s:02}.000Z");
    let trace_id = "mixed-trace";
    let batch = json!({"batch": [
        {"id": "ok-trace", "type": "trace-create", "timestamp": t(0),
         "body": {"id": trace_id, "name": "mixed", "public": true, "metadata": {"team": "a"}}},
        {"id": "bad-time", "type": "span-create", "timestamp": "2026-11-27T10:00:00",
         "body": {"id": "never-1", "traceId": trace_id}},
        {"id": "ok-agent", "type": "agent-create", "timestamp": t(1),
         "body": {"id": "agent-1", "traceId": trace_id, "name": "planner", "environment": "staging"}},
        {"id": "bad-level", "type": "span-create", "timestamp": t(1),
         "body": {"id": "never-2", "traceId": trace_id, "level": "LOUD"}},
        {"id": "log", "type": "sdk-log", "timestamp": t(1), "body": {"log": {"msg": "hi"}}},
        {"id": "ok-gen", "type": "generation-create", "timestamp": t(2),
         "body": {"id": "gen-1", "traceId": trace_id, "name": "llm", "parentObservationId": "agent-1",
                  "model": "gpt-4o", "completionStartTime": "2026-11-27T10:00:02.250Z",
                  "promptName": "support", "promptVersion": 3,
                  "usage": {"promptTokens": 100, "completionTokens": 20, "totalTokens": 120},
                  "costDetails": {"input": 0.5, "output": 0.25, "total": 0.75}}},
        {"id": "bad-type", "type": "dataset-run-item-create", "timestamp": t(2), "body": {}},
        {"id": "bad-update", "type": "generation-update", "timestamp": t(3), "body": {"traceId": trace_id}},
        {"id": "ok-no-body-id", "type": "span-create", "timestamp": t(3),
         "body": {"traceId": trace_id, "name": "anonymous"}},
        {"id": "ok-agent-update", "type": "generation-update", "timestamp": t(4),
         "body": {"id": "agent-1", "traceId": trace_id, "output": "planned", "endTime": t(5)}},
        {"id": "bad-score", "type": "score-create", "timestamp": t(4),
         "body": {"traceId": trace_id, "value": 1}},
        {"id": "ok-score", "type": "score-create", "timestamp": t(4),
         "body": {"id": "score-1", "traceId": trace_id, "name": "verdict", "value": "good"}},
    ]});
    let (status, answer) = post_batch(url, &test_auth(), &batch).await;
    assert_eq!(status, 207, "{answer}");
    let ids = |list: &str| -> Vec<String> {
        answer[list]
            .as_array()
            .expect("list")
            .iter()
            .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        ids("successes"),
        [
            "ok-trace",
            "ok-agent",
            "ok-gen",
            "ok-no-body-id",
            "ok-agent-update",
            "ok-score"
        ]
    );
    assert_eq!(
        ids("errors"),
        [
            "bad-time",
            "bad-level",
            "bad-type",
            "bad-update",
            "bad-score"
        ]
    );
    for error in answer["errors"].as_array().expect("errors") {
        assert_eq!(error["status"], 400);
        assert_eq!(error["message"], "Invalid request data");
        assert!(error["error"].as_str().is_some_and(|e| !e.is_empty()));
    }

    // A later trace-create without `public` and with an environment: the trace stays public
    // (Langfuse un-publishes it) and takes the environment (Langfuse keeps the first one).
    let later = json!({"batch": [{"id": "ok-trace-2", "type": "trace-create", "timestamp": t(9),
                                  "body": {"id": trace_id, "environment": "production", "metadata": {"stage": "b"}}}]});
    let (status, _) = post_batch(url, &test_auth(), &later).await;
    assert_eq!(status, 207);

    let trace = read_trace_until(read_url, trace_id, &|t| {
        observation_count(t) == 3
            && t["environment"] == "production"
            && t["scores"].as_array().is_some_and(|s| s.len() == 1)
    })
    .await;
    assert_eq!(trace["name"], "mixed");
    assert_eq!(trace["public"], true);
    assert_eq!(trace["metadata"], json!({"team": "a", "stage": "b"}));
    // A type change by an update keeps one row, of the created type.
    let agent = observation(&trace, "planner");
    assert_eq!(agent["type"], "AGENT");
    assert_eq!(agent["environment"], "staging");
    assert_eq!(agent["output"], "planned");
    assert_eq!(agent["endTime"], t(5));
    let generation = observation(&trace, "llm");
    assert_eq!(generation["parentObservationId"], "agent-1");
    assert_eq!(
        generation["completionStartTime"],
        "2026-11-27T10:00:02.250Z"
    );
    assert_eq!(generation["promptName"], "support");
    assert_eq!(generation["promptVersion"], 3);
    assert_eq!(
        generation["usageDetails"],
        json!({"input": 100, "output": 20, "total": 120})
    );
    assert!(
        close(&generation["totalCost"], 0.75),
        "provided cost wins: {generation}"
    );
    // An event without body.id is stored under its envelope id (Langfuse answers 201 and
    // drops it).
    let anonymous = observation(&trace, "anonymous");
    assert_eq!(anonymous["id"], "ok-no-body-id");
    let score = &trace["scores"][0];
    assert_eq!(score["name"], "verdict");
    assert_eq!(score["dataType"], "CATEGORICAL");
    assert_eq!(score["stringValue"], "good");
}

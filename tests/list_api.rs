//! The list API as a Langfuse client reads it: `GET /api/public/traces`, `/sessions`,
//! `/sessions/{id}`, `/observations` and `/metrics/daily` against the real binary fed over
//! OTLP/HTTP, with their filters, pages, orders, project scoping and refusals. The same
//! assertions run on the embedded SQLite store and on ClickHouse (`events_full` and the v3
//! tables, through the chdb engine of deploy/dev/chdb_http.py).

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use support::services::{ClickHouse, available};
use support::{
    Server, basic_auth, client, get_json, int_attr, request, span, string_attr, test_auth,
};

/// The first trace's start (2026-08-06T08:00:00.123Z, the helpers' span start), in ns.
const T0_NS: u64 = 1_786_003_200_123_456_789;
const DAY_S: u64 = 86_400;

/// One trace to send: a root span and, optionally, a chat generation under it.
struct Sent {
    id: &'static str,
    name: &'static str,
    user: &'static str,
    session: &'static str,
    tags: &'static str,
    environment: &'static str,
    /// Seconds after [`T0_NS`].
    after_s: u64,
    /// Model, input tokens, output tokens, cost.
    generation: Option<(&'static str, i64, i64, f64)>,
}

const T1: &str = "11a00000000000000000000000000001";
const T2: &str = "11a00000000000000000000000000002";
const T3: &str = "11a00000000000000000000000000003";
const T4: &str = "11a00000000000000000000000000004";
const T5: &str = "11a00000000000000000000000000005";
const OTHER: &str = "22b00000000000000000000000000001";

fn first_project() -> Vec<Sent> {
    vec![
        Sent {
            id: T1,
            name: "chat",
            user: "alice",
            session: "s1",
            tags: r#"["red","blue"]"#,
            environment: "default",
            after_s: 0,
            generation: Some(("gpt-4o", 100, 20, 0.01)),
        },
        Sent {
            id: T2,
            name: "chat",
            user: "bob",
            session: "s1",
            tags: r#"["red"]"#,
            environment: "default",
            after_s: 60,
            generation: Some(("gpt-4o-mini", 10, 5, 0.002)),
        },
        Sent {
            id: T3,
            name: "search",
            user: "alice",
            session: "s2",
            tags: "",
            environment: "prod",
            after_s: 120,
            generation: None,
        },
        Sent {
            id: T4,
            name: "chat",
            user: "carol",
            session: "",
            tags: r#"["blue"]"#,
            environment: "default",
            after_s: DAY_S,
            generation: Some(("gpt-4o", 50, 10, 0.005)),
        },
        Sent {
            id: T5,
            name: "search",
            user: "alice",
            session: "s2",
            tags: "",
            environment: "prod",
            after_s: DAY_S + 60,
            generation: None,
        },
    ]
}

/// Root and generation span ids of a trace: unique per trace (v3 `observations` are keyed by
/// id without the trace).
fn span_ids(trace_id: &str) -> (String, String) {
    let tail = &trace_id[trace_id.len() - 4..];
    (
        format!("a000000000000{}", &tail[1..]),
        format!("b000000000000{}", &tail[1..]),
    )
}

async fn send(server: &Server, trace: &Sent, auth: &str) {
    let (root_id, generation_id) = span_ids(trace.id);
    let mut attributes = vec![
        string_attr("langfuse.trace.name", trace.name),
        string_attr("langfuse.environment", trace.environment),
    ];
    if !trace.user.is_empty() {
        attributes.push(string_attr("user.id", trace.user));
    }
    if !trace.session.is_empty() {
        attributes.push(string_attr("session.id", trace.session));
    }
    if !trace.tags.is_empty() {
        attributes.push(string_attr("langfuse.trace.tags", trace.tags));
    }
    let start = T0_NS + trace.after_s * 1_000_000_000;
    let mut root = span(trace.id, &root_id, "", "root", attributes);
    root.start_time_unix_nano = start;
    root.end_time_unix_nano = start + 2_000_000_000;
    let mut spans = vec![root];
    if let Some((model, input, output, cost)) = trace.generation {
        let mut generation = span(
            trace.id,
            &generation_id,
            &root_id,
            "chat",
            vec![
                string_attr("gen_ai.operation.name", "chat"),
                string_attr("gen_ai.request.model", model),
                int_attr("gen_ai.usage.input_tokens", input),
                int_attr("gen_ai.usage.output_tokens", output),
                string_attr(
                    "langfuse.observation.cost_details",
                    &json!({"total": cost}).to_string(),
                ),
                string_attr("langfuse.environment", trace.environment),
            ],
        );
        generation.start_time_unix_nano = start + 500_000_000;
        generation.end_time_unix_nano = start + 1_500_000_000;
        spans.push(generation);
    }
    let response = client()
        .post(server.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .header("authorization", auth)
        .body(prost::Message::encode_to_vec(&request(spans)))
        .send()
        .await
        .expect("POST /v1/traces");
    assert_eq!(response.status(), 200, "{}", trace.id);
}

async fn send_score(server: &Server, trace_id: &str, score_id: &str) {
    let response = client()
        .post(server.http_url("/api/public/scores"))
        .header("content-type", "application/json")
        .header("authorization", test_auth())
        .body(
            json!({"id": score_id, "traceId": trace_id, "name": "quality", "value": 1}).to_string(),
        )
        .send()
        .await
        .expect("POST /api/public/scores");
    assert!(response.status().is_success(), "{}", response.status());
}

/// A second project's key pair.
fn other_project_key(server: &Server) -> String {
    let output = server.cli(&["keys", "create", "--project", "other", "--json"]);
    assert!(
        output.status.success(),
        "keys create: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    basic_auth(
        created["publicKey"].as_str().expect("publicKey"),
        created["secretKey"].as_str().expect("secretKey"),
    )
}

/// GETs until `done` holds for the answer (writes land asynchronously), or fails after 60 s.
async fn get_until(
    server: &Server,
    path: &str,
    auth: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get_json(server, path, auth).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: never complete: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn ok(server: &Server, path: &str, auth: &str) -> Value {
    let (status, body) = get_json(server, path, auth).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {body}"))
        .iter()
        .map(|item| item["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn meta(body: &Value) -> (u64, u64, u64, u64) {
    let meta = &body["meta"];
    let n = |key: &str| {
        meta[key]
            .as_u64()
            .unwrap_or_else(|| panic!("meta.{key}: {body}"))
    };
    (n("page"), n("limit"), n("totalItems"), n("totalPages"))
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

/// Sends both projects' traces and a score, waits until they are all readable, and checks
/// every list; `store` names the run in failures.
async fn check_lists(server: &Server, store: &str) {
    let auth = test_auth();
    let other = other_project_key(server);
    for trace in first_project() {
        send(server, &trace, &auth).await;
    }
    send(
        server,
        &Sent {
            id: OTHER,
            name: "chat",
            user: "alice",
            session: "s1",
            tags: r#"["red"]"#,
            environment: "default",
            after_s: 30,
            generation: Some(("gpt-4o", 1, 1, 0.5)),
        },
        &other,
    )
    .await;
    send_score(server, T1, "score-t1").await;

    // Every trace with every observation, and the score.
    let all = get_until(server, "/api/public/traces", &auth, |body| {
        let observations: usize = body["data"]
            .as_array()
            .map(|traces| {
                traces
                    .iter()
                    .map(|t| t["observations"].as_array().map_or(0, Vec::len))
                    .sum()
            })
            .unwrap_or(0);
        body["meta"]["totalItems"] == 5
            && observations == 8
            && body["data"][4]["scores"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
    })
    .await;
    assert_eq!(ids(&all), [T5, T4, T3, T2, T1], "{store}: newest first");
    assert_eq!(meta(&all), (1, 50, 5, 1), "{store}");
    let t1 = &all["data"][4];
    let (root_id, generation_id) = span_ids(T1);
    assert_eq!(t1["name"], "chat", "{store}: {t1}");
    assert_eq!(t1["userId"], "alice", "{store}");
    assert_eq!(t1["sessionId"], "s1", "{store}");
    assert_eq!(t1["environment"], "default", "{store}");
    assert_eq!(t1["timestamp"], "2026-08-06T08:00:00.123Z", "{store}");
    let mut tags: Vec<&str> = t1["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    tags.sort();
    assert_eq!(tags, ["blue", "red"], "{store}");
    assert!(
        close(&t1["latency"], 2.0),
        "{store}: latency {}",
        t1["latency"]
    );
    assert!(
        close(&t1["totalCost"], 0.01),
        "{store}: totalCost {}",
        t1["totalCost"]
    );
    let mut observations: Vec<&str> = t1["observations"]
        .as_array()
        .expect("observations")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    observations.sort();
    assert_eq!(
        observations,
        [root_id.as_str(), generation_id.as_str()],
        "{store}"
    );
    assert_eq!(t1["scores"], json!(["score-t1"]), "{store}");
    let project_id = t1["projectId"].as_str().expect("projectId");
    assert_eq!(
        t1["htmlPath"],
        format!("/project/{project_id}/traces/{T1}"),
        "{store}"
    );

    // Order and pages.
    let oldest = ok(server, "/api/public/traces?orderBy=timestamp.asc", &auth).await;
    assert_eq!(ids(&oldest), [T1, T2, T3, T4, T5], "{store}");
    let page = ok(server, "/api/public/traces?limit=2&page=2", &auth).await;
    assert_eq!(ids(&page), [T3, T2], "{store}");
    assert_eq!(meta(&page), (2, 2, 5, 3), "{store}");
    let beyond = ok(server, "/api/public/traces?limit=2&page=9", &auth).await;
    assert_eq!(ids(&beyond), Vec::<String>::new(), "{store}");
    assert_eq!(meta(&beyond), (9, 2, 5, 3), "{store}");

    // Filters.
    for (query, expected) in [
        ("userId=alice", vec![T5, T3, T1]),
        ("name=chat", vec![T4, T2, T1]),
        ("sessionId=s1", vec![T2, T1]),
        ("tags=red", vec![T2, T1]),
        ("tags=red&tags=blue", vec![T1]),
        ("tags=green", vec![]),
        ("environment=prod", vec![T5, T3]),
        (
            "environment=prod&environment=default",
            vec![T5, T4, T3, T2, T1],
        ),
        ("fromTimestamp=2026-08-07T00:00:00Z", vec![T5, T4]),
        ("toTimestamp=2026-08-07T00:00:00Z", vec![T3, T2, T1]),
        (
            "fromTimestamp=2026-08-06T08:00:30Z&toTimestamp=2026-08-06T08:02:00.123Z",
            vec![T2],
        ),
        (
            "userId=alice&name=search&orderBy=timestamp.asc",
            vec![T3, T5],
        ),
    ] {
        let body = ok(server, &format!("/api/public/traces?{query}"), &auth).await;
        assert_eq!(ids(&body), expected, "{store}: {query}");
        assert_eq!(
            body["meta"]["totalItems"],
            expected.len(),
            "{store}: {query}"
        );
    }

    // Project scoping: the other key sees its own trace only, and none of the first's.
    let theirs = get_until(server, "/api/public/traces", &other, |body| {
        body["meta"]["totalItems"] == 1
    })
    .await;
    assert_eq!(ids(&theirs), [OTHER], "{store}");
    let theirs = ok(
        server,
        "/api/public/traces?userId=alice&sessionId=s1",
        &other,
    )
    .await;
    assert_eq!(ids(&theirs), [OTHER], "{store}");
    let ours = ok(
        server,
        "/api/public/traces?userId=alice&sessionId=s1",
        &auth,
    )
    .await;
    assert_eq!(ids(&ours), [T1], "{store}");

    // Refusals with a reason, and no key.
    for (query, says) in [
        ("limit=101", "limit"),
        ("limit=100000000000", "limit"),
        ("limit=0", "limit"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("orderBy=latency.desc", "timestamp.asc"),
        ("orderBy=timestamp", "timestamp.desc"),
        ("fromTimestamp=yesterday", "fromTimestamp"),
    ] {
        let (status, body) = get_json(server, &format!("/api/public/traces?{query}"), &auth).await;
        assert_eq!(status, 400, "{store}: {query}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(says)),
            "{store}: {query}: {body}"
        );
    }
    for path in [
        "/api/public/sessions?limit=1000",
        "/api/public/observations?type=GENERATION&limit=101",
        "/api/public/metrics/daily?page=0",
    ] {
        let (status, body) = get_json(server, path, &auth).await;
        assert_eq!(status, 400, "{store}: {path}: {body}");
    }
    let (status, _) = get_json(
        server,
        "/api/public/traces",
        &basic_auth("pk-lf-x", "sk-lf-x"),
    )
    .await;
    assert_eq!(status, 401, "{store}");
    let limit100 = ok(server, "/api/public/traces?limit=100", &auth).await;
    assert_eq!(meta(&limit100), (1, 100, 5, 1), "{store}");

    check_sessions(server, store, &auth, &other).await;
    check_observations(server, store, &auth, &other).await;
    check_daily_metrics(server, store, &auth, &other).await;
}

async fn check_sessions(server: &Server, store: &str, auth: &str, other: &str) {
    let sessions = ok(server, "/api/public/sessions", auth).await;
    assert_eq!(ids(&sessions), ["s2", "s1"], "{store}: newest first");
    assert_eq!(meta(&sessions), (1, 50, 2, 1), "{store}");
    let s1 = &sessions["data"][1];
    assert_eq!(s1["createdAt"], "2026-08-06T08:00:00.123Z", "{store}");
    assert_eq!(s1["environment"], "default", "{store}");
    assert_eq!(s1["countTraces"], 2, "{store}");
    assert!(s1["projectId"].is_string(), "{store}");
    for (query, expected) in [
        ("environment=prod", vec!["s2"]),
        ("fromTimestamp=2026-08-06T08:01:40Z", vec!["s2"]),
        ("toTimestamp=2026-08-06T08:01:40Z", vec!["s1"]),
        ("limit=1&page=2", vec!["s1"]),
    ] {
        let body = ok(server, &format!("/api/public/sessions?{query}"), auth).await;
        assert_eq!(ids(&body), expected, "{store}: {query}");
    }
    let paged = ok(server, "/api/public/sessions?limit=1", auth).await;
    assert_eq!(meta(&paged), (1, 1, 2, 2), "{store}");

    let session = ok(server, "/api/public/sessions/s1", auth).await;
    assert_eq!(session["id"], "s1", "{store}");
    assert_eq!(session["createdAt"], "2026-08-06T08:00:00.123Z", "{store}");
    let traces: Vec<&str> = session["traces"]
        .as_array()
        .expect("traces")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(traces, [T1, T2], "{store}: oldest first");
    let (status, body) = get_json(server, "/api/public/sessions/nope", auth).await;
    assert_eq!(status, 404, "{store}: {body}");

    // The other project's session of the same id is its own.
    let theirs = ok(server, "/api/public/sessions/s1", other).await;
    let traces: Vec<&str> = theirs["traces"]
        .as_array()
        .expect("traces")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(traces, [OTHER], "{store}");
    let (status, _) = get_json(server, "/api/public/sessions/s2", other).await;
    assert_eq!(status, 404, "{store}");
}

async fn check_observations(server: &Server, store: &str, auth: &str, other: &str) {
    // traceId alone: every observation of the trace, as before the list had pages.
    let of_trace = ok(
        server,
        &format!("/api/public/observations?traceId={T1}"),
        auth,
    )
    .await;
    assert_eq!(
        of_trace["data"].as_array().map(Vec::len),
        Some(2),
        "{store}: {of_trace}"
    );
    assert_eq!(meta(&of_trace), (1, 2, 2, 1), "{store}");

    let generation = |trace: &str| span_ids(trace).1;
    let generations = ok(server, "/api/public/observations?type=GENERATION", auth).await;
    assert_eq!(
        ids(&generations),
        [generation(T4), generation(T2), generation(T1)],
        "{store}: newest first"
    );
    assert_eq!(meta(&generations), (1, 50, 3, 1), "{store}");
    let first = &generations["data"][2];
    assert_eq!(first["traceId"], T1, "{store}");
    assert_eq!(first["model"], "gpt-4o", "{store}");
    assert_eq!(first["type"], "GENERATION", "{store}");
    assert_eq!(first["usageDetails"]["input"], 100, "{store}: {first}");
    for (query, expected, total) in [
        ("type=GENERATION&limit=1&page=2", vec![generation(T2)], 3),
        ("type=GENERATION&userId=alice", vec![generation(T1)], 1),
        (
            "type=SPAN&environment=prod",
            vec![span_ids(T5).0, span_ids(T3).0],
            2,
        ),
        (
            &format!("parentObservationId={}", span_ids(T2).0),
            vec![generation(T2)],
            1,
        ),
        (
            "type=GENERATION&fromStartTime=2026-08-07T00:00:00Z",
            vec![generation(T4)],
            1,
        ),
        (
            "type=GENERATION&toStartTime=2026-08-06T08:00:01Z",
            vec![generation(T1)],
            1,
        ),
        (&format!("traceId={T1}&limit=1"), vec![generation(T1)], 2),
        ("name=chat&type=SPAN", vec![], 0),
    ] {
        let body = ok(server, &format!("/api/public/observations?{query}"), auth).await;
        assert_eq!(ids(&body), expected, "{store}: {query}");
        assert_eq!(body["meta"]["totalItems"], total, "{store}: {query}");
    }
    let theirs = ok(server, "/api/public/observations?type=GENERATION", other).await;
    assert_eq!(ids(&theirs), [span_ids(OTHER).1], "{store}");
    let (status, body) = get_json(server, "/api/public/observations?toStartTime=soon", auth).await;
    assert_eq!(status, 400, "{store}: {body}");
}

async fn check_daily_metrics(server: &Server, store: &str, auth: &str, other: &str) {
    let daily = ok(server, "/api/public/metrics/daily", auth).await;
    let days = daily["data"].as_array().expect("data");
    assert_eq!(days.len(), 2, "{store}: {daily}");
    assert_eq!(meta(&daily), (1, 50, 2, 1), "{store}");
    let (second, first) = (&days[0], &days[1]);
    assert_eq!(second["date"], "2026-08-07", "{store}: newest first");
    assert_eq!(second["countTraces"], 2, "{store}: {second}");
    assert_eq!(second["countObservations"], 3, "{store}: {second}");
    assert!(close(&second["totalCost"], 0.005), "{store}: {second}");
    let usage = second["usage"].as_array().expect("usage");
    assert_eq!(usage.len(), 1, "{store}: {second}");
    assert_eq!(usage[0]["model"], "gpt-4o", "{store}");
    assert_eq!(usage[0]["inputUsage"], 50, "{store}");
    assert_eq!(usage[0]["outputUsage"], 10, "{store}");
    assert_eq!(usage[0]["countTraces"], 1, "{store}");
    assert_eq!(usage[0]["countObservations"], 1, "{store}");

    assert_eq!(first["date"], "2026-08-06", "{store}");
    assert_eq!(first["countTraces"], 3, "{store}: {first}");
    assert_eq!(first["countObservations"], 5, "{store}: {first}");
    assert!(close(&first["totalCost"], 0.012), "{store}: {first}");
    let models: Vec<&str> = first["usage"]
        .as_array()
        .expect("usage")
        .iter()
        .filter_map(|u| u["model"].as_str())
        .collect();
    assert_eq!(models, ["gpt-4o", "gpt-4o-mini"], "{store}: {first}");
    let mini = &first["usage"][1];
    assert_eq!(mini["inputUsage"], 10, "{store}");
    assert_eq!(mini["outputUsage"], 5, "{store}");
    assert!(close(&mini["totalCost"], 0.002), "{store}: {mini}");

    for (query, dates, traces) in [
        (
            "traceName=search",
            vec!["2026-08-07", "2026-08-06"],
            vec![1, 1],
        ),
        ("userId=bob", vec!["2026-08-06"], vec![1]),
        ("tags=blue", vec!["2026-08-07", "2026-08-06"], vec![1, 1]),
        (
            "environment=prod&fromTimestamp=2026-08-07T00:00:00Z",
            vec!["2026-08-07"],
            vec![1],
        ),
        ("limit=1&page=2", vec!["2026-08-06"], vec![3]),
    ] {
        let body = ok(server, &format!("/api/public/metrics/daily?{query}"), auth).await;
        let days = body["data"].as_array().expect("data");
        let got: Vec<&str> = days.iter().filter_map(|d| d["date"].as_str()).collect();
        assert_eq!(got, dates, "{store}: {query}: {body}");
        let counts: Vec<u64> = days
            .iter()
            .filter_map(|d| d["countTraces"].as_u64())
            .collect();
        assert_eq!(counts, traces, "{store}: {query}: {body}");
    }
    let search = ok(server, "/api/public/metrics/daily?traceName=search", auth).await;
    assert_eq!(search["data"][0]["usage"], json!([]), "{store}: spans only");

    let theirs = ok(server, "/api/public/metrics/daily", other).await;
    assert_eq!(
        theirs["data"].as_array().map(Vec::len),
        Some(1),
        "{store}: {theirs}"
    );
    assert!(
        close(&theirs["data"][0]["totalCost"], 0.5),
        "{store}: {theirs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_page_and_scope_on_the_embedded_store() {
    let server = Server::start();
    check_lists(&server, "sqlite").await;
}

/// The embedded server over a fresh ClickHouse with the mode's tables (`spanbridge migrate`
/// first, as users run it).
async fn check_lists_on_clickhouse(mode: &str) {
    if !available(&format!("list API through ClickHouse ({mode})")) {
        return;
    }
    let _serial = support::services::one_stack_at_a_time().await;
    let (clickhouse, settings) = ClickHouse::migrated(mode);
    let settings = settings
        .each_ref()
        .map(|(key, value)| (*key, value.as_str()));
    let server = Server::start_with(&settings);
    check_lists(&server, &format!("clickhouse {mode}")).await;
    drop(server);
    drop(clickhouse);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_page_and_scope_on_clickhouse_events_full() {
    check_lists_on_clickhouse("events").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_page_and_scope_on_clickhouse_v3_tables() {
    check_lists_on_clickhouse("v3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_page_and_scope_on_clickhouse_in_dual_mode() {
    check_lists_on_clickhouse("both").await;
}

//! A Langfuse v2 deployment's Postgres as the event store (`langfuse_v2.url`), checked the way
//! v2 reads it: the real binary, a real Postgres loaded with v2.95's schema and seed (the
//! langfuse-v2 kit, copied to tests/fixtures/langfuse-v2; `LANGFUSE_V2_KIT` = another copy),
//! the SDK-2.x batch API events of the kit's test trace and an OTLP GenAI trace, then the rows
//! compared column by column with the rows v2 itself wrote (`reference_rows.json`) and every
//! read query of v2's UI and public API (`queries.json`) run with its parameters and checked,
//! in `serve` and in the Kafka deployment. Also: a database that is not v2's is refused with
//! the missing tables named and nothing created; Postgres refusing connections mid-stream gives
//! clients 503 and loses nothing acknowledged; concurrent writers of one trace never conflict;
//! the read API reads the store.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use support::batch_api::{INGESTION, post_batch};
use support::*;

use support::postgres::{ADMIN_URL, TestDb};
const PROJECT: &str = "spanbridge-project";
const V2_PUBLIC_KEY: &str = "pk-lf-spanbridge-0000-0000-0000-000000000001";
const V2_SECRET_KEY: &str = "sk-lf-spanbridge-0000-0000-0000-000000000001";
const SALT: &str = "mysalt";
const T: &str = "7f3c0e52-1d2a-4f6b-9c3e-1a2b3c4d5e01";
const S: &str = "7f3c0e52-1d2a-4f6b-9c3e-1a2b3c4d5e02";
const G: &str = "7f3c0e52-1d2a-4f6b-9c3e-1a2b3c4d5e03";
const E: &str = "7f3c0e52-1d2a-4f6b-9c3e-1a2b3c4d5e04";
const SC1: &str = "7f3c0e52-1d2a-4f6b-9c3e-1a2b3c4d5e05";
const SC2: &str = "7f3c0e52-1d2a-4f6b-9c3e-1a2b3c4d5e06";
const SESSION: &str = "session-7f3c0e52";
const USER: &str = "user-42";

fn kit(file: &str) -> PathBuf {
    std::env::var_os("LANGFUSE_V2_KIT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/langfuse-v2")
        })
        .join(file)
}

impl TestDb {
    /// A database with v2.95's schema and seed (psql: schema.sql resets search_path, so it
    /// runs in its own session, as the kit says).
    async fn v2(tag: &str) -> Self {
        let db = Self::create(tag).await;
        for file in ["schema.sql", "seed.sql"] {
            let output = Command::new("psql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                ])
                .args(["-d", &db.name, "-f"])
                .arg(kit(file))
                .output()
                .expect("psql");
            assert!(
                output.status.success(),
                "{file}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        db
    }

    async fn connect(&self) -> PgConnection {
        let mut connection = PgConnection::connect(&self.url()).await.expect("connect");
        sqlx::query("SET TIME ZONE 'UTC'")
            .execute(&mut connection)
            .await
            .expect("utc");
        connection
    }
}

fn v2_auth() -> String {
    basic_auth(V2_PUBLIC_KEY, V2_SECRET_KEY)
}

/// `spanbridge serve` writing into the v2 database, with keys, organisation and models from it.
fn v2_server(db: &TestDb, extra: &[(&str, &str)]) -> Server {
    let url = db.url();
    let mut env = vec![
        ("SPANBRIDGE_LANGFUSE_V2__URL", url.as_str()),
        ("SPANBRIDGE_META__URL", url.as_str()),
        ("SPANBRIDGE_META__SOURCE", "langfuse"),
        ("SPANBRIDGE_AUTH__SALT", SALT),
        ("SPANBRIDGE_INIT_PUBLIC_KEY", ""),
        ("SPANBRIDGE_INIT_SECRET_KEY", ""),
    ];
    env.extend_from_slice(extra);
    Server::start_with(&env)
}

/// The kit's test trace as an SDK 2.x sends it (validate.py `EVENTS`).
fn kit_events() -> Vec<Value> {
    vec![
        json!({"id": "evt-01", "type": "trace-create", "timestamp": "2025-11-06T10:00:00.000500Z", "body": {
            "id": T, "timestamp": "2025-11-06T10:00:00.000123Z", "name": "agent-run", "userId": USER, "sessionId": SESSION,
            "release": "rel-1.2.3", "version": "v7", "tags": ["prod", "agent", "agent"],
            "metadata": {"env": "test", "nested": {"a": 1}}, "input": {"question": "What is the capital of France?"}}}),
        json!({"id": "evt-02", "type": "span-create", "timestamp": "2025-11-06T10:00:00.010600Z", "body": {
            "id": S, "traceId": T, "name": "agent-step", "startTime": "2025-11-06T10:00:00.010456Z",
            "input": {"step": 1}, "metadata": {"tool": "planner"}}}),
        json!({"id": "evt-03", "type": "generation-create", "timestamp": "2025-11-06T10:00:00.021000Z", "body": {
            "id": G, "traceId": T, "parentObservationId": S, "name": "llm-call", "startTime": "2025-11-06T10:00:00.020999Z",
            "model": "gpt-4o", "modelParameters": {"temperature": 0.2, "max_tokens": 256, "stream": false},
            "input": [{"role": "system", "content": "You are a helpful assistant."},
                      {"role": "user", "content": "What is the capital of France?"}],
            "metadata": {"provider": "openai"}}}),
        json!({"id": "evt-04", "type": "event-create", "timestamp": "2025-11-06T10:00:01.100100Z", "body": {
            "id": E, "traceId": T, "parentObservationId": S, "name": "cache-lookup", "startTime": "2025-11-06T10:00:01.100000Z",
            "input": {"key": "france"}, "output": {"hit": false}, "level": "WARNING", "statusMessage": "cache miss"}}),
        json!({"id": "evt-05", "type": "trace-create", "timestamp": "2025-11-06T10:00:01.600000Z", "body": {
            "id": T, "output": {"answer": "Paris"}, "metadata": {"nested": {"b": 2}, "finished": true}, "tags": ["done"]}}),
        json!({"id": "evt-06", "type": "score-create", "timestamp": "2025-11-06T10:00:01.700000Z", "body": {
            "id": SC1, "traceId": T, "name": "quality", "value": 0.9, "comment": "good answer"}}),
        json!({"id": "evt-07", "type": "score-create", "timestamp": "2025-11-06T10:00:01.710000Z", "body": {
            "id": SC2, "traceId": T, "observationId": G, "name": "correct", "value": 1, "dataType": "BOOLEAN"}}),
        json!({"id": "evt-08", "type": "generation-update", "timestamp": "2025-11-06T10:00:01.020500Z", "body": {
            "id": G, "traceId": T, "endTime": "2025-11-06T10:00:01.020250Z", "completionStartTime": "2025-11-06T10:00:00.320500Z",
            "output": {"role": "assistant", "content": "Paris"}, "usage": {"input": 100, "output": 50, "total": 150, "unit": "TOKENS"},
            "metadata": {"finish_reason": "stop"}}}),
        json!({"id": "evt-09", "type": "span-update", "timestamp": "2025-11-06T10:00:01.500900Z", "body": {
            "id": S, "traceId": T, "endTime": "2025-11-06T10:00:01.500789Z", "output": {"done": true}}}),
    ]
}

async fn post_events(server: &Server, events: &[Value]) -> (u16, Value) {
    post_batch(
        &server.http_url(INGESTION),
        &v2_auth(),
        &json!({ "batch": events }),
    )
    .await
}

/// Rows of a query as JSON objects (column names as the query aliases them).
async fn rows(pg: &mut PgConnection, sql: &str) -> Vec<Value> {
    let wrapped = format!(
        "SELECT coalesce(json_agg(x), '[]')::text FROM ({}) x",
        sql.trim().trim_end_matches(';')
    );
    let text: String = sqlx::query_scalar(sqlx::AssertSqlSafe(wrapped))
        .fetch_one(pg)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}"));
    serde_json::from_str::<Value>(&text)
        .expect("json")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn wait_for(pg: &mut PgConnection, sql: &str, want: i64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut *pg)
            .await
            .expect("count");
        if got >= want {
            return;
        }
        assert!(Instant::now() < deadline, "{sql}: {got} < {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn close(got: &Value, want: &Value) -> bool {
    match (got.as_f64(), want.as_f64()) {
        // Relative: float8 latencies of timestamp(3) differences (1.4900000095…).
        (Some(g), Some(w)) => (g - w).abs() <= 1e-6 * w.abs().max(1e-12),
        _ => got == want,
    }
}

/// The columns v2 fills with the time of ingestion (not comparable across runs).
fn volatile(table: &str, column: &str) -> bool {
    matches!(column, "created_at" | "updated_at") || (table == "scores" && column == "timestamp")
}

/// `$n` of a captured query replaced by SQL literals of its parameters (placeholders
/// substituted, typed by the Prisma engine's `argTypes` as the kit's validator binds them).
fn with_parameters(query: &Value, substitutions: &[(&str, String)], times: (&str, &str)) -> String {
    let literal = |value: &Value, kind: &str| -> String {
        let text_of = |text: &str| -> String {
            let mut text = text.to_owned();
            for (placeholder, value) in substitutions {
                text = text.replace(placeholder, value);
            }
            text
        };
        match (value, kind) {
            (Value::Null, _) => "NULL".into(),
            (Value::String(s), "DateTime") => {
                let time = match s.as_str() {
                    "__FROM_TS__" => times.0.to_owned(),
                    "__TO_TS__" => times.1.to_owned(),
                    other => other.to_owned(),
                };
                format!("'{time}'::timestamptz")
            }
            (Value::String(s), _) => {
                let s = match s.as_str() {
                    "__FROM_TS__" => times.0.to_owned(),
                    "__TO_TS__" => times.1.to_owned(),
                    other => text_of(other),
                };
                format!("'{}'", s.replace('\'', "''"))
            }
            (Value::Array(items), _) => format!(
                "ARRAY[{}]::text[]",
                items
                    .iter()
                    .map(|i| format!(
                        "'{}'",
                        text_of(i.as_str().unwrap_or_default()).replace('\'', "''")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            (Value::Bool(b), _) => b.to_string(),
            (other, _) => other.to_string(),
        }
    };
    let params = query["params"].as_array().cloned().unwrap_or_default();
    let kinds: Vec<String> = query["param_types"]
        .as_array()
        .map(|k| {
            k.iter()
                .map(|t| t.as_str().unwrap_or("Text").to_owned())
                .collect()
        })
        .unwrap_or_else(|| vec!["Text".into(); params.len()]);
    let literals: Vec<String> = params
        .iter()
        .zip(
            kinds
                .iter()
                .map(String::as_str)
                .chain(std::iter::repeat("Text")),
        )
        .map(|(value, kind)| literal(value, kind))
        .collect();
    let sql = query["query"].as_str().expect("query text");
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|(_, d)| d.is_ascii_digit()) {
            let start = i + 1;
            let mut end = start;
            while let Some((j, d)) = chars.peek().copied() {
                if d.is_ascii_digit() {
                    end = j + 1;
                    chars.next();
                } else {
                    break;
                }
            }
            let n: usize = sql[start..end].parse().expect("placeholder");
            out.push_str(&literals[n - 1]);
        } else {
            out.push(c);
        }
    }
    out
}

fn fast_hash() -> String {
    use sha2::{Digest, Sha256};
    let salt = hex::encode(Sha256::digest(SALT.as_bytes()));
    hex::encode(Sha256::digest(format!("{V2_SECRET_KEY}{salt}").as_bytes()))
}

/// Runs every entry of queries.json; returns each entry's result rows, one list per query.
async fn run_queries(pg: &mut PgConnection) -> Vec<(String, Vec<Vec<Value>>)> {
    let entries: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(kit("queries.json")).expect("queries.json"))
            .expect("queries JSON");
    let substitutions = [
        ("__PROJECT_ID__", PROJECT.to_owned()),
        ("__TRACE_ID__", T.to_owned()),
        ("__SPAN_ID__", S.to_owned()),
        ("__GENERATION_ID__", G.to_owned()),
        ("__SESSION_ID__", SESSION.to_owned()),
        ("__USER_ID__", USER.to_owned()),
        ("__TAG__", "agent".to_owned()),
        ("__SEARCH__", "agent".to_owned()),
        ("__FAST_HASHED_SECRET_KEY__", fast_hash()),
    ];
    let mut out = Vec::new();
    for entry in entries {
        let name = entry["name"].as_str().unwrap_or_default().to_owned();
        // Scores carry the ingestion time (v2 sets scores.timestamp = now): their window is now.
        let now = sqlx::query_scalar::<_, String>(
            "SELECT to_char(now() AT TIME ZONE 'UTC' - interval '1 hour', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || '|' ||
                    to_char(now() AT TIME ZONE 'UTC' + interval '1 hour', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
        )
        .fetch_one(&mut *pg)
        .await
        .expect("now");
        let (from, to) = if name == "dashboard_score_aggregate" {
            let (a, b) = now.split_once('|').expect("window");
            (a.to_owned(), b.to_owned())
        } else {
            (
                "2025-11-06T09:00:00Z".to_owned(),
                "2025-11-06T11:00:00Z".to_owned(),
            )
        };
        let mut results = Vec::new();
        for query in entry["queries"].as_array().cloned().unwrap_or_default() {
            let sql = with_parameters(&query, &substitutions, (&from, &to));
            results.push(rows(pg, &sql).await);
        }
        out.push((name, results));
    }
    out
}

/// Asserts `row[column] == want` for each pair, naming the query on failure.
fn expect_columns(query: &str, row: &Value, expected: &[(&str, Value)]) {
    for (column, want) in expected {
        assert!(
            close(&row[*column], want),
            "{query}.{column}: got {} want {want}\nrow: {row}",
            row[*column]
        );
    }
}

fn ids(rows: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = rows
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids
}

/// What v2's UI and public API show for the kit's trace (the expectations of the kit's
/// validate.py, which hold for the rows v2 itself wrote).
fn check_v2_reads(results: &[(String, Vec<Vec<Value>>)]) {
    assert_eq!(results.len(), 36, "every entry of queries.json ran");
    for (name, res) in results {
        let r0 = res.first().cloned().unwrap_or_default();
        let one = || {
            assert_eq!(r0.len(), 1, "{name}: one row, got {r0:?}");
            r0[0].clone()
        };
        match name.as_str() {
            "api_key_auth" => {
                let row = one();
                assert_eq!(row["projectId"], PROJECT);
                assert_eq!(row["project"]["organization"]["id"], "spanbridge-org");
            }
            "ui_traces_all" | "ui_traces_all_search" => expect_columns(
                name,
                &one(),
                &[
                    ("id", json!(T)),
                    ("name", json!("agent-run")),
                    ("userId", json!(USER)),
                    ("sessionId", json!(SESSION)),
                    ("tags", json!(["agent", "done", "prod"])),
                    ("release", json!("rel-1.2.3")),
                    ("version", json!("v7")),
                    ("timestamp", json!("2025-11-06T10:00:00")),
                ],
            ),
            "ui_traces_count" | "ui_generations_count" => {
                assert_eq!(one()["count"], 1, "{name}")
            }
            "ui_traces_metrics" => {
                expect_columns(
                    name,
                    &one(),
                    &[
                        ("id", json!(T)),
                        ("promptTokens", json!(100)),
                        ("completionTokens", json!(50)),
                        ("totalTokens", json!(150)),
                        ("calculatedInputCost", json!(0.0005)),
                        ("calculatedOutputCost", json!(0.00075)),
                        ("calculatedTotalCost", json!(0.00125)),
                        ("latency", json!(1.49)),
                        ("observationCount", json!(3)),
                        ("level", json!("WARNING")),
                    ],
                );
                assert_eq!(ids(&res[1]), [SC1, SC2], "{name}: scores");
            }
            "ui_traces_filter_options" => {
                let names = |rows: &Vec<Value>, key: &str| -> Vec<Value> {
                    rows.iter().map(|r| r[key].clone()).collect()
                };
                assert_eq!(names(&res[0], "name"), [json!("correct"), json!("quality")]);
                assert_eq!(names(&res[1], "name"), [json!("agent-run")]);
                assert_eq!(
                    names(&res[2], "value"),
                    [json!("agent"), json!("done"), json!("prod")]
                );
            }
            "ui_trace_access_check" | "ui_session_access_check" => {
                assert_eq!(one()["public"], false, "{name}")
            }
            "ui_trace_by_id" => expect_columns(
                name,
                &one(),
                &[
                    ("id", json!(T)),
                    ("name", json!("agent-run")),
                    ("userId", json!(USER)),
                    ("sessionId", json!(SESSION)),
                    (
                        "metadata",
                        json!({"env": "test", "nested": {"a": 1, "b": 2}, "finished": true}),
                    ),
                    (
                        "input",
                        json!({"question": "What is the capital of France?"}),
                    ),
                    ("output", json!({"answer": "Paris"})),
                    ("tags", json!(["agent", "done", "prod"])),
                    ("public", json!(false)),
                    ("bookmarked", json!(false)),
                ],
            ),
            "ui_trace_with_observations_and_scores" => {
                assert_eq!(ids(&res[0]), [T]);
                assert_eq!(ids(&res[1]), [S, G, E]);
                let by_id = |id: &str| {
                    res[1]
                        .iter()
                        .find(|r| r["id"] == id)
                        .cloned()
                        .unwrap_or_default()
                };
                expect_columns(
                    name,
                    &by_id(G),
                    &[
                        ("type", json!("GENERATION")),
                        ("name", json!("llm-call")),
                        ("model", json!("gpt-4o")),
                        ("traceId", json!(T)),
                        ("parentObservationId", json!(S)),
                        ("promptTokens", json!(100)),
                        ("completionTokens", json!(50)),
                        ("totalTokens", json!(150)),
                        ("unit", json!("TOKENS")),
                        ("modelId", json!("b9854a5c92dc496b997d99d20")),
                        ("inputPrice", json!(0.000005)),
                        ("outputPrice", json!(0.000015)),
                        ("calculatedTotalCost", json!(0.00125)),
                        ("latency", json!(1.0)),
                        ("timeToFirstToken", json!(0.3)),
                        ("startTime", json!("2025-11-06T10:00:00.02")),
                        (
                            "modelParameters",
                            json!({"temperature": 0.2, "max_tokens": 256, "stream": false}),
                        ),
                    ],
                );
                expect_columns(
                    name,
                    &by_id(S),
                    &[
                        ("type", json!("SPAN")),
                        ("parentObservationId", Value::Null),
                        ("latency", json!(1.49)),
                    ],
                );
                expect_columns(
                    name,
                    &by_id(E),
                    &[
                        ("type", json!("EVENT")),
                        ("level", json!("WARNING")),
                        ("statusMessage", json!("cache miss")),
                        ("parentObservationId", json!(S)),
                    ],
                );
                let score = |id: &str| {
                    res[2]
                        .iter()
                        .find(|r| r["id"] == id)
                        .cloned()
                        .unwrap_or_default()
                };
                expect_columns(
                    name,
                    &score(SC1),
                    &[
                        ("value", json!(0.9)),
                        ("dataType", json!("NUMERIC")),
                        ("source", json!("API")),
                    ],
                );
                expect_columns(
                    name,
                    &score(SC2),
                    &[
                        ("stringValue", json!("True")),
                        ("dataType", json!("BOOLEAN")),
                        ("observationId", json!(G)),
                    ],
                );
            }
            "ui_generations_all" => {
                expect_columns(
                    name,
                    &one(),
                    &[
                        ("id", json!(G)),
                        ("traceName", json!("agent-run")),
                        ("model", json!("gpt-4o")),
                        ("promptTokens", json!(100)),
                        ("completionTokens", json!(50)),
                        ("totalTokens", json!(150)),
                        ("unit", json!("TOKENS")),
                        ("modelId", json!("b9854a5c92dc496b997d99d20")),
                        ("calculatedInputCost", json!(0.0005)),
                        ("calculatedOutputCost", json!(0.00075)),
                        ("calculatedTotalCost", json!(0.00125)),
                        ("latency", json!(1.0)),
                        ("timeToFirstToken", json!(0.3)),
                        ("traceTags", json!(["agent", "done", "prod"])),
                        ("level", json!("DEFAULT")),
                    ],
                );
                assert_eq!(ids(&res[1]), [SC2]);
            }
            "ui_sessions_all" | "api_sessions_list" => {
                assert_eq!(ids(&r0), [SESSION], "{name}")
            }
            "ui_sessions_count" => assert_eq!(one()["totalCount"], 1),
            "ui_sessions_metrics" => expect_columns(
                name,
                &one(),
                &[
                    ("id", json!(SESSION)),
                    ("userIds", json!([USER])),
                    ("totalCost", json!(0.00125)),
                    ("promptTokens", json!(100)),
                    ("completionTokens", json!(50)),
                    ("totalTokens", json!(150)),
                    ("sessionDuration", json!(1.49)),
                    ("traceTags", json!(["agent", "done", "prod"])),
                    // v2's quirk: one row per tag before count(t.id).
                    ("countTraces", json!(3)),
                ],
            ),
            "ui_session_by_id" => {
                let row = one();
                assert_eq!(row["id"], SESSION);
                assert_eq!(ids(row["traces"].as_array().expect("traces")), [T]);
                assert_eq!(ids(&res[1]), [SC1, SC2]);
                assert!(
                    close(&res[2][0]["totalCost"], &json!(0.00125)),
                    "{:?}",
                    res[2]
                );
            }
            "api_traces_list" | "api_traces_list_filtered" => {
                let row = one();
                expect_columns(
                    name,
                    &row,
                    &[
                        ("id", json!(T)),
                        ("htmlPath", json!(format!("/project/{PROJECT}/traces/{T}"))),
                        ("totalCost", json!(0.00125)),
                        ("latency", json!(1.49)),
                        ("userId", json!(USER)),
                        ("sessionId", json!(SESSION)),
                    ],
                );
                let mut observations: Vec<Value> =
                    row["observations"].as_array().cloned().unwrap_or_default();
                observations.sort_by_key(|v| v.to_string());
                assert_eq!(observations, [json!(S), json!(G), json!(E)], "{name}");
                assert_eq!(res[1][0]["count"], 1, "{name}");
            }
            "api_trace_by_id" => {
                let row = one();
                assert_eq!(row["id"], T);
                assert!(close(&row["duration"], &json!(1.49)), "{row}");
                let order: Vec<&Value> = res[1].iter().map(|r| &r["id"]).collect();
                assert_eq!(order, [&json!(SC2), &json!(SC1)], "scores, timestamp DESC");
                let order: Vec<&Value> = res[2].iter().map(|r| &r["id"]).collect();
                assert_eq!(order, [&json!(S), &json!(G), &json!(E)]);
                let generation = res[2].iter().find(|r| r["id"] == G).expect("generation");
                assert!(close(&generation["calculatedTotalCost"], &json!(0.00125)));
            }
            "api_observations_list" => {
                let order: Vec<&Value> = r0.iter().map(|r| &r["id"]).collect();
                assert_eq!(order, [&json!(E), &json!(G), &json!(S)]);
                assert_eq!(res[1][0]["count"], 3);
            }
            "api_observations_generations" => {
                expect_columns(
                    name,
                    &one(),
                    &[
                        ("id", json!(G)),
                        ("model", json!("gpt-4o")),
                        ("promptTokens", json!(100)),
                        ("completionTokens", json!(50)),
                        ("calculatedTotalCost", json!(0.00125)),
                    ],
                );
                assert_eq!(res[1][0]["count"], 1);
            }
            "api_session_by_id" => {
                let row = one();
                assert_eq!(row["id"], SESSION);
                assert_eq!(ids(row["traces"].as_array().expect("traces")), [T]);
            }
            "api_metrics_daily" => {
                let row = one();
                expect_columns(
                    name,
                    &row,
                    &[
                        ("date", json!("2025-11-06")),
                        ("countTraces", json!(1)),
                        ("countObservations", json!(3)),
                        ("totalCost", json!(0.00125)),
                    ],
                );
                let usage = row["usage"]
                    .as_array()
                    .and_then(|u| u.iter().find(|u| u["model"] == "gpt-4o"))
                    .cloned()
                    .unwrap_or_default();
                expect_columns(
                    name,
                    &usage,
                    &[
                        ("inputUsage", json!(100)),
                        ("outputUsage", json!(50)),
                        ("totalUsage", json!(150)),
                        ("countObservations", json!(1)),
                    ],
                );
                assert_eq!(res[1][0]["count"], 1);
            }
            "dashboard_traces_total" => assert_eq!(one()["countTraceId"], 1),
            "dashboard_traces_grouped_by_name" => expect_columns(
                name,
                &one(),
                &[
                    ("traceName", json!("agent-run")),
                    ("countTraceId", json!(1)),
                ],
            ),
            "dashboard_observations_model_cost" => expect_columns(
                name,
                &one(),
                &[
                    ("model", json!("gpt-4o")),
                    ("sumTotalTokens", json!(150)),
                    ("sumCalculatedTotalCost", json!(0.00125)),
                ],
            ),
            "dashboard_observations_usage_timeseries" => {
                let hit: Vec<&Value> = r0.iter().filter(|r| r["model"] == "gpt-4o").collect();
                assert_eq!(hit.len(), 1, "{name}: {r0:?}");
                assert!(close(&hit[0]["sumCalculatedTotalCost"], &json!(0.00125)));
                assert_eq!(hit[0]["sumTotalTokens"], 150);
            }
            "dashboard_distinct_models" => {
                let models: Vec<&Value> = r0.iter().map(|r| &r["model"]).collect();
                assert_eq!(models, [&json!("gpt-4o")]);
            }
            "dashboard_traces_timeseries" => {
                let counts: Vec<&Value> = r0.iter().map(|r| &r["countTraceId"]).collect();
                assert_eq!(counts, [&json!(0), &json!(1), &json!(0)], "{name}");
            }
            "dashboard_model_latencies_over_time" => {
                let hit: Vec<&Value> = r0.iter().filter(|r| r["model"] == "gpt-4o").collect();
                assert_eq!(hit.len(), 1, "{name}");
                assert!(close(&hit[0]["percentile50Duration"], &json!(1.0)));
                assert!(close(&hit[0]["percentile99Duration"], &json!(1.0)));
            }
            "dashboard_observation_latencies_aggregated" => expect_columns(
                name,
                &one(),
                &[
                    ("name", json!("llm-call")),
                    ("percentile95Duration", json!(1.0)),
                ],
            ),
            "dashboard_traces_latencies_aggregated" => expect_columns(
                name,
                &one(),
                &[
                    ("traceName", json!("agent-run")),
                    ("percentile95Duration", json!(1.49)),
                ],
            ),
            "dashboard_observations_usage_by_users" => expect_columns(
                name,
                &one(),
                &[
                    ("user", json!(USER)),
                    ("sumCalculatedTotalCost", json!(0.00125)),
                    ("countTraceId", json!(1)),
                ],
            ),
            "dashboard_traces_grouped_by_user" => expect_columns(
                name,
                &one(),
                &[("user", json!(USER)), ("countTraceId", json!(1))],
            ),
            "dashboard_score_aggregate" => {
                let mut got: Vec<(String, String, String, i64, f64)> = r0
                    .iter()
                    .map(|r| {
                        (
                            r["scoreName"].as_str().unwrap_or_default().to_owned(),
                            r["scoreSource"].as_str().unwrap_or_default().to_owned(),
                            r["scoreDataType"].as_str().unwrap_or_default().to_owned(),
                            r["countScoreId"].as_i64().unwrap_or_default(),
                            (r["avgValue"].as_f64().unwrap_or_default() * 1e6).round() / 1e6,
                        )
                    })
                    .collect();
                got.sort_by(|a, b| a.0.cmp(&b.0));
                assert_eq!(
                    got,
                    [
                        ("correct".into(), "API".into(), "BOOLEAN".into(), 1, 1.0),
                        ("quality".into(), "API".into(), "NUMERIC".into(), 1, 0.9)
                    ]
                );
            }
            other => panic!("queries.json entry {other} has no expectation here"),
        }
    }
}

/// The rows in v2's tables (and views) compared column by column with the rows v2's own
/// ingestion wrote for the same events.
async fn check_reference_rows(pg: &mut PgConnection) {
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(kit("reference_rows.json")).expect("reference_rows.json"),
    )
    .expect("reference JSON");
    let mut failures = Vec::new();
    for (table, want_rows) in reference.as_object().expect("tables") {
        let mine = rows(
            pg,
            &format!("SELECT * FROM {table} WHERE project_id = '{PROJECT}' ORDER BY id"),
        )
        .await;
        assert_eq!(
            ids(&mine),
            ids(want_rows.as_array().expect("rows")),
            "{table}: the same rows"
        );
        for want in want_rows.as_array().expect("rows") {
            let got = mine
                .iter()
                .find(|r| r["id"] == want["id"])
                .expect("row by id");
            for (column, value) in want.as_object().expect("columns") {
                if volatile(table, column) {
                    continue;
                }
                if !close(&got[column], value) {
                    failures.push(format!(
                        "{table} {}.{column}: got {} want {value}",
                        want["id"], got[column]
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn sdk_2_batch_api_and_otlp_land_as_v2_writes_them_and_v2_reads_them() {
    let db = TestDb::v2("e2e").await;
    let server = v2_server(&db, &[]);
    let mut pg = db.connect().await;

    // The kit's trace through the SDK-2.x batch API, in two requests as an SDK flushes them.
    let events = kit_events();
    let (status, answer) = post_events(&server, &events[..4]).await;
    assert_eq!(status, 207, "{answer}");
    assert_eq!(answer["errors"], json!([]), "{answer}");
    let (status, answer) = post_events(&server, &events[4..]).await;
    assert_eq!(status, 207, "{answer}");
    assert_eq!(answer["errors"], json!([]), "{answer}");
    wait_for(
        &mut pg,
        &format!(
            "SELECT count(*) FROM observations WHERE trace_id = '{T}' AND end_time IS NOT NULL"
        ),
        2,
        Duration::from_secs(10),
    )
    .await;
    wait_for(
        &mut pg,
        "SELECT count(*) FROM scores",
        2,
        Duration::from_secs(10),
    )
    .await;

    check_reference_rows(&mut pg).await;
    let results = run_queries(&mut pg).await;
    check_v2_reads(&results);

    // Re-sent (an SDK retry): no duplicate, nothing regresses.
    let (status, _) = post_events(&server, &events).await;
    assert_eq!(status, 207);
    tokio::time::sleep(Duration::from_millis(500)).await;
    check_reference_rows(&mut pg).await;

    // The read API reads the v2 tables too.
    let (status, trace) = get_json(&server, &format!("/api/public/traces/{T}"), &v2_auth()).await;
    assert_eq!(status, 200, "{trace}");
    assert_eq!(trace["name"], "agent-run", "{trace}");
    assert_eq!(
        trace["version"], "v7",
        "the trace's fields from v2's traces row: {trace}"
    );
    assert_eq!(
        trace["metadata"],
        // The read API renders metadata leaves as text for every store.
        json!({"env": "test", "nested": {"a": "1", "b": "2"}, "finished": "true"}),
        "{trace}"
    );
    assert_eq!(trace["tags"], json!(["agent", "done", "prod"]), "{trace}");
    let observations = trace["observations"].as_array().expect("observations");
    let generation = observations
        .iter()
        .find(|o| o["id"] == G)
        .unwrap_or_else(|| panic!("generation in {trace}"));
    assert_eq!(generation["model"], "gpt-4o");
    assert!(
        close(&generation["calculatedTotalCost"], &json!(0.00125))
            || close(&generation["totalCost"], &json!(0.00125)),
        "{generation}"
    );
    let (status, list) = get_json(
        &server,
        &format!("/api/public/observations?traceId={T}"),
        &v2_auth(),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"].as_array().map(Vec::len), Some(3), "{list}");
    let (status, list) = get_json(
        &server,
        &format!("/api/public/v2/observations?traceId={T}&type=GENERATION"),
        &v2_auth(),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let data = list["data"].as_array().expect("data");
    assert_eq!(data.len(), 1, "{list}");
    assert_eq!(data[0]["id"], G);

    // A trace-create alone: a traces row, no observation, and the read API finds it.
    let (status, _) = post_events(
        &server,
        &[json!({"id": "evt-lonely", "type": "trace-create", "timestamp": "2025-11-06T12:00:00.000Z",
                 "body": {"id": "lonely-trace", "name": "lonely", "timestamp": "2025-11-06T12:00:00.000Z"}})],
    )
    .await;
    assert_eq!(status, 207);
    wait_for(
        &mut pg,
        "SELECT count(*) FROM traces WHERE id = 'lonely-trace'",
        1,
        Duration::from_secs(10),
    )
    .await;
    let lonely = rows(&mut pg, "SELECT (SELECT count(*) FROM observations WHERE trace_id = 'lonely-trace') AS observations, (SELECT tags FROM traces WHERE id = 'lonely-trace') AS tags").await;
    assert_eq!(
        lonely[0],
        json!({"observations": 0, "tags": []}),
        "v2 writes no observation for a trace"
    );
    let (status, trace) = get_json(&server, "/api/public/traces/lonely-trace", &v2_auth()).await;
    assert_eq!(status, 200, "{trace}");
    assert_eq!(trace["name"], "lonely");
    assert_eq!(trace["observations"], json!([]), "{trace}");

    // An OTLP GenAI trace: its root span becomes the traces row, the generation is priced
    // from v2's models table at write time (gpt-4o, 100 × 5e-6 + 50 × 1.5e-5).
    let otlp_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let request = support::request(vec![
        span(
            otlp_trace,
            "1111111111111111",
            "",
            "agent-run",
            vec![
                string_attr("langfuse.trace.name", "otlp-chat"),
                string_attr("user.id", "otel-user"),
                string_attr("session.id", "otel-session"),
                string_attr("langfuse.trace.tags", r#"["b","a"]"#),
            ],
        ),
        span(
            otlp_trace,
            "2222222222222222",
            "1111111111111111",
            "chat gpt-4o",
            vec![
                string_attr("gen_ai.operation.name", "chat"),
                string_attr("gen_ai.request.model", "gpt-4o"),
                int_attr("gen_ai.usage.input_tokens", 100),
                int_attr("gen_ai.usage.output_tokens", 50),
            ],
        ),
    ]);
    let response = client()
        .post(server.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .header("authorization", v2_auth())
        .body(prost::Message::encode_to_vec(&request))
        .send()
        .await
        .expect("POST /v1/traces");
    assert_eq!(response.status().as_u16(), 200);
    wait_for(
        &mut pg,
        &format!("SELECT count(*) FROM observations WHERE trace_id = '{otlp_trace}'"),
        2,
        Duration::from_secs(10),
    )
    .await;
    let trace = rows(
        &mut pg,
        &format!("SELECT * FROM traces WHERE id = '{otlp_trace}'"),
    )
    .await;
    expect_columns(
        "otlp traces",
        &trace[0],
        &[
            ("name", json!("otlp-chat")),
            ("user_id", json!("otel-user")),
            ("session_id", json!("otel-session")),
            ("project_id", json!(PROJECT)),
            ("timestamp", json!("2026-08-06T08:00:00.123")),
            ("public", json!(false)),
        ],
    );
    assert!(trace[0]["tags"].is_array(), "tags never NULL: {}", trace[0]);
    let sessions = rows(
        &mut pg,
        "SELECT id FROM trace_sessions WHERE id = 'otel-session'",
    )
    .await;
    assert_eq!(sessions.len(), 1, "the session row");
    let generation = rows(
        &mut pg,
        &format!(
            "SELECT * FROM observations_view WHERE trace_id = '{otlp_trace}' AND type = 'GENERATION'"
        ),
    )
    .await;
    expect_columns(
        "otlp generation",
        &generation[0],
        &[
            ("model", json!("gpt-4o")),
            ("internal_model", json!("gpt-4o")),
            ("model_id", json!("b9854a5c92dc496b997d99d20")),
            ("unit", json!("TOKENS")),
            ("prompt_tokens", json!(100)),
            ("completion_tokens", json!(50)),
            ("total_tokens", json!(150)),
            ("calculated_input_cost", json!(0.0005)),
            ("calculated_output_cost", json!(0.00075)),
            ("calculated_total_cost", json!(0.00125)),
            ("parent_observation_id", json!("1111111111111111")),
            ("start_time", json!("2026-08-06T08:00:00.123")),
            ("latency", json!(1.5)),
        ],
    );
    let stored: Vec<Value> = rows(
        &mut pg,
        &format!(
            "SELECT calculated_total_cost::text AS cost, internal_model_id FROM observations WHERE trace_id = '{otlp_trace}' AND type = 'GENERATION'"
        ),
    )
    .await;
    assert!(
        stored[0]["cost"]
            .as_str()
            .unwrap_or_default()
            .starts_with("0.00125000"),
        "stored at write time in numeric(65,30): {stored:?}"
    );
    assert_eq!(stored[0]["internal_model_id"], "b9854a5c92dc496b997d99d20");
}

#[tokio::test]
async fn a_database_that_is_not_v2s_is_refused_and_left_untouched() {
    let db = TestDb::create("notv2").await;
    let mut pg = db.connect().await;
    // Someone else's table named like one of v2's, without v2's columns.
    sqlx::query("CREATE TABLE traces (id text PRIMARY KEY, name text)")
        .execute(&mut pg)
        .await
        .expect("table");
    let dir = tempfile::tempdir().expect("dir");
    let url = db.url();
    let env = vec![
        ("SPANBRIDGE_LANGFUSE_V2__URL".to_owned(), url.clone()),
        (
            "SPANBRIDGE_EMBEDDED__PATH".to_owned(),
            dir.path().join("s.db").display().to_string(),
        ),
    ];
    let output =
        support::spanbridge_command("serve", &env, (free_port(), free_port(), free_port()))
            .output()
            .expect("run spanbridge");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused to start: {stderr}");
    for missing in [
        "observations",
        "scores",
        "trace_sessions",
        "models",
        "traces.timestamp",
        "traces.project_id",
    ] {
        assert!(stderr.contains(missing), "names {missing}: {stderr}");
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&mut pg)
    .await
    .expect("tables");
    assert_eq!(tables, ["traces"], "nothing created");
    let columns: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'traces'",
    )
    .fetch_one(&mut pg)
    .await
    .expect("columns");
    assert_eq!(columns, 2, "nothing altered");

    // A password in the URL never appears in the error.
    let env = vec![
        (
            "SPANBRIDGE_LANGFUSE_V2__URL".to_owned(),
            format!(
                "postgres://postgres:hunter2secret@127.0.0.1:5432/{}",
                db.name
            ),
        ),
        (
            "SPANBRIDGE_EMBEDDED__PATH".to_owned(),
            dir.path().join("s.db").display().to_string(),
        ),
    ];
    let output =
        support::spanbridge_command("serve", &env, (free_port(), free_port(), free_port()))
            .output()
            .expect("run spanbridge");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(!stderr.contains("hunter2secret"), "{stderr}");
    assert!(stderr.contains("missing tables"), "{stderr}");
}

#[tokio::test]
async fn postgres_refusing_connections_gives_503_and_loses_nothing_acknowledged() {
    let db = TestDb::v2("down").await;
    let server = v2_server(&db, &[("SPANBRIDGE_SINK__MAX_RETRY_BACKOFF_MS", "200")]);
    let mut admin = PgConnection::connect(ADMIN_URL).await.expect("admin");
    let trace = |i: usize| {
        json!([{"id": format!("evt-{i}"), "type": "trace-create", "timestamp": "2026-01-01T00:00:00.000Z",
                "body": {"id": format!("down-trace-{i}"), "name": "t", "sessionId": "down-session"}},
               {"id": format!("evt-g-{i}"), "type": "generation-create", "timestamp": "2026-01-01T00:00:00.000Z",
                "body": {"id": format!("down-gen-{i}"), "traceId": format!("down-trace-{i}"), "model": "gpt-4o",
                         "startTime": "2026-01-01T00:00:00.000Z",
                         "usage": {"input": 100, "output": 50}}}])
    };
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for i in 0..30 {
        if i == 10 {
            // Postgres goes away for the event store: no new connections, the open ones killed.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {} ALLOW_CONNECTIONS false",
                db.name
            )))
            .execute(&mut admin)
            .await
            .expect("disallow");
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&db.name)
            .execute(&mut admin)
            .await
            .expect("terminate");
        }
        if i == 20 {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {} ALLOW_CONNECTIONS true",
                db.name
            )))
            .execute(&mut admin)
            .await
            .expect("allow");
        }
        let events = trace(i);
        let (status, answer) = post_events(&server, events.as_array().expect("events")).await;
        match status {
            207 if answer["errors"] == json!([]) => acknowledged.push(i),
            207 | 503 | 500 => refused += 1,
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    assert!(refused > 0, "the outage was visible to clients");
    assert!(acknowledged.len() >= 10, "{acknowledged:?}");
    let mut pg = db.connect().await;
    for i in &acknowledged {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM observations o JOIN traces t ON t.id = o.trace_id
             WHERE o.id = $1 AND o.calculated_total_cost IS NOT NULL",
        )
        .bind(format!("down-gen-{i}"))
        .fetch_one(&mut pg)
        .await
        .expect("count");
        assert_eq!(
            count, 1,
            "acknowledged trace {i} is stored (acknowledged: {acknowledged:?})"
        );
    }
    let first = acknowledged[0];
    let (status, trace) = get_json(
        &server,
        &format!("/api/public/traces/down-trace-{first}"),
        &v2_auth(),
    )
    .await;
    assert_eq!(status, 200, "reads work again: {trace}");
}

fn stored_row(
    trace: &str,
    span: &str,
    parent: &str,
    name: &str,
    event_ts_us: i64,
) -> spanbridge_proto::StoredRow {
    spanbridge_proto::StoredRow {
        project_id: PROJECT.into(),
        event_ts_us,
        row: spanbridge_proto::EventRow {
            trace_id: trace.into(),
            span_id: span.into(),
            parent_span_id: parent.into(),
            is_app_root: parent.is_empty(),
            start_time_us: 1_762_423_200_000_000,
            name: name.into(),
            r#type: "SPAN".into(),
            trace_name: "concurrent".into(),
            session_id: "concurrent-session".into(),
            tags: vec![format!("tag-{span}")],
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn concurrent_writers_of_one_trace_never_conflict_and_older_versions_never_win() {
    use spanbridge_sink::store::Store;
    use spanbridge_sink::store::langfuse_v2::LangfuseV2Store;
    let db = TestDb::v2("concurrent").await;
    let store = LangfuseV2Store::connect(&spanbridge_proto::Secret::new(db.url()), 8)
        .await
        .expect("v2 store");
    // Two sinks during a rebalance: both write the same trace, its session and overlapping
    // rows, many times at once.
    let mut tasks = Vec::new();
    for writer in 0..2 {
        for round in 0..20 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let rows = vec![
                    stored_row("ct", "root", "", "root", 1_000 + round),
                    stored_row(
                        "ct",
                        &format!("child-{writer}-{round}"),
                        "root",
                        "child",
                        1_000 + round,
                    ),
                    stored_row("ct", "shared", "root", "shared", 1_000 + round),
                ];
                store.write(&rows).await
            }));
        }
    }
    for task in tasks {
        task.await
            .expect("task")
            .expect("no unique-constraint or deadlock failure");
    }
    let mut pg = db.connect().await;
    let counts = rows(
        &mut pg,
        "SELECT (SELECT count(*) FROM traces WHERE id = 'ct') AS traces,
                (SELECT count(*) FROM observations WHERE trace_id = 'ct') AS observations,
                (SELECT count(*) FROM trace_sessions WHERE id = 'concurrent-session') AS sessions",
    )
    .await;
    assert_eq!(
        counts[0],
        json!({"traces": 1, "observations": 42, "sessions": 1})
    );
    let tags = rows(&mut pg, "SELECT tags FROM traces WHERE id = 'ct'").await;
    let tags = tags[0]["tags"].as_array().expect("tags").clone();
    assert_eq!(tags.len(), 42, "the sorted union of every writer's tags");
    let mut sorted = tags.clone();
    sorted.sort_by_key(|t| t.to_string());
    assert_eq!(tags, sorted);

    // A replayed older version never replaces a newer one.
    let newer = stored_row("ct", "shared", "root", "newer", 5_000_000);
    store.write(&[newer]).await.expect("newer");
    let older = stored_row("ct", "shared", "root", "older", 4_000_000);
    store.write(&[older]).await.expect("older");
    let shared = rows(&mut pg, "SELECT name FROM observations WHERE id = 'shared'").await;
    assert_eq!(shared[0]["name"], "newer");
}

/// utime + stime of a process in seconds (/proc/PID/stat, clock ticks of 100 Hz).
fn cpu_seconds_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: state is field 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}

/// The store's write cost on this machine: rows per CPU-second of the writing process (the
/// store's row building, binding and the Postgres protocol) and Postgres's CPU per row (its
/// backends serving this database). `ROWS` (default 20000) rows in batches of 200: 20 traces of
/// 10 spans, one a gpt-4o generation priced at write time. Debug or release, as built:
/// `cargo test --release --test langfuse_v2 write_cost -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn write_cost() {
    use spanbridge_sink::store::Store;
    use spanbridge_sink::store::langfuse_v2::LangfuseV2Store;
    let total: usize = std::env::var("ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20_000);
    let db = TestDb::v2("bench").await;
    let store = LangfuseV2Store::connect(&spanbridge_proto::Secret::new(db.url()), 4)
        .await
        .expect("v2 store");
    let mut pg = db.connect().await;
    let batches: Vec<Vec<spanbridge_proto::StoredRow>> = (0..total.div_ceil(200))
        .map(|b| {
            let mut rows = Vec::with_capacity(200);
            for t in 0..20 {
                let trace = format!("bench-{b}-{t}");
                for s in 0..10 {
                    let parent = if s == 0 {
                        String::new()
                    } else {
                        "s0".to_owned()
                    };
                    let mut row =
                        stored_row(&trace, &format!("{trace}-s{s}"), &parent, "step", 1_000);
                    row.row.parent_span_id = if s == 0 {
                        String::new()
                    } else {
                        format!("{trace}-s0")
                    };
                    row.row.session_id = format!("bench-session-{b}");
                    row.row.input =
                        r#"{"messages":[{"role":"user","content":"hello there"}]}"#.into();
                    row.row.metadata_names = vec!["attributes.k".into(), "scope.name".into()];
                    row.row.metadata_values = vec!["v".into(), "bench".into()];
                    if s == 1 {
                        row.row.r#type = "GENERATION".into();
                        row.row.provided_model_name = "gpt-4o".into();
                        row.usage_details =
                            [("input".to_owned(), 100), ("output".to_owned(), 50)].into();
                    }
                    rows.push(row);
                }
            }
            rows
        })
        .collect();
    // Warm the pool's connections (and Postgres's caches) with one batch.
    store.write(&batches[0]).await.expect("warm-up");
    let backends: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut pg)
    .await
    .expect("backends");
    let pg_cpu = || {
        backends
            .iter()
            .map(|p| cpu_seconds_of(&p.to_string()))
            .sum::<f64>()
    };
    let (own_before, pg_before, started) = (cpu_seconds_of("self"), pg_cpu(), Instant::now());
    let mut written = 0usize;
    for batch in &batches[1..] {
        store.write(batch).await.expect("write");
        written += batch.len();
    }
    let wall = started.elapsed().as_secs_f64();
    let (own, pg) = (cpu_seconds_of("self") - own_before, pg_cpu() - pg_before);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM observations")
        .fetch_one(&mut pg_conn(&db).await)
        .await
        .expect("count");
    assert_eq!(stored as usize, written + batches[0].len());
    println!(
        "langfuse_v2 write_cost: {written} rows in {} batches of 200, {wall:.2} s wall, \
         writer {own:.2} CPU-s = {:.0} rows per writer CPU-second, Postgres {pg:.2} CPU-s = {:.1} µs per row ({} backends), {:.0} rows/s wall",
        batches.len() - 1,
        written as f64 / own.max(1e-9),
        pg * 1e6 / written as f64,
        backends.len(),
        written as f64 / wall,
    );
}

async fn pg_conn(db: &TestDb) -> PgConnection {
    db.connect().await
}

#[tokio::test]
async fn the_kafka_deployment_sink_writes_v2s_tables() {
    use support::services::{Broker, Process, available};
    if !available("the_kafka_deployment_sink_writes_v2s_tables") {
        return;
    }
    let db = TestDb::v2("kafka").await;
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("dir");
    let (brokers, url) = (broker.bootstrap(), db.url());
    let meta_path = dir.path().join("unused.db").display().to_string();
    let topics = Command::new(env!("CARGO_BIN_EXE_spanbridge"))
        .arg("migrate")
        .env("SPANBRIDGE_KAFKA__BROKERS", &brokers)
        .env("SPANBRIDGE_KAFKA__PARTITIONS", "2")
        .env("SPANBRIDGE_EMBEDDED__PATH", &meta_path)
        .output()
        .expect("migrate");
    assert!(
        topics.status.success(),
        "{}",
        String::from_utf8_lossy(&topics.stderr)
    );
    let settings = [
        ("SPANBRIDGE_KAFKA__BROKERS", brokers.as_str()),
        ("SPANBRIDGE_LANGFUSE_V2__URL", url.as_str()),
        ("SPANBRIDGE_META__URL", url.as_str()),
        ("SPANBRIDGE_META__SOURCE", "langfuse"),
        ("SPANBRIDGE_AUTH__SALT", SALT),
        ("SPANBRIDGE_EMBEDDED__PATH", meta_path.as_str()),
        ("SPANBRIDGE_SINK__MAX_BATCH_WAIT_MS", "200"),
        ("SPANBRIDGE_LOG__LEVEL", "warn"),
    ];
    let gateway = Process::start("gateway", &settings);
    let _sink = Process::start("sink", &settings);
    let events = kit_events();
    for part in [&events[..4], &events[4..]] {
        let (status, answer) = post_batch(
            &gateway.http_url(INGESTION),
            &v2_auth(),
            &json!({ "batch": part }),
        )
        .await;
        assert_eq!(status, 207, "{answer}");
        assert_eq!(answer["errors"], json!([]), "{answer}");
    }
    let mut pg = db.connect().await;
    wait_for(
        &mut pg,
        &format!(
            "SELECT count(*) FROM observations WHERE trace_id = '{T}' AND end_time IS NOT NULL"
        ),
        2,
        Duration::from_secs(60),
    )
    .await;
    wait_for(
        &mut pg,
        "SELECT count(*) FROM scores",
        2,
        Duration::from_secs(30),
    )
    .await;
    // The generation's update may land in a later batch than its create: wait for its cost.
    wait_for(
        &mut pg,
        &format!("SELECT count(*) FROM observations WHERE id = '{G}' AND calculated_total_cost IS NOT NULL AND end_time IS NOT NULL"),
        1,
        Duration::from_secs(30),
    )
    .await;
    wait_for(
        &mut pg,
        &format!("SELECT count(*) FROM traces WHERE id = '{T}' AND output IS NOT NULL"),
        1,
        Duration::from_secs(30),
    )
    .await;
    check_reference_rows(&mut pg).await;
    check_v2_reads(&run_queries(&mut pg).await);
    // The gateway's read API reads v2's tables too.
    let response = client()
        .get(gateway.http_url(&format!("/api/public/traces/{T}")))
        .header("authorization", v2_auth())
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 200);
}

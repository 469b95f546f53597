//! User stories for privacy rules and sampling at the door: start the binary with a settings
//! file, export spans, read them back through the read API and check what was stored.

mod support;

use std::process::Command;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::Value;
use support::*;

/// Redact e-mails and card numbers everywhere, hash user ids in the test project (by name),
/// drop secret attributes, and a rule for another project that must not apply here.
const RULES: &str = r#"
[[privacy.rules]]
fields = ["input", "output", "metadata"]
action = "redact"
patterns = ["email", "card_number"]

[[privacy.rules]]
projects = ["e2e"]
fields = ["user_id"]
action = "hash"

[[privacy.rules]]
attributes = ["db.statement", "http.request.header.*"]
action = "drop"

[[privacy.rules]]
projects = ["another-app", "0000-not-this-project"]
fields = ["session_id", "output"]
action = "drop"
"#;

/// `hmac.new(b"e2e-hash-key", b"user-42", hashlib.sha256).hexdigest()` (Python).
const HASHED_USER_42: &str = "34f88901ed9d4382ba37002bfb7f1d1bc3d9febb8053921bd47d2326bb2627ae";

fn settings_file(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("spanbridge.toml");
    std::fs::write(&path, text).expect("write settings");
    path.display().to_string()
}

async fn export(server: &Server, request: &ExportTraceServiceRequest) {
    support::pieces::export(&server.http_url("/v1/traces"), request).await;
}

/// A support conversation: the root carries the customer's details in its input, output,
/// metadata and two secret attributes; the generation has them in its messages.
fn conversation(trace_id: &str) -> ExportTraceServiceRequest {
    request(vec![
        span(
            trace_id,
            "1111111111111111",
            "",
            "support-chat",
            vec![
                string_attr("user.id", "user-42"),
                string_attr("session.id", "session-7"),
                string_attr(
                    "langfuse.observation.input",
                    "Hi, I am jane.doe@example.com, card 4111 1111 1111 1111, order 4111 1111 1111 1112.",
                ),
                string_attr(
                    "langfuse.observation.output",
                    "We wrote to jane.doe@example.com.",
                ),
                string_attr("langfuse.observation.metadata.contact", "bob@example.org"),
                string_attr("db.statement", "SELECT * FROM cards -- marker-9137"),
                string_attr("http.request.header.authorization", "Bearer marker-5521"),
            ],
        ),
        span(
            trace_id,
            "2222222222222222",
            "1111111111111111",
            "chat gpt-4o",
            vec![
                string_attr("gen_ai.operation.name", "chat"),
                string_attr("gen_ai.request.model", "gpt-4o"),
                string_attr(
                    "gen_ai.input.messages",
                    r#"[{"role":"user","parts":[{"type":"text","content":"Mail me at jane.doe@example.com please"}]}]"#,
                ),
            ],
        ),
    ])
}

#[tokio::test]
async fn masked_at_the_door_for_the_projects_the_rules_name() {
    let config_dir = tempfile::tempdir().expect("temp dir");
    let path = settings_file(&config_dir, RULES);
    let server = Server::start_with(&[
        ("SPANBRIDGE_CONFIG", &path),
        ("SPANBRIDGE_PRIVACY__HASH_KEY", "e2e-hash-key"),
    ]);
    let first = "5b8efff798038103d269b633813fc601";
    let second = "5b8efff798038103d269b633813fc602";
    export(&server, &conversation(first)).await;
    export(&server, &conversation(second)).await;

    let trace = trace_if_stored(&server, first).await.expect("trace stored");
    let text = trace.to_string();
    for secret in [
        "jane.doe@example.com",
        "4111 1111 1111 1111",
        "bob@example.org",
        "marker-9137",
        "marker-5521",
        "user-42",
    ] {
        assert!(!text.contains(secret), "{secret} stored: {text}");
    }
    let root = observation_with_id(&trace, "1111111111111111");
    assert_eq!(
        root["input"],
        "Hi, I am [REDACTED:email], card [REDACTED:card_number], order 4111 1111 1111 1112."
    );
    assert_eq!(root["output"], "We wrote to [REDACTED:email].");
    assert!(
        text.contains(r#"[REDACTED:email]"#) && root.to_string().contains("contact"),
        "the metadata key stays, its value is redacted: {root}"
    );
    let generation = observation_with_id(&trace, "2222222222222222");
    assert_eq!(
        generation["input"][0]["parts"][0]["content"], "Mail me at [REDACTED:email] please",
        "JSON content keeps its structure"
    );
    // Hashed with the key, the same in both requests; the other project's rule not applied.
    assert_eq!(trace["userId"], HASHED_USER_42);
    assert_eq!(trace["sessionId"], "session-7");
    let other = trace_if_stored(&server, second)
        .await
        .expect("trace stored");
    assert_eq!(other["userId"], HASHED_USER_42);

    let scrape = scrape_metrics(&server.admin_url("")).await;
    assert!(
        scrape.contains(
            r#"spanbridge_privacy_matches_total{rule="0",action="redact",pattern="email",project="e2e"}"#
        ),
        "{scrape}"
    );
    assert!(!server.logs().contains("e2e-hash-key"));
    let shown = server.cli(&["config"]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        !shown.contains("e2e-hash-key") && shown.contains("hash_key = \"**REDACTED**\""),
        "{shown}"
    );
}

#[test]
fn bad_settings_stop_the_start_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (rules, key) in [
        (
            "[[privacy.rules]]\nfields = [\"input\"]\naction = \"redact\"\npatterns = [\"email\", \"emial\"]\n",
            "privacy.rules[0].patterns[1]: unknown pattern \"emial\"",
        ),
        (
            "[[privacy.rules]]\nfields = [\"input\"]\naction = \"redact\"\npatterns = [\"regex:ACME-(\"]\n",
            "privacy.rules[0].patterns[0]: invalid regex",
        ),
        (
            "[[privacy.rules]]\nfields = [\"input\"]\naction = \"mask\"\n",
            "privacy.rules[0].action: unknown action \"mask\"",
        ),
        (
            "[[privacy.rules]]\naction = \"drop\"\n",
            "privacy.rules[0]: names neither fields nor attributes",
        ),
        (
            "[sampling]\nrate = 1.5\n",
            "sampling.rate must be between 0 and 1",
        ),
    ] {
        let path = settings_file(&dir, rules);
        let output = Command::new(env!("CARGO_BIN_EXE_spanbridge"))
            .args(["--config", &path, "serve"])
            .env(
                "SPANBRIDGE_EMBEDDED__PATH",
                dir.path().join("never.db").display().to_string(),
            )
            .env("SPANBRIDGE_GATEWAY__HTTP_ADDR", "127.0.0.1:1")
            .env("SPANBRIDGE_GATEWAY__GRPC_ADDR", "127.0.0.1:1")
            .env("SPANBRIDGE_ADMIN__ADDR", "127.0.0.1:1")
            .output()
            .expect("run spanbridge");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{rules}: started");
        assert!(stderr.contains(key), "{rules}: {stderr}");
    }
}

/// Rate 0.5 over 200 traces whose child and root spans come in separate requests (the child
/// first): every trace is stored whole or not at all, and about half are kept.
#[tokio::test]
async fn sampling_keeps_whole_traces_sent_in_pieces() {
    let server = Server::start_with(&[("SPANBRIDGE_SAMPLING__RATE", "0.5")]);
    let traces: Vec<String> = (0..200u32)
        .map(|i| format!("{i:08x}5b8efff798038103d269b633"))
        .collect();
    for trace_id in &traces {
        let child = span(
            trace_id,
            "2222222222222222",
            "1111111111111111",
            "child",
            vec![],
        );
        export(&server, &request(vec![child])).await;
    }
    for trace_id in &traces {
        let root = span(trace_id, "1111111111111111", "", "root", vec![]);
        export(&server, &request(vec![root])).await;
    }
    let mut kept = 0;
    for trace_id in &traces {
        if let Some(trace) = trace_if_stored(&server, trace_id).await {
            assert_eq!(
                trace["observations"].as_array().map(Vec::len),
                Some(2),
                "trace {trace_id} is partial: {trace}"
            );
            kept += 1;
        }
    }
    assert!((70..=130).contains(&kept), "kept {kept} of 200");
    let scrape = scrape_metrics(&server.admin_url("")).await;
    let sampled_out = format!(
        "spanbridge_spans_sampled_out_total{{project=\"other\"}} {}",
        (200 - kept) * 2
    );
    assert!(scrape.contains(&sampled_out), "{sampled_out} in {scrape}");
}

/// The same rules on the batch API (`POST /api/public/ingestion`, Langfuse SDK 2.x
/// events): redact inside JSON values, hash, drop and truncate metadata keys, and a rule for
/// another project that must not apply here.
const LEGACY_RULES: &str = r#"
[[privacy.rules]]
fields = ["input", "output"]
action = "redact"
patterns = ["email", "card_number"]

[[privacy.rules]]
projects = ["e2e"]
fields = ["user_id"]
action = "hash"

[[privacy.rules]]
fields = ["metadata.customer_phone"]
action = "drop"

[[privacy.rules]]
fields = ["metadata.notes"]
action = "truncate"
max_chars = 12

[[privacy.rules]]
projects = ["another-app"]
fields = ["session_id", "input"]
action = "drop"
"#;

fn legacy_event(id: &str, kind: &str, time: &str, body: Value) -> Value {
    serde_json::json!({ "id": id, "type": kind, "timestamp": time, "body": body })
}

/// A support conversation in SDK 2.x events, in two requests: the creates, then the updates
/// that end the span and the generation with their outputs.
fn legacy_conversation(trace_id: &str) -> [Vec<Value>; 2] {
    use serde_json::json;
    let generation = format!("{trace_id}-generation");
    let lookup = format!("{trace_id}-lookup");
    let creates = vec![
        legacy_event(
            &format!("{trace_id}-e1"),
            "trace-create",
            "2026-11-27T09:09:02.524Z",
            json!({
                "id": trace_id,
                "timestamp": "2026-11-27T09:09:02.524Z",
                "name": "support-chat",
                "userId": "user-42",
                "sessionId": "session-7",
                "input": {"question": "Hi, I am jane.doe@example.com, card 4111 1111 1111 1111, order 4111 1111 1111 1112."},
                "metadata": {
                    "customer_phone": "+1 415 555 0100",
                    "notes": "a long note about the customer",
                    "plan": "pro"
                }
            }),
        ),
        legacy_event(
            &format!("{trace_id}-e2"),
            "span-create",
            "2026-11-27T09:09:02.525Z",
            json!({
                "id": lookup,
                "traceId": trace_id,
                "name": "lookup",
                "startTime": "2026-11-27T09:09:02.525Z",
                "input": {"email": "bob@example.org", "limit": 2}
            }),
        ),
        legacy_event(
            &format!("{trace_id}-e3"),
            "generation-create",
            "2026-11-27T09:09:02.526Z",
            json!({
                "id": generation,
                "traceId": trace_id,
                "name": "chat",
                "startTime": "2026-11-27T09:09:02.526Z",
                "model": "gpt-4o",
                "input": [{"role": "user", "content": "Mail me at jane.doe@example.com,\n5555555555554444"}]
            }),
        ),
    ];
    let updates = vec![
        legacy_event(
            &format!("{trace_id}-e4"),
            "span-update",
            "2026-11-27T09:09:02.527Z",
            json!({
                "id": lookup,
                "traceId": trace_id,
                "endTime": "2026-11-27T09:09:02.527Z",
                "output": {"found": "bob@example.org", "count": 2}
            }),
        ),
        legacy_event(
            &format!("{trace_id}-e5"),
            "generation-update",
            "2026-11-27T09:09:02.528Z",
            json!({
                "id": generation,
                "traceId": trace_id,
                "endTime": "2026-11-27T09:09:02.528Z",
                "output": "I wrote to jane.doe@example.com about card 4111-1111-1111-1111."
            }),
        ),
    ];
    [creates, updates]
}

fn named<'a>(trace: &'a Value, name: &str) -> &'a Value {
    trace["observations"]
        .as_array()
        .and_then(|list| list.iter().find(|o| o["name"] == name))
        .unwrap_or_else(|| panic!("observation {name} missing in {trace}"))
}

#[tokio::test]
async fn batch_api_events_are_masked_at_the_door_too() {
    use serde_json::json;
    use support::batch_api::{INGESTION, post_all_accepted};
    let config_dir = tempfile::tempdir().expect("temp dir");
    let path = settings_file(&config_dir, LEGACY_RULES);
    let server = Server::start_with(&[
        ("SPANBRIDGE_CONFIG", &path),
        ("SPANBRIDGE_PRIVACY__HASH_KEY", "e2e-hash-key"),
    ]);
    let url = server.http_url(INGESTION);
    let first = "legacy-trace-1";
    let second = "legacy-trace-2";
    for trace_id in [first, second] {
        for events in legacy_conversation(trace_id) {
            post_all_accepted(&url, &events).await;
        }
    }

    let trace = trace_if_stored(&server, first).await.expect("trace stored");
    let text = trace.to_string();
    for secret in [
        "jane.doe@example.com",
        "bob@example.org",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5555555555554444",
        "415 555 0100",
        "user-42",
    ] {
        assert!(!text.contains(secret), "{secret} stored: {text}");
    }
    assert_eq!(
        trace["input"],
        json!({"question": "Hi, I am [REDACTED:email], card [REDACTED:card_number], order 4111 1111 1111 1112."})
    );
    assert_eq!(trace["userId"], HASHED_USER_42);
    assert_eq!(trace["sessionId"], "session-7", "another project's rule");
    assert_eq!(
        trace["metadata"],
        json!({"notes": "a long note …[TRUNCATED]", "plan": "pro"})
    );
    let lookup = named(&trace, "lookup");
    assert_eq!(
        lookup["input"],
        json!({"email": "[REDACTED:email]", "limit": 2})
    );
    assert_eq!(
        lookup["output"],
        json!({"found": "[REDACTED:email]", "count": 2})
    );
    let chat = named(&trace, "chat");
    assert_eq!(
        chat["input"],
        json!([{"role": "user", "content": "Mail me at [REDACTED:email],\n[REDACTED:card_number]"}])
    );
    assert_eq!(
        chat["output"],
        "I wrote to [REDACTED:email] about card [REDACTED:card_number]."
    );
    let other = trace_if_stored(&server, second)
        .await
        .expect("trace stored");
    assert_eq!(other["userId"], HASHED_USER_42, "stable across requests");
    assert_eq!(other["input"], trace["input"]);

    let scrape = scrape_metrics(&server.admin_url("")).await;
    for sample in [
        r#"spanbridge_privacy_matches_total{rule="0",action="redact",pattern="card_number",project="e2e"}"#,
        r#"spanbridge_privacy_matches_total{rule="2",action="drop",pattern="none",project="e2e"}"#,
        r#"spanbridge_privacy_matches_total{rule="3",action="truncate",pattern="none",project="e2e"}"#,
    ] {
        assert!(scrape.contains(sample), "{sample} in {scrape}");
    }
    assert!(!scrape.contains(r#"rule="4""#), "{scrape}");
}

/// Rate 0.5 over 100 batch-API traces whose generation comes in one request and the
/// `trace-create` in a later one: each is stored whole or not at all, as the id's hash says.
#[tokio::test]
async fn sampling_keeps_whole_batch_api_traces_sent_in_pieces() {
    use serde_json::json;
    use spanbridge_gateway::privacy::sampling;
    use support::batch_api::{INGESTION, post_all_accepted};
    let server = Server::start_with(&[("SPANBRIDGE_SAMPLING__RATE", "0.5")]);
    let url = server.http_url(INGESTION);
    let traces: Vec<String> = (0..100).map(|i| format!("legacy-sampled-{i}")).collect();
    for trace_id in &traces {
        let generation = legacy_event(
            &format!("{trace_id}-generation"),
            "generation-create",
            "2026-11-27T09:09:02.526Z",
            json!({
                "id": format!("{trace_id}-chat"),
                "traceId": trace_id,
                "name": "chat",
                "startTime": "2026-11-27T09:09:02.526Z",
                "endTime": "2026-11-27T09:09:02.527Z",
                "model": "gpt-4o"
            }),
        );
        post_all_accepted(&url, &[generation]).await;
    }
    for trace_id in &traces {
        let create = legacy_event(
            &format!("{trace_id}-trace"),
            "trace-create",
            "2026-11-27T09:09:02.528Z",
            json!({"id": trace_id, "name": "sampled", "userId": "u1"}),
        );
        post_all_accepted(&url, &[create]).await;
    }
    let mut kept = 0;
    for trace_id in &traces {
        let expected = sampling::keep(trace_id, 0.5);
        match trace_if_stored(&server, trace_id).await {
            Some(trace) => {
                assert!(expected, "{trace_id} kept against its hash");
                assert_eq!(trace["name"], "sampled", "{trace}");
                assert_eq!(trace["userId"], "u1", "{trace}");
                assert_eq!(
                    trace["observations"].as_array().map(Vec::len),
                    Some(1),
                    "trace {trace_id} is partial: {trace}"
                );
                kept += 1;
            }
            None => assert!(!expected, "{trace_id} dropped against its hash"),
        }
    }
    assert!((30..=70).contains(&kept), "kept {kept} of 100");
    let scrape = scrape_metrics(&server.admin_url("")).await;
    // A dropped trace is one generation row and one trace-create (a partial root row).
    let sampled_out = format!(
        "spanbridge_spans_sampled_out_total{{project=\"other\"}} {}",
        (100 - kept) * 2
    );
    assert!(scrape.contains(&sampled_out), "{sampled_out} in {scrape}");
}

/// Rate 0.5, and one batch-API request carrying traces A (kept by its hash) and B (dropped),
/// each with a score; then one `POST /api/public/scores` array with a score for each. Every
/// score follows its own trace: A's land, B's do not, and B's are counted as sampled out.
#[tokio::test]
async fn sampling_drops_each_score_with_its_own_trace() {
    use serde_json::json;
    use spanbridge_gateway::privacy::sampling;
    use sqlx::{Connection, Row};
    use support::batch_api::{INGESTION, post_all_accepted};
    let server = Server::start_with(&[("SPANBRIDGE_SAMPLING__RATE", "0.5")]);
    let candidates: Vec<String> = (0..64).map(|i| format!("scored-trace-{i}")).collect();
    let kept = candidates
        .iter()
        .find(|id| sampling::keep(id, 0.5))
        .expect("a kept id");
    let dropped = candidates
        .iter()
        .find(|id| !sampling::keep(id, 0.5))
        .expect("a dropped id");
    // B's events first, so that neither the first trace nor the first score decides for both.
    let mut batch = Vec::new();
    for trace_id in [dropped, kept] {
        batch.push(legacy_event(
            &format!("{trace_id}-trace"),
            "trace-create",
            "2026-11-27T09:09:02.520Z",
            json!({"id": trace_id, "name": "scored"}),
        ));
    }
    for trace_id in [dropped, kept] {
        batch.push(legacy_event(
            &format!("{trace_id}-score"),
            "score-create",
            "2026-11-27T09:09:02.530Z",
            json!({"id": format!("{trace_id}-batch-score"), "traceId": trace_id, "name": "quality", "value": 1}),
        ));
    }
    post_all_accepted(&server.http_url(INGESTION), &batch).await;
    let response = client()
        .post(server.http_url("/api/public/scores"))
        .header("content-type", "application/json")
        .header("authorization", test_auth())
        .body(
            json!([
                {"id": format!("{dropped}-api-score"), "traceId": dropped, "name": "tone", "value": "calm"},
                {"id": format!("{kept}-api-score"), "traceId": kept, "name": "tone", "value": "calm"},
            ])
            .to_string(),
        )
        .send()
        .await
        .expect("POST /api/public/scores");
    assert_eq!(response.status(), 202, "{:?}", response.text().await);

    let trace = trace_if_stored(&server, kept).await.expect("trace A kept");
    let mut names: Vec<&str> = trace["scores"]
        .as_array()
        .expect("scores")
        .iter()
        .filter_map(|score| score["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["quality", "tone"], "{trace}");
    assert!(
        trace_if_stored(&server, dropped).await.is_none(),
        "trace B dropped"
    );
    let mut db = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}?mode=ro",
        server.db_path().display()
    ))
    .await
    .expect("open the SQLite file");
    let stored: Vec<String> = sqlx::query("SELECT id FROM scores ORDER BY id")
        .fetch_all(&mut db)
        .await
        .expect("read scores")
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect();
    assert_eq!(
        stored,
        [format!("{kept}-api-score"), format!("{kept}-batch-score")],
        "only trace A's scores are stored"
    );

    let scrape = scrape_metrics(&server.admin_url("")).await;
    for sample in [
        r#"spanbridge_scores_sampled_out_total{project="other"} 2"#,
        // B's trace-create (its root row, a partial row).
        r#"spanbridge_spans_sampled_out_total{project="other"} 1"#,
    ] {
        assert!(scrape.contains(sample), "{sample} in {scrape}");
    }
}

/// A project named in `[[sampling.projects]]` is its own `project` label; one the settings do
/// not name is `other`, so the label's values are bounded by the configuration.
#[tokio::test]
async fn sampling_metrics_name_configured_projects_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = settings_file(
        &dir,
        "[sampling]\nrate = 1.0\n\n[[sampling.projects]]\nproject = \"e2e\"\nrate = 0.0\n",
    );
    let server = Server::start_with(&[("SPANBRIDGE_CONFIG", &path)]);
    let trace_id = "5a3e0000000000000000000000000001";
    export(
        &server,
        &request(vec![span(trace_id, "1111111111111111", "", "root", vec![])]),
    )
    .await;
    assert!(
        trace_if_stored(&server, trace_id).await.is_none(),
        "rate 0 drops it"
    );
    let scrape = scrape_metrics(&server.admin_url("")).await;
    let sample = r#"spanbridge_spans_sampled_out_total{project="e2e"} 1"#;
    assert!(scrape.contains(sample), "{sample} in {scrape}");
    assert!(!scrape.contains(r#"project="other""#), "{scrape}");
}

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
    let response = client()
        .post(server.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .header("authorization", test_auth())
        .body(prost::Message::encode_to_vec(request))
        .send()
        .await
        .expect("POST /v1/traces");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

async fn read_trace(server: &Server, trace_id: &str) -> Option<Value> {
    let (status, body) = get_json(
        server,
        &format!("/api/public/traces/{trace_id}"),
        &test_auth(),
    )
    .await;
    match status {
        200 => Some(body),
        404 => None,
        other => panic!("trace {trace_id}: {other} {body}"),
    }
}

fn observation<'a>(trace: &'a Value, id: &str) -> &'a Value {
    trace["observations"]
        .as_array()
        .and_then(|list| list.iter().find(|o| o["id"] == id))
        .unwrap_or_else(|| panic!("observation {id} missing in {trace}"))
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

    let trace = read_trace(&server, first).await.expect("trace stored");
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
    let root = observation(&trace, "1111111111111111");
    assert_eq!(
        root["input"],
        "Hi, I am [REDACTED:email], card [REDACTED:card_number], order 4111 1111 1111 1112."
    );
    assert_eq!(root["output"], "We wrote to [REDACTED:email].");
    assert!(
        text.contains(r#"[REDACTED:email]"#) && root.to_string().contains("contact"),
        "the metadata key stays, its value is redacted: {root}"
    );
    let generation = observation(&trace, "2222222222222222");
    assert_eq!(
        generation["input"][0]["parts"][0]["content"], "Mail me at [REDACTED:email] please",
        "JSON content keeps its structure"
    );
    // Hashed with the key, the same in both requests; the other project's rule not applied.
    assert_eq!(trace["userId"], HASHED_USER_42);
    assert_eq!(trace["sessionId"], "session-7");
    let other = read_trace(&server, second).await.expect("trace stored");
    assert_eq!(other["userId"], HASHED_USER_42);

    let scrape = scrape_metrics(&server.admin_url("")).await;
    assert!(
        scrape.contains(
            r#"spanbridge_privacy_matches_total{rule="0",action="redact",pattern="email"}"#
        ),
        "{scrape}"
    );
    assert!(!server.logs().contains("e2e-hash-key"));
    let shown = server.cli(&["config"]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        !shown.contains("e2e-hash-key") && shown.contains("hash_key = \"********\""),
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
        if let Some(trace) = read_trace(&server, trace_id).await {
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
    let sampled_out = format!("spanbridge_spans_sampled_out_total {}", (200 - kept) * 2);
    assert!(scrape.contains(&sampled_out), "{sampled_out} in {scrape}");
}

//! End-to-end user stories: start the `spanbridge` binary, export spans with real OTLP
//! encodings over the network, read them back through the read API.

use crate::support;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use serde_json::{Value, json};
use support::*;

/// `google.rpc.Status`, the OTLP/HTTP error body.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

async fn post_protobuf(server: &Server, trace_id: &str) -> reqwest::Response {
    export_genai_trace(&server.http_url("/v1/traces"), trace_id, &test_auth()).await
}

/// The fields every story checks: ids, parent link, names, types, times, user, session,
/// model and usage.
fn assert_genai_trace(trace: &Value, trace_id: &str) {
    assert_eq!(trace["id"], trace_id);
    assert_eq!(trace["name"], "support-chat");
    assert_eq!(trace["userId"], "user-42");
    assert_eq!(trace["sessionId"], "session-7");
    assert_eq!(trace["observations"].as_array().map(Vec::len), Some(2));
    let root = observation_with_id(trace, "1111111111111111");
    assert_eq!(root["parentObservationId"], Value::Null);
    assert_eq!(root["name"], "agent-run");
    assert_eq!(root["startTime"], "2026-08-06T08:00:00.123Z");
    assert_eq!(root["endTime"], "2026-08-06T08:00:01.623Z");
    let generation = observation_with_id(trace, "2222222222222222");
    assert_eq!(generation["traceId"], trace_id);
    assert_eq!(generation["parentObservationId"], "1111111111111111");
    assert_eq!(generation["type"], "GENERATION");
    assert_eq!(generation["name"], "chat gpt-4o");
    assert_eq!(generation["model"], "gpt-4o");
    assert_eq!(generation["usageDetails"]["input"], 120);
    assert_eq!(generation["usageDetails"]["output"], 30);
    assert_eq!(generation["usageDetails"]["total"], 150);
    assert_eq!(generation["level"], "DEFAULT");
    assert_eq!(generation["environment"], "default");
    assert!(
        generation["input"].is_array(),
        "input messages come back as JSON: {}",
        generation["input"]
    );
}

#[tokio::test]
async fn protobuf_export_lands_and_reads_back_with_every_field() {
    let server = Server::start();
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let response = post_protobuf(&server, trace_id).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let body = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(body.partial_success, None);
    assert_genai_trace(&trace(&server, trace_id).await, trace_id);

    let (status, list) = get_json(
        &server,
        &format!("/api/public/observations?traceId={trace_id}"),
        &test_auth(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(list["meta"]["totalItems"], 2);
}

#[tokio::test]
async fn json_export_on_the_langfuse_path_is_answered_in_json() {
    let server = Server::start();
    let trace_id = "5b8efff798038103d269b633813fc60c";
    let body = serde_json::to_vec(&genai_trace(trace_id)).unwrap();
    let response = post(
        server.http_url("/api/public/otel/v1/traces"),
        "application/json",
        None,
        body,
        &test_auth(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    // The OTLP/JSON mapping omits absent fields: a full success is `{}`.
    let text = response.text().await.unwrap();
    assert_eq!(text, "{}", "a full success omits partialSuccess");
    assert_genai_trace(&trace(&server, trace_id).await, trace_id);
}

#[tokio::test]
async fn hand_written_otlp_json_with_hex_ids_and_string_ints_is_accepted() {
    let server = Server::start();
    let body = json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "manual"}, "spans": [{
        "traceId": "ABCDEF0123456789ABCDEF0123456789", "spanId": "00f067aa0ba902b7", "name": "hello",
        "startTimeUnixNano": "1786003200000000000", "endTimeUnixNano": "1786003201000000000",
        "attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "7"}},
                       {"key": "gen_ai.request.model", "value": {"stringValue": "claude-sonnet-4"}}]
    }]}]}]});
    let response = post(
        server.http_url("/v1/traces"),
        "application/json",
        None,
        body.to_string().into_bytes(),
        &test_auth(),
    )
    .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let trace = trace(&server, "abcdef0123456789abcdef0123456789").await;
    let generation = observation_with_id(&trace, "00f067aa0ba902b7");
    assert_eq!(generation["model"], "claude-sonnet-4");
    assert_eq!(generation["usageDetails"]["input"], 7);
}

/// Claude Code 2.1 does not percent-decode `OTEL_EXPORTER_OTLP_HEADERS`, so the header README
/// tells users to write (`Authorization=Basic%20…`) arrives with a literal `%20`.
#[tokio::test]
async fn a_key_whose_space_arrives_as_a_literal_percent_20_is_accepted() {
    let server = Server::start();
    let trace_id = "abcdef0123456789abcdef0123456781";
    let body = json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "manual"}, "spans": [{
        "traceId": trace_id, "spanId": "00f067aa0ba902b9", "name": "percent-encoded-key",
        "startTimeUnixNano": "1786003200000000000", "endTimeUnixNano": "1786003201000000000"
    }]}]}]});
    let encoded = test_auth().replacen(' ', "%20", 1);
    let response = post(
        server.http_url("/v1/traces"),
        "application/json",
        None,
        body.to_string().into_bytes(),
        &encoded,
    )
    .await;
    assert_eq!(response.status(), 200, "{encoded}");
    let trace = trace(&server, trace_id).await;
    assert_eq!(trace["name"], "percent-encoded-key");
    let wrong = basic_auth(PUBLIC_KEY, "sk-lf-not-the-key").replacen(' ', "%20", 1);
    let refused = post(
        server.http_url("/v1/traces"),
        "application/json",
        None,
        body.to_string().into_bytes(),
        &wrong,
    )
    .await;
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn a_trace_without_any_cost_reads_back_a_total_cost_of_zero() {
    let server = Server::start();
    let body = json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "manual"}, "spans": [{
        "traceId": "abcdef0123456789abcdef0123456780", "spanId": "00f067aa0ba902b8", "name": "no-model",
        "startTimeUnixNano": "1786003200000000000", "endTimeUnixNano": "1786003201000000000"
    }]}]}]});
    let response = post(
        server.http_url("/v1/traces"),
        "application/json",
        None,
        body.to_string().into_bytes(),
        &test_auth(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let trace = trace(&server, "abcdef0123456789abcdef0123456780").await;
    // An empty f64 sum is -0.0; the API must answer 0.
    assert_eq!(
        trace["totalCost"].to_string(),
        "0.0",
        "{}",
        trace["totalCost"]
    );
}

#[tokio::test]
async fn gzip_zstd_and_deflate_bodies_are_decompressed() {
    let server = Server::start();
    for (encoding, trace_id) in [
        ("gzip", "10000000000000000000000000000001"),
        ("zstd", "10000000000000000000000000000002"),
        ("deflate", "10000000000000000000000000000003"),
    ] {
        let body = compress(encoding, &genai_trace(trace_id).encode_to_vec());
        let response = post(
            server.http_url("/v1/traces"),
            "application/x-protobuf",
            Some(encoding),
            body,
            &test_auth(),
        )
        .await;
        assert_eq!(response.status(), 200, "{encoding}");
        assert_genai_trace(&trace(&server, trace_id).await, trace_id);
    }
    let response = post(
        server.http_url("/v1/traces"),
        "application/x-protobuf",
        Some("br"),
        vec![1, 2, 3],
        &test_auth(),
    )
    .await;
    assert_eq!(response.status(), 415);
}

#[tokio::test]
async fn grpc_export_with_gzip_basic_and_bearer_auth() {
    let server = Server::start();
    let mut client = TraceServiceClient::connect(server.grpc_url())
        .await
        .unwrap()
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    for (auth, trace_id) in [
        (test_auth(), "20000000000000000000000000000001"),
        (
            format!("Bearer {SECRET_KEY}"),
            "20000000000000000000000000000002",
        ),
    ] {
        let mut request = tonic::Request::new(genai_trace(trace_id));
        request
            .metadata_mut()
            .insert("authorization", auth.parse().unwrap());
        let response = client.export(request).await.expect("export accepted");
        assert_eq!(response.into_inner().partial_success, None);
        assert_genai_trace(&trace(&server, trace_id).await, trace_id);
    }
    let mut request = tonic::Request::new(genai_trace("20000000000000000000000000000003"));
    request
        .metadata_mut()
        .insert("authorization", "Bearer sk-lf-wrong".parse().unwrap());
    let status = client.export(request).await.expect_err("wrong key refused");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let status = client
        .export(tonic::Request::new(genai_trace(
            "20000000000000000000000000000004",
        )))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn wrong_keys_get_401_and_projects_cannot_read_each_other() {
    let server = Server::start();
    let trace_id = "30000000000000000000000000000001";
    for auth in [
        basic_auth(PUBLIC_KEY, "sk-lf-wrong"),
        basic_auth("pk-lf-other", SECRET_KEY),
        "Basic %%%".into(),
        String::new(),
    ] {
        let response = post(
            server.http_url("/v1/traces"),
            "application/x-protobuf",
            None,
            genai_trace(trace_id).encode_to_vec(),
            &auth,
        )
        .await;
        assert_eq!(response.status(), 401, "auth {auth:?}");
    }
    let (status, _) = get_json(
        &server,
        &format!("/api/public/traces/{trace_id}"),
        &test_auth(),
    )
    .await;
    assert_eq!(status, 404, "nothing was stored by refused requests");

    assert_eq!(post_protobuf(&server, trace_id).await.status(), 200);
    let created = server.cli(&["keys", "create", "--project", "other", "--json"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let other: Value = serde_json::from_slice(&created.stdout).unwrap();
    let other_auth = basic_auth(
        other["publicKey"].as_str().unwrap(),
        other["secretKey"].as_str().unwrap(),
    );
    let (status, body) = get_json(
        &server,
        &format!("/api/public/traces/{trace_id}"),
        &other_auth,
    )
    .await;
    assert_eq!(
        status, 404,
        "another project's key must not see the trace: {body}"
    );
    let (status, _) = get_json(
        &server,
        &format!("/api/public/traces/{trace_id}"),
        "Bearer nope",
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn malformed_body_gets_400_and_nothing_else_is_lost() {
    let server = Server::start();
    assert_eq!(
        post_protobuf(&server, "40000000000000000000000000000001")
            .await
            .status(),
        200
    );
    let response = post(
        server.http_url("/v1/traces"),
        "application/x-protobuf",
        None,
        b"\xff\xff\xff not protobuf".to_vec(),
        &test_auth(),
    )
    .await;
    assert_eq!(response.status(), 400);
    let status = RpcStatus::decode(response.bytes().await.unwrap())
        .expect("error body is a protobuf google.rpc.Status");
    assert_eq!(status.code, tonic::Code::InvalidArgument as i32);
    assert!(
        status.message.contains("invalid OTLP protobuf"),
        "{}",
        status.message
    );
    let response = post(
        server.http_url("/v1/traces"),
        "application/json",
        None,
        b"{\"resourceSpans\": [".to_vec(),
        &test_auth(),
    )
    .await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("invalid OTLP JSON"),
        "{error}"
    );
    let response = post(
        server.http_url("/v1/traces"),
        "text/plain",
        None,
        b"hello".to_vec(),
        &test_auth(),
    )
    .await;
    assert_eq!(response.status(), 415);
    assert_eq!(
        post_protobuf(&server, "40000000000000000000000000000002")
            .await
            .status(),
        200
    );
    assert_genai_trace(
        &trace(&server, "40000000000000000000000000000001").await,
        "40000000000000000000000000000001",
    );
    assert_genai_trace(
        &trace(&server, "40000000000000000000000000000002").await,
        "40000000000000000000000000000002",
    );
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_even_when_compressed() {
    let server = Server::start_with(&[("SPANBRIDGE_GATEWAY__MAX_BODY_BYTES", "4096")]);
    let big = request(vec![span(
        "50000000000000000000000000000001",
        "1111111111111111",
        "",
        "big",
        vec![string_attr("input.value", &"x".repeat(100_000))],
    )])
    .encode_to_vec();
    let response = post(
        server.http_url("/v1/traces"),
        "application/x-protobuf",
        None,
        big.clone(),
        &test_auth(),
    )
    .await;
    assert_eq!(response.status(), 413);
    let response = post(
        server.http_url("/v1/traces"),
        "application/x-protobuf",
        Some("gzip"),
        compress("gzip", &big),
        &test_auth(),
    )
    .await;
    assert_eq!(
        response.status(),
        413,
        "the limit applies after decompression"
    );
    let mut grpc = TraceServiceClient::connect(server.grpc_url())
        .await
        .unwrap();
    let mut oversized =
        tonic::Request::new(ExportTraceServiceRequest::decode(big.as_slice()).unwrap());
    oversized
        .metadata_mut()
        .insert("authorization", test_auth().parse().unwrap());
    let status = grpc.export(oversized).await.expect_err("over the limit");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert_eq!(
        post_protobuf(&server, "50000000000000000000000000000002")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn invalid_spans_are_rejected_one_by_one() {
    let server = Server::start();
    let trace_id = "60000000000000000000000000000001";
    let mut bad = span(trace_id, "3333333333333333", "", "no-span-id", vec![]);
    bad.span_id = Vec::new();
    let mut export = genai_trace(trace_id);
    export.resource_spans[0].scope_spans[0].spans.push(bad);
    let response = post(
        server.http_url("/v1/traces"),
        "application/x-protobuf",
        None,
        export.encode_to_vec(),
        &test_auth(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    let partial = body.partial_success.expect("partial success reported");
    assert_eq!(partial.rejected_spans, 1);
    assert!(!partial.error_message.is_empty());
    assert_genai_trace(&trace(&server, trace_id).await, trace_id);
}

#[tokio::test]
async fn keys_cli_creates_lists_and_revokes() {
    let server = Server::start_with(&[("SPANBRIDGE_AUTH__CACHE_TTL_SECS", "1")]);
    let created = server.cli(&["keys", "create", "--project", "cli-project", "--json"]);
    assert!(created.status.success());
    let key: Value = serde_json::from_slice(&created.stdout).unwrap();
    let (public_key, secret_key) = (
        key["publicKey"].as_str().unwrap(),
        key["secretKey"].as_str().unwrap(),
    );
    assert!(public_key.starts_with("pk-lf-") && secret_key.starts_with("sk-lf-"));
    let auth = basic_auth(public_key, secret_key);
    let export = genai_trace("70000000000000000000000000000001").encode_to_vec();
    let response = post(
        server.http_url("/v1/traces"),
        "application/x-protobuf",
        None,
        export.clone(),
        &auth,
    )
    .await;
    assert_eq!(response.status(), 200);

    let listed = server.cli(&["keys", "list"]);
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(listing.contains(public_key) && listing.contains("cli-project"));
    assert!(!listing.contains(secret_key), "secrets are never listed");
    assert!(listing.contains(&format!("sk-lf-...{}", &secret_key[secret_key.len() - 4..])));

    let revoked = server.cli(&["keys", "revoke", public_key]);
    assert!(revoked.status.success());
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let response = post(
        server.http_url("/v1/traces"),
        "application/x-protobuf",
        None,
        export,
        &auth,
    )
    .await;
    assert_eq!(
        response.status(),
        401,
        "a revoked key stops working after the cache TTL"
    );
    assert!(!server.cli(&["keys", "revoke", public_key]).status.success());
}

#[tokio::test]
async fn a_locked_store_gets_503_with_retry_after_and_acknowledged_spans_survive() {
    let server = Server::start_with(&[("SPANBRIDGE_EMBEDDED__QUEUE_CAPACITY", "1")]);
    // Another process holds SQLite's write lock, as a backup tool or a stuck writer would.
    let locker = server.lock_store().await;

    let sends = (0..6).map(|i| {
        let server = &server;
        async move {
            let trace_id = format!("8000000000000000000000000000000{i}");
            (trace_id.clone(), post_protobuf(server, &trace_id).await)
        }
    });
    let results = futures::future::join_all(sends).await;
    locker.release().await;

    let mut unavailable = 0;
    for (trace_id, response) in &results {
        match response.status().as_u16() {
            200 => assert_genai_trace(&trace(&server, trace_id).await, trace_id),
            503 => {
                unavailable += 1;
                assert_eq!(response.headers()["retry-after"], "1");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(unavailable >= 1, "a full queue must answer 503");
    // Retrying what was refused succeeds once the store is free.
    for (trace_id, response) in &results {
        if response.status() == 503 {
            assert_eq!(post_protobuf(&server, trace_id).await.status(), 200);
            assert_genai_trace(&trace(&server, trace_id).await, trace_id);
        }
    }
}

#[tokio::test]
async fn spans_survive_sigterm_and_restart() {
    let mut server = Server::start();
    let trace_id = "90000000000000000000000000000001";
    assert_eq!(post_protobuf(&server, trace_id).await.status(), 200);
    assert!(server.stop().success(), "SIGTERM is a clean shutdown");
    server.restart();
    assert_genai_trace(&trace(&server, trace_id).await, trace_id);
    let (status, _) = get_json(&server, "/health", "").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn config_command_masks_secrets_and_bad_settings_fail_naming_the_key() {
    let server = Server::start_with(&[]);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_spanbridge"))
        .arg("config")
        .env("SPANBRIDGE_AUTH__SALT", "very-secret-salt")
        .env("SPANBRIDGE_CLICKHOUSE__PASSWORD", "very-secret-clickhouse")
        .env("SPANBRIDGE_PRIVACY__HASH_KEY", "very-secret-hash-key")
        .env(
            "SPANBRIDGE_META__URL",
            "postgres://sb:very-secret-pg@db.internal:5432/meta",
        )
        .env(
            "SPANBRIDGE_KAFKA__OPTIONS__SASL_PASSWORD",
            "very-secret-sasl",
        )
        .env(
            "SPANBRIDGE_KAFKA__OPTIONS__SSL_KEY_PASSWORD",
            "very-secret-ssl",
        )
        .env("SPANBRIDGE_KAFKA__OPTIONS__SASL_USERNAME", "sb-user")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    let logged = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{logged}");
    assert!(
        printed.contains("http_addr")
            && !printed.contains("very-secret")
            && !logged.contains("very-secret"),
        "{printed}{logged}"
    );
    for shown in [
        "salt = \"**REDACTED**\"",
        "password = \"**REDACTED**\"",
        "hash_key = \"**REDACTED**\"",
        "url = \"postgres://sb:**REDACTED**@db.internal:5432/meta\"",
        "sasl_password = \"**REDACTED**\"",
        "ssl_key_password = \"**REDACTED**\"",
        "sasl_username = \"sb-user\"",
    ] {
        assert!(printed.contains(shown), "{shown} in {printed}");
    }
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_spanbridge"))
        .arg("config")
        .env("SPANBRIDGE_GATEWAY__MAX_BODY_BYTES", "lots")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .to_lowercase()
            .contains("gateway.max_body_bytes")
    );
    drop(server);
}

/// v4's `GET /api/public/v2/observations` over the embedded SQLite store: filters, field
/// groups, cursor pagination over two traces, and clear 400s for what it refuses.
#[tokio::test]
async fn v2_observations_filter_and_page_with_a_cursor_on_sqlite() {
    let server = Server::start();
    let traces = [
        "0000000000000000000000000000a001",
        "0000000000000000000000000000a002",
    ];
    for trace_id in traces {
        assert_eq!(post_protobuf(&server, trace_id).await.status(), 200);
    }
    let auth = test_auth();

    // Every observation once, two per page, newest first, then no cursor.
    let mut seen = Vec::new();
    let mut path = "/api/public/v2/observations?limit=2&userId=user-42".to_owned();
    for page in 0.. {
        assert!(page < 4, "pagination does not end: {seen:?}");
        let (status, body) = get_json(&server, &path, &auth).await;
        assert_eq!(status, 200, "{body}");
        let data = body["data"].as_array().cloned().unwrap_or_default();
        assert!(data.len() <= 2, "{body}");
        for observation in &data {
            assert_eq!(observation["userId"], "user-42", "{observation}");
            assert!(
                observation.get("input").is_none(),
                "io not requested by default"
            );
            seen.push(format!(
                "{}/{}",
                observation["traceId"].as_str().unwrap_or_default(),
                observation["id"].as_str().unwrap_or_default()
            ));
        }
        match body["meta"]["cursor"].as_str() {
            Some(cursor) => {
                path = format!(
                    "/api/public/v2/observations?limit=2&userId=user-42&cursor={}",
                    cursor
                        .replace('+', "%2B")
                        .replace('/', "%2F")
                        .replace('=', "%3D")
                )
            }
            None => {
                assert_eq!(body["meta"], serde_json::json!({}), "{body}");
                break;
            }
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 4, "each of the 4 observations once: {seen:?}");

    // Filters and field groups.
    let (status, body) = get_json(
        &server,
        &format!(
            "/api/public/v2/observations?traceId={}&type=GENERATION&fields=core,model,usage,io",
            traces[0]
        ),
        &auth,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(data.len(), 1, "{body}");
    let generation = &data[0];
    assert_eq!(generation["id"], "2222222222222222");
    assert_eq!(generation["parentObservationId"], "1111111111111111");
    assert_eq!(generation["model"], "gpt-4o");
    assert_eq!(generation["usageDetails"]["total"], 150);
    assert_eq!(generation["totalUsage"], 150);
    assert!(
        generation["input"]
            .as_str()
            .is_some_and(|input| input.contains("hi")),
        "raw text: {generation}"
    );
    assert!(generation.get("name").is_none(), "basic not requested");
    let (_, roots) = get_json(
        &server,
        "/api/public/v2/observations?isRootObservation=true",
        &auth,
    )
    .await;
    let roots = roots["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(roots.len(), 2, "{roots:?}");
    assert!(
        roots
            .iter()
            .all(|r| r["id"] == "1111111111111111" && r["isRootObservation"] == true)
    );
    let (_, none) = get_json(
        &server,
        "/api/public/v2/observations?fromStartTime=2030-01-01T00:00:00Z",
        &auth,
    )
    .await;
    assert_eq!(none["data"], serde_json::json!([]), "{none}");

    for (query, says) in [
        ("limit=0", "limit"),
        ("cursor=%25%25", "Invalid cursor format"),
        ("filter=%5B%5D", "filter"),
        ("toStartTime=tomorrow", "toStartTime"),
    ] {
        let (status, body) = get_json(
            &server,
            &format!("/api/public/v2/observations?{query}"),
            &auth,
        )
        .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(says)),
            "{query}: {body}"
        );
    }
    let (status, _) = get_json(&server, "/api/public/v2/observations", "Basic bm9wZTpub3Bl").await;
    assert_eq!(status, 401);
}

//! The front door, as a team that points its clients at Spanbridge sees it: with `[upstream] url`
//! set, what Spanbridge does not serve reaches the team's Langfuse (here the recording test
//! upstream, tests/support/langfuse_upstream.py) unchanged, streamed both ways; Spanbridge's own
//! routes stay local; failures are 502/504 with a JSON body; slow proxied requests never delay
//! ingestion; without an upstream, unknown routes answer a 404 naming the setting.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::upstream::{TestUpstream, header};
use support::*;

fn start_with_upstream(upstream: &TestUpstream, extra: &[(&str, &str)]) -> Server {
    let url = upstream.url();
    let mut env = vec![("SPANBRIDGE_UPSTREAM__URL", url.as_str())];
    env.extend_from_slice(extra);
    Server::start_with(&env)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn what_spanbridge_does_not_serve_reaches_the_upstream_and_its_own_routes_stay_local() {
    let upstream = TestUpstream::start();
    let server = start_with_upstream(&upstream, &[]);
    let auth = test_auth();

    // Prompts, health and scores-by-GET are the upstream's, Authorization as sent.
    let (status, prompt) = get_json(&server, "/api/public/v2/prompts/movie-critic", &auth).await;
    assert_eq!(status, 200);
    assert_eq!(prompt["type"], "text");
    assert_eq!(
        prompt["prompt"],
        "As a {{criticLevel}} movie critic, do you like {{movie}}?"
    );
    let (status, health) = get_json(&server, "/api/public/health", &auth).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("OK")));
    let (status, scores) = get_json(&server, "/api/public/scores?page=1", &auth).await;
    assert_eq!(
        status, 200,
        "GET /api/public/scores goes upstream: {scores}"
    );
    let created = client()
        .post(server.http_url("/api/public/v2/datasets"))
        .header("authorization", &auth)
        .json(&json!({"name": "golden", "description": "front door"}))
        .send()
        .await
        .expect("POST dataset");
    assert_eq!(created.status(), 200);

    let seen = upstream
        .received("/api/public/v2/prompts/movie-critic")
        .await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(header(&seen[0], "authorization"), Some(auth.as_str()));
    assert_eq!(
        header(&seen[0], "host"),
        Some(format!("127.0.0.1:{}", upstream.port).as_str()),
        "Host is the upstream's"
    );
    let scores_seen = upstream.received("/api/public/scores?page=1").await;
    assert_eq!(scores_seen.len(), 1);
    assert_eq!(scores_seen[0]["method"], "GET");
    let dataset = upstream.received("/api/public/v2/datasets").await;
    assert_eq!(dataset[0]["body_json"]["name"], "golden");

    // Spanbridge's own routes answer locally and never reach the upstream.
    let trace_id = "0f000000000000000000000000000001";
    let exported = export_genai_trace(&server.http_url("/v1/traces"), trace_id, &auth).await;
    assert_eq!(exported.status(), 200);
    let (status, _) = get_json(&server, &format!("/api/public/traces/{trace_id}"), &auth).await;
    assert_eq!(status, 200);
    let (status, projects) = get_json(&server, "/api/public/projects", &auth).await;
    assert_eq!(status, 200);
    assert_eq!(projects["data"][0]["name"], "e2e");
    let local_health = client()
        .get(server.http_url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(local_health.text().await.unwrap(), "ok");
    let score = client()
        .post(server.http_url("/api/public/scores"))
        .header("authorization", &auth)
        .json(&json!({"traceId": trace_id, "name": "quality", "value": 0.9}))
        .send()
        .await
        .unwrap();
    assert!(score.status().is_success(), "{}", score.status());
    for local in [
        "/v1/traces",
        "/api/public/traces/",
        "/api/public/projects",
        "/health",
    ] {
        assert!(
            upstream.received(local).await.is_empty(),
            "{local} reached the upstream"
        );
    }
    let posted_scores: Vec<Value> = upstream
        .received("/api/public/scores")
        .await
        .into_iter()
        .filter(|entry| entry["method"] == "POST")
        .collect();
    assert!(posted_scores.is_empty(), "POST /api/public/scores is local");

    let scrape = scrape_metrics(&server.admin_url("")).await;
    assert_eq!(
        sample_sum(
            &scrape,
            "spanbridge_upstream_requests_total",
            &["family=\"prompts\"", "status_class=\"2xx\""]
        ),
        1.0
    );
    assert_eq!(
        sample_sum(
            &scrape,
            "spanbridge_upstream_requests_total",
            &["family=\"datasets\""]
        ),
        1.0
    );
    assert!(
        sample_sum(
            &scrape,
            "spanbridge_upstream_request_duration_seconds_count",
            &["family=\"other\""]
        ) >= 2.0
    );
}

#[tokio::test]
async fn bodies_pass_byte_exact_compressed_bodies_untouched_and_sse_event_by_event() {
    let upstream = TestUpstream::start();
    let server = start_with_upstream(&upstream, &[]);

    // 10 MB up and back, byte for byte.
    let body: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let echoed = client()
        .post(server.http_url("/__echo"))
        .header("content-type", "application/octet-stream")
        .body(body.clone())
        .send()
        .await
        .expect("POST 10 MB");
    assert_eq!(echoed.status(), 200);
    assert_eq!(
        echoed.headers()["x-body-sha256"].to_str().unwrap(),
        sha256_hex(&body)
    );
    let back = echoed.bytes().await.unwrap();
    assert!(back.as_ref() == body.as_slice(), "10 MB came back changed");
    let big = client()
        .get(server.http_url("/__big?bytes=10485760"))
        .send()
        .await
        .unwrap();
    assert_eq!(big.headers()["content-length"], "10485760");
    assert_eq!(big.bytes().await.unwrap().len(), 10_485_760);

    // gzip both ways, Content-Encoding untouched.
    let compressed = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(br#"{"name":"compressed"}"#).unwrap();
        encoder.finish().unwrap()
    };
    let sent = client()
        .post(server.http_url("/__echo"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(compressed.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.bytes().await.unwrap().as_ref(), compressed.as_slice());
    let seen = upstream.received("/__echo").await;
    let gzipped = seen.last().unwrap();
    assert_eq!(header(gzipped, "content-encoding"), Some("gzip"));
    assert_eq!(gzipped["body_sha256"], sha256_hex(&compressed));
    let answer = client()
        .get(server.http_url("/__gzip"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["content-encoding"], "gzip");
    let raw = answer.bytes().await.unwrap();
    let mut plain = String::new();
    flate2::read::GzDecoder::new(raw.as_ref())
        .read_to_string(&mut plain)
        .expect("the answer is still gzip");
    assert!(plain.starts_with(r#"{"compressed": true"#), "{plain}");

    // SSE: the first event arrives while the upstream is still sending (3 events, 1 s apart).
    let started = Instant::now();
    let mut stream = client()
        .get(server.http_url("/__sse?events=3&gap_ms=1000"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let first = stream.chunk().await.unwrap().expect("a first event");
    let first_at = started.elapsed();
    assert!(
        String::from_utf8_lossy(&first).contains("data: {\"n\": 0}"),
        "{first:?}"
    );
    let mut rest = Vec::new();
    while let Some(chunk) = stream.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    let done_at = started.elapsed();
    assert!(
        first_at < Duration::from_millis(900) && done_at >= Duration::from_millis(2_000),
        "first event at {first_at:?}, end at {done_at:?}"
    );
    assert!(String::from_utf8_lossy(&rest).contains("data: {\"n\": 2}"));
}

#[tokio::test]
async fn the_web_ui_routes_redirects_and_cookies_pass_through() {
    let upstream = TestUpstream::start();
    let server = start_with_upstream(&upstream, &[]);
    let http = no_redirects();
    for (path, kind) in [
        ("/", "text/html"),
        ("/project/x/traces", "text/html"),
        ("/api/auth/session", "application/json"),
        (
            "/api/trpc/traces.all?batch=1&input=%7B%220%22%3A%7B%7D%7D",
            "application/json",
        ),
    ] {
        let response = http
            .get(server.http_url(path))
            .header("cookie", "next-auth.session-token=t0k3n")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{path}"
        );
        if path == "/api/auth/session" {
            assert_eq!(
                response.headers()["set-cookie"],
                "next-auth.csrf-token=abc; Path=/; HttpOnly"
            );
        }
        let seen = upstream.received(path).await;
        assert_eq!(seen.len(), 1, "{path}");
        assert_eq!(
            header(&seen[0], "cookie"),
            Some("next-auth.session-token=t0k3n")
        );
    }
    let redirect = http
        .get(server.http_url("/__redirect"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302, "redirects go to the client");
    assert_eq!(redirect.headers()["location"], "/auth/sign-in");
    assert!(
        upstream.received("/auth/sign-in").await.is_empty(),
        "not followed"
    );
    let scrape = scrape_metrics(&server.admin_url("")).await;
    assert!(
        sample_sum(
            &scrape,
            "spanbridge_upstream_requests_total",
            &["family=\"ui\"", "status_class=\"3xx\""]
        ) >= 1.0
    );
}

#[tokio::test]
async fn hop_by_hop_headers_are_dropped_and_forwarded_headers_added() {
    let upstream = TestUpstream::start();
    let server = start_with_upstream(&upstream, &[]);
    let response = client()
        .get(server.http_url("/__hop"))
        .header("connection", "keep-alive, x-client-hop")
        .header("x-client-hop", "1")
        .header("keep-alive", "timeout=5")
        .header("te", "trailers")
        .header("proxy-authorization", "Basic cHJveHk6c2VjcmV0")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-custom", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-upstream-hop").is_none());
    assert!(response.headers().get("keep-alive").is_none());
    assert_eq!(response.headers()["x-kept"], "yes");

    let seen = upstream.received("/__hop").await;
    let entry = &seen[0];
    for dropped in [
        "x-client-hop",
        "keep-alive",
        "te",
        "proxy-authorization",
        "upgrade",
    ] {
        assert_eq!(header(entry, dropped), None, "{dropped} was forwarded");
    }
    assert_ne!(
        header(entry, "connection"),
        Some("keep-alive, x-client-hop")
    );
    assert_eq!(header(entry, "x-custom"), Some("kept"));
    assert_eq!(
        header(entry, "x-forwarded-for"),
        Some("6.6.6.6, 127.0.0.1"),
        "appended to, not trusted"
    );
    assert_eq!(header(entry, "x-forwarded-proto"), Some("http"));
    assert_eq!(
        header(entry, "x-forwarded-host"),
        Some(format!("127.0.0.1:{}", server.http_port).as_str())
    );
    assert_eq!(
        header(entry, "host"),
        Some(format!("127.0.0.1:{}", upstream.port).as_str())
    );
}

/// Sends one raw HTTP/1.1 request to `port` and returns the whole answer.
fn raw_request(port: u16, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn absolute_form_targets_and_odd_hosts_never_change_the_destination() {
    let upstream = TestUpstream::start();
    let server = start_with_upstream(&upstream, &[]);
    let decoy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    decoy.set_nonblocking(true).unwrap();
    let decoy_port = decoy.local_addr().unwrap().port();
    let answer = raw_request(
        server.http_port,
        &format!(
            "GET http://127.0.0.1:{decoy_port}/api/public/health HTTP/1.1\r\nHost: 127.0.0.1:{decoy_port}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("3.130.0-test-upstream"), "{answer}");
    let answer = raw_request(
        server.http_port,
        &format!(
            "GET /api/public/health HTTP/1.1\r\nHost: 127.0.0.1:{decoy_port}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(answer.contains("3.130.0-test-upstream"), "{answer}");
    assert!(
        decoy.accept().is_err(),
        "the decoy named in the target and Host was contacted"
    );
    let seen = upstream.received("/api/public/health").await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        header(&seen[0], "host"),
        Some(format!("127.0.0.1:{}", upstream.port).as_str())
    );
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_and_a_silent_one_a_504_both_naming_it() {
    let closed = free_port();
    let unreachable = format!("http://127.0.0.1:{closed}");
    let server = Server::start_with(&[("SPANBRIDGE_UPSTREAM__URL", unreachable.as_str())]);
    let started = Instant::now();
    let (status, body) = get_json(&server, "/api/public/v2/prompts/x", &test_auth()).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"], "BadGateway");
    assert!(
        body["message"].as_str().unwrap().contains(&unreachable),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let scrape = scrape_metrics(&server.admin_url("")).await;
    assert_eq!(
        sample_sum(
            &scrape,
            "spanbridge_upstream_errors_total",
            &["kind=\"unreachable\""]
        ),
        1.0
    );

    let upstream = TestUpstream::start();
    let server = start_with_upstream(
        &upstream,
        &[
            ("SPANBRIDGE_UPSTREAM__TIMEOUT_SECS", "1"),
            ("SPANBRIDGE_UPSTREAM__MAX_BODY_BYTES", "1024"),
        ],
    );
    let started = Instant::now();
    let (status, body) = get_json(&server, "/__hang?secs=10", &test_auth()).await;
    let took = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"], "GatewayTimeout");
    assert!(
        body["message"].as_str().unwrap().contains(&upstream.url()),
        "{body}"
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let too_large = client()
        .post(server.http_url("/__echo"))
        .body(vec![b'x'; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), 413);
    // Chunked, with no length to check up front: cut off at the limit, still a 413.
    let chunk = "y".repeat(1000);
    let chunked = raw_request(
        server.http_port,
        &format!(
            "POST /__echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             3e8\r\n{chunk}\r\n3e8\r\n{chunk}\r\n0\r\n\r\n"
        ),
    );
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    let scrape = scrape_metrics(&server.admin_url("")).await;
    assert_eq!(
        sample_sum(
            &scrape,
            "spanbridge_upstream_errors_total",
            &["kind=\"timeout\""]
        ),
        1.0
    );
    assert!(
        !server.logs().contains(&test_auth()) && !server.logs().contains(SECRET_KEY),
        "no credential is logged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ingestion_answers_at_once_while_150_proxied_requests_hang() {
    let upstream = TestUpstream::start();
    let server = start_with_upstream(&upstream, &[("SPANBRIDGE_UPSTREAM__MAX_CONCURRENT", "100")]);
    let hanging: Vec<_> = (0..150)
        .map(|_| {
            let url = server.http_url("/__hang?secs=30");
            tokio::spawn(async move {
                let response = reqwest::Client::new().get(url).send().await;
                response.map(|r| (r.status().as_u16(), r.headers().contains_key("retry-after")))
            })
        })
        .collect();
    // Wait until all 100 slots are taken.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let scrape = scrape_metrics(&server.admin_url("")).await;
        if sample_sum(&scrape, "spanbridge_upstream_inflight_requests", &[]) >= 100.0 {
            break;
        }
        assert!(Instant::now() < deadline, "100 proxied requests in flight");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in 0..5 {
        let started = Instant::now();
        let trace_id = format!("0e00000000000000000000000000000{n}");
        let exported =
            export_genai_trace(&server.http_url("/v1/traces"), &trace_id, &test_auth()).await;
        let took = started.elapsed();
        assert_eq!(exported.status(), 200);
        assert!(took < Duration::from_millis(500), "ingestion took {took:?}");
    }
    let (status, _) = get_json(
        &server,
        "/api/public/traces/0e000000000000000000000000000004",
        &test_auth(),
    )
    .await;
    assert_eq!(status, 200, "the span landed");
    // The 50 over the limit were refused at once with Retry-After.
    let mut refused = 0;
    for task in hanging {
        if task.is_finished() {
            let (status, retry_after) = task.await.unwrap().expect("answered");
            assert_eq!((status, retry_after), (503, true));
            refused += 1;
        } else {
            task.abort();
        }
    }
    assert_eq!(refused, 50);
}

#[tokio::test]
async fn without_an_upstream_unknown_routes_answer_a_404_naming_the_setting() {
    let server = Server::start();
    for path in ["/api/public/v2/prompts/movie-critic", "/api/public/media"] {
        let (status, body) = get_json(&server, path, &test_auth()).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["error"], "NotFound");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("upstream.url") && message.contains(path),
            "{message}"
        );
    }
    let output = server.cli(&["config"]);
    assert!(output.status.success());
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_spanbridge"))
        .arg("config")
        .env(
            "SPANBRIDGE_UPSTREAM__URL",
            "http://pk-lf-1:sk-lf-2@langfuse",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("upstream.url must not contain credentials") && !stderr.contains("sk-lf-2"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_https_upstream_with_a_private_ca_is_trusted_only_with_upstream_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let upstream = TestUpstream::start_tls(&cert, &key);
    let url = format!("https://localhost:{}", upstream.port);
    let ca_file = cert.display().to_string();

    let trusted = Server::start_with(&[
        ("SPANBRIDGE_UPSTREAM__URL", url.as_str()),
        ("SPANBRIDGE_UPSTREAM__CA_FILE", ca_file.as_str()),
    ]);
    let (status, health) = get_json(&trusted, "/api/public/health", &test_auth()).await;
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("OK")),
        "{health}"
    );

    let untrusted = Server::start_with(&[("SPANBRIDGE_UPSTREAM__URL", url.as_str())]);
    let (status, body) = get_json(&untrusted, "/api/public/health", &test_auth()).await;
    assert_eq!(
        status, 502,
        "a certificate of an unknown CA is refused: {body}"
    );
    assert!(body["message"].as_str().unwrap().contains(&url), "{body}");
}

//! Shared helpers for end-to-end tests: start the real `spanbridge` binary on free localhost
//! ports with its own SQLite file, talk to it over the network, stop it like an operator would.
#![allow(dead_code)]

pub mod batch_api;
pub mod pieces;
pub mod postgres;
pub mod services;
pub mod upstream;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

pub const PUBLIC_KEY: &str = "pk-lf-test-0000-0000-000000000001";
pub const SECRET_KEY: &str = "sk-lf-test-0000-0000-000000000001";

/// A localhost port for a server a test starts, free when asked for.
///
/// Asking the kernel for port 0 and closing it is racy twice over: two tests running at once
/// can be given the same port, and an outgoing connection (to Postgres, to a broker) can take it
/// as its source port before the server binds it. So ports come from a counter, never handed
/// out twice in this process, in a range below the kernel's ephemeral ports (32768 and up on
/// Linux), and each test binary starts at its own offset in it.
pub(crate) fn free_port() -> u16 {
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919) % COUNT;
    loop {
        let taken = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(taken < COUNT, "no free localhost port left for tests");
        let port = u16::try_from(FIRST + (start + taken) % COUNT).expect("port below 32000");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// `spanbridge <command>` with `env`, listening on the given localhost ports (HTTP, gRPC,
/// admin), stdout discarded; the caller chooses where stderr goes.
pub(crate) fn spanbridge_command(
    command: &str,
    env: &[(String, String)],
    (http, grpc, admin): (u16, u16, u16),
) -> Command {
    let mut process = Command::new(env!("CARGO_BIN_EXE_spanbridge"));
    process
        .arg(command)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("SPANBRIDGE_GATEWAY__HTTP_ADDR", format!("127.0.0.1:{http}"))
        .env("SPANBRIDGE_GATEWAY__GRPC_ADDR", format!("127.0.0.1:{grpc}"))
        .env("SPANBRIDGE_ADMIN__ADDR", format!("127.0.0.1:{admin}"))
        .stdout(Stdio::null());
    process
}

/// Waits until `port` accepts connections; fails the test if `what` exits or is not
/// listening within `timeout`.
pub(crate) fn wait_for_port(port: u16, child: &mut Child, what: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Some(status) = child.try_wait().ok().flatten() {
            panic!("{what} exited during start: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGKILL and reap `child`, if there is one: what a test leaves running is gone.
pub(crate) fn kill(child: Option<Child>) {
    if let Some(mut child) = child {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// SIGTERM, then the exit status; fails the test if `what` is still running after `within`.
pub(crate) fn terminate(
    mut child: Child,
    what: &str,
    within: Duration,
) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not stop within {within:?} of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// POSTs [`genai_trace`] as OTLP/HTTP protobuf to `traces_url` (`…/v1/traces`).
pub async fn export_genai_trace(traces_url: &str, trace_id: &str, auth: &str) -> reqwest::Response {
    client()
        .post(traces_url)
        .header("content-type", "application/x-protobuf")
        .header("authorization", auth)
        .body(prost::Message::encode_to_vec(&genai_trace(trace_id)))
        .send()
        .await
        .expect("POST /v1/traces")
}

/// A running `spanbridge serve`, embedded.
pub struct Server {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub http_port: u16,
    pub grpc_port: u16,
    pub admin_port: u16,
    env: Vec<(String, String)>,
}

impl Server {
    /// Starts with the test key pair (headless setup) and default settings.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts with extra `SPANBRIDGE_*` environment variables.
    pub fn start_with(extra_env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Server {
            child: None,
            dir,
            http_port: 0,
            grpc_port: 0,
            admin_port: 0,
            env: Vec::new(),
        };
        server.env = vec![
            (
                "SPANBRIDGE_EMBEDDED__PATH".into(),
                server.db_path().display().to_string(),
            ),
            ("SPANBRIDGE_INIT_PUBLIC_KEY".into(), PUBLIC_KEY.into()),
            ("SPANBRIDGE_INIT_SECRET_KEY".into(), SECRET_KEY.into()),
            ("SPANBRIDGE_INIT_PROJECT_NAME".into(), "e2e".into()),
        ];
        server.env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        server.spawn();
        server
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("spanbridge.db")
    }

    fn spawn(&mut self) {
        self.http_port = free_port();
        self.grpc_port = free_port();
        self.admin_port = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("server log file");
        let child = spanbridge_command(
            "serve",
            &self.env,
            (self.http_port, self.grpc_port, self.admin_port),
        )
        .env(
            "SPANBRIDGE_LOG__LEVEL",
            self.env_value("SPANBRIDGE_LOG__LEVEL").unwrap_or("warn"),
        )
        .stderr(log)
        .spawn()
        .expect("start spanbridge");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let child = self.child.as_mut().expect("server started");
        for port in [self.http_port, self.grpc_port, self.admin_port] {
            wait_for_port(port, child, "spanbridge", Duration::from_secs(30));
        }
    }

    fn env_value(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The server's stderr (its logs), kept in the temp dir and printed when a test fails.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    pub fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let child = self.child.take().expect("server running");
        terminate(child, "spanbridge", Duration::from_secs(30))
    }

    /// Starts again on the same database.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        self.spawn();
    }

    /// Runs another `spanbridge` command against the same database.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_spanbridge"))
            .args(args)
            .envs(
                self.env
                    .iter()
                    .filter(|(k, _)| !k.starts_with("SPANBRIDGE_INIT"))
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .output()
            .expect("run spanbridge")
    }
}

/// Another connection holding the store's SQLite write lock (`BEGIN EXCLUSIVE`), as a backup
/// tool or a stuck writer would, until [`StoreLock::release`].
pub struct StoreLock(sqlx::SqliteConnection);

impl Server {
    pub async fn lock_store(&self) -> StoreLock {
        use sqlx::Connection;
        let mut connection =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", self.db_path().display()))
                .await
                .expect("open the store");
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut connection)
            .await
            .expect("take the write lock");
        StoreLock(connection)
    }
}

impl StoreLock {
    pub async fn release(mut self) {
        sqlx::query("COMMIT")
            .execute(&mut self.0)
            .await
            .expect("release the write lock");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- spanbridge log ---\n{}--- end of log ---", self.logs());
        }
        kill(self.child.take());
    }
}

pub fn basic_auth(public_key: &str, secret_key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{public_key}:{secret_key}"))
    )
}

pub fn test_auth() -> String {
    basic_auth(PUBLIC_KEY, SECRET_KEY)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// GET a read-API path with the test key; returns status and JSON body.
pub async fn get_json(server: &Server, path: &str, auth: &str) -> (u16, serde_json::Value) {
    get_json_at(server.http_url(path), auth).await
}

/// GET `url` with `auth`; returns status and JSON body (`Null` when the body is not JSON).
pub async fn get_json_at(url: impl reqwest::IntoUrl, auth: &str) -> (u16, serde_json::Value) {
    let response = client()
        .get(url)
        .header("authorization", auth)
        .send()
        .await
        .expect("GET");
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

pub fn string_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

pub fn int_attr(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// A span with the given hex ids (parent "" for a root), 1.5 s long, starting at `start_ns`.
pub fn span(
    trace_id: &str,
    span_id: &str,
    parent: &str,
    name: &str,
    attributes: Vec<KeyValue>,
) -> Span {
    let start_ns = 1_786_003_200_123_456_789u64;
    Span {
        trace_id: hex::decode(trace_id).expect("hex trace id"),
        span_id: hex::decode(span_id).expect("hex span id"),
        parent_span_id: hex::decode(parent).expect("hex parent id"),
        name: name.into(),
        kind: 1,
        start_time_unix_nano: start_ns,
        end_time_unix_nano: start_ns + 1_500_000_000,
        attributes,
        status: Some(Status::default()),
        ..Default::default()
    }
}

/// Wraps spans in one resource (service `e2e-service`) and one scope.
pub fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string_attr("service.name", "e2e-service"),
                    string_attr("telemetry.sdk.language", "rust"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "e2e-scope".into(),
                    version: "1.0.0".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The root span of an agent run with trace name, user and session.
pub fn agent_run(trace_id: &str) -> Span {
    span(
        trace_id,
        "1111111111111111",
        "",
        "agent-run",
        vec![
            string_attr("langfuse.trace.name", "support-chat"),
            string_attr("user.id", "user-42"),
            string_attr("session.id", "session-7"),
        ],
    )
}

/// A chat generation under [`agent_run`] with model and GenAI usage (120 in, 30 out).
pub fn chat_generation(trace_id: &str) -> Span {
    span(
        trace_id,
        "2222222222222222",
        "1111111111111111",
        "chat gpt-4o",
        vec![
            string_attr("gen_ai.operation.name", "chat"),
            string_attr("gen_ai.request.model", "gpt-4o"),
            int_attr("gen_ai.usage.input_tokens", 120),
            int_attr("gen_ai.usage.output_tokens", 30),
        ],
    )
}

/// A root agent span and a child chat generation with GenAI usage, user and session.
pub fn genai_trace(trace_id: &str) -> ExportTraceServiceRequest {
    let mut generation = chat_generation(trace_id);
    generation.attributes.push(string_attr(
        "gen_ai.input.messages",
        r#"[{"role":"user","parts":[{"type":"text","content":"hi"}]}]"#,
    ));
    request(vec![agent_run(trace_id), generation])
}

/// The Prometheus text of the admin port at `admin_url` (`http://127.0.0.1:PORT`).
pub async fn scrape_metrics(admin_url: &str) -> String {
    let response = client()
        .get(format!("{admin_url}/metrics"))
        .send()
        .await
        .expect("scrape /metrics");
    assert_eq!(response.status(), 200, "GET /metrics");
    response.text().await.expect("metrics body")
}

/// Sum of every sample of `name` whose labels contain all of `labels` (`key="value"` pairs).
pub fn sample_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The names of the samples in a Prometheus text scrape (a histogram shows up as its
/// `_bucket`, `_sum` and `_count` series).
pub fn sample_names(scrape: &str) -> std::collections::BTreeSet<String> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// The trace id `test`/`i` (`i` from 0): two hex digits naming the test, then `i + 1`, so the
/// tests of one binary never share a trace.
pub fn trace_id(test: u8, i: usize) -> String {
    format!("{test:02x}{:030x}", i + 1)
}

/// POSTs `body` to `url` with a content type, an optional `Content-Encoding` and an
/// `Authorization` header, and returns whatever the server answers.
pub async fn post(
    url: impl reqwest::IntoUrl,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
    auth: &str,
) -> reqwest::Response {
    let mut request = client()
        .post(url)
        .header("content-type", content_type)
        .header("authorization", auth)
        .body(body);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    request.send().await.expect("POST")
}

/// `data` compressed as the `Content-Encoding` `encoding` (gzip, deflate or zstd) says.
pub fn compress(encoding: &str, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    match encoding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).expect("gzip");
            e.finish().expect("gzip")
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).expect("deflate");
            e.finish().expect("deflate")
        }
        "zstd" => zstd::encode_all(data, 3).expect("zstd"),
        other => panic!("no encoder for {other}"),
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    compress("gzip", data)
}

/// `GET {base_url}/api/public/traces/{trace_id}` with the test key: status and JSON body
/// (`Null` when the body is not JSON).
pub async fn get_trace(base_url: &str, trace_id: &str) -> (u16, serde_json::Value) {
    get_json_at(
        format!("{base_url}/api/public/traces/{trace_id}"),
        &test_auth(),
    )
    .await
}

/// The trace as the read API answers it, `None` while it is not stored (404); any other
/// answer fails the test.
pub async fn trace_if_stored(server: &Server, trace_id: &str) -> Option<serde_json::Value> {
    match get_trace(&server.http_url(""), trace_id).await {
        (200, body) => Some(body),
        (404, _) => None,
        (other, body) => panic!("trace {trace_id}: {other} {body}"),
    }
}

/// The trace as the read API answers it; fails the test unless it is readable (200).
pub async fn trace(server: &Server, trace_id: &str) -> serde_json::Value {
    let (status, body) = get_trace(&server.http_url(""), trace_id).await;
    assert_eq!(status, 200, "trace {trace_id} not readable: {body}");
    body
}

/// The observation `id` of a trace read back; fails the test when it is missing.
pub fn observation_with_id<'a>(trace: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    trace["observations"]
        .as_array()
        .and_then(|list| list.iter().find(|o| o["id"] == id))
        .unwrap_or_else(|| panic!("observation {id} missing in {trace}"))
}

/// A number that JSON may carry as a number or (64-bit integers, decimals) as a string;
/// anything else fails the test.
pub fn number(value: &serde_json::Value) -> f64 {
    match value {
        serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        serde_json::Value::String(s) => s.parse().unwrap_or_else(|_| panic!("a number: {value}")),
        _ => panic!("a number: {value}"),
    }
}

/// Equal up to float rounding (costs are sums of products of small decimals).
pub fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-9
}

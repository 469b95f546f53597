//! No Docker engine runs here, so the deploy files are checked against the code instead: every
//! YAML/JSON file parses; every SPANBRIDGE_* variable they set is accepted by the strict
//! settings parser; their ports are the ones the binary listens on; the commands they run
//! exist; every metric the dashboard plots is in the binary's `/metrics` after traffic.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use sqlx::Connection;
use support::*;

use serde_yaml::Value as Yaml;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read deploy dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn deploy_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    files(&repo("deploy"), &mut out);
    out.sort();
    out
}

fn yaml_documents(path: &Path) -> Vec<Yaml> {
    let text = std::fs::read_to_string(path).expect("read yaml");
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| {
            Yaml::deserialize(document).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

use serde::Deserialize;

/// Every (name, value) pair under keys that hold environment variables, anywhere in a document.
fn collect_env(value: &Yaml, out: &mut BTreeMap<String, String>) {
    match value {
        Yaml::Mapping(map) => {
            for (key, child) in map {
                let key = key.as_str().unwrap_or_default();
                if key.starts_with("SPANBRIDGE_") {
                    let text = match child {
                        Yaml::String(s) => s.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_owned(),
                    };
                    out.insert(key.to_owned(), text);
                } else if key == "name"
                    && let (Some(name), Some(Yaml::String(value))) = (
                        child.as_str().filter(|n| n.starts_with("SPANBRIDGE_")),
                        map.get("value"),
                    )
                {
                    out.insert(name.to_owned(), value.clone());
                }
                collect_env(child, out);
            }
        }
        Yaml::Sequence(items) => items.iter().for_each(|item| collect_env(item, out)),
        _ => {}
    }
}

fn collect_ports(value: &Yaml, out: &mut Vec<u64>) {
    match value {
        Yaml::Mapping(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    (Some("containerPort" | "port"), Yaml::Number(n)) => out.extend(n.as_u64()),
                    (Some("ports"), Yaml::Sequence(items)) => {
                        for item in items {
                            if let Some(text) = item.as_str() {
                                out.extend(
                                    text.rsplit(':').next().and_then(|p| p.parse::<u64>().ok()),
                                );
                            }
                        }
                    }
                    _ => {}
                }
                collect_ports(child, out);
            }
        }
        Yaml::Sequence(items) => items.iter().for_each(|item| collect_ports(item, out)),
        _ => {}
    }
}

#[test]
fn every_deploy_file_parses() {
    let mut parsed = 0;
    for path in deploy_files() {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yml" | "yaml") => {
                assert!(!yaml_documents(&path).is_empty(), "{}", path.display());
                parsed += 1;
            }
            Some("json") => {
                let text = std::fs::read_to_string(&path).unwrap();
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                parsed += 1;
            }
            _ => {}
        }
    }
    assert!(
        parsed >= 9,
        "expected compose, prometheus, grafana, collector and k8s files; found {parsed}"
    );
}

#[test]
fn every_setting_the_deploy_files_set_is_accepted_by_the_binary() {
    let mut env = BTreeMap::new();
    for path in deploy_files() {
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) {
            for document in yaml_documents(&path) {
                collect_env(&document, &mut env);
            }
        }
    }
    let dockerfile = std::fs::read_to_string(repo("deploy/Dockerfile")).unwrap();
    for token in dockerfile.split_whitespace() {
        if let Some((name, value)) = token
            .split_once('=')
            .filter(|(n, _)| n.starts_with("SPANBRIDGE_"))
        {
            env.insert(name.to_owned(), value.trim_end_matches('\\').to_owned());
        }
    }
    assert!(
        env.contains_key("SPANBRIDGE_KAFKA__BROKERS") && env.contains_key("SPANBRIDGE_META__URL"),
        "{env:?}"
    );
    let config_file = repo("config/spanbridge.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_spanbridge"))
        .arg("config")
        .env_clear()
        .envs(
            env.iter()
                .filter(|(k, _)| k.as_str() != "SPANBRIDGE_CONFIG"),
        )
        .env("SPANBRIDGE_CONFIG", &config_file)
        .output()
        .expect("run spanbridge config");
    assert!(
        output.status.success(),
        "the deploy files set settings the binary rejects: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        !printed.contains("change-me-to-a-long-random-salt"),
        "secrets are masked"
    );
}

/// A setting below its minimum stops the binary before it does anything, naming the key, for
/// settings given as environment variables (as the deploy files give them).
#[test]
fn settings_below_their_minimum_are_refused_at_load_naming_the_key() {
    for (variable, value, message) in [
        (
            "SPANBRIDGE_SINK__MAX_BATCH_ROWS",
            "0",
            "sink.max_batch_rows must be at least 1 (got 0)",
        ),
        (
            "SPANBRIDGE_SINK__MAX_BATCH_BYTES",
            "0",
            "sink.max_batch_bytes must be at least 1 (got 0)",
        ),
        (
            "SPANBRIDGE_SINK__MAX_RETRY_BACKOFF_MS",
            "50",
            "sink.max_retry_backoff_ms must be at least 100 (got 50)",
        ),
        (
            "SPANBRIDGE_GATEWAY__MAX_INFLIGHT_REQUESTS",
            "0",
            "gateway.max_inflight_requests must be at least 1 (got 0)",
        ),
        (
            "SPANBRIDGE_UPSTREAM__MAX_CONCURRENT",
            "0",
            "upstream.max_concurrent must be at least 1 (got 0)",
        ),
        (
            "SPANBRIDGE_UPSTREAM__URL",
            "langfuse.internal:3000",
            "upstream.url must start with http:// or https://",
        ),
        (
            "SPANBRIDGE_EMBEDDED__QUEUE_CAPACITY",
            "0",
            "embedded.queue_capacity must be at least 1 (got 0)",
        ),
        (
            "SPANBRIDGE_KAFKA__DELIVERY_TIMEOUT_MS",
            "0",
            "kafka.delivery_timeout_ms must be at least 1 (got 0)",
        ),
        (
            "SPANBRIDGE_KAFKA__MAX_INFLIGHT_MESSAGES",
            "0",
            "kafka.max_inflight_messages must be at least 1 (got 0)",
        ),
        (
            "SPANBRIDGE_META__MAX_CONNECTIONS",
            "0",
            "meta.max_connections must be at least 1 (got 0)",
        ),
        (
            "SPANBRIDGE_META__FLUSH_INTERVAL_SECS",
            "0",
            "meta.flush_interval_secs must be at least 1 (got 0)",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_spanbridge"))
            .arg("config")
            .env(variable, value)
            .output()
            .expect("run spanbridge config");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{variable}={value} was accepted");
        assert!(
            stderr.contains(&format!("invalid configuration: {message}")),
            "{variable}={value}: {stderr}"
        );
    }
    let output = Command::new(env!("CARGO_BIN_EXE_spanbridge"))
        .arg("config")
        .env("SPANBRIDGE_SINK__MAX_BATCH_ROWS", "1")
        .env("SPANBRIDGE_INIT_PUBLIC_KEY", PUBLIC_KEY)
        .env("SPANBRIDGE_INIT_PROJECT_NAME", "minimums")
        .output()
        .expect("run spanbridge config");
    assert!(
        output.status.success(),
        "the minimum itself and the headless-setup variables are accepted: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn ports_match_the_listeners() {
    let defaults = std::fs::read_to_string(repo("config/spanbridge.toml")).unwrap();
    for port in ["4317", "4318", "9464"] {
        assert!(
            defaults.contains(&format!(":{port}\"")),
            "default config listens on {port}"
        );
    }
    let allowed = [4317, 4318, 9464, 9092, 9093, 8123, 5432, 9090, 3000];
    for path in deploy_files() {
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) {
            let mut ports = Vec::new();
            for document in yaml_documents(&path) {
                collect_ports(&document, &mut ports);
            }
            for port in ports {
                assert!(
                    allowed.contains(&port),
                    "{}: unexpected port {port}",
                    path.display()
                );
            }
        }
    }
    let gateway = std::fs::read_to_string(repo("deploy/k8s/gateway.yaml")).unwrap();
    for port in [
        "containerPort: 4317",
        "containerPort: 4318",
        "containerPort: 9464",
    ] {
        assert!(gateway.contains(port), "k8s gateway exposes {port}");
    }
    let prometheus = std::fs::read_to_string(repo("deploy/prometheus/prometheus.yml")).unwrap();
    assert!(prometheus.contains("gateway:9464") && prometheus.contains("sink:9464"));
    let collector = std::fs::read_to_string(repo("deploy/otel-collector.yaml")).unwrap();
    assert!(collector.contains(":4317") && collector.contains(":4318"));
    let dockerfile = std::fs::read_to_string(repo("deploy/Dockerfile")).unwrap();
    assert!(dockerfile.contains("EXPOSE 4317 4318 9464"));
}

#[test]
fn commands_the_deploy_files_run_exist() {
    let compose = std::fs::read_to_string(repo("deploy/docker-compose.yml")).unwrap();
    let k8s = std::fs::read_to_string(repo("deploy/k8s/sink.yaml")).unwrap()
        + &std::fs::read_to_string(repo("deploy/k8s/gateway.yaml")).unwrap();
    for command in ["gateway", "sink", "migrate"] {
        assert!(
            compose.contains(&format!("[\"{command}\"]"))
                || k8s.contains(&format!("[\"{command}\"]"))
        );
        let status = Command::new(env!("CARGO_BIN_EXE_spanbridge"))
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(status.status.success(), "`spanbridge {command}` exists");
    }
}

/// Every `spanbridge_*` name the Grafana dashboard and the Prometheus files refer to, with the
/// files that refer to it.
fn referenced_metrics() -> BTreeMap<String, BTreeSet<String>> {
    let mut paths = Vec::new();
    for dir in ["deploy/grafana", "deploy/prometheus"] {
        files(&repo(dir), &mut paths);
    }
    let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let file = path
            .strip_prefix(repo(""))
            .unwrap_or(&path)
            .display()
            .to_string();
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
            if word.starts_with("spanbridge_") {
                names
                    .entry(word.to_owned())
                    .or_default()
                    .insert(file.clone());
            }
        }
    }
    names
}

/// Metrics that only a process with Kafka configured emits; the embedded scrape cannot show
/// them, the Kafka deployment's scrape must.
const KAFKA_MODE_ONLY: &[(&str, &str)] = &[
    (
        "spanbridge_kafka_produce_duration_seconds_bucket",
        "the gateway's Kafka publisher times broker acknowledgements",
    ),
    (
        "spanbridge_kafka_produce_errors_total",
        "the gateway's Kafka publisher counts produce failures",
    ),
    (
        "spanbridge_kafka_inflight_messages",
        "the gateway's Kafka publisher counts unacknowledged messages",
    ),
    (
        "spanbridge_consumer_lag_messages",
        "the sink's Kafka consumer reports lag from librdkafka statistics",
    ),
    (
        "spanbridge_dead_letter_messages_total",
        "only the Kafka sink has a dead-letter topic",
    ),
];

const TOPIC: &str = "spanbridge.events.v1";
const DEAD_LETTER_TOPIC: &str = "spanbridge.events.v1.dead-letter";

/// Scrapes `admin_url` until every name in `wanted` is sampled or `within` passes (gauges
/// fed by librdkafka statistics arrive on their own schedule); returns the last scrape's names.
async fn scrape_until(
    admin_url: &str,
    wanted: &BTreeSet<&str>,
    within: Duration,
) -> BTreeSet<String> {
    let deadline = Instant::now() + within;
    loop {
        let names = sample_names(&scrape_metrics(admin_url).await);
        if wanted.iter().all(|name| names.contains(*name)) || Instant::now() > deadline {
            return names;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Embedded, after the traffic every panel plots: accepted spans, a rejected span, a
/// refused key, a failed store write, a request passed through to the upstream and one refused.
async fn embedded_scrape(wanted: &BTreeSet<&str>) -> BTreeSet<String> {
    let upstream = support::upstream::TestUpstream::start();
    let upstream_url = upstream.url();
    let server = Server::start_with(&[
        ("SPANBRIDGE_GATEWAY__REQUEST_TIMEOUT_SECS", "3"),
        ("SPANBRIDGE_UPSTREAM__URL", upstream_url.as_str()),
        ("SPANBRIDGE_UPSTREAM__MAX_BODY_BYTES", "1024"),
    ]);
    // The front door: one request passed through, one refused for its size.
    let prompt = client()
        .get(server.http_url("/api/public/v2/prompts/movie-critic"))
        .header("authorization", test_auth())
        .send()
        .await
        .expect("GET a prompt through the front door");
    assert_eq!(prompt.status(), 200);
    let too_large = client()
        .post(server.http_url("/api/public/media"))
        .body(vec![b'x'; 2048])
        .send()
        .await
        .expect("POST too large a body through the front door");
    assert_eq!(too_large.status(), 413);
    let traces = server.http_url("/v1/traces");
    let accepted =
        export_genai_trace(&traces, "0000000a000000000000000000000001", &test_auth()).await;
    assert_eq!(accepted.status(), 200);
    let refused = export_genai_trace(
        &traces,
        "0000000a000000000000000000000002",
        &basic_auth(PUBLIC_KEY, "sk-lf-wrong"),
    )
    .await;
    assert_eq!(refused.status(), 401);

    let mut with_bad_span = genai_trace("0000000a000000000000000000000003");
    with_bad_span.resource_spans[0].scope_spans[0].spans[1].span_id = vec![0; 8];
    let partial = client()
        .post(&traces)
        .header("content-type", "application/x-protobuf")
        .header("authorization", test_auth())
        .body(prost::Message::encode_to_vec(&with_bad_span))
        .send()
        .await
        .expect("POST /v1/traces");
    assert_eq!(partial.status(), 200, "the valid span is accepted");

    // A store that cannot take a write: the events table is renamed away for one request.
    let mut db =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", server.db_path().display()))
            .await
            .expect("open the server's SQLite file");
    sqlx::query("ALTER TABLE events RENAME TO events_away")
        .execute(&mut db)
        .await
        .expect("rename events");
    let failed =
        export_genai_trace(&traces, "0000000a000000000000000000000004", &test_auth()).await;
    assert_eq!(failed.status(), 503, "a failed write is retryable");
    let names = scrape_until(&server.admin_url(""), wanted, Duration::from_secs(10)).await;
    sqlx::query("ALTER TABLE events_away RENAME TO events")
        .execute(&mut db)
        .await
        .expect("rename events back");
    names
}

/// `spanbridge serve` through Kafka (librdkafka's mock cluster, in this process) after
/// traffic: accepted spans, a message the sink dead-letters, a produce the broker refuses.
async fn kafka_mode_scrape(wanted: &BTreeSet<&str>) -> BTreeSet<String> {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, 2, 1).expect("topic");
    cluster
        .create_topic(DEAD_LETTER_TOPIC, 1, 1)
        .expect("dead-letter topic");
    let brokers = cluster.bootstrap_servers();
    let server = Server::start_with(&[
        ("SPANBRIDGE_KAFKA__BROKERS", brokers.as_str()),
        ("SPANBRIDGE_KAFKA__DELIVERY_TIMEOUT_MS", "1500"),
        ("SPANBRIDGE_SINK__MAX_BATCH_WAIT_MS", "100"),
    ]);
    let traces = server.http_url("/v1/traces");
    let accepted =
        export_genai_trace(&traces, "0000000b000000000000000000000001", &test_auth()).await;
    assert_eq!(accepted.status(), 200);

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("producer");
    producer
        .send(
            FutureRecord::to(TOPIC)
                .key("garbage")
                .payload(&b"\xff\xff not a batch"[..]),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(error, _)| error)
        .expect("produce a message the sink cannot decode");
    let sink_side: BTreeSet<&str> = [
        "spanbridge_dead_letter_messages_total",
        "spanbridge_consumer_lag_messages",
    ]
    .into();
    scrape_until(&server.admin_url(""), &sink_side, Duration::from_secs(30)).await;

    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS; 10_000],
    );
    let refused =
        export_genai_trace(&traces, "0000000b000000000000000000000002", &test_auth()).await;
    assert_eq!(refused.status(), 503, "the broker refused the produce");
    cluster.clear_request_errors(RDKafkaApiKey::Produce);
    scrape_until(&server.admin_url(""), wanted, Duration::from_secs(10)).await
}

/// The dashboard and the Prometheus files refer to metrics by name; a name the running binary
/// does not export plots nothing. Checked against real scrapes after traffic, so renaming a
/// metric in the code (or in the dashboard) fails here.
#[tokio::test(flavor = "multi_thread")]
async fn every_dashboard_metric_is_scraped_after_traffic() {
    let referenced = referenced_metrics();
    assert!(
        referenced.len() >= 12,
        "the dashboard plots at least 12 metrics: {referenced:?}"
    );
    for (name, reason) in KAFKA_MODE_ONLY {
        assert!(
            referenced.contains_key(*name),
            "KAFKA_MODE_ONLY lists {name} ({reason}), which no deploy file refers to"
        );
    }
    let kafka_only: BTreeSet<&str> = KAFKA_MODE_ONLY.iter().map(|(name, _)| *name).collect();
    let embedded_wanted: BTreeSet<&str> = referenced
        .keys()
        .map(String::as_str)
        .filter(|name| !kafka_only.contains(name))
        .collect();

    let embedded = embedded_scrape(&embedded_wanted).await;
    for name in &embedded_wanted {
        assert!(
            embedded.contains(*name),
            "{name} (in {}) is not exported by embedded mode after traffic; exported: {embedded:?}",
            referenced[*name]
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let kafka = kafka_mode_scrape(&kafka_only).await;
    for name in &kafka_only {
        assert!(
            kafka.contains(*name),
            "{name} (in {}) is not exported by Kafka mode after traffic; exported: {kafka:?}",
            referenced[*name]
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

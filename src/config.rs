//! Settings: defaults ← `--config FILE` (TOML) ← `SPANBRIDGE_<SECTION>__<KEY>` environment
//! variables ← CLI flags. Unknown keys and bad values fail at start, naming the key.
//! `config/spanbridge.toml` documents every key with its default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use spanbridge_gateway::convert::logs::LogOptions;
#[cfg(test)]
use spanbridge_gateway::convert::logs::OtherRecords;
use spanbridge_gateway::privacy::{PrivacySettings, SamplingSettings};
use spanbridge_gateway::upstream::UpstreamSettings;
use spanbridge_proto::Secret;
use spanbridge_proto::secret::{UrlPassword, is_secret_option};
pub use spanbridge_sink::store::clickhouse::TableSet;

/// Environment variables with our prefix that are not settings (headless setup, the config
/// file path): a strict parser must not reject them.
const NON_SETTING_ENV: &[&str] = &[
    "init_public_key",
    "init_secret_key",
    "init_project_name",
    "config",
];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub gateway: GatewaySettings,
    pub admin: AdminSettings,
    pub embedded: EmbeddedSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub otlp_logs: LogOptions,
    /// `[logs]`, the old name of `[otlp_logs]`: still read, with a deprecation warning.
    #[serde(skip_serializing)]
    pub logs: Option<LogOptions>,
    pub kafka: KafkaSettings,
    pub clickhouse: ClickHouseSettings,
    pub langfuse_v2: LangfuseV2Settings,
    pub meta: MetaSettings,
    pub sink: SinkSettings,
    /// Rules applied at the door (the types and their checks live in the gateway's `privacy`).
    pub privacy: PrivacySettings,
    pub sampling: SamplingSettings,
    /// The team's Langfuse, which gets every HTTP request Spanbridge does not serve itself.
    pub upstream: UpstreamSettings,
    pub viewer: ViewerSettings,
    /// Deprecated names the loaded settings used, one warning each, logged once logging is up.
    #[serde(skip)]
    pub deprecations: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// OTLP/gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// OTLP/HTTP (and read API) listen address.
    pub http_addr: SocketAddr,
    /// Largest request body after decompression.
    pub max_body_bytes: usize,
    /// Requests handled at once (both protocols); more are refused with 503 / UNAVAILABLE.
    pub max_inflight_requests: usize,
    /// Spans per second each project may send (token bucket, one second of burst; a larger
    /// request is admitted at a full bucket and its excess delays later ones); 0 = no limit.
    pub project_spans_per_second: u32,
    /// Longest one export request may take before it is answered 503 / UNAVAILABLE.
    pub request_timeout_secs: u64,
    /// How long shutdown waits for in-flight requests and the final write.
    pub shutdown_timeout_secs: u64,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            grpc_addr: SocketAddr::from(([0, 0, 0, 0], 4317)),
            http_addr: SocketAddr::from(([0, 0, 0, 0], 4318)),
            max_body_bytes: 16 * 1024 * 1024,
            max_inflight_requests: 64,
            project_spans_per_second: 0,
            request_timeout_secs: 30,
            shutdown_timeout_secs: 30,
        }
    }
}

/// `[viewer]`: the browser UI under `/ui/` on the HTTP port.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ViewerSettings {
    /// Serve the viewer (and redirect `/` to it); `false` answers `/ui/` with 404 for
    /// deployments that only want the API on that port.
    pub enabled: bool,
}

impl Default for ViewerSettings {
    fn default() -> Self {
        Self { enabled: true }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// Prometheus `/metrics`, liveness `/health` and readiness `/ready`.
    pub addr: SocketAddr,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([0, 0, 0, 0], 9464)),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedSettings {
    /// SQLite file holding projects, keys and events.
    pub path: PathBuf,
    /// Requests that may wait for the writer; more get 503 + Retry-After.
    pub queue_capacity: usize,
    /// Most rows written in one transaction.
    pub max_batch_rows: usize,
}

impl Default for EmbeddedSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./data/spanbridge.db"),
            queue_capacity: 128,
            max_batch_rows: 10_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Langfuse's `SALT` for `fast_hashed_secret_key`; changing it invalidates the fast hashes
    /// of existing keys.
    pub salt: Secret,
    /// How long a key lookup (hit or miss) is cached: the longest a revoked key keeps working.
    pub cache_ttl_secs: u64,
    /// Most cached key lookups.
    pub cache_capacity: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            salt: Secret::default(),
            cache_ttl_secs: 60,
            cache_capacity: 10_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter such as `info,sqlx=warn`.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The Kafka hop between gateway and sink. Empty `brokers` = embedded (no Kafka).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    /// Bootstrap servers, comma-separated (`host:port,…`); empty = no Kafka.
    pub brokers: String,
    /// Topic of `EventBatch` messages (key = trace id).
    pub topic: String,
    /// Where the sink puts messages it can never decode or insert (reason in a header).
    pub dead_letter_topic: String,
    /// Partitions of both topics when `spanbridge migrate` creates them.
    pub partitions: i32,
    /// Replication factor of both topics when `spanbridge migrate` creates them.
    pub replication_factor: i32,
    /// How long the gateway waits for the broker to acknowledge a request's messages before
    /// answering 503 (librdkafka `message.timeout.ms`).
    pub delivery_timeout_ms: u64,
    /// Messages that may wait for broker acknowledgements at once; more get 503 at once
    /// (librdkafka `queue.buffering.max.messages`).
    pub max_inflight_messages: usize,
    /// A trace's rows are split into several messages above this encoded size.
    pub max_message_bytes: usize,
    /// librdkafka options passed through to every client (`_` in a name stands for `.`, so
    /// environment variables can carry them: SPANBRIDGE_KAFKA__OPTIONS__SECURITY_PROTOCOL).
    pub options: KafkaOptions,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: String::new(),
            topic: "spanbridge.events.v1".into(),
            dead_letter_topic: "spanbridge.events.v1.dead-letter".into(),
            partitions: 12,
            replication_factor: 1,
            delivery_timeout_ms: 5_000,
            max_inflight_messages: 100_000,
            max_message_bytes: 900_000,
            options: Default::default(),
        }
    }
}

impl KafkaSettings {
    pub fn is_configured(&self) -> bool {
        !self.brokers.trim().is_empty()
    }

    /// The pass-through options as librdkafka names and values (every value a [`Secret`]
    /// from here on: the client configs that carry them derive `Debug`).
    pub fn client_options(&self) -> Vec<(String, Secret)> {
        self.options
            .0
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    KafkaOption::Plain(plain) => Secret::new(option_text(plain)),
                    KafkaOption::Secret(secret) => secret.clone(),
                };
                (name.replace('_', "."), value)
            })
            .collect()
    }

    /// The options a producer (or admin client) takes: consumer-only ones are left out, so
    /// librdkafka does not warn about them on every start.
    pub fn producer_options(&self) -> Vec<(String, Secret)> {
        let mut options = self.client_options();
        options.retain(|(name, _)| !CONSUMER_ONLY_OPTIONS.contains(&name.as_str()));
        options
    }

    /// The options a consumer takes: producer-only ones are left out.
    pub fn consumer_options(&self) -> Vec<(String, Secret)> {
        let mut options = self.client_options();
        options.retain(|(name, _)| !PRODUCER_ONLY_OPTIONS.contains(&name.as_str()));
        options
    }
}

/// `kafka.options`: names to values, each value whose name says it is a secret
/// (`spanbridge_proto::secret::is_secret_option`: `sasl.password`, `ssl.key.password`, …) held
/// as a [`Secret`] from the moment it is read, so it prints and serializes masked.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct KafkaOptions(BTreeMap<String, KafkaOption>);

/// One librdkafka option's value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum KafkaOption {
    Plain(toml::Value),
    Secret(Secret),
}

impl<'de> Deserialize<'de> for KafkaOptions {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let options = BTreeMap::<String, toml::Value>::deserialize(deserializer)?;
        Ok(Self(
            options
                .into_iter()
                .map(|(name, value)| {
                    let value = if is_secret_option(&name) {
                        KafkaOption::Secret(Secret::new(option_text(&value)))
                    } else {
                        KafkaOption::Plain(value)
                    };
                    (name, value)
                })
                .collect(),
        ))
    }
}

/// An option's value as librdkafka text (strings without TOML quotes).
fn option_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// librdkafka properties that only consumers take (CONFIGURATION.md, "C" rows).
const CONSUMER_ONLY_OPTIONS: &[&str] = &[
    "group.id",
    "group.instance.id",
    "partition.assignment.strategy",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "group.protocol",
    "group.remote.assignor",
    "coordinator.query.interval.ms",
    "max.poll.interval.ms",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "enable.auto.offset.store",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "fetch.wait.max.ms",
    "fetch.queue.backoff.ms",
    "fetch.message.max.bytes",
    "max.partition.fetch.bytes",
    "fetch.max.bytes",
    "fetch.min.bytes",
    "fetch.error.backoff.ms",
    "isolation.level",
    "enable.partition.eof",
    "check.crcs",
    "auto.offset.reset",
];

/// librdkafka properties that only producers take (CONFIGURATION.md, "P" rows).
const PRODUCER_ONLY_OPTIONS: &[&str] = &[
    "transactional.id",
    "transaction.timeout.ms",
    "enable.idempotence",
    "enable.gapless.guarantee",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
    "queue.buffering.max.ms",
    "linger.ms",
    "message.send.max.retries",
    "retries",
    "queue.buffering.backpressure.threshold",
    "compression.codec",
    "compression.type",
    "compression.level",
    "batch.num.messages",
    "batch.size",
    "delivery.report.only.error",
    "sticky.partitioning.linger.ms",
    "acks",
    "request.required.acks",
    "request.timeout.ms",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "partitioner",
];

/// The Kafka deployment's event store. Empty `url` = events go to the embedded SQLite file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseSettings {
    /// HTTP(S) endpoint, e.g. `http://localhost:8123`; empty = no ClickHouse.
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: Secret,
    pub compression: ClickHouseCompression,
    /// Which Langfuse tables the sink writes, so the Langfuse UI the team runs shows it.
    pub tables: TableSet,
    /// A ClickHouse cluster name: `spanbridge migrate` then creates the tables `ON CLUSTER`
    /// with Replicated engines (Langfuse's clustered migrations). Empty = a single server.
    pub cluster: String,
}

impl Default for ClickHouseSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            database: "default".into(),
            user: "default".into(),
            password: Secret::default(),
            compression: ClickHouseCompression::Lz4,
            tables: TableSet::Events,
            cluster: String::new(),
        }
    }
}

impl ClickHouseSettings {
    fn validate(&self) -> Result<(), String> {
        // The name goes into DDL unquoted (`ON CLUSTER name`): an identifier or nothing.
        let cluster = self.cluster.trim();
        let identifier = cluster
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        if !identifier {
            return Err(format!(
                "clickhouse.cluster must be a cluster name (letters, digits, _ - .), got {cluster:?}"
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClickHouseCompression {
    Lz4,
    None,
}

/// A Langfuse v2 deployment's own Postgres database as the event store: the sink writes the
/// rows v2's UI and API read (`traces`, `observations`, `scores`, `trace_sessions`), as v2
/// writes them. Empty `url` = not used.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LangfuseV2Settings {
    /// `postgres://user:password@host:5432/langfuse` (v2's `DATABASE_URL`): its password is
    /// masked wherever the URL is printed.
    pub url: Secret<UrlPassword>,
    /// Most Postgres connections of the event store.
    pub max_connections: u32,
}

impl Default for LangfuseV2Settings {
    fn default() -> Self {
        Self {
            url: Secret::default(),
            max_connections: 8,
        }
    }
}

impl LangfuseV2Settings {
    pub fn is_set(&self) -> bool {
        !self.url.expose().trim().is_empty()
    }

    fn validate(&self, clickhouse_url: &str) -> Result<(), String> {
        if !self.is_set() {
            return Ok(());
        }
        let url = self.url.expose().trim();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(format!(
                "langfuse_v2.url must be a postgres:// URL, got {}",
                self.url
            ));
        }
        if !clickhouse_url.trim().is_empty() {
            return Err(
                "langfuse_v2.url and clickhouse.url are both set: choose one event store".into(),
            );
        }
        if self.max_connections == 0 {
            return Err("langfuse_v2.max_connections must be at least 1".into());
        }
        Ok(())
    }
}

/// Where projects, API keys and model prices live. Empty `url` = the embedded SQLite file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetaSettings {
    /// `postgres://user:password@host:5432/db`; empty = the embedded SQLite file. Printed
    /// without its password.
    pub url: Secret<UrlPassword>,
    /// Whose database `url` is: Spanbridge's own, or an existing Langfuse one (read-only).
    pub source: MetaSource,
    /// Most Postgres connections of this process.
    pub max_connections: u32,
    /// How long model matches and prices are cached in memory.
    pub model_cache_ttl_secs: u64,
    /// How often `api_keys.last_used_at` and the per-day ingestion usage are written.
    pub flush_interval_secs: u64,
}

impl Default for MetaSettings {
    fn default() -> Self {
        Self {
            url: Secret::default(),
            source: MetaSource::Spanbridge,
            max_connections: 8,
            model_cache_ttl_secs: 10,
            flush_interval_secs: 10,
        }
    }
}

impl MetaSettings {
    pub fn is_postgres(&self) -> bool {
        !self.url.expose().trim().is_empty()
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MetaSource {
    Spanbridge,
    Langfuse,
}

/// The sink's consumer and batching.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinkSettings {
    /// Kafka consumer group of the sinks.
    pub group_id: String,
    /// A batch is written when it holds this many rows…
    pub max_batch_rows: usize,
    /// …or this many bytes of encoded messages…
    pub max_batch_bytes: usize,
    /// …or its first message waited this long.
    pub max_batch_wait_ms: u64,
    /// Longest pause between retries of a failed write (pauses grow from 100 ms with jitter,
    /// `spanbridge_sink::retry::Backoff`).
    pub max_retry_backoff_ms: u64,
    /// On SIGTERM: how long the final write may take before the sink exits without committing.
    pub shutdown_timeout_secs: u64,
    /// Assembly of traces whose pieces arrive apart (`[sink.assembly]`).
    pub assembly: AssemblySection,
}

/// `[sink.assembly]`: the per-trace state cache (DESIGN.md "Assembly").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssemblySection {
    /// false: rows are written as they arrive (for measuring what assembly costs).
    pub enabled: bool,
    /// Bytes of trace state cached at most.
    pub max_bytes: u64,
    /// A trace untouched this long leaves the cache (read back from the store if it returns).
    pub idle_secs: u64,
    /// The most rows of one trace held and rewritten per trace-field change.
    pub max_rewrite_rows: usize,
}

impl Default for AssemblySection {
    fn default() -> Self {
        Self {
            enabled: true,
            max_bytes: 32 * 1024 * 1024,
            idle_secs: 600,
            max_rewrite_rows: 10_000,
        }
    }
}

impl AssemblySection {
    fn validate(&self) -> Result<(), String> {
        // Less than a MiB holds almost no trace with content: every piece would read back.
        at_least("sink.assembly.max_bytes", self.max_bytes, 1024 * 1024)?;
        at_least("sink.assembly.idle_secs", self.idle_secs, 1)?;
        at_least("sink.assembly.max_rewrite_rows", self.max_rewrite_rows, 1)
    }

    /// The sink's settings, when assembly is on.
    pub fn settings(&self) -> Option<spanbridge_sink::assemble::AssemblySettings> {
        self.enabled
            .then(|| spanbridge_sink::assemble::AssemblySettings {
                max_bytes: self.max_bytes,
                idle: std::time::Duration::from_secs(self.idle_secs),
                max_rewrite_rows: self.max_rewrite_rows,
            })
    }
}

impl Default for SinkSettings {
    fn default() -> Self {
        Self {
            group_id: "spanbridge-sink".into(),
            max_batch_rows: 50_000,
            max_batch_bytes: 16 * 1024 * 1024,
            max_batch_wait_ms: 1_000,
            max_retry_backoff_ms: 10_000,
            shutdown_timeout_secs: 30,
            assembly: AssemblySection::default(),
        }
    }
}

/// `key` must be at least `min`; the error names the key and the value it got.
fn at_least<T: PartialOrd + std::fmt::Display>(key: &str, value: T, min: T) -> Result<(), String> {
    if value < min {
        return Err(format!("{key} must be at least {min} (got {value})"));
    }
    Ok(())
}

impl GatewaySettings {
    fn validate(&self) -> Result<(), String> {
        // 0 would refuse every body, every request, or time every request out.
        at_least("gateway.max_body_bytes", self.max_body_bytes, 1)?;
        at_least(
            "gateway.max_inflight_requests",
            self.max_inflight_requests,
            1,
        )?;
        at_least("gateway.request_timeout_secs", self.request_timeout_secs, 1)
    }
}

impl EmbeddedSettings {
    fn validate(&self) -> Result<(), String> {
        // A channel of 0 requests cannot exist (tokio panics on it).
        at_least("embedded.queue_capacity", self.queue_capacity, 1)?;
        at_least("embedded.max_batch_rows", self.max_batch_rows, 1)
    }
}

impl KafkaSettings {
    /// Smallest `max_message_bytes`: each message reserves 1 KiB for its envelope, and a row
    /// needs room beyond it.
    const MIN_MESSAGE_BYTES: usize = 4_096;

    fn validate(&self) -> Result<(), String> {
        // librdkafka reads 0 as "no limit" for both (message.timeout.ms, queue.buffering.max.
        // messages): a request would wait forever, or messages queue without bound.
        at_least("kafka.delivery_timeout_ms", self.delivery_timeout_ms, 1)?;
        at_least("kafka.max_inflight_messages", self.max_inflight_messages, 1)?;
        at_least(
            "kafka.max_message_bytes",
            self.max_message_bytes,
            Self::MIN_MESSAGE_BYTES,
        )?;
        // -1 asks the broker for its default (Kafka 2.4+, KIP-464).
        for (key, value) in [
            ("kafka.partitions", self.partitions),
            ("kafka.replication_factor", self.replication_factor),
        ] {
            if value < 1 && value != -1 {
                return Err(format!(
                    "{key} must be at least 1, or -1 for the broker's default (got {value})"
                ));
            }
        }
        if self.is_configured() {
            for (key, topic) in [
                ("kafka.topic", &self.topic),
                ("kafka.dead_letter_topic", &self.dead_letter_topic),
            ] {
                if topic.trim().is_empty() {
                    return Err(format!("{key} must not be empty when kafka.brokers is set"));
                }
            }
            if self.topic == self.dead_letter_topic {
                return Err(format!(
                    "kafka.dead_letter_topic must differ from kafka.topic (both are {:?})",
                    self.topic
                ));
            }
        }
        Ok(())
    }
}

impl MetaSettings {
    fn validate(&self) -> Result<(), String> {
        at_least("meta.max_connections", self.max_connections, 1)?;
        // The flusher ticks at this interval; tokio refuses a zero interval.
        at_least("meta.flush_interval_secs", self.flush_interval_secs, 1)?;
        if self.source == MetaSource::Langfuse && !self.is_postgres() {
            return Err(
                "meta.source = \"langfuse\" needs meta.url (the Langfuse Postgres database)".into(),
            );
        }
        Ok(())
    }
}

impl SinkSettings {
    fn validate(&self) -> Result<(), String> {
        at_least("sink.max_batch_rows", self.max_batch_rows, 1)?;
        at_least("sink.max_batch_bytes", self.max_batch_bytes, 1)?;
        at_least(
            "sink.max_retry_backoff_ms",
            self.max_retry_backoff_ms,
            spanbridge_sink::retry::FIRST_BACKOFF.as_millis() as u64,
        )?;
        self.assembly.validate()
    }
}

impl Settings {
    /// Loads settings from defaults, the optional file, the environment and `overrides`
    /// (CLI flags, already shaped like the settings tree).
    pub fn load(file: Option<&Path>, overrides: Figment) -> Result<Self, String> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(format!("config file {} does not exist", path.display()));
            }
            figment = figment.merge(Toml::file(path));
        }
        let figment = figment
            .merge(
                Env::prefixed("SPANBRIDGE_")
                    .filter(|key| {
                        !NON_SETTING_ENV
                            .iter()
                            .any(|name| key.as_str().eq_ignore_ascii_case(name))
                    })
                    .split("__"),
            )
            .merge(overrides);
        let mut settings = figment
            .extract::<Settings>()
            .map_err(|error| format!("invalid configuration: {error}"))?;
        settings.resolve_deprecated_names(&figment);
        settings.validated()
    }

    /// Old names still accepted, each with a warning: `clickhouse.tables = "legacy"` (now
    /// `"v3"`) and the section `[logs]` (now `[otlp_logs]`, beside `[log]`, the process's logging).
    fn resolve_deprecated_names(&mut self, figment: &Figment) {
        let tables = figment.find_value("clickhouse.tables").ok();
        if tables.as_ref().and_then(|value| value.as_str()) == Some("legacy") {
            self.deprecations.push(
                "clickhouse.tables = \"legacy\" is deprecated: write \"v3\" (Langfuse v3's traces + observations tables)".into(),
            );
        }
        if let Some(logs) = self.logs.take() {
            self.deprecations.push(
                "the [logs] section is deprecated: write [otlp_logs] (SPANBRIDGE_OTLP_LOGS__…)"
                    .into(),
            );
            if self.otlp_logs == LogOptions::default() {
                self.otlp_logs = logs;
            }
        }
    }

    /// Checks every minimum and invariant once, at load, naming the key of the first that
    /// fails (Tempo's per-section `Validate()`): code past this point can rely on the values
    /// instead of clamping them.
    fn validated(self) -> Result<Self, String> {
        self.validate()
            .map_err(|problem| format!("invalid configuration: {problem}"))?;
        Ok(self)
    }

    fn validate(&self) -> Result<(), String> {
        self.gateway.validate()?;
        self.embedded.validate()?;
        self.kafka.validate()?;
        self.clickhouse.validate()?;
        self.langfuse_v2.validate(&self.clickhouse.url)?;
        self.meta.validate()?;
        self.sink.validate()?;
        self.upstream.validate()?;
        // Privacy and sampling: compiling is the check (unknown action or pattern, bad regex,
        // rates), and names the key.
        spanbridge_gateway::privacy::Privacy::compile(&self.privacy, &self.sampling).map(|_| ())
    }

    /// The effective settings as TOML, for `spanbridge config`. Secrets print masked: they
    /// are [`Secret`]s, which serialize so.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_file_parses_to_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/spanbridge.toml");
        let loaded = Settings::load(Some(&path), Figment::new()).unwrap();
        assert_eq!(
            toml::to_string(&loaded).unwrap(),
            toml::to_string(&Settings::default()).unwrap(),
            "config/spanbridge.toml must show every default"
        );
    }

    /// Loads the defaults with `key = value` on top, as a file or environment variable would.
    fn load_with<T: Serialize>(settings: &[(&str, T)]) -> Result<Settings, String> {
        let mut overrides = Figment::new();
        for (key, value) in settings {
            overrides = overrides.merge(Serialized::default(key, value));
        }
        Settings::load(None, overrides)
    }

    #[test]
    fn clickhouse_tables_and_cluster_are_checked_with_a_clear_error() {
        let v3 = load_with(&[("clickhouse.tables", "v3")]).unwrap();
        assert_eq!(v3.clickhouse.tables, TableSet::V3);
        assert!(v3.deprecations.is_empty());
        let both = load_with(&[("clickhouse.tables", "both")]).unwrap();
        assert_eq!(both.clickhouse.tables, TableSet::Both);
        let error = load_with(&[("clickhouse.tables", "v4")]).unwrap_err();
        assert!(
            error.contains("tables")
                && error.contains("events")
                && error.contains("v3")
                && error.contains("both"),
            "{error}"
        );
        let clustered = load_with(&[("clickhouse.cluster", "prod_cluster")]).unwrap();
        assert_eq!(clustered.clickhouse.cluster, "prod_cluster");
        let error = load_with(&[("clickhouse.cluster", "a; DROP TABLE x")]).unwrap_err();
        assert!(error.contains("clickhouse.cluster"), "{error}");
    }

    #[test]
    fn langfuse_v2_url_is_checked_and_its_password_masked() {
        let unset = load_with::<&str>(&[]).unwrap();
        assert!(!unset.langfuse_v2.is_set(), "empty = not used");
        let url = "postgres://langfuse:s3cret-pw@db:5432/langfuse";
        let set = load_with(&[("langfuse_v2.url", url)]).unwrap();
        assert!(set.langfuse_v2.is_set());
        let masked = set.to_toml();
        assert!(!masked.contains("s3cret-pw"), "{masked}");
        assert!(
            masked.contains("postgres://langfuse:**REDACTED**@db:5432/langfuse"),
            "{masked}"
        );
        let error = load_with(&[("langfuse_v2.url", "mysql://u:s3cret-pw@db/x")]).unwrap_err();
        assert!(
            error.contains("langfuse_v2.url") && !error.contains("s3cret-pw"),
            "{error}"
        );
        let error = load_with(&[
            ("langfuse_v2.url", url),
            ("clickhouse.url", "http://clickhouse:8123"),
        ])
        .unwrap_err();
        assert!(
            error.contains("langfuse_v2.url") && error.contains("clickhouse.url"),
            "{error}"
        );
        let mut settings = vec![("langfuse_v2.url", toml::Value::String(url.into()))];
        settings.push(("langfuse_v2.max_connections", toml::Value::Integer(0)));
        let error = load_with(&settings).unwrap_err();
        assert!(error.contains("langfuse_v2.max_connections"), "{error}");
    }

    #[test]
    fn old_names_are_read_with_a_deprecation_warning() {
        let old = load_with(&[("clickhouse.tables", "legacy")]).unwrap();
        assert_eq!(old.clickhouse.tables, TableSet::V3);
        assert!(
            old.deprecations[0].contains("\"v3\""),
            "{:?}",
            old.deprecations
        );
        let old = load_with(&[("logs.other_records", "event")]).unwrap();
        assert_eq!(old.otlp_logs.other_records, OtherRecords::Event);
        assert!(
            old.deprecations[0].contains("[otlp_logs]"),
            "{:?}",
            old.deprecations
        );
        let new = load_with(&[("otlp_logs.other_records", "event")]).unwrap();
        assert_eq!(new.otlp_logs.other_records, OtherRecords::Event);
        assert!(new.deprecations.is_empty());
    }

    #[test]
    fn minimums_are_checked_at_load_and_name_the_key() {
        let any_or_default = "at least 1, or -1 for the broker's default";
        for (key, value, rule) in [
            ("gateway.max_body_bytes", 0, "at least 1"),
            ("gateway.max_inflight_requests", 0, "at least 1"),
            ("gateway.request_timeout_secs", 0, "at least 1"),
            ("embedded.queue_capacity", 0, "at least 1"),
            ("embedded.max_batch_rows", 0, "at least 1"),
            ("kafka.delivery_timeout_ms", 0, "at least 1"),
            ("kafka.max_inflight_messages", 0, "at least 1"),
            ("kafka.max_message_bytes", 1_024, "at least 4096"),
            ("kafka.partitions", 0, any_or_default),
            ("kafka.replication_factor", -2, any_or_default),
            ("meta.max_connections", 0, "at least 1"),
            ("meta.flush_interval_secs", 0, "at least 1"),
            ("sink.max_batch_rows", 0, "at least 1"),
            ("sink.max_batch_bytes", 0, "at least 1"),
            ("sink.max_retry_backoff_ms", 99, "at least 100"),
            ("sink.assembly.max_bytes", 1_000, "at least 1048576"),
            ("sink.assembly.idle_secs", 0, "at least 1"),
            ("sink.assembly.max_rewrite_rows", 0, "at least 1"),
            ("upstream.timeout_secs", 0, "at least 1"),
            ("upstream.connect_timeout_secs", 0, "at least 1"),
            ("upstream.max_concurrent", 0, "at least 1"),
            ("upstream.max_body_bytes", 0, "at least 1"),
        ] {
            assert_eq!(
                load_with(&[(key, value)]).expect_err(key),
                format!("invalid configuration: {key} must be {rule} (got {value})"),
            );
        }
    }

    #[test]
    fn the_minimums_themselves_are_accepted() {
        let loaded = load_with(&[
            ("gateway.max_inflight_requests", 1),
            ("kafka.max_message_bytes", 4_096),
            ("kafka.partitions", -1),
            ("kafka.replication_factor", -1),
            ("sink.max_retry_backoff_ms", 100),
            ("meta.flush_interval_secs", 1),
        ])
        .unwrap();
        assert_eq!(loaded.gateway.max_inflight_requests, 1);
        assert_eq!(loaded.sink.max_retry_backoff_ms, 100);
    }

    #[test]
    fn invariants_between_keys_are_named() {
        let error = load_with(&[
            ("kafka.brokers", "localhost:9092"),
            ("kafka.dead_letter_topic", "spanbridge.events.v1"),
        ])
        .unwrap_err();
        assert!(
            error.contains("kafka.dead_letter_topic must differ from kafka.topic"),
            "{error}"
        );
        let error =
            load_with(&[("kafka.brokers", "localhost:9092"), ("kafka.topic", " ")]).unwrap_err();
        assert!(error.contains("kafka.topic must not be empty"), "{error}");
        assert!(
            load_with(&[("kafka.topic", "")]).is_ok(),
            "topics do not matter without brokers"
        );
        let error = load_with(&[("meta.source", "langfuse")]).unwrap_err();
        assert!(
            error.contains("meta.source = \"langfuse\" needs meta.url"),
            "{error}"
        );
    }

    #[test]
    fn privacy_rules_are_checked_at_load_and_the_hash_key_is_masked() {
        let dir = tempfile_dir("privacy");
        let path = dir.join("privacy.toml");
        let rules = "[[privacy.rules]]\nfields = [\"input\"]\naction = \"redact\"\n";
        std::fs::write(
            &path,
            format!("[privacy]\nhash_key = \"s3cret\"\n{rules}patterns = [\"email\", \"emial\"]\n"),
        )
        .unwrap();
        let error = Settings::load(Some(&path), Figment::new()).unwrap_err();
        assert!(
            error.starts_with(
                "invalid configuration: privacy.rules[0].patterns[1]: unknown pattern"
            ),
            "{error}"
        );
        std::fs::write(
            &path,
            format!("[privacy]\nhash_key = \"s3cret\"\n{rules}patterns = [\"email\"]\n"),
        )
        .unwrap();
        let loaded = Settings::load(Some(&path), Figment::new()).unwrap();
        let masked = loaded.to_toml();
        assert!(
            !masked.contains("s3cret") && masked.contains("hash_key = \"**REDACTED**\""),
            "{masked}"
        );
        let error = load_with(&[("sampling.rate", 1.5)]).unwrap_err();
        assert_eq!(
            error,
            "invalid configuration: sampling.rate must be between 0 and 1 (got 1.5)"
        );
    }

    /// Every secret setting set to a marker, from a file and from the environment's shape
    /// (`kafka.options` names with `_`): the marker is in no printed form of the settings, and
    /// each value still reaches the place that uses it.
    #[test]
    fn no_printed_form_of_the_settings_shows_a_secret() {
        const MARKER: &str = "MARKER-s3cret-7f3a";
        let dir = tempfile_dir("secrets");
        let path = dir.join("secrets.toml");
        std::fs::write(
            &path,
            format!(
                "[auth]\nsalt = \"{MARKER}-salt\"\n\
                 [clickhouse]\npassword = \"{MARKER}-clickhouse\"\n\
                 [privacy]\nhash_key = \"{MARKER}-hash\"\n\
                 [meta]\nurl = \"postgres://sb:{MARKER}-pg@db.internal:5432/meta?password={MARKER}-q\"\n\
                 [kafka.options]\n\"sasl.password\" = \"{MARKER}-sasl\"\n\
                 ssl_key_password = \"{MARKER}-sslkey\"\n\
                 \"sasl.oauthbearer.client.secret\" = \"{MARKER}-oauth\"\n\
                 \"security.protocol\" = \"SASL_SSL\"\n"
            ),
        )
        .unwrap();
        let loaded = Settings::load(Some(&path), Figment::new()).unwrap();
        for shown in [
            format!("{loaded:?}"),
            format!("{loaded:#?}"),
            loaded.to_toml(),
            format!("{:?}", loaded.kafka.client_options()),
        ] {
            assert!(!shown.contains(MARKER), "{shown}");
            assert!(shown.contains("**REDACTED**"), "{shown}");
        }
        let shown = loaded.to_toml();
        assert!(
            shown.contains(
                "url = \"postgres://sb:**REDACTED**@db.internal:5432/meta?password=**REDACTED**\""
            ),
            "the URL stays readable: {shown}"
        );
        assert!(
            shown.contains("\"security.protocol\" = \"SASL_SSL\""),
            "{shown}"
        );
        // The values themselves, where they are used.
        assert_eq!(loaded.auth.salt.expose(), format!("{MARKER}-salt"));
        assert_eq!(
            loaded.clickhouse.password.expose(),
            format!("{MARKER}-clickhouse")
        );
        assert_eq!(loaded.privacy.hash_key.expose(), format!("{MARKER}-hash"));
        assert!(loaded.meta.url.expose().contains(&format!("{MARKER}-pg")));
        let options = loaded.kafka.client_options();
        let option = |name: &str| {
            options
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, value)| value.expose().to_owned())
        };
        assert_eq!(option("sasl.password"), Some(format!("{MARKER}-sasl")));
        assert_eq!(option("ssl.key.password"), Some(format!("{MARKER}-sslkey")));
        assert_eq!(option("security.protocol").as_deref(), Some("SASL_SSL"));
        assert!(matches!(
            loaded.kafka.options.0.get("ssl_key_password"),
            Some(KafkaOption::Secret(_))
        ));
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sb-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = std::env::temp_dir().join(format!("sb-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "[gateway]\nhttp_adr = \"1.2.3.4:1\"\n").unwrap();
        let error = Settings::load(Some(&path), Figment::new()).unwrap_err();
        assert!(error.contains("http_adr"), "{error}");
    }
}

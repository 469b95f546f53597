//! Test services of the Kafka deployment, started by the tests themselves on free ports
//! (DESIGN.md "Test services on these machines"): a tansu broker process (Kafka protocol), the
//! ClickHouse engine behind `deploy/dev/chdb_http.py`, and `spanbridge gateway` / `sink`
//! processes. `deploy/dev/services.sh` installs tansu and chdb when missing and exports where
//! they are; without them a test is skipped, unless `SB_TEST_REQUIRE_SERVICES` is set (as
//! the test command sets it), then it fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::{
    PUBLIC_KEY, SECRET_KEY, free_port, kill, spanbridge_command, terminate, wait_for_port,
};

fn home() -> PathBuf {
    PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
}

fn tansu_binary() -> PathBuf {
    std::env::var_os("SB_TEST_TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cargo/bin/tansu"))
}

fn chdb_python() -> PathBuf {
    std::env::var_os("SB_TEST_CHDB_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache/spanbridge-chdb/bin/python"))
}

fn chdb_adapter() -> PathBuf {
    std::env::var_os("SB_TEST_CHDB_ADAPTER")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/dev/chdb_http.py"))
}

/// Whether tansu and chdb are installed. When not: panics if the test command demands them,
/// else says why the test is skipped and returns false.
pub fn available(test: &str) -> bool {
    let missing: Vec<String> = [tansu_binary(), chdb_python()]
        .into_iter()
        .filter(|path| !path.exists())
        .map(|path| path.display().to_string())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "{test}: test services missing ({}); run `bash deploy/dev/services.sh`",
        missing.join(", ")
    );
    assert!(
        std::env::var_os("SB_TEST_REQUIRE_SERVICES").is_none(),
        "{message}"
    );
    eprintln!("SKIPPED {message}");
    false
}

/// Held by every test that starts a [`Stack`] (or a ClickHouse engine alone): one stack at a
/// time per test binary, as the machines have two cores and a stack's timeouts assume them.
pub async fn one_stack_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE_STACK_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE_STACK_AT_A_TIME.lock().await
}

/// A tansu broker with in-memory storage: killed, its log and groups are gone.
pub struct Broker {
    child: Option<Child>,
    pub port: u16,
}

impl Broker {
    pub fn start() -> Self {
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut child = Command::new(tansu_binary())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        wait_for_port(port, &mut child, "tansu", Duration::from_secs(30));
        Self {
            child: Some(child),
            port,
        }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// SIGKILL: the broker is gone (and, in memory, so is everything it held).
    pub fn kill(&mut self) {
        kill(self.child.take());
    }

    /// SIGSTOP: the broker stops answering (connections hang, as with a network partition or a
    /// stalled host) but keeps its log and groups, as a real broker does across an outage.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT: the broker answers again, where it left off.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("broker running");
        let sent = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(sent.success(), "kill {signal} the broker");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The ClickHouse engine behind the HTTP adapter; the data directory outlives restarts.
pub struct ClickHouse {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl ClickHouse {
    /// A ClickHouse whose tables `spanbridge migrate` created for `tables` (as users run it),
    /// and the settings that point a server at it (uncompressed: the adapter refuses lz4).
    pub fn migrated(tables: &str) -> (Self, [(&'static str, String); 3]) {
        let clickhouse = Self::start();
        let settings = [
            ("SPANBRIDGE_CLICKHOUSE__URL", clickhouse.url()),
            ("SPANBRIDGE_CLICKHOUSE__COMPRESSION", "none".to_owned()),
            ("SPANBRIDGE_CLICKHOUSE__TABLES", tables.to_owned()),
        ];
        let migrated = std::process::Command::new(env!("CARGO_BIN_EXE_spanbridge"))
            .arg("migrate")
            .envs(settings.iter().map(|(key, value)| (key, value)))
            .env(
                "SPANBRIDGE_EMBEDDED__PATH",
                clickhouse.dir.path().join("migrate.db"),
            )
            .output()
            .expect("run spanbridge migrate");
        assert!(
            migrated.status.success(),
            "{tables}: migrate: {}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        (clickhouse, settings)
    }

    pub fn start() -> Self {
        let mut clickhouse = Self {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
        };
        clickhouse.spawn();
        clickhouse
    }

    fn spawn(&mut self) {
        let mut child = Command::new(chdb_python())
            .arg(chdb_adapter())
            .arg(self.port.to_string())
            .arg(self.dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the chdb adapter");
        wait_for_port(
            self.port,
            &mut child,
            "chdb adapter",
            Duration::from_secs(60),
        );
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: ClickHouse is unreachable until `restart`.
    pub fn kill(&mut self) {
        kill(self.child.take());
    }

    /// Starts again on the same port and data.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Runs a query and returns the body (panics on an error answer).
    pub async fn query(&self, sql: &str) -> String {
        self.query_with(sql, &[]).await
    }

    /// Runs a query with URL parameters (settings, `param_<name>` query parameters, formats).
    pub async fn query_with(&self, sql: &str, params: &[(String, String)]) -> String {
        let response = super::client()
            .post(self.url())
            .query(params)
            .body(sql.to_owned())
            .send()
            .await
            .expect("query ClickHouse");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "ClickHouse answered {status} to {sql}: {body}"
        );
        body
    }

    /// Rows of a `… FORMAT JSONEachRow` query.
    pub async fn rows(&self, sql: &str) -> Vec<serde_json::Value> {
        self.query(&format!("{sql} FORMAT JSONEachRow"))
            .await
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).expect("JSONEachRow line"))
            .collect()
    }

    /// A single number from a `SELECT count() …`.
    pub async fn count(&self, sql: &str) -> u64 {
        self.query(sql).await.trim().parse().unwrap_or(0)
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One `spanbridge` process of the Kafka deployment (`gateway`, `sink`).
pub struct Process {
    child: Option<Child>,
    command: &'static str,
    env: Vec<(String, String)>,
    pub http_port: u16,
    pub grpc_port: u16,
    pub admin_port: u16,
}

impl Process {
    /// `spanbridge gateway` with the test key pair, metadata (and events, for reads) in a SQLite
    /// file under `dir`, and these settings; for tests that bring their own broker.
    pub fn gateway_with(dir: &Path, settings: &[(&str, &str)]) -> Self {
        let mut env: Vec<(String, String)> = vec![
            (
                "SPANBRIDGE_EMBEDDED__PATH".into(),
                dir.join("meta.db").display().to_string(),
            ),
            ("SPANBRIDGE_INIT_PUBLIC_KEY".into(), PUBLIC_KEY.into()),
            ("SPANBRIDGE_INIT_SECRET_KEY".into(), SECRET_KEY.into()),
            (
                "SPANBRIDGE_INIT_PROJECT_NAME".into(),
                "production-e2e".into(),
            ),
            ("SPANBRIDGE_LOG__LEVEL".into(), "warn".into()),
        ];
        env.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut process = Process {
            child: None,
            command: "gateway",
            env,
            http_port: 0,
            grpc_port: 0,
            admin_port: 0,
        };
        process.spawn();
        process
    }

    /// `spanbridge COMMAND` (`gateway`, `sink`) with exactly these settings.
    pub fn start(command: &'static str, settings: &[(&str, &str)]) -> Self {
        let mut process = Process {
            child: None,
            command,
            env: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            http_port: 0,
            grpc_port: 0,
            admin_port: 0,
        };
        process.spawn();
        process
    }

    fn spawn(&mut self) {
        self.http_port = free_port();
        self.grpc_port = free_port();
        self.admin_port = free_port();
        let mut child = spanbridge_command(
            self.command,
            &self.env,
            (self.http_port, self.grpc_port, self.admin_port),
        )
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start spanbridge");
        let port = if self.command == "gateway" {
            self.http_port
        } else {
            self.admin_port
        };
        wait_for_port(port, &mut child, self.command, Duration::from_secs(30));
        self.child = Some(child);
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    pub fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// SIGTERM and wait for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let child = self.child.take().expect("process running");
        terminate(child, self.command, Duration::from_secs(60))
    }

    /// SIGKILL: no chance to flush or commit.
    pub fn kill(&mut self) {
        kill(self.child.take());
    }

    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "stop or kill first");
        self.spawn();
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().ok().flatten().is_none())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Everything of the Kafka deployment: broker, ClickHouse, migrated, and the settings shared by
/// the gateway and sink processes (metadata in a SQLite file of the stack's own).
pub struct Stack {
    pub broker: Broker,
    pub clickhouse: ClickHouse,
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Stack {
    /// Starts the services and runs `spanbridge migrate`; `extra_env` adds or overrides
    /// settings of every spanbridge process.
    pub fn start(extra_env: &[(&str, &str)]) -> Self {
        let broker = Broker::start();
        let clickhouse = ClickHouse::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut env: Vec<(String, String)> = vec![
            ("SPANBRIDGE_KAFKA__BROKERS".into(), broker.bootstrap()),
            ("SPANBRIDGE_KAFKA__PARTITIONS".into(), "2".into()),
            ("SPANBRIDGE_CLICKHOUSE__URL".into(), clickhouse.url()),
            ("SPANBRIDGE_CLICKHOUSE__COMPRESSION".into(), "none".into()),
            (
                "SPANBRIDGE_EMBEDDED__PATH".into(),
                dir.path().join("meta.db").display().to_string(),
            ),
            ("SPANBRIDGE_SINK__MAX_BATCH_WAIT_MS".into(), "300".into()),
            (
                "SPANBRIDGE_SINK__MAX_RETRY_BACKOFF_MS".into(),
                "1000".into(),
            ),
            // A restarted sink gets the partitions of its killed predecessor within seconds.
            (
                "SPANBRIDGE_KAFKA__OPTIONS__SESSION_TIMEOUT_MS".into(),
                "6000".into(),
            ),
            (
                "SPANBRIDGE_KAFKA__OPTIONS__HEARTBEAT_INTERVAL_MS".into(),
                "1000".into(),
            ),
            ("SPANBRIDGE_LOG__LEVEL".into(), "warn".into()),
        ];
        for (key, value) in extra_env {
            env.retain(|(k, _)| k != key);
            env.push((key.to_string(), value.to_string()));
        }
        let stack = Self {
            broker,
            clickhouse,
            dir,
            env,
        };
        let migrated = stack.cli(&["migrate"]);
        assert!(
            migrated.status.success(),
            "migrate failed: {}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        stack
    }

    /// Runs a spanbridge command with the stack's settings.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_spanbridge"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run spanbridge")
    }

    fn process(&self, command: &'static str, extra_env: &[(&str, &str)]) -> Process {
        let mut env = self.env.clone();
        for (key, value) in extra_env {
            env.retain(|(k, _)| k != key);
            env.push((key.to_string(), value.to_string()));
        }
        let mut process = Process {
            child: None,
            command,
            env,
            http_port: 0,
            grpc_port: 0,
            admin_port: 0,
        };
        process.spawn();
        process
    }

    /// `spanbridge gateway` with the test key pair (headless setup).
    pub fn gateway(&self) -> Process {
        self.process(
            "gateway",
            &[
                ("SPANBRIDGE_INIT_PUBLIC_KEY", PUBLIC_KEY),
                ("SPANBRIDGE_INIT_SECRET_KEY", SECRET_KEY),
                ("SPANBRIDGE_INIT_PROJECT_NAME", "production-e2e"),
            ],
        )
    }

    /// `spanbridge sink`, with extra settings.
    pub fn sink(&self, extra_env: &[(&str, &str)]) -> Process {
        self.process("sink", extra_env)
    }
}

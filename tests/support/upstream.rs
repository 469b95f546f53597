//! The test upstream behind the front door: `tests/support/langfuse_upstream.py` (a stand-in for
//! the team's Langfuse, which cannot run here), started on a free port; it records what it
//! receives, read back with [`TestUpstream::recorded`].

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{free_port, wait_for_port};

pub struct TestUpstream {
    child: Child,
    pub port: u16,
}

impl TestUpstream {
    pub fn start() -> Self {
        Self::spawn(&[])
    }

    /// Speaking HTTPS with the given PEM certificate and key.
    pub fn start_tls(cert: &Path, key: &Path) -> Self {
        Self::spawn(&[cert, key])
    }

    fn spawn(tls: &[&Path]) -> Self {
        let port = free_port();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/langfuse_upstream.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .args(tls)
            .stdout(Stdio::null())
            .spawn()
            .expect("start the test upstream (python3)");
        wait_for_port(
            port,
            &mut child,
            "the test upstream",
            Duration::from_secs(10),
        );
        Self { child, port }
    }

    /// `http://127.0.0.1:PORT`, what `upstream.url` is set to.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request received so far: `{method, target, headers: [[name, value]], body_length,
    /// body_sha256, body_json?}`.
    pub async fn recorded(&self) -> Vec<Value> {
        let response = reqwest::get(format!("{}/__recorded", self.url()))
            .await
            .expect("GET /__recorded");
        response.json().await.expect("recorded requests")
    }

    /// The recorded requests whose target starts with `prefix`.
    pub async fn received(&self, prefix: &str) -> Vec<Value> {
        self.recorded()
            .await
            .into_iter()
            .filter(|entry| {
                entry["target"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with(prefix)
            })
            .collect()
    }
}

/// The value of header `name` in a recorded request (names are lower-case), if present.
pub fn header<'a>(entry: &'a Value, name: &str) -> Option<&'a str> {
    entry["headers"]
        .as_array()?
        .iter()
        .find(|pair| pair[0] == name)
        .and_then(|pair| pair[1].as_str())
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

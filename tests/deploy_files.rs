//! No Docker engine runs here, so the deploy files are checked against the code instead: every
//! YAML/JSON file parses; every SPANBRIDGE_* variable they set is accepted by the strict
//! settings parser; their ports are the ones the binary listens on; the commands they run
//! exist; every metric the dashboard plots is emitted somewhere in the code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

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

#[test]
fn every_dashboard_metric_is_emitted_by_the_code() {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("deploy/grafana/spanbridge-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut sources = String::new();
    for dir in ["src", "gateway/src", "sink/src"] {
        let mut paths = Vec::new();
        files(&repo(dir), &mut paths);
        for path in paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        {
            sources.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|target| target["expr"].as_str().map(str::to_owned))
        .collect();
    assert!(exprs.len() >= 12);
    for expr in exprs {
        for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if let Some(name) = word.strip_prefix("spanbridge_").map(|_| word) {
                let base = name
                    .trim_end_matches("_bucket")
                    .trim_end_matches("_count")
                    .trim_end_matches("_sum");
                assert!(
                    sources.contains(&format!("\"{base}\"")),
                    "dashboard plots {base}, which no code emits"
                );
            }
        }
    }
}

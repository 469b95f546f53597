//! Settings: defaults ← `--config FILE` (TOML) ← `SPANBRIDGE_<SECTION>__<KEY>` environment
//! variables ← CLI flags. Unknown keys and bad values fail at start, naming the key.
//! `config/spanbridge.toml` documents every key with its default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

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
    pub embedded: EmbeddedSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
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
    /// How long shutdown waits for in-flight requests and the final write.
    pub shutdown_timeout_secs: u64,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            grpc_addr: SocketAddr::from(([0, 0, 0, 0], 4317)),
            http_addr: SocketAddr::from(([0, 0, 0, 0], 4318)),
            max_body_bytes: 16 * 1024 * 1024,
            shutdown_timeout_secs: 30,
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
    /// Langfuse's `SALT` for `fast_hashed_secret_key`. Secret; changing it invalidates the
    /// fast hashes of existing keys.
    pub salt: String,
    /// How long a key lookup (hit or miss) is cached: the longest a revoked key keeps working.
    pub cache_ttl_secs: u64,
    /// Most cached key lookups.
    pub cache_capacity: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            salt: String::new(),
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
        figment
            .merge(
                Env::prefixed("SPANBRIDGE_")
                    .filter(|key| {
                        !NON_SETTING_ENV
                            .iter()
                            .any(|name| key.as_str().eq_ignore_ascii_case(name))
                    })
                    .split("__"),
            )
            .merge(overrides)
            .extract()
            .map_err(|error| format!("invalid configuration: {error}"))
    }

    /// The effective settings as TOML with secrets masked, for `spanbridge config`.
    pub fn to_masked_toml(&self) -> String {
        let mut masked = self.clone();
        if !masked.auth.salt.is_empty() {
            masked.auth.salt = "********".into();
        }
        toml::to_string_pretty(&masked).unwrap_or_default()
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

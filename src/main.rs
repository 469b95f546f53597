//! `spanbridge`: the one binary. `serve` (the default) runs the gateway and the sink together;
//! `keys` manages project API keys; `prices` model prices; `migrate` creates what the
//! configured backends need; `config` prints the effective settings.

mod admin;
mod bench;
mod config;
mod keys;
mod production;
mod wiring;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use figment::Figment;
use figment::providers::Serialized;
use serde_json::json;

use crate::config::{LogFormat, Settings};

/// OpenTelemetry-native ingestion gateway for LLM observability.
///
/// Receives OTLP traces (gRPC :4317, HTTP :4318 at /v1/traces and /api/public/otel/v1/traces),
/// authenticates Langfuse-style project keys, converts GenAI spans into Langfuse-compatible
/// rows and stores them; with nothing configured it runs on one machine with SQLite.
#[derive(Parser)]
#[command(name = "spanbridge", version, about, long_about)]
struct Cli {
    /// TOML settings file (every key is documented in config/spanbridge.toml).
    #[arg(long, short, global = true, env = "SPANBRIDGE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway and the sink in one process (the default command).
    Serve(ServeArgs),
    /// Manage project API keys (pk-lf-… / sk-lf-…).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print the effective settings (file + environment + defaults), secrets masked.
    Config,
    /// Run only the gateway: OTLP in, Kafka out (needs kafka.brokers).
    Gateway(ServeArgs),
    /// Run only the sink: Kafka in, ClickHouse (or the SQLite file) out (needs kafka.brokers).
    Sink,
    /// Create what the configured backends need when absent: metadata tables (SQLite or
    /// Postgres) with the default model prices, Kafka topics, ClickHouse tables.
    Migrate,
    /// Manage model prices (Langfuse's `models` / `pricing_tiers` / `prices`).
    #[command(subcommand)]
    Prices(PricesCommand),
    /// Load-test a running gateway with realistic GenAI spans and report spans/s, latency,
    /// the gateway's CPU and memory, and the decode-only floor of the same payload.
    Bench(bench::BenchArgs),
}

/// CLI flags that override the settings file and the environment.
#[derive(Args, Default)]
struct ServeArgs {
    /// OTLP/HTTP listen address [setting: gateway.http_addr].
    #[arg(long)]
    http_addr: Option<SocketAddr>,
    /// OTLP/gRPC listen address [setting: gateway.grpc_addr].
    #[arg(long)]
    grpc_addr: Option<SocketAddr>,
    /// SQLite file of the embedded store [setting: embedded.path].
    #[arg(long)]
    db: Option<PathBuf>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key pair for a project (created if absent); the secret is printed once.
    Create {
        /// Project name.
        #[arg(long)]
        project: String,
        /// Free-text note stored with the key.
        #[arg(long)]
        note: Option<String>,
        /// Print the new pair as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List keys (public key and masked secret; secrets are never shown again).
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke (delete) a key by its public key. Cached lookups expire within auth.cache_ttl_secs.
    Revoke {
        /// The pk-lf-… public key.
        public_key: String,
    },
}

#[derive(Subcommand)]
enum PricesCommand {
    /// Load a model price file (Langfuse's default-model-prices.json format) into the global
    /// models, replacing stored models with the same ids. Running servers apply it within
    /// meta.model_cache_ttl_secs.
    Import {
        /// The JSON file.
        file: PathBuf,
    },
}

impl ServeArgs {
    fn overrides(&self) -> Figment {
        let mut figment = Figment::new();
        if let Some(addr) = self.http_addr {
            figment = figment.merge(Serialized::default("gateway.http_addr", addr));
        }
        if let Some(addr) = self.grpc_addr {
            figment = figment.merge(Serialized::default("gateway.grpc_addr", addr));
        }
        if let Some(path) = &self.db {
            figment = figment.merge(Serialized::default("embedded.path", path));
        }
        figment
    }
}

fn init_logging(settings: &Settings) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log.level).map_err(|error| {
        format!(
            "invalid configuration: log.level `{}`: {error}",
            settings.log.level
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<(), String> {
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs::default()));
    // The load generator is a client: it needs no settings.
    let command = match command {
        Command::Bench(args) => return bench::run(args).await,
        other => other,
    };
    let overrides = match &command {
        Command::Serve(args) | Command::Gateway(args) => args.overrides(),
        _ => Figment::new(),
    };
    let settings = Settings::load(cli.config.as_deref(), overrides)?;
    match command {
        Command::Serve(_) if settings.kafka.is_configured() => {
            init_logging(&settings)?;
            let metrics = admin::install_recorder()?;
            production::serve(settings, metrics).await
        }
        Command::Serve(_) => {
            init_logging(&settings)?;
            let metrics = admin::install_recorder()?;
            wiring::serve_embedded(settings, metrics).await
        }
        Command::Gateway(_) => {
            init_logging(&settings)?;
            let metrics = admin::install_recorder()?;
            production::gateway(settings, metrics).await
        }
        Command::Sink => {
            init_logging(&settings)?;
            let metrics = admin::install_recorder()?;
            production::sink(settings, metrics).await
        }
        Command::Migrate => {
            init_logging(&settings)?;
            for line in wiring::migrate_meta(&settings).await? {
                println!("{line}");
            }
            for line in production::migrate(&settings).await? {
                println!("{line}");
            }
            Ok(())
        }
        Command::Config => {
            print!("{}", settings.to_masked_toml());
            Ok(())
        }
        Command::Prices(PricesCommand::Import { file }) => {
            let meta = wiring::open_meta(&settings).await?;
            let text = std::fs::read_to_string(&file)
                .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
            let models = spanbridge_sink::prices::parse_price_file(&text)
                .map_err(|error| format!("{}: {error}", file.display()))?;
            let written = meta
                .upsert_models(&models, false)
                .await
                .map_err(|error| error.to_string())?;
            println!(
                "Imported {written} models from {} into {}. Running servers use them within meta.model_cache_ttl_secs ({} s).",
                file.display(),
                meta.describe(),
                settings.meta.model_cache_ttl_secs
            );
            Ok(())
        }
        Command::Keys(keys_command) => {
            let meta = wiring::open_meta(&settings).await?;
            match keys_command {
                KeysCommand::Create {
                    project,
                    note,
                    json,
                } => {
                    let key =
                        keys::create(meta.as_ref(), &project, &settings.auth.salt, note).await?;
                    if json {
                        let out = json!({"project": project, "projectId": key.project_id, "publicKey": key.public_key, "secretKey": key.secret_key});
                        println!("{out}");
                    } else {
                        keys::print_created(&project, &key);
                    }
                }
                KeysCommand::List { json } => {
                    let list = meta.list_keys().await.map_err(|error| error.to_string())?;
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&list).unwrap_or_default()
                        );
                    } else {
                        println!(
                            "{:<44} {:<16} {:<24} {:<27} created",
                            "public key", "secret", "project", "project id"
                        );
                        for key in list {
                            println!(
                                "{:<44} {:<16} {:<24} {:<27} {}",
                                key.public_key,
                                key.display_secret_key,
                                key.project_name,
                                key.project_id,
                                key.created_at
                            );
                        }
                    }
                }
                KeysCommand::Revoke { public_key } => {
                    if !meta
                        .revoke(&public_key)
                        .await
                        .map_err(|error| error.to_string())?
                    {
                        return Err(format!("no key with public key {public_key}"));
                    }
                    println!(
                        "Revoked {public_key}. Running servers stop accepting it within auth.cache_ttl_secs ({} s).",
                        settings.auth.cache_ttl_secs
                    );
                }
            }
            Ok(())
        }
        // Answered before the settings are loaded (see above).
        Command::Bench(args) => bench::run(args).await,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("spanbridge: {error}");
            ExitCode::FAILURE
        }
    }
}

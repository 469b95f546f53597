//! `spanbridge`: the one binary. This file parses the command line and dispatches: `serve` (the
//! default), `gateway` and `sink` are wired in `wiring/`; `keys`, `prices` and `migrate` run in
//! `commands.rs`; `config` prints the effective settings; `bench` is the load generator and
//! `bench-sink` the sink's benchmark.

mod admin;
mod bench;
mod commands;
mod config;
mod keys;
mod wiring;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use figment::Figment;
use figment::providers::Serialized;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::{LogFormat, Settings};

/// mimalloc instead of glibc's allocator: rows and messages are built, moved between threads
/// and freed in large numbers, and glibc's malloc and free paths took ~18 % of the gateway's
/// CPU embedded and in the Kafka deployment (docs/performance.md, "Memory and allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Benchmark the sink: fill librdkafka's mock cluster (in this process) with the `bench`
    /// workload through the gateway's own conversion and publisher, run `spanbridge sink` as a
    /// child with these settings (the event store, e.g. ClickHouse, from the settings and
    /// environment), and report rows per sink CPU-second, CPU-µs per span and peak RSS of the
    /// sink alone (see deploy/dev/bench-sink.sh).
    BenchSink(bench::sink::SinkBenchArgs),
    /// Benchmark the front door: serve a small upstream, load it directly and through a
    /// running gateway whose upstream.url points at it, and report the latency the hop adds
    /// (p50/p99) and the gateway's CPU per proxied request (see deploy/dev/bench-proxy.sh).
    BenchProxy(bench::proxy::ProxyBenchArgs),
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
pub(crate) enum KeysCommand {
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
    for deprecation in &settings.deprecations {
        tracing::warn!("{deprecation}");
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<(), String> {
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs::default()));
    // The load generator is a client: it needs no settings.
    if let Command::Bench(args) = command {
        return bench::run(args).await;
    }
    if let Command::BenchProxy(args) = command {
        return bench::proxy::run(args).await;
    }
    let overrides = match &command {
        Command::Serve(args) | Command::Gateway(args) => args.overrides(),
        _ => Figment::new(),
    };
    let settings = Settings::load(cli.config.as_deref(), overrides)?;
    match command {
        Command::BenchSink(args) => {
            init_logging(&settings)?;
            bench::sink::run(args, settings, cli.config.as_deref()).await
        }
        Command::Serve(_) if settings.kafka.is_configured() => {
            let metrics = start_server(&settings)?;
            wiring::kafka::serve(settings, metrics).await
        }
        Command::Serve(_) => {
            let metrics = start_server(&settings)?;
            without_transparent_huge_pages();
            wiring::embedded::serve(settings, metrics).await
        }
        Command::Gateway(_) => {
            let metrics = start_server(&settings)?;
            without_transparent_huge_pages();
            wiring::kafka::gateway(settings, metrics).await
        }
        Command::Sink => {
            let metrics = start_server(&settings)?;
            wiring::kafka::sink(settings, metrics).await
        }
        Command::Migrate => {
            init_logging(&settings)?;
            commands::migrate(&settings).await
        }
        Command::Config => {
            print!("{}", settings.to_toml());
            Ok(())
        }
        Command::Prices(PricesCommand::Import { file }) => {
            commands::import_prices(&settings, &file).await
        }
        Command::Keys(keys_command) => commands::manage_keys(&settings, keys_command).await,
        // Answered before the settings are loaded (see above).
        Command::Bench(args) => bench::run(args).await,
        Command::BenchProxy(args) => bench::proxy::run(args).await,
    }
}

/// What every long-running command does first: logging, the C libraries' heap, then the
/// metrics recorder.
fn start_server(settings: &Settings) -> Result<PrometheusHandle, String> {
    init_logging(settings)?;
    keep_c_heap_memory();
    admin::install_recorder()
}

/// glibc's malloc keeps freed memory of the C libraries (librdkafka, SQLite) for reuse instead
/// of giving it back at once. librdkafka copies each message into a fresh buffer, and so does
/// its lz4 compressor; with glibc's defaults those buffers came from memory just returned to
/// the kernel (an arena trimmed after 128 KiB free at its top, or a separate mapping), so
/// every copy page-faulted on new pages: 4 % of the Kafka deployment's gateway CPU. With these
/// thresholds that gateway did 7–15 % more spans per CPU-second with one span per trace, for
/// the same peak RSS (docs/performance.md, "Memory and allocator"). Memory is still given
/// back once 256 MiB are free at the top of an arena; Rust's own allocations use mimalloc.
fn keep_c_heap_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt takes integer arguments only and touches no memory of ours.
        let set = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20) == 1
        };
        if !set {
            tracing::warn!("could not set glibc's malloc thresholds; C libraries may use more CPU");
        }
    }
}

/// Transparent huge pages off for this process (Linux; a no-op elsewhere), for the gateway alone
/// or embedded. mimalloc asks for huge pages on its arenas, and a huge page partly in use counts
/// whole in RSS: with them off, the gateway's peak RSS fell by 20–45 MB in every workload,
/// embedded and in the Kafka deployment (embedded split traces: 200–235 MB instead of 263–355 MB)
/// for the same CPU. The sink keeps them: without, it held 15–30 MB less but spent ~8 % more CPU
/// with one span per trace (docs/performance.md, "Memory and allocator").
fn without_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and touches no memory of ours.
    if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "could not turn transparent huge pages off for this process; RSS may be higher"
        );
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

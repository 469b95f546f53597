//! `spanbridge bench-sink`: the sink's cost, measured on exactly what the gateway publishes.
//!
//! It starts librdkafka's mock cluster in this process, creates the configured topics, and
//! fills the events topic with the `spanbridge bench` workload (the same requests, with the
//! same `--spans-per-trace`, `--resend`, `--split-traces` and `--spans-per-request`), converted
//! and published through the gateway's own path (`Gateway::ingest` → `KafkaPublisher`: the same
//! conversion, per-trace split, encoding, key and headers). Then it starts the real sink as a
//! child process (`spanbridge sink`, with this process's settings and environment, pointed at
//! the mock cluster) and measures the child alone — its CPU from /proc between `/ready` and the
//! moment its consumer group has committed every message (offsets are committed only after
//! their rows are written, so that is when every row is in the store). The mock broker and the
//! store (e.g. the ClickHouse test engine) run in other processes or threads and are not
//! counted.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clap::Args;
use futures::StreamExt;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use spanbridge_gateway::SdkInfo;
use spanbridge_gateway::auth::{KeyStore, Project};
use spanbridge_gateway::error::BackendUnavailable;
use spanbridge_gateway::publish::kafka::KafkaPublisher;
use spanbridge_proto::KeyRecord;

use super::{Sender, Workload, WorkloadArgs, cpu_seconds, peak_rss_bytes};
use crate::config::Settings;
use crate::wiring;

/// Sink-benchmark options. Every other setting (ClickHouse URL and tables, the metadata store
/// with its prices, batch sizes, assembly) is the sink's own: the settings file and the
/// `SPANBRIDGE_*` environment, which the child sink inherits.
#[derive(Args, Debug)]
pub struct SinkBenchArgs {
    /// Spans to publish before the sink starts (rounded up to whole requests; re-sent
    /// requests count).
    #[arg(long, default_value_t = 100_000)]
    spans: u64,
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Partitions of the events topic. librdkafka's mock broker keeps only the newest ~5 MB
    /// of each partition, so the topic needs about one partition per 4 MB of compressed
    /// messages (~1 KB per span); a fill that does not fit fails instead of measuring less.
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// Requests converted and published at once while filling the topic.
    #[arg(long, default_value_t = 16)]
    publishers: usize,
    /// Keep the spans' times before the sink starts, as a restarted sink finds its backlog:
    /// every trace may then have stored rows and is read back from the store. Without it the
    /// spans start an hour from now, so each trace is new to the sink, as live traffic is to a
    /// running sink (the topic is filled before the sink starts; the times are the only thing
    /// that would tell it apart from live traffic).
    #[arg(long)]
    backlog: bool,
    /// Seconds the sink may take to write everything before the run fails.
    #[arg(long, default_value_t = 1200)]
    timeout: u64,
    /// Print one JSON object with every figure as the last line.
    #[arg(long)]
    json: bool,
}

/// The gateway half never authenticates here (`ingest` takes the project): no keys.
struct NoKeys;

#[async_trait]
impl KeyStore for NoKeys {
    async fn find_by_fast_hash(
        &self,
        _fast_hash: &str,
    ) -> Result<Option<KeyRecord>, BackendUnavailable> {
        Ok(None)
    }
}

/// Fills the topic, runs the sink until it has written everything, and prints the report.
pub async fn run(
    args: SinkBenchArgs,
    settings: Settings,
    config: Option<&std::path::Path>,
) -> Result<(), String> {
    let cluster = MockCluster::new(1).map_err(|e| format!("cannot start the mock cluster: {e}"))?;
    let brokers = cluster.bootstrap_servers();
    let (topic, partitions) = (settings.kafka.topic.clone(), args.partitions);
    for name in [&topic, &settings.kafka.dead_letter_topic] {
        cluster
            .create_topic(name, partitions, 1)
            .map_err(|e| format!("cannot create {name} on the mock cluster: {e}"))?;
    }
    let mut settings = settings;
    settings.kafka.brokers = brokers.clone();
    settings.kafka.partitions = partitions;

    // A project of its own per run, so runs against one ClickHouse can be told apart.
    let started_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let project = Project {
        project_id: format!("bench-sink-{started_us}"),
        api_key_id: "bench-sink".into(),
        project_name: "bench-sink".into(),
        organization_id: String::new(),
        organization_name: String::new(),
    };
    let fill = fill_topic(&args, &settings, &project).await?;
    let messages = topic_messages(&brokers, &settings, &topic, partitions)?;
    eprintln!(
        "bench-sink: {} requests ({} re-sent), {} spans, {messages} messages published in {:.1} s",
        fill.requests, fill.resent, fill.spans, fill.seconds
    );

    let admin = free_port()?;
    let mut command = std::process::Command::new(
        std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?,
    );
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    ends_with_this_process(&mut command);
    let mut sink = command
        .arg("sink")
        .env("SPANBRIDGE_KAFKA__BROKERS", &brokers)
        .env("SPANBRIDGE_ADMIN__ADDR", format!("127.0.0.1:{admin}"))
        .spawn()
        .map_err(|e| format!("cannot start the sink: {e}"))?;
    let measured = measure(&args, &mut sink, admin, &brokers, &settings, messages).await;
    let _ = sink.kill();
    let _ = sink.wait();
    let measured = measured?;
    let stored = match settings.clickhouse.url.trim() {
        "" => None,
        url => count_stored(url, &settings.clickhouse.database, &project.project_id).await,
    };
    drop(cluster);
    report(&args, &fill, messages, &measured, stored);
    Ok(())
}

/// The child is killed when this process ends, however it ends: a bench interrupted by Ctrl-C
/// or a timeout left a sink consuming and skewing the next run's figures (Linux only).
fn ends_with_this_process(command: &mut std::process::Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the forked child before exec and only makes one
        // async-signal-safe system call with integer arguments.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// What filling the topic produced.
struct Fill {
    requests: u64,
    resent: u64,
    spans: u64,
    seconds: f64,
}

/// Publishes the workload through the gateway's own path, `publishers` requests at a time,
/// and flushes the producer.
async fn fill_topic(
    args: &SinkBenchArgs,
    settings: &Settings,
    project: &Project,
) -> Result<Fill, String> {
    let publisher = Arc::new(KafkaPublisher::new(wiring::kafka::publisher_config(
        settings,
    ))?);
    let gateway = wiring::gateway(settings, Arc::new(NoKeys), publisher.clone())?;
    let lead = if args.backlog {
        Duration::ZERO
    } else {
        Duration::from_secs(3600)
    };
    let workload = Arc::new(Workload::starting_at(&args.workload, lead));
    let spans_per_request = workload.spans_per_request().max(1) as u64;
    let requests = args.spans.div_ceil(spans_per_request);
    let mut sender = Sender::new(workload, 0);
    let sequence = AtomicU64::new(0);
    let sdk = SdkInfo::new(Some("spanbridge-bench"), Some(env!("CARGO_PKG_VERSION")));
    let started = Instant::now();
    // Requests are made as they are published: only `publishers` of them are in memory.
    let bodies = std::iter::repeat_with(|| sender.next(&sequence)).take(requests as usize);
    let mut published = futures::stream::iter(bodies)
        .map(|request| gateway.ingest(project, &sdk, request))
        .buffered(args.publishers.max(1));
    while let Some(result) = published.next().await {
        result.map_err(|e| format!("publishing to the mock cluster failed: {e}"))?;
    }
    drop(published);
    publisher.flush(Duration::from_secs(30));
    Ok(Fill {
        requests,
        resent: sender.resent,
        spans: requests * spans_per_request,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A consumer of the sink's group that never joins it: it reads the topic's end offsets and
/// the group's committed offsets.
fn observer(brokers: &str, settings: &Settings) -> Result<BaseConsumer, String> {
    sink_client_config(brokers, settings)
        .set("group.id", &settings.sink.group_id)
        .create()
        .map_err(|e| format!("cannot create the offset observer: {e}"))
}

fn sink_client_config(brokers: &str, settings: &Settings) -> rdkafka::ClientConfig {
    spanbridge_sink::kafka_admin::client_config(brokers, &settings.kafka.consumer_options())
}

/// Messages in the topic: the sum of its partitions' end offsets, all still held.
fn topic_messages(
    brokers: &str,
    settings: &Settings,
    topic: &str,
    partitions: i32,
) -> Result<i64, String> {
    let observer = observer(brokers, settings)?;
    let mut total = 0;
    for partition in 0..partitions {
        let (low, high) = observer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .map_err(|e| format!("cannot read the end of {topic}/{partition}: {e}"))?;
        if low > 0 {
            return Err(format!(
                "the mock broker dropped the oldest {low} messages of {topic}/{partition} \
                 (it keeps ~5 MB per partition): use more --partitions or fewer --spans"
            ));
        }
        total += high;
    }
    Ok(total)
}

/// Messages of the topic the group has committed (offsets are committed after their rows are
/// written).
fn committed_messages(
    observer: &BaseConsumer,
    topic: &str,
    partitions: i32,
) -> Result<i64, String> {
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let committed = observer
        .committed_offsets(list, Duration::from_secs(10))
        .map_err(|e| format!("cannot read the committed offsets: {e}"))?;

    Ok(committed
        .elements()
        .iter()
        .map(|element| match element.offset() {
            Offset::Offset(offset) => offset,
            _ => 0,
        })
        .sum())
}

/// What was measured of the sink between `/ready` and its last commit.
struct Measured {
    pid: u32,
    cpu_seconds: f64,
    wall_seconds: f64,
    /// From the first commit to the last: the consuming rate once the group has formed.
    steady_rows_per_sec: Option<f64>,
    rows_written: f64,
    peak_rss_bytes: Option<u64>,
    metrics: serde_json::Value,
}

async fn measure(
    args: &SinkBenchArgs,
    sink: &mut std::process::Child,
    admin: u16,
    brokers: &str,
    settings: &Settings,
    messages: i64,
) -> Result<Measured, String> {
    let pid = sink.id();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{admin}");
    let ready_by = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = sink.try_wait() {
            return Err(format!("the sink exited before it was ready: {status}"));
        }
        let ready = http.get(format!("{base}/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        if Instant::now() > ready_by {
            return Err("the sink was not ready within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu_before = cpu_seconds(pid).ok_or("cannot read the sink's CPU time")?;
    let started = Instant::now();
    eprintln!("bench-sink: sink pid {pid} ready; consuming {messages} messages");
    let observer = observer(brokers, settings)?;
    let (topic, partitions) = (&settings.kafka.topic, settings.kafka.partitions.max(1));
    let deadline = started + Duration::from_secs(args.timeout);
    let mut first_commit: Option<(Instant, f64)> = None;
    loop {
        if let Ok(Some(status)) = sink.try_wait() {
            return Err(format!("the sink exited while consuming: {status}"));
        }
        let committed = committed_messages(&observer, topic, partitions)?;
        if committed >= messages {
            break;
        }
        if committed > 0 && first_commit.is_none() {
            let rows = sink_metrics(&http, &base).await?;
            first_commit = Some((Instant::now(), rows_written(&rows)));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the sink committed {committed} of {messages} messages in {} s",
                args.timeout
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu_after = cpu_seconds(pid).ok_or("cannot read the sink's CPU time")?;
    let finished = Instant::now();
    let metrics = sink_metrics(&http, &base).await?;
    let rows = rows_written(&metrics);
    let steady_rows_per_sec = first_commit.and_then(|(at, rows_then)| {
        let seconds = finished.duration_since(at).as_secs_f64();
        (seconds > 0.0 && rows > rows_then).then(|| (rows - rows_then) / seconds)
    });
    Ok(Measured {
        pid,
        cpu_seconds: cpu_after - cpu_before,
        wall_seconds: finished.duration_since(started).as_secs_f64(),
        steady_rows_per_sec,
        rows_written: rows,
        peak_rss_bytes: peak_rss_bytes(pid),
        metrics,
    })
}

/// The sink's counters of interest from its Prometheus page, by series (name and labels).
async fn sink_metrics(http: &reqwest::Client, base: &str) -> Result<serde_json::Value, String> {
    let page = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .map_err(|e| format!("cannot read the sink's metrics: {e}"))?
        .text()
        .await
        .map_err(|e| format!("cannot read the sink's metrics: {e}"))?;
    Ok(counters(&page))
}

/// The `spanbridge_sink_*`, `spanbridge_assembly_*` and `spanbridge_store_*` counters of a
/// Prometheus text page (histograms left out), as `{series: value}`.
fn counters(page: &str) -> serde_json::Value {
    let mut series = serde_json::Map::new();
    for line in page.lines().filter(|line| !line.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let wanted = [
            "spanbridge_sink_",
            "spanbridge_assembly_",
            "spanbridge_store_",
            "spanbridge_dead_letter_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix));
        let histogram = ["_bucket", "_sum", "_count"]
            .iter()
            .any(|suffix| name.split('{').next().is_some_and(|n| n.ends_with(suffix)))
            || name.contains("quantile=");
        if let (true, false, Ok(value)) = (wanted, histogram, value.parse::<f64>()) {
            series.insert(name.to_owned(), json!(value));
        }
    }
    serde_json::Value::Object(series)
}

fn rows_written(metrics: &serde_json::Value) -> f64 {
    metrics["spanbridge_sink_rows_written_total"]
        .as_f64()
        .unwrap_or(0.0)
}

/// Distinct rows of the run's project in `events_full` (the newest version of each), as a check
/// that what was measured landed; None when the table cannot be counted.
async fn count_stored(url: &str, database: &str, project_id: &str) -> Option<u64> {
    let sql = format!("SELECT count() FROM events_full FINAL WHERE project_id = '{project_id}'");
    let answer = reqwest::Client::new()
        .post(url)
        .query(&[("database", database)])
        .body(sql)
        .send()
        .await
        .ok()?;
    if !answer.status().is_success() {
        return None;
    }
    answer.text().await.ok()?.trim().parse().ok()
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn report(
    args: &SinkBenchArgs,
    fill: &Fill,
    messages: i64,
    measured: &Measured,
    stored: Option<u64>,
) {
    let rows = measured.rows_written;
    let cpu = measured.cpu_seconds;
    let rows_per_cpu_second = (cpu > 0.0).then(|| rows / cpu);
    let cpu_us_per_span = (fill.spans > 0).then(|| cpu * 1e6 / fill.spans as f64);
    let cpu_us_per_row = (rows > 0.0).then(|| cpu * 1e6 / rows);
    let mut report = json!({
        "backlog": args.backlog,
        "requests": fill.requests,
        "resent_requests": fill.resent,
        "spans": fill.spans,
        "messages": messages,
        "fill_seconds": fill.seconds,
        "sink_pid": measured.pid,
        "rows_written": rows,
        "stored_rows": stored,
        "sink_cpu_seconds": cpu,
        "wall_seconds": measured.wall_seconds,
        "rows_per_sec_wall": rows / measured.wall_seconds.max(f64::EPSILON),
        "rows_per_sec_steady": measured.steady_rows_per_sec,
        "rows_per_sink_cpu_second": rows_per_cpu_second,
        "sink_cpu_us_per_row": cpu_us_per_row,
        "sink_cpu_us_per_span": cpu_us_per_span,
        "sink_peak_rss_bytes": measured.peak_rss_bytes,
        "sink_metrics": measured.metrics,
    });
    if let Some(fields) = report.as_object_mut() {
        fields.extend(args.workload.report_fields());
    }
    println!(
        "{}, {} requests re-sent: {} spans in {messages} messages → {rows:.0} rows written{}",
        args.workload.describe(),
        fill.resent,
        fill.spans,
        stored.map_or(String::new(), |n| format!(" ({n} distinct rows stored)")),
    );
    println!(
        "sink: {cpu:.2} CPU-s = {:.0} rows per sink CPU-second, {:.1} CPU-µs per span; {:.0} rows/s wall ({:.1} s from ready, {:.0} rows/s after the first commit); peak RSS {} MB",
        rows_per_cpu_second.unwrap_or(0.0),
        cpu_us_per_span.unwrap_or(0.0),
        rows / measured.wall_seconds.max(f64::EPSILON),
        measured.wall_seconds,
        measured.steady_rows_per_sec.unwrap_or(0.0),
        measured.peak_rss_bytes.unwrap_or(0) / 1_048_576,
    );
    if args.json {
        println!("{report}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_keep_sink_counters_and_skip_histograms() {
        let page = "# TYPE spanbridge_sink_rows_written_total counter\n\
            spanbridge_sink_rows_written_total 1200\n\
            spanbridge_assembly_cache_total{result=\"whole\"} 30\n\
            spanbridge_sink_batch_rows_bucket{le=\"100\"} 2\n\
            spanbridge_sink_batch_rows_sum 1200\n\
            spanbridge_sink_batch_duration_seconds{quantile=\"0.5\"} 0.1\n\
            spanbridge_http_requests_total 5\n";
        let series = counters(page);
        assert_eq!(rows_written(&series), 1200.0);
        assert_eq!(
            series["spanbridge_assembly_cache_total{result=\"whole\"}"],
            30.0
        );
        assert_eq!(series.as_object().map(|m| m.len()), Some(2), "{series}");
    }
}

//! `spanbridge bench`: a load generator for a running gateway. It sends realistic GenAI spans
//! (chat generations of ~2.6 KB with their own random prompt and completion, plus small tool
//! spans, in traces of `--spans-per-trace`, with `--resend` re-sent requests) over
//! OTLP/HTTP protobuf, OTLP/HTTP JSON or gRPC from many connections, and reports throughput,
//! latency, the gateway's CPU and memory (from /proc for a local pid), and — measured in the
//! same run — the single-core protobuf decode-only throughput of the same payloads, the
//! physical floor every figure is compared with. `--protocol langfuse-ingestion` sends the same
//! spans as batch API bodies ([`batch_api`]).

mod batch_api;
pub mod proxy;
pub mod sink;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use clap::{Args, ValueEnum};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use serde_json::json;
use spanbridge_workload::SplitMix64;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Protocol {
    HttpProtobuf,
    HttpJson,
    Grpc,
    /// `POST /api/public/ingestion` batches (Langfuse SDK 2.x), the same spans as events.
    LangfuseIngestion,
}

/// Load-generator options.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Gateway base URL: http://HOST:4318 for HTTP, http://HOST:4317 for gRPC.
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    endpoint: String,
    #[arg(long, value_enum, default_value = "http-protobuf")]
    protocol: Protocol,
    #[arg(long)]
    public_key: String,
    #[arg(long)]
    secret_key: String,
    /// Concurrent connections, each sending one request at a time.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Requests per second across all connections, evenly spaced (0 = as fast as possible),
    /// to measure latency below saturation.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// PID of a local gateway: its CPU time and peak RSS are read from /proc.
    #[arg(long)]
    gateway_pid: Option<u32>,
    /// Print one JSON object with every figure as the last line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    workload: WorkloadArgs,
}

/// What is sent: the workload flags `spanbridge bench` and `spanbridge bench-sink` share, so
/// the sink is measured on exactly the pieces the gateway bench produces.
#[derive(Args, Debug, Clone)]
pub struct WorkloadArgs {
    /// Spans per export request.
    #[arg(long, default_value_t = 100)]
    spans_per_request: usize,
    /// Spans per trace: 1 is a Collector's batch mixing many traces (every span its own
    /// trace), 10 an agent loop. Each trace's first span is its root.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    spans_per_trace: u64,
    /// Fraction of requests (0..1) that re-send an earlier request of the same connection
    /// unchanged (same ids, same content), as OTLP exporters retry after a timeout: the
    /// store replaces rows instead of inserting them.
    #[arg(long, default_value_t = 0.0, value_parser = fraction)]
    resend: f64,
    /// Send each trace's root span in the next request, after its children, as an SDK's
    /// batch processor does when the root ends last: the sink assembles every trace from two
    /// requests instead of receiving it whole.
    #[arg(long)]
    split_traces: bool,
    /// Put an e-mail address and a card number into the user prompt of one span in four (all
    /// chat spans), to measure privacy rules on content they match.
    #[arg(long)]
    pii: bool,
}

impl WorkloadArgs {
    /// The workload in words, for both benches' report line.
    fn describe(&self) -> String {
        format!(
            "{} spans/req, {} spans/trace{}{}",
            self.spans_per_request,
            self.spans_per_trace,
            if self.split_traces {
                " (roots split)"
            } else {
                ""
            },
            if self.pii { ", PII in 1 span of 4" } else { "" },
        )
    }

    /// The workload's fields of both benches' JSON report.
    fn report_fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut fields = serde_json::Map::new();
        fields.insert("spans_per_request".into(), json!(self.spans_per_request));
        fields.insert("spans_per_trace".into(), json!(self.spans_per_trace));
        fields.insert("resend".into(), json!(self.resend));
        fields.insert("split_traces".into(), json!(self.split_traces));
        fields.insert("pii".into(), json!(self.pii));
        fields
    }
}

fn fraction(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("{value:?} is not a fraction between 0 and 1")),
    }
}

/// Protobuf decode of the same payloads on one core, for ~1 s: spans per second.
fn decode_only_spans_per_sec(bodies: &[Vec<u8>], spans_per_request: usize) -> f64 {
    let started = Instant::now();
    let mut decoded_requests = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        for body in bodies {
            if ExportTraceServiceRequest::decode(body.as_slice()).is_ok() {
                decoded_requests += 1;
            }
        }
    }
    (decoded_requests * spans_per_request as u64) as f64 / started.elapsed().as_secs_f64()
}

/// A sequence number spread over all 64 bits, one to one: trace ids that follow each other in
/// time share no prefix, as SDKs' random ids do (sequential ids would make every store's
/// index inserts land on the same few pages, which real traffic never does).
fn scatter(sequence: u64) -> u64 {
    SplitMix64::new(sequence).next_u64()
}

/// Gives every span of a request ids derived from `sequence`, scattered (the first 8 bytes of
/// trace ids, the high bits of span ids), keeping the parent links of the template, and moves
/// its times by `shift_ns` so spans look recent, as an SDK's do. With `split`, root spans take
/// the ids of the previous sequence: they are the roots of the previous request's children.
fn renumber(request: &mut ExportTraceServiceRequest, sequence: u64, shift_ns: u64, split: bool) {
    for span in request
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans)
    {
        let root = span.parent_span_id.is_empty();
        let tag = scatter(if split && root {
            sequence
        } else {
            sequence + 1
        })
        .to_be_bytes();
        span.start_time_unix_nano += shift_ns;
        span.end_time_unix_nano += shift_ns;
        span.trace_id[..8].copy_from_slice(&tag);
        for id in [&mut span.span_id, &mut span.parent_span_id] {
            if id.len() == 8 {
                id[1..5].copy_from_slice(&tag[4..]);
                // The template's seed bits: without them a span's id depends only on the tag
                // and its place in the request, so a split root matches its children's parent.
                id[5] = 0;
            }
        }
    }
}

/// `--pii`: an e-mail address and a Luhn-valid card number at the start of the user prompt
/// of every fourth span (the template's spans 0, 4, 8, … are chat spans).
fn add_pii(request: &mut ExportTraceServiceRequest) {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let spans = request
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans);
    for span in spans.step_by(4) {
        for attribute in &mut span.attributes {
            if attribute.key != "gen_ai.input.messages" {
                continue;
            }
            if let Some(Value::StringValue(text)) =
                attribute.value.as_mut().and_then(|v| v.value.as_mut())
            {
                const USER: &str = r#"{"role":"user","parts":[{"type":"text","content":""#;
                *text = text.replacen(
                    USER,
                    &format!("{USER}I am jane@example.com, card 4111 1111 1111 1111. "),
                    1,
                );
            }
        }
    }
}

/// CPU seconds (user + system) of a process so far.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

struct Totals {
    requests: AtomicU64,
    errors: AtomicU64,
}

/// Distinct template requests; every sent request is one of them with fresh ids.
const DISTINCT_REQUESTS: u64 = 64;

/// The requests a workload sends: templates of `--spans-per-request` spans in traces of
/// `--spans-per-trace`, with times shifted to now. Each connection draws from it through its
/// own [`Sender`].
pub(crate) struct Workload {
    args: WorkloadArgs,
    templates: Vec<ExportTraceServiceRequest>,
    shift_ns: u64,
}

impl Workload {
    /// Spans start from now on, as live traffic does.
    pub(crate) fn new(args: &WorkloadArgs) -> Self {
        Self::starting_at(args, Duration::ZERO)
    }

    /// Spans start `lead` from now.
    pub(crate) fn starting_at(args: &WorkloadArgs, lead: Duration) -> Self {
        let mut templates: Vec<ExportTraceServiceRequest> = (0..DISTINCT_REQUESTS)
            .map(|seed| {
                spanbridge_workload::genai_request_with(
                    seed + 1,
                    args.spans_per_request,
                    args.spans_per_trace as usize,
                )
            })
            .collect();
        if args.pii {
            templates.iter_mut().for_each(add_pii);
        }
        // The templates carry fixed times; sent spans start from now on, as live traffic does
        // (a sink treats spans older than itself as possibly stored and reads their trace
        // back).
        let earliest_ns = templates
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.start_time_unix_nano)
            .min()
            .unwrap_or_default();
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            + lead.as_nanos() as u64;
        Self {
            args: args.clone(),
            templates,
            shift_ns: now_ns.saturating_sub(earliest_ns),
        }
    }

    pub(crate) fn spans_per_request(&self) -> usize {
        self.args.spans_per_request
    }
}

/// One connection's stream of requests: each new request is a template with fresh ids (the
/// next number of the shared `sequence`), so the store inserts new rows rather than replacing
/// the ones of an earlier lap; with `--resend` a request may instead repeat this connection's
/// previous one.
pub(crate) struct Sender {
    workload: Arc<Workload>,
    /// Template index; connections start at different ones so they do not send the same one
    /// at once.
    next_template: u64,
    dice: SplitMix64,
    previous: Option<ExportTraceServiceRequest>,
    /// Requests that were re-sends.
    pub(crate) resent: u64,
}

impl Sender {
    pub(crate) fn new(workload: Arc<Workload>, connection: usize) -> Self {
        Self {
            workload,
            next_template: connection as u64 * 7,
            dice: SplitMix64::new(connection as u64 + 1),
            previous: None,
            resent: 0,
        }
    }

    pub(crate) fn next(&mut self, sequence: &AtomicU64) -> ExportTraceServiceRequest {
        let args = &self.workload.args;
        let request = match self.previous.take() {
            Some(earlier) if self.dice.unit() < args.resend => {
                self.resent += 1;
                earlier
            }
            _ => {
                let templates = &self.workload.templates;
                let mut request =
                    templates[(self.next_template % templates.len() as u64) as usize].clone();
                self.next_template += 1;
                let tag = sequence.fetch_add(1, Ordering::Relaxed);
                renumber(&mut request, tag, self.workload.shift_ns, args.split_traces);
                request
            }
        };
        self.previous = (args.resend > 0.0).then(|| request.clone());
        request
    }
}

/// Runs the load and prints the report.
pub async fn run(args: BenchArgs) -> Result<(), String> {
    let workload = Arc::new(Workload::new(&args.workload));
    let protobuf: Vec<Vec<u8>> = workload
        .templates
        .iter()
        .map(Message::encode_to_vec)
        .collect();
    let spans_per_request = args.workload.spans_per_request;
    let average_span_bytes = protobuf.iter().map(Vec::len).sum::<usize>() as f64
        / (DISTINCT_REQUESTS as usize * spans_per_request) as f64;
    let decode_only = decode_only_spans_per_sec(&protobuf, spans_per_request);
    let sequence = Arc::new(AtomicU64::new(0));
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", args.public_key, args.secret_key))
    );

    let cpu_before = args.gateway_pid.and_then(cpu_seconds);
    let totals = Arc::new(Totals {
        requests: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let interval = (args.rate > 0)
        .then(|| Duration::from_secs_f64(args.connections as f64 / args.rate as f64));
    let mut workers = Vec::new();
    for worker in 0..args.connections {
        let (totals, stop, auth, sequence) =
            (totals.clone(), stop.clone(), auth.clone(), sequence.clone());
        let mut sender = Sender::new(workload.clone(), worker);
        let (endpoint, protocol) = (
            args.endpoint.trim_end_matches('/').to_owned(),
            args.protocol,
        );
        workers.push(tokio::spawn(async move {
            let mut latencies_us: Vec<u32> = Vec::new();
            let http = reqwest::Client::new();
            let mut grpc = match protocol {
                Protocol::Grpc => Some(
                    TraceServiceClient::connect(endpoint.clone())
                        .await
                        .map_err(|e| e.to_string())?,
                ),
                _ => None,
            };
            // With a rate, workers are spread evenly over one interval, so requests arrive
            // at a steady pace instead of in bursts of `connections` at once.
            let mut next = Instant::now()
                + interval
                    .map(|i| i.mul_f64(worker as f64 / args.connections as f64))
                    .unwrap_or_default();
            while !stop.load(Ordering::Relaxed) {
                if let Some(interval) = interval {
                    tokio::time::sleep_until(next.into()).await;
                    next += interval;
                }
                let request = sender.next(&sequence);
                let body = match protocol {
                    Protocol::HttpJson => serde_json::to_vec(&request).unwrap_or_default(),
                    Protocol::HttpProtobuf => request.encode_to_vec(),
                    Protocol::LangfuseIngestion => {
                        serde_json::to_vec(&batch_api::batch_api_body(&request)).unwrap_or_default()
                    }
                    Protocol::Grpc => Vec::new(),
                };
                let sent = Instant::now();
                let ok = match (&mut grpc, protocol) {
                    (Some(client), _) => {
                        let mut request = tonic::Request::new(request);
                        if let Ok(value) = auth.parse() {
                            request.metadata_mut().insert("authorization", value);
                        }
                        client.export(request).await.is_ok()
                    }
                    (None, protocol) => {
                        let (content_type, path) = match protocol {
                            Protocol::HttpJson => ("application/json", "/v1/traces"),
                            Protocol::LangfuseIngestion => {
                                ("application/json", "/api/public/ingestion")
                            }
                            _ => ("application/x-protobuf", "/v1/traces"),
                        };
                        http.post(format!("{endpoint}{path}"))
                            .header("content-type", content_type)
                            .header("authorization", &auth)
                            .body(body)
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success())
                    }
                };
                latencies_us.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                totals.requests.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    totals.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<_, String>((latencies_us, sender.resent))
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut resent = 0u64;
    for worker in workers {
        let (worker_latencies, worker_resent) = worker.await.map_err(|e| e.to_string())??;
        latencies.extend(worker_latencies);
        resent += worker_resent;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = match (cpu_before, args.gateway_pid.and_then(cpu_seconds)) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    latencies.sort_unstable();
    let quantile = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |us| f64::from(*us) / 1000.0)
    };
    let requests_done = totals.requests.load(Ordering::Relaxed);
    let errors = totals.errors.load(Ordering::Relaxed);
    let spans_ok = (requests_done - errors) * spans_per_request as u64;
    let spans_per_sec = spans_ok as f64 / elapsed;
    let cpu_per_million = cpu
        .filter(|_| spans_ok > 0)
        .map(|cpu| cpu / spans_ok as f64 * 1e6);
    let spans_per_cpu_second = cpu.filter(|c| *c > 0.0).map(|cpu| spans_ok as f64 / cpu);
    let ratio = spans_per_cpu_second.map(|s| s / decode_only);
    let rss = args.gateway_pid.and_then(peak_rss_bytes);
    let mut report = json!({
        "protocol": format!("{:?}", args.protocol),
        "connections": args.connections,
        "resent_requests": resent,
        "average_span_bytes": average_span_bytes.round(),
        "duration_secs": elapsed,
        "requests": requests_done,
        "errors": errors,
        "requests_per_sec": requests_done as f64 / elapsed,
        "spans_per_sec": spans_per_sec,
        "p50_ms": quantile(0.50),
        "p99_ms": quantile(0.99),
        "max_ms": latencies.last().map_or(0.0, |us| f64::from(*us) / 1000.0),
        "gateway_cpu_seconds": cpu,
        "gateway_cpu_seconds_per_million_spans": cpu_per_million,
        "gateway_spans_per_cpu_second": spans_per_cpu_second,
        "gateway_peak_rss_bytes": rss,
        "decode_only_spans_per_sec": decode_only,
        "ratio_to_decode_per_core": ratio,
    });
    if let Some(fields) = report.as_object_mut() {
        fields.extend(args.workload.report_fields());
    }
    println!(
        "{:?} x{} conns, {}, {resent} requests re-sent ({:.0} B/span): {:.0} spans/s, {:.0} req/s, {} errors; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        args.protocol,
        args.connections,
        args.workload.describe(),
        average_span_bytes,
        spans_per_sec,
        requests_done as f64 / elapsed,
        errors,
        quantile(0.5),
        quantile(0.99),
        report["max_ms"].as_f64().unwrap_or(0.0)
    );
    if let (Some(cpu_per_million), Some(per_cpu), Some(ratio)) =
        (cpu_per_million, spans_per_cpu_second, ratio)
    {
        println!(
            "gateway: {cpu_per_million:.2} CPU-s per 1M spans = {per_cpu:.0} spans per CPU-second; peak RSS {} MB",
            rss.unwrap_or(0) / 1_048_576
        );
        println!(
            "decode-only floor (1 core, same payload): {decode_only:.0} spans/s; ratio {ratio:.3}"
        );
    } else {
        println!(
            "decode-only floor (1 core, same payload): {decode_only:.0} spans/s (pass --gateway-pid for CPU figures)"
        );
    }
    if args.json {
        println!("{report}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pii_goes_into_the_user_prompt_of_one_span_in_four() {
        let mut request = spanbridge_workload::genai_request(1, 40);
        add_pii(&mut request);
        let with_pii = request.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .filter(|span| {
                span.attributes.iter().any(|a| {
                    a.key == "gen_ai.input.messages"
                        && format!("{:?}", a.value).contains("jane@example.com, card 4111")
                })
            })
            .count();
        assert_eq!(with_pii, 10);
    }
}

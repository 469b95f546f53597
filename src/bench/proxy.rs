//! `spanbridge bench-proxy`: what the front door costs per proxied request. The bench serves a
//! small upstream of its own (a Langfuse-shaped `GET /api/public/v2/prompts/{name}` answer of
//! `--body-bytes`), loads it directly and then through a running gateway whose `upstream.url`
//! points at it, at the same rate from the same connections, and reports latency p50/p99 of
//! both, the difference (what the hop adds), and the gateway's CPU time per proxied request
//! (from /proc for `--gateway-pid`). The upstream runs in the bench's process, so its CPU is not
//! counted as the gateway's. See deploy/dev/bench-proxy.sh.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use clap::Args;
use serde_json::json;

use super::cpu_seconds;

#[derive(Args, Debug)]
pub struct ProxyBenchArgs {
    /// Where the bench's own upstream listens; the gateway's `upstream.url` must point here.
    #[arg(long)]
    upstream_addr: SocketAddr,
    /// The gateway's HTTP base URL.
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    gateway: String,
    /// PID of the local gateway, for its CPU time.
    #[arg(long)]
    gateway_pid: Option<u32>,
    /// Concurrent connections, each sending one request at a time.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Seconds of load per phase (direct, then proxied), after one second of warm-up each.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Requests per second across all connections, evenly spaced (0 = as fast as possible).
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Size of the upstream's answer body.
    #[arg(long, default_value_t = 2048)]
    body_bytes: usize,
    /// Print one JSON object with every figure as the last line.
    #[arg(long)]
    json: bool,
}

struct Phase {
    requests: usize,
    errors: usize,
    p50_us: u64,
    p99_us: u64,
    seconds: f64,
}

pub async fn run(args: ProxyBenchArgs) -> Result<(), String> {
    let body = Arc::new(prompt_body(args.body_bytes));
    let answer = body.clone();
    let upstream = Router::new().route(
        "/api/public/v2/prompts/{name}",
        get(move || {
            let answer = answer.clone();
            async move {
                (
                    [("content-type", "application/json")],
                    answer.as_ref().clone(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(args.upstream_addr)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", args.upstream_addr))?;
    tokio::spawn(async move { axum::serve(listener, upstream).await });

    let path = "/api/public/v2/prompts/bench-prompt";
    let direct_url = format!("http://{}{path}", args.upstream_addr);
    let proxied_url = format!("{}{path}", args.gateway.trim_end_matches('/'));
    let probe = reqwest::get(&proxied_url)
        .await
        .map_err(|error| format!("the gateway at {} does not answer: {error}", args.gateway))?;
    if !probe.status().is_success() {
        return Err(format!(
            "the gateway answered {} for {path}: is its upstream.url http://{}?",
            probe.status(),
            args.upstream_addr
        ));
    }

    let direct = load(&args, &direct_url).await;
    let cpu_before = args.gateway_pid.and_then(cpu_seconds);
    let proxied = load(&args, &proxied_url).await;
    let cpu_after = args.gateway_pid.and_then(cpu_seconds);
    let cpu_us_per_request = cpu_before
        .zip(cpu_after)
        .map(|(before, after)| (after - before) * 1e6 / proxied.requests.max(1) as f64);

    let report = json!({
        "connections": args.connections,
        "rate": args.rate,
        "body_bytes": args.body_bytes,
        "direct": {"requests": direct.requests, "errors": direct.errors, "requests_per_second": direct.requests as f64 / direct.seconds, "p50_us": direct.p50_us, "p99_us": direct.p99_us},
        "proxied": {"requests": proxied.requests, "errors": proxied.errors, "requests_per_second": proxied.requests as f64 / proxied.seconds, "p50_us": proxied.p50_us, "p99_us": proxied.p99_us},
        "added_p50_us": proxied.p50_us as i64 - direct.p50_us as i64,
        "added_p99_us": proxied.p99_us as i64 - direct.p99_us as i64,
        "gateway_cpu_us_per_request": cpu_us_per_request,
    });
    println!(
        "direct:  {} requests ({} errors), {:.0}/s, p50 {} µs, p99 {} µs",
        direct.requests,
        direct.errors,
        direct.requests as f64 / direct.seconds,
        direct.p50_us,
        direct.p99_us
    );
    println!(
        "proxied: {} requests ({} errors), {:.0}/s, p50 {} µs, p99 {} µs",
        proxied.requests,
        proxied.errors,
        proxied.requests as f64 / proxied.seconds,
        proxied.p50_us,
        proxied.p99_us
    );
    println!(
        "added by the front door: p50 {} µs, p99 {} µs; gateway CPU per proxied request: {}",
        report["added_p50_us"],
        report["added_p99_us"],
        cpu_us_per_request.map_or("(no --gateway-pid)".into(), |us| format!("{us:.0} µs"))
    );
    if args.json {
        println!("{report}");
    }
    Ok(())
}

/// A Langfuse text prompt padded to about `size` bytes.
fn prompt_body(size: usize) -> Vec<u8> {
    let mut prompt = json!({
        "name": "bench-prompt", "version": 3, "type": "text", "config": {"temperature": 0.2},
        "labels": ["production", "latest"], "tags": ["bench"], "commitMessage": null,
        "prompt": "",
    });
    let overhead = prompt.to_string().len();
    prompt["prompt"] = json!("x".repeat(size.saturating_sub(overhead)));
    prompt.to_string().into_bytes()
}

/// One warm-up second, then `duration` seconds of load on `url`.
async fn load(args: &ProxyBenchArgs, url: &str) -> Phase {
    let _ = run_for(args, url, Duration::from_secs(1)).await;
    run_for(args, url, Duration::from_secs(args.duration)).await
}

async fn run_for(args: &ProxyBenchArgs, url: &str, length: Duration) -> Phase {
    let started = Instant::now();
    let end = started + length;
    let interval = (args.rate > 0)
        .then(|| Duration::from_secs_f64(args.connections as f64 / args.rate as f64));
    let workers: Vec<_> = (0..args.connections)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut latencies = Vec::new();
                let mut errors = 0;
                let mut next = Instant::now();
                while Instant::now() < end {
                    if let Some(interval) = interval {
                        tokio::time::sleep_until(next.into()).await;
                        next += interval;
                    }
                    let sent = Instant::now();
                    let ok = match client.get(&url).send().await {
                        Ok(response) if response.status().is_success() => {
                            response.bytes().await.is_ok()
                        }
                        _ => false,
                    };
                    if ok {
                        latencies.push(sent.elapsed().as_micros() as u64);
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        if let Ok((mut some, failed)) = worker.await {
            latencies.append(&mut some);
            errors += failed;
        }
    }
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Phase {
        requests: latencies.len(),
        errors,
        p50_us: at(0.5),
        p99_us: at(0.99),
        seconds: started.elapsed().as_secs_f64(),
    }
}

//! `telemetry-loadgen`: drives the service for the benchmarks (`make bench-*`) and prints
//! figures. It measures; it asserts nothing.

mod alerts;
mod events;
mod grpc;
mod otlp;
mod reads;
mod stats;

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use prost::Message as _;
use telemetry_presentation::otlp::proto::ExportResponse;
use tokio::sync::Mutex;

use crate::stats::Latencies;

#[derive(Parser)]
#[command(
    name = "telemetry-loadgen",
    about = "Load generator for the telemetry benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Push batches of unique seed-shaped events and report throughput and latency.
    Ingest(IngestArgs),
    /// Write `events` seed-shaped events in PostgreSQL COPY text format (the raw baseline).
    CopyFile(CopyFileArgs),
    /// Measure summary and event-query latency.
    QueryBench(reads::QueryBenchArgs),
    /// Measure the time from a 202 to the event being queryable.
    Freshness(reads::FreshnessArgs),
    /// Measure the time from a threshold-crossing metric's 202 to its webhook.
    AlertLatency(alerts::AlertLatencyArgs),
}

#[derive(Args)]
struct CopyFileArgs {
    #[arg(long)]
    out: String,
    #[arg(long)]
    events: u64,
    #[arg(long, default_value = "copy")]
    run_id: String,
    #[arg(long, default_value = "bench")]
    tenant: String,
    #[arg(long, default_value_t = 20)]
    metric_names: usize,
}

#[derive(Args, Clone)]
struct IngestArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long)]
    api_key: String,
    /// Concurrent connections, each sending one request at a time.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Target events per second (0: as fast as the service answers).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Distinguishes the event ids of this run from other runs.
    #[arg(long, default_value = "run")]
    run_id: String,
    /// How many distinct metric names to spread metric events over.
    #[arg(long, default_value_t = 20)]
    metric_names: usize,
    /// Also print the slowest request of every second (to spot stalls).
    #[arg(long)]
    timeline: bool,
    /// Spread batches over this many seconds before now: each request covers one random
    /// minute of that span (like history replayed in order by several producers); without
    /// it every request reuses one template's timestamps, a second before the start.
    #[arg(long, default_value_t = 0)]
    spread_seconds: u64,
    /// Stop once this many events are acknowledged (0: run for --duration).
    #[arg(long, default_value_t = 0)]
    total_events: u64,
    /// Send OTLP log exports (binary protobuf, `POST /v1/logs`) instead of JSON batches.
    #[arg(long)]
    otlp_logs: bool,
    /// Send OTLP metric exports (binary protobuf, `POST /v1/metrics`; half number points, half
    /// histograms) instead of JSON batches.
    #[arg(long, conflicts_with = "otlp_logs")]
    otlp_metrics: bool,
    /// Send the OTLP exports over gRPC to this `host:port` (OTLP/gRPC) instead of OTLP/HTTP.
    #[arg(long)]
    grpc: Option<String>,
}

/// How a worker sends: HTTP (JSON or OTLP/HTTP) or one OTLP/gRPC connection.
enum Transport {
    Http(reqwest::Client),
    Grpc(grpc::GrpcConnection),
}

/// What one request answered.
enum Answer {
    /// Events (or records) recorded, and duplicates.
    Recorded(u64, u64),
    /// HTTP status, or 1000 + the gRPC status code, of a refusal; 0 for a transport error.
    Failed(u16),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Ingest(args) => ingest(args).await,
        Command::CopyFile(args) => copy_file(&args),
        Command::QueryBench(args) => reads::query_bench(args).await,
        Command::Freshness(args) => reads::freshness(args).await,
        Command::AlertLatency(args) => alerts::alert_latency(args).await,
    }
}

fn copy_file(args: &CopyFileArgs) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out))?;
    let mut out = std::io::BufWriter::new(file);
    let now_millis = chrono::Utc::now().timestamp_millis();
    let mut line = String::new();
    for index in 0..args.events {
        let event = events::event(
            &args.run_id,
            index,
            now_millis - (index as i64 % 1000),
            args.metric_names,
        );
        line.clear();
        events::write_copy_line(&mut line, &args.tenant, &event);
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

#[derive(Default)]
struct Totals {
    ingested: u64,
    duplicates: u64,
    requests: u64,
    failures: std::collections::BTreeMap<u16, u64>,
    latencies: Latencies,
    /// Slowest request per second since the start, in milliseconds.
    slowest_per_second: std::collections::BTreeMap<u64, f64>,
}

/// One request of the run: a JSON batch, or an OTLP export over HTTP or gRPC.
async fn send(
    args: &IngestArgs,
    transport: &mut Transport,
    template: &mut events::BatchTemplate,
    prefix: &str,
    sequence: u64,
) -> Answer {
    let now_nanos = chrono::Utc::now()
        .timestamp_nanos_opt()
        .unwrap_or(0)
        .unsigned_abs();
    let otlp = if args.otlp_logs {
        Some((
            "logs",
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            otlp::logs_body(prefix, sequence, args.batch_size, now_nanos),
        ))
    } else if args.otlp_metrics {
        Some((
            "metrics",
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            otlp::metrics_body(prefix, sequence, args.batch_size, now_nanos),
        ))
    } else {
        None
    };
    // Records an export answered as recorded: the batch, less what it rejected.
    let exported = |message: &[u8]| match ExportResponse::decode(message) {
        Ok(answer) => {
            let rejected = answer.partial_success.map_or(0, |p| p.rejected);
            Answer::Recorded(args.batch_size as u64 - rejected.unsigned_abs(), 0)
        }
        Err(_) => Answer::Failed(0),
    };
    match (transport, otlp) {
        (Transport::Grpc(connection), Some((_, method, body))) => {
            match connection.call(method, &args.api_key, &body).await {
                Ok(answer) if answer.code == 0 => exported(&answer.message),
                Ok(answer) => Answer::Failed(1000 + u16::try_from(answer.code).unwrap_or(999)),
                Err(_) => Answer::Failed(0),
            }
        }
        (Transport::Grpc(_), None) => Answer::Failed(0),
        (Transport::Http(client), otlp) => {
            let request = match otlp {
                Some((signal, _, body)) => client
                    .post(format!("{}/v1/{signal}", args.url))
                    .header("Content-Type", "application/x-protobuf")
                    .body(body),
                None => {
                    template.stamp(sequence);
                    client
                        .post(format!("{}/ingest", args.url))
                        .header("Content-Type", "application/json")
                        .body(template.body.clone())
                }
            };
            let response = match request.header("X-API-Key", &args.api_key).send().await {
                Ok(response) => response,
                Err(_) => return Answer::Failed(0),
            };
            let status = response.status().as_u16();
            match (status, args.otlp_logs || args.otlp_metrics) {
                (200, true) => match response.bytes().await {
                    Ok(body) => exported(&body),
                    Err(_) => Answer::Failed(0),
                },
                (202, false) => match response.json::<serde_json::Value>().await {
                    Ok(receipt) => Answer::Recorded(
                        receipt["ingested"].as_u64().unwrap_or(0),
                        receipt["duplicates"].as_u64().unwrap_or(0),
                    ),
                    Err(_) => Answer::Failed(0),
                },
                _ => Answer::Failed(status),
            }
        }
    }
}

async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    if args.connections == 0 || args.batch_size == 0 {
        bail!("--connections and --batch-size must be positive");
    }
    let totals = Arc::new(Mutex::new(Totals::default()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    // With a target rate, each connection sends on a fixed schedule and latency is measured
    // from the scheduled time, so a slow answer is not hidden by a delayed next request.
    let interval = (args.rate > 0).then(|| {
        Duration::from_secs_f64(args.connections as f64 * args.batch_size as f64 / args.rate as f64)
    });
    let mut workers = Vec::new();
    for connection in 0..args.connections {
        let args = args.clone();
        let totals = Arc::clone(&totals);
        workers.push(tokio::spawn(async move {
            let mut transport = match &args.grpc {
                Some(address) => Transport::Grpc(grpc::GrpcConnection::connect(address).await?),
                None => Transport::Http(
                    reqwest::Client::builder()
                        .pool_max_idle_per_host(1)
                        .timeout(Duration::from_secs(60))
                        .build()?,
                ),
            };
            let offset = interval.map(|i| i.mul_f64(connection as f64 / args.connections as f64));
            let prefix = format!("{}-{connection}", args.run_id);
            let spread_millis = (args.spread_seconds * 1000) as i64;
            let mut template = events::BatchTemplate::new(
                &prefix,
                args.batch_size,
                chrono::Utc::now().timestamp_millis(),
                spread_millis,
                args.metric_names,
            );
            let mut sequence: u64 = 0;
            loop {
                let scheduled = match (interval, offset) {
                    (Some(interval), Some(offset)) => {
                        let at = started + offset + interval.mul_f64(sequence as f64);
                        tokio::time::sleep_until(at.into()).await;
                        at
                    }
                    _ => Instant::now(),
                };
                if scheduled >= deadline {
                    break;
                }
                if args.total_events > 0 && totals.lock().await.ingested >= args.total_events {
                    break;
                }
                if args.spread_seconds > 0 {
                    let slice = events::mix((connection as u64) << 40 ^ sequence)
                        % spread_millis.max(1) as u64;
                    template = events::BatchTemplate::new(
                        &prefix,
                        args.batch_size,
                        chrono::Utc::now().timestamp_millis() - 1_000 - slice as i64,
                        60_000,
                        args.metric_names,
                    );
                }
                let answer = send(&args, &mut transport, &mut template, &prefix, sequence).await;
                let elapsed = scheduled.elapsed();
                let mut totals = totals.lock().await;
                totals.requests += 1;
                totals.latencies.record(elapsed);
                let second = scheduled.duration_since(started).as_secs();
                let slowest = totals.slowest_per_second.entry(second).or_default();
                *slowest = slowest.max(elapsed.as_secs_f64() * 1000.0);
                match answer {
                    Answer::Recorded(ingested, duplicates) => {
                        totals.ingested += ingested;
                        totals.duplicates += duplicates;
                    }
                    Answer::Failed(status) => *totals.failures.entry(status).or_default() += 1,
                }
                drop(totals);
                sequence += 1;
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    let wall = started.elapsed().as_secs_f64();
    let totals = totals.lock().await;
    let summary = totals.latencies.summary();
    let rate = totals.ingested as f64 / wall;
    let failures: Vec<String> = totals
        .failures
        .iter()
        .map(|(status, count)| format!("{status}:{count}"))
        .collect();
    let mut stdout = std::io::stdout().lock();
    if args.timeline {
        let line: Vec<String> = totals
            .slowest_per_second
            .iter()
            .map(|(second, ms)| format!("{second}s:{ms:.0}"))
            .collect();
        writeln!(
            stdout,
            "slowest request per second (ms): {}",
            line.join(" ")
        )?;
    }
    writeln!(
        stdout,
        "ingest: {} requests, {} events acknowledged ({} duplicates) in {:.1}s = {:.0} events/s; \
         latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms; failures [{}]",
        totals.requests,
        totals.ingested,
        totals.duplicates,
        wall,
        rate,
        summary.p50_ms,
        summary.p95_ms,
        summary.p99_ms,
        summary.max_ms,
        failures.join(" ")
    )?;
    writeln!(
        stdout,
        "RESULT {}",
        serde_json::json!({
            "requests": totals.requests, "ingested": totals.ingested,
            "duplicates": totals.duplicates, "seconds": wall, "events_per_second": rate,
            "p50_ms": summary.p50_ms, "p95_ms": summary.p95_ms, "p99_ms": summary.p99_ms,
            "max_ms": summary.max_ms, "failures": failures,
        })
    )?;
    Ok(())
}

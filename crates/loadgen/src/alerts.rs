//! Alert latency: the time from the 202 of a threshold-crossing metric to the webhook's
//! arrival at a local receiver.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use clap::Args;
use serde_json::{json, Value};

use crate::stats::{self, Latencies};

#[derive(Args, Clone)]
pub struct AlertLatencyArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long)]
    api_key: String,
    /// How long to probe, in seconds.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Pause between probes, in milliseconds.
    #[arg(long, default_value_t = 300)]
    interval_ms: u64,
}

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn receive(State(arrivals): State<Arrivals>, body: String) -> &'static str {
    if let Ok(notification) = serde_json::from_str::<Value>(&body) {
        if notification["kind"] == "triggered" {
            if let Some(series) = notification["series"].as_str() {
                arrivals
                    .lock()
                    .map(|mut arrivals| arrivals.insert(series.to_string(), Instant::now()))
                    .ok();
            }
        }
    }
    "ok"
}

pub async fn alert_latency(args: AlertLatencyArgs) -> anyhow::Result<()> {
    let arrivals: Arrivals = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(Arc::clone(&arrivals));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    // Without a service filter every service is its own series, so each probe (a new
    // service) starts a new alert: no recovery is needed between probes.
    let rule = json!({
        "name": "latency probe", "metric": "probe.latency", "aggregation": "max", "window": "1m",
        "comparator": ">", "threshold": 100, "severity": "info",
        "channels": [{"url": hook, "format": "json"}],
    });
    let created = client
        .post(format!("{}/alerts/rules", args.url))
        .header("X-API-Key", &args.api_key)
        .json(&rule)
        .send()
        .await?;
    if created.status().as_u16() != 201 {
        bail!("creating the probe rule answered {}", created.status());
    }
    // Let the evaluator read the rule catalog.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let run = chrono::Utc::now().timestamp_millis();
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let mut latencies = Latencies::default();
    let mut probe = 0u64;
    while Instant::now() < deadline {
        probe += 1;
        let series = format!("probe-{run}-{probe}");
        let event = json!({
            "eventId": series, "eventType": "metric", "serviceName": series,
            "timestamp": chrono::Utc::now().to_rfc3339(),
            "payload": {"name": "probe.latency", "value": 150.0},
        });
        let arrived = async || Ok(arrivals.lock().ok().and_then(|a| a.get(&series).copied()));
        let latency = stats::probe(
            &client,
            &args.url,
            &args.api_key,
            &event,
            Duration::from_millis(5),
            arrived,
        )
        .await?;
        latencies.record(latency);
        tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
    }
    let summary = latencies.summary();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        summary.line(&format!("alert latency (202 to webhook, {probe} probes)"))
    )
    .context("stdout")?;
    writeln!(
        out,
        "RESULT {}",
        json!({"probes": probe, "latency": summary.figures()})
    )?;
    Ok(())
}

//! Read-side measurements: summary latency (computed and cached), first-page and
//! deep-cursor query latency, and freshness (time from a 202 to the event being queryable,
//! through `/query` and through the cached summary).

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};

use crate::stats::{self, Latencies, Summary};

#[derive(Args, Clone)]
pub struct QueryBenchArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long)]
    api_key: String,
    #[arg(long)]
    tenant: String,
    /// Requests per measurement.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Unmeasured requests before each measurement (ClickHouse's caches, connections); the
    /// first of them is reported on its own.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Depth of the deep cursor (events before it).
    #[arg(long, default_value_t = 100_000)]
    deep: u64,
    /// Days of data the event queries span.
    #[arg(long, default_value_t = 8)]
    days: i64,
}

#[derive(Args, Clone)]
pub struct FreshnessArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long)]
    api_key: String,
    /// How long to probe, in seconds.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Pause between probes, in milliseconds.
    #[arg(long, default_value_t = 200)]
    interval_ms: u64,
    /// The tenant of the API key, whose summary the second kind of probe reads.
    #[arg(long, default_value = "bench")]
    tenant: String,
}

/// What `measure` found: latencies of the measured requests, the `X-Cache` level of each,
/// and the latency of the first warm-up request, if there was warm-up.
struct Measured {
    summary: Summary,
    cache_levels: Vec<String>,
    first_ms: Option<f64>,
}

impl Measured {
    fn line(&self, name: &str) -> String {
        match self.first_ms {
            Some(first) => format!(
                "{}; first warm-up request {first:.2} ms",
                self.summary.line(name)
            ),
            None => self.summary.line(name),
        }
    }

    fn figures(&self) -> Value {
        let mut figures = self.summary.figures();
        figures["first_ms"] = json!(self.first_ms);
        figures
    }
}

/// Sends `request` `warmup` times unmeasured (timing only the first), then `count` times
/// measured, one after another; fails on any non-2xx answer.
async fn measure(
    warmup: usize,
    count: usize,
    mut request: impl FnMut() -> reqwest::RequestBuilder,
) -> anyhow::Result<Measured> {
    let mut latencies = Latencies::default();
    let mut cache_levels = Vec::new();
    let mut first_ms = None;
    for index in 0..warmup + count {
        let started = Instant::now();
        let response = request().send().await?;
        let status = response.status();
        let level = response
            .headers()
            .get("x-cache")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.bytes().await?;
        if !status.is_success() {
            bail!("{status}: {}", String::from_utf8_lossy(&body));
        }
        if index == 0 && warmup > 0 {
            first_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        }
        if index >= warmup {
            latencies.record(started.elapsed());
            cache_levels.extend(level);
        }
    }
    Ok(Measured {
        summary: latencies.summary(),
        cache_levels,
        first_ms,
    })
}

pub async fn query_bench(args: QueryBenchArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let mut out = std::io::stdout().lock();
    let mut results = serde_json::Map::new();

    for window in ["24h", "7d"] {
        let url = format!(
            "{}/accounts/{}/summary?window={window}",
            args.url, args.tenant
        );
        let uncached = measure(args.warmup, args.requests, || {
            client
                .get(&url)
                .header("X-API-Key", &args.api_key)
                .header("Cache-Control", "no-cache")
        })
        .await?;
        let cached = measure(args.warmup, args.requests, || {
            client.get(&url).header("X-API-Key", &args.api_key)
        })
        .await?;
        let hits = cached
            .cache_levels
            .iter()
            .filter(|level| *level != "MISS")
            .count();
        writeln!(
            out,
            "{}",
            uncached.line(&format!("summary {window} computed"))
        )?;
        writeln!(
            out,
            "{} ({hits}/{} from cache)",
            cached.line(&format!("summary {window} cached")),
            cached.cache_levels.len()
        )?;
        results.insert(format!("summary_{window}_computed"), uncached.figures());
        results.insert(format!("summary_{window}_cached"), cached.figures());
    }

    let now = chrono::Utc::now();
    let range = json!({
        "startTime": (now - chrono::Duration::days(args.days)).to_rfc3339(),
        "endTime": (now + chrono::Duration::minutes(1)).to_rfc3339(),
        "limit": 100,
    });
    let query_url = format!("{}/query", args.url);
    let post = |body: &Value| {
        client
            .post(&query_url)
            .header("X-API-Key", &args.api_key)
            .json(body)
    };
    let first: Value = post(&range).send().await?.json().await?;
    let total = first["pagination"]["total"].as_u64().unwrap_or(0);
    writeln!(out, "events in range: {total}")?;
    results.insert("events_in_range".into(), json!(total));
    let first_page = measure(args.warmup, args.requests, || post(&range)).await?;
    writeln!(
        out,
        "{}",
        first_page.line("first page (page 1, with total)")
    )?;
    results.insert("first_page".into(), first_page.figures());

    let with_cursor = |cursor: &Value| {
        let mut body = range.clone();
        body["cursor"] = cursor.clone();
        body
    };
    let shallow = with_cursor(&first["nextCursor"]);
    let shallow_page = measure(args.warmup, args.requests, || post(&shallow)).await?;
    writeln!(out, "{}", shallow_page.line("cursor page at depth 100"))?;
    results.insert("cursor_depth_100".into(), shallow_page.figures());

    let mut deep_page = range.clone();
    deep_page["page"] = json!(args.deep / 100);
    let deep_started = Instant::now();
    let deep: Value = post(&deep_page).send().await?.json().await?;
    let offset_ms = deep_started.elapsed().as_secs_f64() * 1000.0;
    writeln!(
        out,
        "page {} by offset (once): {offset_ms:.1} ms",
        args.deep / 100
    )?;
    results.insert("offset_page_deep_ms".into(), json!(offset_ms));
    let deep_cursor = deep["nextCursor"].clone();
    if deep_cursor.is_null() {
        bail!("fewer than {} events in range: no deep cursor", args.deep);
    }
    let deep_body = with_cursor(&deep_cursor);
    let deep_latency = measure(args.warmup, args.requests, || post(&deep_body)).await?;
    writeln!(
        out,
        "{}",
        deep_latency.line(&format!("cursor page at depth {}", args.deep))
    )?;
    results.insert("cursor_depth_deep".into(), deep_latency.figures());
    writeln!(out, "RESULT {}", Value::Object(results))?;
    Ok(())
}

/// The JSON answer to a freshness poll (`what` names it in errors).
async fn answer_of(
    request: reqwest::RequestBuilder,
    api_key: &str,
    what: &str,
) -> anyhow::Result<Value> {
    request
        .header("X-API-Key", api_key)
        .send()
        .await?
        .json()
        .await
        .with_context(|| format!("{what} answer"))
}

/// One freshness probe: ingests `event`, polls `seen` every 25 ms until it reports the
/// event visible, then pauses for the probe interval. Returns the time from 202 to visible.
async fn probe_then_pause(
    client: &reqwest::Client,
    args: &FreshnessArgs,
    event: &Value,
    seen: impl AsyncFnMut() -> anyhow::Result<Option<Instant>>,
) -> anyhow::Result<Duration> {
    let latency = stats::probe(
        client,
        &args.url,
        &args.api_key,
        event,
        Duration::from_millis(25),
        seen,
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
    Ok(latency)
}

pub async fn freshness(args: FreshnessArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let run = format!("fresh-{}", chrono::Utc::now().timestamp_millis());
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let mut latencies = Latencies::default();
    let mut summary_latencies = Latencies::default();
    let mut probe = 0u64;
    while Instant::now() < deadline {
        probe += 1;
        let user = format!("{run}-{probe}");
        let now = chrono::Utc::now();
        let event = json!({
            "eventId": user, "eventType": "log", "serviceName": "freshness-probe",
            "timestamp": now.to_rfc3339(), "userId": user, "payload": {"probe": probe},
        });
        let query = json!({
            "startTime": (now - chrono::Duration::minutes(5)).to_rfc3339(),
            "endTime": (now + chrono::Duration::minutes(5)).to_rfc3339(),
            "userId": user, "limit": 1,
        });
        let visible = async || {
            let request = client.post(format!("{}/query", args.url)).json(&query);
            let answer = answer_of(request, &args.api_key, "query").await?;
            let found = answer["pagination"]["total"].as_u64() == Some(1);
            Ok(found.then(Instant::now))
        };
        latencies.record(probe_then_pause(&client, &args, &event, visible).await?);

        // The same through the cached summary: a metric of a name of its own, visible once
        // the rollups have it and the cache has let go of the answer computed before.
        let metric = format!("freshness.{user}");
        let event = json!({
            "eventId": format!("{user}-metric"), "eventType": "metric",
            "serviceName": "freshness-probe", "timestamp": chrono::Utc::now().to_rfc3339(),
            "payload": {"name": metric, "value": 1.0},
        });
        let summary_url = format!("{}/accounts/{}/summary?window=15m", args.url, args.tenant);
        let in_summary = async || {
            let answer = answer_of(client.get(&summary_url), &args.api_key, "summary").await?;
            let found = answer["metrics"]
                .as_array()
                .is_some_and(|metrics| metrics.iter().any(|m| m["name"] == metric.as_str()));
            Ok(found.then(Instant::now))
        };
        summary_latencies.record(probe_then_pause(&client, &args, &event, in_summary).await?);
    }
    let query = latencies.summary();
    let summary = summary_latencies.summary();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} ({probe} probes)",
        query.line("freshness (202 to visible in /query)")
    )?;
    writeln!(
        out,
        "{} ({probe} probes)",
        summary.line("freshness (202 to visible in the cached summary)")
    )?;
    writeln!(
        out,
        "RESULT {}",
        json!({"probes": probe, "freshness": query.figures(), "summary_freshness": summary.figures()})
    )?;
    Ok(())
}

//! Latency samples and their percentiles, and probes that produce them.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{json, Value};

#[derive(Default)]
pub struct Latencies {
    micros: Vec<u64>,
}

pub struct Summary {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    /// `name: p50 ... ms, p95 ..., p99 ..., max ...` for people.
    pub fn line(&self, name: &str) -> String {
        format!(
            "{name}: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.p50_ms, self.p95_ms, self.p99_ms, self.max_ms
        )
    }

    /// The figures for the `RESULT` line the bench scripts read.
    pub fn figures(&self) -> Value {
        json!({"p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "p99_ms": self.p99_ms,
               "max_ms": self.max_ms})
    }
}

impl Latencies {
    pub fn record(&mut self, elapsed: Duration) {
        self.micros
            .push(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    }

    /// Nearest-rank percentiles.
    pub fn summary(&self) -> Summary {
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        let at = |quantile: f64| -> f64 {
            if sorted.is_empty() {
                return 0.0;
            }
            let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[rank - 1] as f64 / 1000.0
        };
        Summary {
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// How long a probe waits for its effect before the run fails.
const PROBE_PATIENCE: Duration = Duration::from_secs(120);

/// Ingests one probe `event` and polls `seen` every `every` until it reports the instant the
/// probe's effect appeared; returns the time from the 202 to that instant.
pub async fn probe(
    client: &reqwest::Client,
    url: &str,
    api_key: &str,
    event: &Value,
    every: Duration,
    mut seen: impl AsyncFnMut() -> anyhow::Result<Option<Instant>>,
) -> anyhow::Result<Duration> {
    let accepted = client
        .post(format!("{url}/ingest"))
        .header("X-API-Key", api_key)
        .json(event)
        .send()
        .await?;
    if accepted.status().as_u16() != 202 {
        bail!("probe ingest answered {}", accepted.status());
    }
    let acknowledged = Instant::now();
    loop {
        if let Some(at) = seen().await? {
            return Ok(at.saturating_duration_since(acknowledged));
        }
        if acknowledged.elapsed() > PROBE_PATIENCE {
            bail!("probe {} not seen after 120 s", event["eventId"]);
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut latencies = Latencies::default();
        for ms in 1..=100 {
            latencies.record(Duration::from_millis(ms));
        }
        let summary = latencies.summary();
        assert_eq!(summary.p50_ms, 50.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(summary.max_ms, 100.0);
    }
}

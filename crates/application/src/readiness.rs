//! Readiness: is every dependency the service needs answering?

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde::Serialize;

use crate::ports::DependencyCheck;

/// One dependency's state in a readiness report.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DependencyStatus {
    pub name: &'static str,
    pub up: bool,
    /// Whether the service reports not-ready while this dependency is down.
    pub required: bool,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReadinessReport {
    pub ready: bool,
    pub dependencies: Vec<DependencyStatus>,
}

pub struct ReadinessService {
    checks: Vec<(Arc<dyn DependencyCheck>, bool)>,
    timeout: Duration,
}

impl ReadinessService {
    /// `checks` pairs each dependency with whether it is required.
    pub fn new(checks: Vec<(Arc<dyn DependencyCheck>, bool)>, timeout: Duration) -> Self {
        Self { checks, timeout }
    }

    /// Checks every dependency concurrently, each bounded by the timeout.
    pub async fn report(&self) -> ReadinessReport {
        let checks = self.checks.iter().map(|(check, required)| async move {
            let started = Instant::now();
            let outcome = tokio::time::timeout(self.timeout, check.check()).await;
            let error = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error.to_string()),
                Err(_) => Some(format!("no answer within {} ms", self.timeout.as_millis())),
            };
            DependencyStatus {
                name: check.name(),
                up: error.is_none(),
                required: *required,
                latency_ms: (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
                error,
            }
        });
        let dependencies = join_all(checks).await;
        let ready = dependencies
            .iter()
            .all(|status| status.up || !status.required);
        ReadinessReport {
            ready,
            dependencies,
        }
    }
}

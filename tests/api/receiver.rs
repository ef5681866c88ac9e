//! A real HTTP listener that plays a webhook receiver: it records what it gets and answers
//! as the test tells it to (a status, a sequence of statuses, or no answer at all).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Received {
    pub idempotency_key: String,
    pub attempt: String,
    pub body: Value,
}

#[derive(Default)]
struct Behaviour {
    /// Statuses to answer with, in order; afterwards `otherwise`.
    next: VecDeque<u16>,
    otherwise: Option<u16>,
    /// Never answer (longer than any client timeout).
    hang: bool,
}

#[derive(Clone, Default)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

pub struct Receiver {
    pub url: String,
    shared: Shared,
}

async fn hook(State(shared): State<Shared>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    shared.received.lock().unwrap().push(Received {
        idempotency_key: header("idempotency-key"),
        attempt: header("x-telemetry-delivery-attempt"),
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
    });
    let (hang, status) = {
        let mut behaviour = shared.behaviour.lock().unwrap();
        let status = behaviour
            .next
            .pop_front()
            .or(behaviour.otherwise)
            .unwrap_or(200);
        (behaviour.hang, status)
    };
    if hang {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    pub async fn start() -> Self {
        let shared = Shared::default();
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, shared }
    }

    /// Answer with these statuses first, then 200.
    pub fn answer_with(&self, statuses: &[u16]) {
        let mut behaviour = self.shared.behaviour.lock().unwrap();
        behaviour.next = statuses.iter().copied().collect();
        behaviour.otherwise = None;
        behaviour.hang = false;
    }

    /// Never answer.
    pub fn hang(&self) {
        self.shared.behaviour.lock().unwrap().hang = true;
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until `count` requests arrived (or fails after `timeout`).
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                started.elapsed() < timeout,
                "the receiver got {} of {count} requests: {received:?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

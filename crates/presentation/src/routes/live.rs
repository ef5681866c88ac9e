//! `GET /live/events`: accepted events as they are committed, as Server-Sent Events.
//!
//! Authenticated by headers like every read (`EventSource` cannot send them, so browsers
//! read the stream with `fetch`; credentials never go in the URL). The credential is checked
//! again while the stream is open, so a revoked key or an expired token ends it.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use telemetry_application::auth::{AuthFailure, Credential, Permission, Principal};
use telemetry_application::live::{
    LiveEventId, LiveFilter, LiveMessage, SubscribeError, Subscription,
};
use telemetry_domain::ingest::TelemetryEvent;
use telemetry_domain::values::{EventType, ServiceName, UserId};
use utoipa::{IntoParams, ToSchema};

use super::dto::{invalid, EventDto, EventTypeParam};
use crate::auth::{authenticate_headers, Caller, API_KEY_HEADER};
use crate::error::AuthenticationFailures;
use crate::error::ErrorCode;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/live/events", get(live_events))
}

/// How often an open stream checks that its credential still works.
const RECHECK_INTERVAL: Duration = Duration::from_secs(30);
/// How often an idle stream sends a comment, so proxies and clients see it alive.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// How long a client waits before reconnecting after the stream ended.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LiveParams {
    /// Only events of this type.
    #[param(inline)]
    pub event_type: Option<EventTypeParam>,
    /// Only events of this service.
    #[param(min_length = 1, max_length = 128)]
    pub service_name: Option<String>,
    /// Only events of this user.
    #[param(min_length = 1, max_length = 128)]
    pub user_id: Option<String>,
}

/// How an event is written on a live stream: as `/query` returns it.
pub fn render_live_event(event_type: EventType, event: &TelemetryEvent) -> String {
    serde_json::to_string(&EventDto::from_event(event_type, event)).unwrap_or_default()
}

/// Events of the caller's tenant as they are accepted, as Server-Sent Events.
///
/// The stream (`text/event-stream`) starts with `event: ready` once every event accepted
/// from then on will reach it; each accepted event matching the filters follows as
/// `event: event` with an `id` and the event as `/query` returns it, oldest first. A client
/// that reads too slowly gets `event: dropped` (`{"dropped": n}`: that many matching events
/// were skipped); events beyond `LIVE_MAX_EVENTS_PER_SECOND` per second are skipped the same
/// way. Comments (`: keep-alive`) come every 15 s. Send `Last-Event-ID` (the last `id`
/// received) to resume: the missed events come first, or, when they are too far back,
/// `event: reset`. A credential that stops working ends the stream with `event: error`
/// (`{"code": "token_expired"}`, ...). Browsers read it with `fetch`: `EventSource` cannot
/// send the credential headers, and credentials never go in the URL.
#[utoipa::path(get, path = "/live/events", tag = "queries",
    params(
        LiveParams,
        ("Last-Event-ID" = Option<String>, Header, description = "The `id` of the last event received, to resume after it",
            pattern = r"^\s*[0-9]{1,18}-[0-9]{1,18}-[0-9]{1,9}\s*$"),
    ),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The stream (`text/event-stream`): one `LiveFrame` per event", content_type = "text/event-stream", body = LiveFrame),
        (status = 400, description = "Invalid filter or `Last-Event-ID` (`invalid_parameter`, `invalid_header`, `invalid_request`)", body = ErrorBody),
        AuthenticationFailures,
        (status = 429, description = "Too many live streams open for the tenant (`live_limit_reached`, with `Retry-After`), or too many requests with missing or unknown credentials from this address (`rate_limited`)", body = ErrorBody),
        (status = 503, description = "The service is stopping (`unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
#[tracing::instrument(name = "http_live", skip_all, fields(tenant_id = %caller.0.tenant_id))]
pub async fn live_events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<LiveParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let principal = caller.require(Permission::Read)?.clone();
    let Query(params) = params?;
    if let Some(service) = &params.service_name {
        ServiceName::parse(service.as_str())
            .map_err(|error| invalid("serviceName", error.to_string()))?;
    }
    if let Some(user) = &params.user_id {
        UserId::parse(user.as_str()).map_err(|error| invalid("userId", error.to_string()))?;
    }
    let resume_after = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(LiveEventId::parse)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        ErrorCode::InvalidHeader,
                        "Last-Event-ID must be the id of an event this stream sent",
                    )
                })?,
        ),
    };
    let filter = LiveFilter {
        event_type: params.event_type.map(EventType::from),
        service_name: params.service_name,
        user_id: params.user_id,
    };
    let subscription = state
        .live
        .subscribe(principal.tenant_id.clone(), filter, resume_after)
        .map_err(|error| match error {
            SubscribeError::TooManyConnections(_) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::LiveLimitReached,
                format!("{error}; close one first"),
            )
            .retry_after(5),
            SubscribeError::Stopped => {
                ApiError::unavailable(ErrorCode::Unavailable, "the service is stopping; reconnect")
            }
        })?;
    let check = CredentialCheck {
        state: state.clone(),
        headers: credential_headers(&headers),
        principal,
    };
    let events = Sse::new(events(subscription, check)).keep_alive(
        KeepAlive::new()
            .interval(HEARTBEAT_INTERVAL)
            .text("keep-alive"),
    );
    let mut response = events.into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tells buffering proxies (nginx) to pass events on as they come.
    response_headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The headers that carry the caller's credential, kept to check it again later.
fn credential_headers(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        kept.insert(header::AUTHORIZATION, value.clone());
    }
    if let Some(value) = headers.get(API_KEY_HEADER) {
        kept.insert(API_KEY_HEADER, value.clone());
    }
    kept
}

/// Checks, while a stream is open, that the credential that opened it still works.
struct CredentialCheck {
    state: AppState,
    headers: HeaderMap,
    principal: Principal,
}

impl CredentialCheck {
    /// When to check next: every [`RECHECK_INTERVAL`], and when a token expires.
    fn next_check(&self) -> Duration {
        match &self.principal.credential {
            Credential::User {
                expires_at: Some(expires_at),
                ..
            } => {
                let now = chrono::Utc::now().timestamp();
                let left = u64::try_from(i64::try_from(*expires_at).unwrap_or(i64::MAX) - now)
                    .unwrap_or(0);
                RECHECK_INTERVAL.min(Duration::from_secs(left))
            }
            _ => RECHECK_INTERVAL,
        }
    }

    /// The error that ends the stream, if the credential stopped working. A store that
    /// cannot be reached says nothing about the credential: the stream goes on.
    async fn failure(&self) -> Option<ApiError> {
        match authenticate_headers(&self.headers, &self.state).await {
            Ok(principal) if principal.tenant_id == self.principal.tenant_id => None,
            Ok(_) => Some(ApiError::from(AuthFailure::InvalidApiKey)),
            Err(error) if error.status.is_server_error() => None,
            Err(error) => Some(error),
        }
    }
}

struct StreamState {
    subscription: Subscription,
    check: CredentialCheck,
    next_check: tokio::time::Instant,
    ended: bool,
}

/// The stream's events: the subscription's messages, until the service stops, the log
/// cannot be read, or the credential stops working.
fn events(
    subscription: Subscription,
    check: CredentialCheck,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let next_check = tokio::time::Instant::now() + check.next_check();
    let state = StreamState {
        subscription,
        check,
        next_check,
        ended: false,
    };
    stream::unfold(state, |mut state| async move {
        if state.ended {
            return None;
        }
        loop {
            tokio::select! {
                message = state.subscription.next() => {
                    let event = match message {
                        Ok(Some(message)) => frame(message),
                        Ok(None) => return None,
                        Err(error) => {
                            tracing::warn!(error = %error, "live stream cannot read the log");
                            state.ended = true;
                            error_frame(ErrorCode::EventStoreUnavailable, "the event store cannot be read; reconnect with Last-Event-ID")
                        }
                    };
                    return Some((Ok(event), state));
                }
                () = tokio::time::sleep_until(state.next_check) => {
                    if let Some(error) = state.check.failure().await {
                        state.ended = true;
                        return Some((Ok(error_frame(error.code, &error.message)), state));
                    }
                    state.next_check = tokio::time::Instant::now() + state.check.next_check().max(Duration::from_secs(1));
                }
            }
        }
    })
}

/// One Server-Sent Event of a live stream, as an SSE client reads it (heartbeats are
/// comments, not events).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct LiveFrame {
    event: LiveFrameKind,
    /// JSON text: `{"resuming": bool}` (`ready`), the event as `/query` returns it
    /// (`event`), `{"dropped": n}` (`dropped`), `{"reason": "..."}` (`reset`),
    /// `{"code": "...", "message": "..."}` (`error`, after which the stream ends).
    data: String,
    /// `event` frames: the position to resume after (`Last-Event-ID`).
    id: Option<String>,
    /// `ready` frames: how long a client waits before reconnecting, in milliseconds.
    retry: Option<u64>,
}

/// What a live frame carries.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum LiveFrameKind {
    Ready,
    Event,
    Dropped,
    Reset,
    Error,
}

fn frame(message: LiveMessage) -> Event {
    match message {
        LiveMessage::Ready { resuming } => Event::default()
            .event("ready")
            .retry(RECONNECT_AFTER)
            .data(serde_json::json!({ "resuming": resuming }).to_string()),
        LiveMessage::Event { id, json } => Event::default()
            .event("event")
            .id(id.to_string())
            .data(&*json),
        LiveMessage::Dropped(count) => Event::default()
            .event("dropped")
            .data(serde_json::json!({ "dropped": count }).to_string()),
        LiveMessage::Reset(reason) => Event::default()
            .event("reset")
            .data(serde_json::json!({ "reason": reason }).to_string()),
    }
}

fn error_frame(code: ErrorCode, message: &str) -> Event {
    Event::default()
        .event("error")
        .data(serde_json::json!({ "code": code.as_str(), "message": message }).to_string())
}

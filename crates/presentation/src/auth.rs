//! Extractors that authenticate the caller.
//!
//! [`ApiKeyCaller`] accepts only `X-API-Key` (ingestion); [`Caller`] accepts either an API key
//! or `Authorization: Bearer <JWT>` (reads and administration). On every route a request with
//! missing or unknown credentials spends one request of its client address's budget of
//! failed authentications, so guessing keys is as slow on a read route as on ingestion.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use telemetry_application::auth::{AuthFailure, Permission, Principal};
use telemetry_application::ports::RateDecision;

use crate::error::ApiError;
use crate::error::ErrorCode;
use crate::state::AppState;

pub const API_KEY_HEADER: &str = "x-api-key";

/// A caller authenticated with a tenant API key.
#[derive(Debug, Clone)]
pub struct ApiKeyCaller(pub Principal);

/// A caller authenticated with an API key or a bearer token.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    /// The principal, if it may do `permission`; 403 otherwise.
    pub fn require(&self, permission: Permission) -> Result<&Principal, ApiError> {
        if self.0.may(permission) {
            Ok(&self.0)
        } else {
            Err(AuthFailure::Forbidden.into())
        }
    }
}

/// The peer address of the connection, when the server records it (it does when serving;
/// a router called directly, as in unit tests, has none).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(Self(peer.map(|ConnectInfo(address)| address.ip())))
    }
}

/// A header's value, trimmed; `None` when absent or blank. A value that is not visible ASCII
/// is `Some("")`: it was sent, so it is a credential that does not match, not a missing one.
pub(crate) fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = headers.get(name)?;
    let Ok(text) = value.to_str() else {
        return Some("");
    };
    Some(text.trim()).filter(|text| !text.is_empty())
}

pub(crate) async fn authenticate_key(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let key = header_text(headers, API_KEY_HEADER).ok_or(AuthFailure::Missing)?;
    if key.is_empty() {
        return Err(AuthFailure::InvalidApiKey.into());
    }
    Ok(state.auth.authenticate_api_key(key).await?)
}

impl FromRequestParts<AppState> for ApiKeyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if header_text(&parts.headers, API_KEY_HEADER).is_none() {
            let mut error = ApiError::from(AuthFailure::Missing);
            if parts.headers.contains_key(header::AUTHORIZATION) {
                error.message = "ingestion takes an X-API-Key header; bearer tokens are for \
                                 reads and administration"
                    .to_string();
            } else {
                error.message = "send an X-API-Key header".to_string();
            }
            return Err(error);
        }
        authenticate_key(state, &parts.headers).await.map(Self)
    }
}

impl FromRequestParts<AppState> for Caller {
    /// The 401 (or, past the client address's budget, the 429), with the budget's headers.
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let error = match authenticate_headers(&parts.headers, state).await {
            Ok(principal) => return Ok(Self(principal)),
            Err(error) => error,
        };
        let client = ClientAddress::from_request_parts(parts, state)
            .await
            .unwrap_or(ClientAddress(None));
        let (error, decision) = failed_authentication(state, client, error).await;
        let mut response = error.into_response();
        if let Some(decision) = decision {
            apply_rate_limit_headers(response.headers_mut(), &decision);
        }
        Err(response)
    }
}

/// The caller of a request with these headers: a bearer token when one is given, otherwise
/// an API key.
pub(crate) async fn authenticate_headers(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Principal, ApiError> {
    if let Some(authorization) = header_text(headers, header::AUTHORIZATION.as_str()) {
        let token = authorization
            .strip_prefix("Bearer ")
            .or_else(|| authorization.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::from(AuthFailure::InvalidToken(
                    telemetry_application::ports::TokenError::Invalid(
                        "the Authorization header must be 'Bearer <token>'".into(),
                    ),
                ))
            })?;
        return Ok(state.auth.authenticate_token(token.trim())?);
    }
    authenticate_key(state, headers).await
}

/// The refusals that could be guesses: a missing, unknown or forged credential. An expired
/// token, or a token sent to a server that takes none, is a client that needs a new token,
/// not a guess; behind a shared address, budgeting those would turn other clients'
/// `token_expired` (on which they refresh) into `429`s (on which they back off).
const GUESSES: [ErrorCode; 3] = [
    ErrorCode::MissingCredentials,
    ErrorCode::InvalidApiKey,
    ErrorCode::InvalidToken,
];

/// A request whose credentials are missing or unknown spends one request of its client
/// address's budget: the answer is the 401, or a 429 once the budget is used up.
pub(crate) async fn failed_authentication(
    state: &AppState,
    ClientAddress(client): ClientAddress,
    error: ApiError,
) -> (ApiError, Option<RateDecision>) {
    let decision = match client {
        Some(client) if GUESSES.contains(&error.code) => {
            state.rate_limits.check_failed_auth(client).await
        }
        _ => None,
    };
    let error = match decision {
        Some(decision) if !decision.allowed => too_many_requests(
            &decision,
            format!(
                "more than {} requests with missing or unknown credentials from this address \
                 per window",
                decision.limit
            ),
        ),
        _ => error,
    };
    (error, decision)
}

/// `429 rate_limited`, with `Retry-After` from a denying decision.
pub(crate) fn too_many_requests(decision: &RateDecision, message: String) -> ApiError {
    let retry_after = decision.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        message,
    )
    .retry_after(retry_after)
}

/// `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (whole seconds until
/// the budget is full again).
pub(crate) fn apply_rate_limit_headers(headers: &mut HeaderMap, decision: &RateDecision) {
    let reset = decision.reset_after.as_secs_f64().ceil() as u64;
    headers.insert("x-ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(decision.remaining),
    );
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
}

//! Extractors that authenticate the caller.
//!
//! [`ApiKeyCaller`] accepts only `X-API-Key` (ingestion); [`Caller`] accepts either an API key
//! or `Authorization: Bearer <JWT>` (reads and administration).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use telemetry_application::auth::{AuthFailure, Permission, Principal};

use crate::error::ApiError;
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

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

async fn authenticate_key(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let key = header_text(headers, API_KEY_HEADER).ok_or(AuthFailure::Missing)?;
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
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(authorization) = header_text(&parts.headers, header::AUTHORIZATION.as_str()) {
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
            return Ok(Self(state.auth.authenticate_token(token.trim())?));
        }
        authenticate_key(state, &parts.headers).await.map(Self)
    }
}

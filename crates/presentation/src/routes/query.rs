//! `POST /query`: events by time range and filters, as pages, keyset cursors or groups.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use telemetry_application::auth::Permission;
use telemetry_application::ports::{EventFilterSpec, GroupBy, Keyset};
use telemetry_application::query::{EventsAnswer, EventsMode};
use telemetry_domain::values::{EventId, EventType, ServiceName, Timestamp, UserId, ValueError};
use utoipa::ToSchema;

use super::dto::{invalid, timestamp, EventDto, EventTypeParam, GroupDto};
use crate::auth::Caller;
use crate::error::AuthenticationFailures;
use crate::error::ErrorCode;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/query", post(query))
}

const DEFAULT_LIMIT: u64 = 100;

/// Which events to return, and how.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryRequest {
    /// RFC 3339, inclusive.
    #[schema(example = "2026-01-21T00:00:00Z", format = DateTime)]
    pub start_time: String,
    /// RFC 3339, exclusive.
    #[schema(example = "2026-01-22T00:00:00Z", format = DateTime)]
    pub end_time: String,
    #[schema(value_type = Option<EventTypeParam>)]
    pub event_type: Option<String>,
    #[schema(min_length = 1, max_length = 128)]
    pub service_name: Option<String>,
    #[schema(min_length = 1, max_length = 128)]
    pub user_id: Option<String>,
    /// 1-based page (offset pagination). Not with `cursor`.
    #[schema(minimum = 1)]
    pub page: Option<u64>,
    /// Events (or groups) per answer: 1-1000, default 100.
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// `nextCursor` of an earlier answer: continue by keyset instead of by page.
    #[schema(min_length = 1)]
    pub cursor: Option<String>,
    /// Counts per group instead of events.
    #[schema(value_type = Option<GroupByDoc>)]
    pub group_by: Option<String>,
}

/// What events are counted by.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum GroupByDoc {
    Service,
    Type,
    User,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    pub page: u64,
    pub limit: u64,
    pub total: u64,
    pub total_pages: u64,
    pub has_next: bool,
    pub has_prev: bool,
}

/// Events newest first (ties by `eventId`) with offset pagination.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageResponse {
    pub data: Vec<EventDto>,
    pub pagination: Pagination,
    /// Continue after this page by keyset (`cursor`); null on the last page.
    pub next_cursor: Option<String>,
}

/// Events newest first (ties by `eventId`), continued by keyset.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CursorResponse {
    pub data: Vec<EventDto>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

/// Event counts per group, largest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupResponse {
    pub data: Vec<GroupDto>,
    /// Events matching the filters (all groups).
    pub total: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum QueryResponse {
    Page(PageResponse),
    Cursor(CursorResponse),
    Groups(GroupResponse),
}

/// Query events.
///
/// Without `cursor` and `groupBy` the answer is a page (`page`, default 1) with totals and a
/// `nextCursor`. Passing that `nextCursor` as `cursor` continues by keyset, in constant time
/// however deep: following cursors from the first page visits every matching event once.
/// With `groupBy` the answer counts events per service, type or user.
#[utoipa::path(post, path = "/query", tag = "queries",
    request_body = QueryRequest,
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Events, a keyset continuation, or groups", body = QueryResponse),
        (status = 400, description = "Invalid range, unknown field, limit above the maximum", body = ErrorBody),
        AuthenticationFailures,
        (status = 503, description = "Analytics store unavailable", body = ErrorBody),
    ))]
#[tracing::instrument(name = "http_query", skip_all, fields(tenant_id = %caller.0.tenant_id))]
pub async fn query(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<QueryRequest>, JsonRejection>,
) -> Result<Json<QueryResponse>, ApiError> {
    let principal = caller.require(Permission::Read)?;
    let Json(request) = body.map_err(|rejection| {
        ApiError::bad_request(ErrorCode::InvalidRequest, rejection.body_text())
    })?;
    let filter = EventFilterSpec {
        tenant_id: principal.tenant_id.clone(),
        from: timestamp("startTime", &request.start_time)?,
        to: timestamp("endTime", &request.end_time)?,
        event_type: request
            .event_type
            .as_deref()
            .map(EventType::parse)
            .transpose()
            .map_err(|error| invalid("eventType", error.to_string()))?,
        service_name: filter_text("serviceName", &request.service_name, ServiceName::parse)?,
        user_id: filter_text("userId", &request.user_id, UserId::parse)?,
    };
    let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
    let fingerprint = filter_fingerprint(&request);
    let mode = match (&request.group_by, &request.cursor, request.page) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(invalid("groupBy", "cannot be combined with page or cursor"))
        }
        (None, Some(_), Some(_)) => return Err(invalid("cursor", "pass either page or cursor")),
        (Some(group_by), None, None) => EventsMode::Groups {
            by: match group_by.as_str() {
                "service" => GroupBy::Service,
                "type" => GroupBy::Type,
                "user" => GroupBy::User,
                _ => return Err(invalid("groupBy", "must be service, type or user")),
            },
            limit,
        },
        (None, Some(cursor), None) => EventsMode::Cursor {
            after: Some(decode_cursor(cursor, fingerprint)?),
            limit,
        },
        (None, None, page) => EventsMode::Page {
            page: page.unwrap_or(1),
            limit,
        },
    };
    let answer = state.queries.events(&filter, mode).await?;
    let response = match answer {
        EventsAnswer::Page {
            data,
            page,
            limit,
            total,
            next,
        } => {
            let total_pages = total.div_ceil(limit);
            QueryResponse::Page(PageResponse {
                data: data.into_iter().map(EventDto::from_stored).collect(),
                pagination: Pagination {
                    page,
                    limit,
                    total,
                    total_pages,
                    has_next: page < total_pages,
                    has_prev: page > 1,
                },
                next_cursor: next.map(|keyset| encode_cursor(&keyset, fingerprint)),
            })
        }
        EventsAnswer::Cursor { data, next } => QueryResponse::Cursor(CursorResponse {
            data: data.into_iter().map(EventDto::from_stored).collect(),
            has_more: next.is_some(),
            next_cursor: next.map(|keyset| encode_cursor(&keyset, fingerprint)),
        }),
        EventsAnswer::Groups { data, total } => QueryResponse::Groups(GroupResponse {
            data: data.into_iter().map(GroupDto::from_group).collect(),
            total,
        }),
    };
    Ok(Json(response))
}

#[derive(Serialize, Deserialize)]
struct CursorToken {
    /// Timestamp (µs) and id of the last event returned.
    t: i64,
    i: String,
    /// Fingerprint of the filters the cursor belongs to.
    f: u64,
}

fn encode_cursor(keyset: &Keyset, fingerprint: u64) -> String {
    let token = CursorToken {
        t: keyset.timestamp_us,
        i: keyset.event_id.clone(),
        f: fingerprint,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode_cursor(cursor: &str, fingerprint: u64) -> Result<Keyset, ApiError> {
    let token: CursorToken = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| invalid("cursor", "not a cursor returned by this API"))?;
    if token.f != fingerprint {
        return Err(invalid(
            "cursor",
            "the cursor belongs to a query with other filters",
        ));
    }
    // A cursor is opaque but not signed: what it holds must be what an event could hold.
    if Timestamp::from_micros(token.t).is_err() || EventId::parse(token.i.as_str()).is_err() {
        return Err(invalid("cursor", "not a cursor returned by this API"));
    }
    Ok(Keyset {
        timestamp_us: token.t,
        event_id: token.i,
    })
}

/// A filter on a text field takes a value the field could hold (so 1-128 characters, no
/// control characters): anything else could match nothing, and an enormous one would be
/// refused by ClickHouse itself.
fn filter_text<T>(
    field: &str,
    value: &Option<String>,
    parse: impl FnOnce(String) -> Result<T, ValueError>,
) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(value) => parse(value.clone())
            .map(|_| Some(value.clone()))
            .map_err(|error| invalid(field, error.to_string())),
    }
}

/// FNV-1a over the filters: stable across instances and releases.
fn filter_fingerprint(request: &QueryRequest) -> u64 {
    let parts = [
        request.start_time.as_str(),
        request.end_time.as_str(),
        request.event_type.as_deref().unwrap_or(""),
        request.service_name.as_deref().unwrap_or(""),
        request.user_id.as_deref().unwrap_or(""),
    ];
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0x1f)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_filters() {
        let keyset = Keyset {
            timestamp_us: 1_700_000_000_123_456,
            event_id: "evt/ü".into(),
        };
        let encoded = encode_cursor(&keyset, 42);
        assert_eq!(decode_cursor(&encoded, 42).unwrap(), keyset);
        assert!(decode_cursor(&encoded, 43).is_err());
        assert!(decode_cursor("not-base64!", 42).is_err());
    }

    #[test]
    fn a_cursor_holding_what_no_event_can_hold_is_refused() {
        for (timestamp_us, event_id) in [(i64::MAX, "e"), (-1, "e"), (0, ""), (0, "a\u{0}b")] {
            let keyset = Keyset {
                timestamp_us,
                event_id: event_id.into(),
            };
            let error = decode_cursor(&encode_cursor(&keyset, 42), 42).unwrap_err();
            assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
        }
    }
}

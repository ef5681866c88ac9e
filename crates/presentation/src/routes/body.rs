//! The bodies of the ingestion routes: read within the size limit (gzip inflated within it
//! too), their content type and `Idempotency-Key` checked, and, for `/ingest`, the JSON batch
//! parsed into submissions, with every problem of a batch that cannot be one listed.

use std::io::Read;

use axum::body::{to_bytes, Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use flate2::read::MultiGzDecoder;
use http_body_util::LengthLimitError;
use telemetry_application::ingest::IngestFailure;
use telemetry_domain::ingest::{
    validate_submissions, EventSubmission, FieldViolation, MAX_LISTED_VIOLATIONS,
};
use telemetry_domain::values::Timestamp;

use super::submissions::{self, json_array_at_most, ArrayError};
use crate::error::ApiError;
use crate::error::ErrorCode;
use crate::state::AppState;

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Reads the whole body, within the configured size limit, and inflates it when it is
/// sent with `Content-Encoding: gzip` (the inflated size is held to the same limit).
///
/// Ingestion routes enforce the limit here rather than in the router's body-limit layer,
/// which would answer before the caller is known: here a refusal comes after the tenant's
/// rate-limit decision and carries its headers like every other ingestion answer.
pub(crate) async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    let limit = state.limits.max_body_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than {limit} bytes"),
        )
    };
    // A body declared too large is refused before any of it is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let bytes = to_bytes(body, limit).await.map_err(|error| {
        let error = error.into_inner();
        if error.is::<LengthLimitError>() {
            too_large()
        } else {
            // Malformed chunked framing, or a body cut off by the client.
            ApiError::bad_request(
                ErrorCode::InvalidBody,
                format!("the request body could not be read: {error}"),
            )
        }
    })?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|value| value.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "identity") => Ok(bytes),
        Some("gzip" | "x-gzip") => {
            let mut inflated = Vec::new();
            MultiGzDecoder::new(bytes.as_ref())
                .take(limit as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|error| {
                    ApiError::bad_request(
                        ErrorCode::InvalidEncoding,
                        format!("the body is not valid gzip: {error}"),
                    )
                })?;
            if inflated.len() > limit {
                return Err(too_large());
            }
            Ok(Bytes::from(inflated))
        }
        Some(other) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedEncoding,
            format!("Content-Encoding {other:?} is not supported; send gzip or no encoding"),
        )),
    }
}

/// The request's media type: its `Content-Type` without parameters (empty when absent).
pub(crate) fn media_type(headers: &HeaderMap) -> &str {
    content_type(headers).split(';').next().unwrap_or("").trim()
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// The content type declares no charset, or UTF-8: JSON is read as UTF-8 only (RFC 8259), so
/// a body declared in another charset is refused (`415`) rather than misread.
pub(crate) fn charset_is_utf8(headers: &HeaderMap) -> bool {
    content_type(headers).split(';').skip(1).all(|parameter| {
        let Some((name, value)) = parameter.split_once('=') else {
            return true;
        };
        if !name.trim().eq_ignore_ascii_case("charset") {
            return true;
        }
        let value = value.trim().trim_matches('"');
        value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8")
    })
}

pub(crate) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    if media_type(headers).eq_ignore_ascii_case("application/json") && charset_is_utf8(headers) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::UnsupportedMediaType,
        "send events as application/json, in UTF-8",
    ))
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_request(
            ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key must be 1-255 visible ASCII characters",
        )
    };
    let key = value.to_str().map_err(|_| invalid())?.trim();
    let valid = !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic());
    if !valid {
        return Err(invalid());
    }
    Ok(Some(key.to_string()))
}

/// One object or an array of objects.
pub(crate) fn parse_submissions(
    bytes: &[u8],
    max: usize,
) -> Result<Vec<EventSubmission>, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        ApiError::bad_request(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: it is not UTF-8 ({error})"),
        )
    })?;
    let invalid_json = |error: &serde_json::Error| {
        ApiError::bad_request(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {error}"),
        )
    };
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let submissions = match first {
        Some(b'[') => {
            submissions::events(text, max).map_err(|error| match error {
                ArrayError::TooMany => batch_too_large(max, None),
                // The array, read element by element, says why: elements that are not
                // objects, or JSON that is not well-formed (a truncated body, say).
                ArrayError::Json(error) => match not_objects(text, max) {
                    Ok(Some(refusal)) => refusal,
                    Ok(None) => invalid_json(&error),
                    Err(syntax) => invalid_json(&syntax),
                },
            })?
        }
        Some(b'{') => vec![submissions::event(text).map_err(|error| invalid_json(&error))?],
        _ if text.starts_with('\u{feff}') => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidJson,
                "the body starts with a byte order mark; send JSON without one",
            ))
        }
        _ => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidJson,
                "the body must be a JSON event object or an array of them",
            ))
        }
    };
    if submissions.is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::EmptyBatch,
            "the batch contains no events",
        ));
    }
    Ok(submissions)
}

/// For a well-formed JSON array with elements that are not objects: an `invalid_events`
/// error naming each of them by index, and every problem of the objects among them, like
/// any other invalid batch (or `413` when the array holds more than `max` elements).
/// `Err` with the syntax error when the array is not well-formed JSON.
fn not_objects(text: &str, max: usize) -> Result<Option<ApiError>, serde_json::Error> {
    let elements: Vec<&serde_json::value::RawValue> = match json_array_at_most(text, max) {
        Ok(elements) => elements,
        Err(ArrayError::TooMany) => return Ok(Some(batch_too_large(max, None))),
        Err(ArrayError::Json(error)) => return Err(error),
    };
    if elements
        .iter()
        .all(|element| element.get().starts_with('{'))
    {
        return Ok(None);
    }
    let received_at = Timestamp::now();
    let mut violations = Vec::new();
    for (index, element) in elements.iter().enumerate() {
        if violations.len() > MAX_LISTED_VIOLATIONS {
            break;
        }
        if !element.get().starts_with('{') {
            violations.push(FieldViolation::not_an_object(index));
            continue;
        }
        let Ok(submission) = submissions::event(element.get()) else {
            continue;
        };
        if let Err(found) = validate_submissions(std::slice::from_ref(&submission), received_at) {
            violations.extend(
                found
                    .into_iter()
                    .map(|violation| FieldViolation { index, ..violation }),
            );
        }
    }
    violations.truncate(MAX_LISTED_VIOLATIONS + 1);
    Ok(Some(IngestFailure::InvalidEvents(violations).into()))
}

/// `413 batch_too_large`; `count` when the whole batch was counted.
pub(crate) fn batch_too_large(max: usize, count: Option<usize>) -> ApiError {
    let count = count.map_or_else(|| "more".to_string(), |count| count.to_string());
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::BatchTooLarge,
        format!("a batch may hold at most {max} events, this one has {count}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bodies_may_be_one_object_or_an_array() {
        assert_eq!(
            parse_submissions(br#" {"eventId":"a"}"#, 10).unwrap().len(),
            1
        );
        assert_eq!(
            parse_submissions(br#"[{"eventId":"a"},{"eventId":"b"}]"#, 10)
                .unwrap()
                .len(),
            2
        );
        let error = parse_submissions(b"[]", 10).unwrap_err();
        assert_eq!(error.code, ErrorCode::EmptyBatch);
        let error = parse_submissions(b"[{\"eventId\":\"\xff\"}]", 10).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidJson);
        let error = parse_submissions(b"\"text\"", 10).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidJson);
        let error = parse_submissions(b"[{\"eventId\":", 10).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidJson);
        // A truncated array is reported as such, not by the type of its first element.
        let error = parse_submissions(b"[1,2", 10).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidJson);
        assert!(error.message.contains("EOF"), "{}", error.message);
        let error = parse_submissions("\u{feff}{}".as_bytes(), 10).unwrap_err();
        assert!(
            error.message.contains("byte order mark"),
            "{}",
            error.message
        );
        // Elements that are not objects, and the problems of the objects beside them.
        let error = parse_submissions(br#"[1, {"eventId": 7}, null]"#, 10).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidEvents);
        let problems: Vec<(u64, &str, &str)> = error
            .details
            .iter()
            .map(|detail| {
                let text = |name: &str| detail[name].as_str().unwrap_or_default();
                (
                    detail["index"].as_u64().unwrap(),
                    text("field"),
                    text("code"),
                )
            })
            .collect();
        assert_eq!(
            problems,
            [
                (0, "", "invalid_type"),
                (1, "eventId", "invalid_type"),
                (1, "eventType", "required"),
                (1, "serviceName", "required"),
                (1, "timestamp", "required"),
                (1, "payload", "required"),
                (2, "", "invalid_type"),
            ]
        );
    }

    #[test]
    fn a_batch_past_the_event_limit_is_refused_while_parsing() {
        let three = br#"[{"eventId":"a"},{"eventId":"b"},{"eventId":"c"}]"#;
        assert_eq!(parse_submissions(three, 3).unwrap().len(), 3);
        let error = parse_submissions(three, 2).unwrap_err();
        assert_eq!(error.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(error.code, ErrorCode::BatchTooLarge);
        let error = parse_submissions(b"[1, 2, 3]", 2).unwrap_err();
        assert_eq!(error.code, ErrorCode::BatchTooLarge);
    }

    #[test]
    fn answers_list_at_most_so_many_problems() {
        let ones = format!("[{}]", vec!["1"; 5_000].join(","));
        let error = parse_submissions(ones.as_bytes(), 10_000).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidEvents);
        assert_eq!(error.details.len(), MAX_LISTED_VIOLATIONS);
        assert!(
            error.message.starts_with("more than 1000 problems"),
            "{}",
            error.message
        );
        let two = parse_submissions(b"[1, 2]", 10).unwrap_err();
        assert_eq!(two.message, "2 problem(s) found; nothing was ingested");
    }

    #[test]
    fn content_type_must_be_json() {
        let mut headers = HeaderMap::new();
        assert!(require_json(&headers).is_err());
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(require_json(&headers).is_ok());
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(require_json(&headers).is_err());
        for accepted in [
            "application/json;charset=\"UTF-8\"",
            "Application/JSON; Charset=utf8",
        ] {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(accepted));
            assert!(require_json(&headers).is_ok(), "{accepted}");
        }
        for refused in [
            "application/json; charset=utf-16",
            "application/json;charset=iso-8859-1",
        ] {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(refused));
            let error = require_json(&headers).unwrap_err();
            assert_eq!(
                error.status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{refused}"
            );
        }
    }
}

//! Validated value objects shared by the aggregates.
//!
//! Every type here has a private field and a `parse` constructor: once a value exists it is
//! valid, so the rest of the code never re-checks it.

use std::fmt;

use chrono::{DateTime, FixedOffset, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::field_code::FieldCode;

/// Why a piece of text was not accepted as a value object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error("may only contain letters, digits, '-' and '_'")]
    InvalidCharacter,
    #[error("must be an RFC 3339 timestamp")]
    InvalidTimestamp,
    #[error("must be between 1970-01-01 and 2105-12-31")]
    TimestampOutOfRange,
    #[error("must be one of: {expected}")]
    UnknownVariant { expected: &'static str },
}

impl ValueError {
    /// A short machine-readable code for this kind of problem.
    pub fn code(&self) -> FieldCode {
        match self {
            Self::Empty => FieldCode::Empty,
            Self::TooLong { .. } => FieldCode::TooLong,
            Self::ControlCharacter | Self::InvalidCharacter => FieldCode::InvalidCharacters,
            Self::InvalidTimestamp => FieldCode::InvalidTimestamp,
            Self::TimestampOutOfRange => FieldCode::TimestampOutOfRange,
            Self::UnknownVariant { .. } => FieldCode::UnknownValue,
        }
    }
}

fn check_text(value: &str, max: usize) -> Result<(), ValueError> {
    if value.is_empty() {
        return Err(ValueError::Empty);
    }
    if value.chars().count() > max {
        return Err(ValueError::TooLong { max });
    }
    if value.chars().any(char::is_control) {
        return Err(ValueError::ControlCharacter);
    }
    Ok(())
}

/// Declares a newtype over `String` that is only built through `parse`, serializes as a
/// plain string and re-validates when deserialized.
macro_rules! text_value {
    ($(#[$meta:meta])* $name:ident, $check:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `value` and wraps it.
            pub fn parse(value: impl Into<String>) -> Result<Self, ValueError> {
                let value = value.into();
                let check: fn(&str) -> Result<(), ValueError> = $check;
                check(&value)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                Self::parse(value).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Longest tenant id; tenant ids appear in cache keys, database rows and URLs.
pub const TENANT_ID_MAX_CHARS: usize = 64;
/// Longest event id, service name or user id accepted at ingestion.
pub const IDENTIFIER_MAX_CHARS: usize = 128;
/// Longest metric name.
pub const METRIC_NAME_MAX_CHARS: usize = 256;

text_value!(
    /// A tenant: the unit of isolation. Letters, digits, `-` and `_`, at most 64 characters.
    TenantId,
    |value| {
        if value.is_empty() {
            return Err(ValueError::Empty);
        }
        if value.len() > TENANT_ID_MAX_CHARS {
            return Err(ValueError::TooLong { max: TENANT_ID_MAX_CHARS });
        }
        if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(ValueError::InvalidCharacter);
        }
        Ok(())
    }
);

text_value!(
    /// The producer's id for one event; unique per tenant and the deduplication key.
    EventId,
    |value| check_text(value, IDENTIFIER_MAX_CHARS)
);

text_value!(
    /// The service that emitted an event.
    ServiceName,
    |value| check_text(value, IDENTIFIER_MAX_CHARS)
);

text_value!(
    /// The end user an event is about, when the producer knows one.
    UserId,
    |value| check_text(value, IDENTIFIER_MAX_CHARS)
);

text_value!(
    /// The name of a metric series, such as `http.request.duration`.
    MetricName,
    |value| check_text(value, METRIC_NAME_MAX_CHARS)
);

text_value!(
    /// The public, non-secret identifier of an API key (derived from its hash).
    ApiKeyId,
    |value| {
        if value.len() != 16 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ValueError::InvalidCharacter);
        }
        Ok(())
    }
);

/// The kind of telemetry an event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Log,
    Metric,
    Trace,
}

impl EventType {
    pub const ALL: [EventType; 3] = [EventType::Log, EventType::Metric, EventType::Trace];
    const EXPECTED: &'static str = "log, metric, trace";

    pub fn parse(value: &str) -> Result<Self, ValueError> {
        match value {
            "log" => Ok(Self::Log),
            "metric" => Ok(Self::Metric),
            "trace" => Ok(Self::Trace),
            _ => Err(ValueError::UnknownVariant {
                expected: Self::EXPECTED,
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Metric => "metric",
            Self::Trace => "trace",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A point in time with microsecond precision, always UTC, between 1970 and 2105 (the range
/// every store we write to can represent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

/// 2106-01-01T00:00:00Z minus one second: ClickHouse `DateTime` ends at 2106-02-07.
const MAX_TIMESTAMP_MICROS: i64 = 4_291_747_199_999_999;
const MICROS_PER_DAY: i64 = 86_400_000_000;

impl Timestamp {
    /// Parses an RFC 3339 timestamp (any offset; stored as UTC). A leap second (`:60`) is
    /// the last microsecond of the second before it: counted as the next second, as chrono
    /// does, `23:59:60Z` would fall on the next day, away from the event's own day (the
    /// deduplication key) and from the time the producer wrote.
    pub fn parse_rfc3339(value: &str) -> Result<Self, ValueError> {
        Self::from_parsed(&Self::parse_datetime(value)?)
    }

    fn parse_datetime(value: &str) -> Result<DateTime<FixedOffset>, ValueError> {
        DateTime::parse_from_rfc3339(value).map_err(|_| ValueError::InvalidTimestamp)
    }

    fn from_parsed(parsed: &DateTime<FixedOffset>) -> Result<Self, ValueError> {
        let micros = if parsed.timestamp_subsec_nanos() >= 1_000_000_000 {
            parsed
                .timestamp()
                .checked_mul(1_000_000)
                .and_then(|micros| micros.checked_add(999_999))
                .ok_or(ValueError::TimestampOutOfRange)?
        } else {
            parsed.timestamp_micros()
        };
        Self::from_micros(micros)
    }

    /// Parses the bound of a time range: an instant between two microseconds is the later
    /// one, so that a range starting (inclusive) or ending (exclusive) there holds exactly the
    /// stored times (whole microseconds) on the right side of it. Cut to the earlier one, an
    /// end at 12:00:00.0000001 left out an event stored at 12:00:00.
    ///
    /// A bound outside the times that can be stored (before 1970, after 2105) is the first or
    /// the last of them: no stored time lies beyond it either way, so a range from year 1 is
    /// "from the beginning", not an error.
    pub fn parse_rfc3339_bound(value: &str) -> Result<Self, ValueError> {
        let parsed = Self::parse_datetime(value)?;
        let at = match Self::from_parsed(&parsed) {
            Err(ValueError::TimestampOutOfRange) if parsed.timestamp() < 0 => return Ok(Self(0)),
            Err(ValueError::TimestampOutOfRange) => return Ok(Self(MAX_TIMESTAMP_MICROS)),
            other => other?,
        };
        let nanos = parsed.timestamp_subsec_nanos();
        if nanos % 1_000 != 0 && nanos < 1_000_000_000 {
            return Self::from_micros(at.0 + 1);
        }
        Ok(at)
    }

    pub fn from_micros(micros: i64) -> Result<Self, ValueError> {
        if !(0..=MAX_TIMESTAMP_MICROS).contains(&micros) {
            return Err(ValueError::TimestampOutOfRange);
        }
        Ok(Self(micros))
    }

    pub fn from_datetime(value: DateTime<Utc>) -> Result<Self, ValueError> {
        Self::from_micros(value.timestamp_micros())
    }

    /// The current time.
    pub fn now() -> Self {
        Self::from_datetime(Utc::now())
            .unwrap_or_else(|_| unreachable!("the system clock is between 1970 and 2105"))
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// Days since 1970-01-01, the unit the deduplication index is partitioned by.
    pub fn epoch_day(self) -> i64 {
        self.0 / MICROS_PER_DAY
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }

    /// RFC 3339 in UTC with as many fractional digits as needed.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tenant_ids_are_restricted_to_a_safe_alphabet() {
        assert!(TenantId::parse("acme-prod_1").is_ok());
        assert_eq!(TenantId::parse(""), Err(ValueError::Empty));
        assert_eq!(
            TenantId::parse("acme corp"),
            Err(ValueError::InvalidCharacter)
        );
        assert_eq!(
            TenantId::parse("a".repeat(65)),
            Err(ValueError::TooLong { max: 64 })
        );
    }

    #[test]
    fn identifiers_count_characters_not_bytes() {
        assert!(EventId::parse("é".repeat(128)).is_ok());
        assert_eq!(
            EventId::parse("é".repeat(129)),
            Err(ValueError::TooLong { max: 128 })
        );
        assert_eq!(
            ServiceName::parse("api\ngateway"),
            Err(ValueError::ControlCharacter)
        );
    }

    #[test]
    fn timestamps_accept_offsets_and_normalise_to_utc() {
        let ts = Timestamp::parse_rfc3339("2026-01-21T14:00:00.5+02:00").unwrap();
        assert_eq!(ts.to_rfc3339(), "2026-01-21T12:00:00.500Z");
        assert_eq!(
            Timestamp::parse_rfc3339("yesterday"),
            Err(ValueError::InvalidTimestamp)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("1969-12-31T23:59:59Z"),
            Err(ValueError::TimestampOutOfRange)
        );
    }

    #[test]
    fn a_leap_second_stays_in_its_minute_and_day() {
        let leap = Timestamp::parse_rfc3339("2026-12-31T23:59:60Z").unwrap();
        assert_eq!(leap.to_rfc3339(), "2026-12-31T23:59:59.999999Z");
        let same_day = Timestamp::parse_rfc3339("2026-12-31T00:00:00Z").unwrap();
        assert_eq!(leap.epoch_day(), same_day.epoch_day());
        let offset = Timestamp::parse_rfc3339("2027-01-01T01:59:60.25+02:00").unwrap();
        assert_eq!(offset, leap);
    }

    #[test]
    fn a_bound_between_two_microseconds_is_the_later_one() {
        let bound = |text| Timestamp::parse_rfc3339_bound(text).unwrap().to_rfc3339();
        assert_eq!(
            bound("2026-12-06T02:12:00.0000001Z"),
            "2026-12-06T02:12:00.000001Z"
        );
        assert_eq!(
            bound("2026-12-06T02:11:59.9999995Z"),
            "2026-12-06T02:12:00Z"
        );
        assert_eq!(
            bound("2026-12-06T02:12:00.000001Z"),
            "2026-12-06T02:12:00.000001Z"
        );
        assert_eq!(bound("2026-12-06T02:12:00Z"), "2026-12-06T02:12:00Z");
        // Bounds past what can be stored are its first and last instants.
        assert_eq!(bound("0001-01-01T00:00:00Z"), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::parse_rfc3339_bound("9999-12-31T23:59:59Z")
                .unwrap()
                .as_micros(),
            MAX_TIMESTAMP_MICROS
        );
    }

    #[test]
    fn epoch_day_counts_whole_days() {
        let ts = Timestamp::parse_rfc3339("1970-01-02T23:59:59Z").unwrap();
        assert_eq!(ts.epoch_day(), 1);
    }

    #[test]
    fn deserializing_revalidates() {
        let result: Result<TenantId, _> = serde_json::from_str("\"bad tenant\"");
        assert!(result.is_err());
        let ok: TenantId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(ok.as_str(), "acme");
    }

    proptest! {
        #[test]
        fn parsed_identifiers_round_trip(value in "\\PC{1,128}") {
            let id = EventId::parse(value.clone()).unwrap();
            prop_assert_eq!(id.as_str(), value.as_str());
        }

        #[test]
        fn timestamps_round_trip_through_rfc3339(micros in 0i64..MAX_TIMESTAMP_MICROS) {
            let ts = Timestamp::from_micros(micros).unwrap();
            prop_assert_eq!(Timestamp::parse_rfc3339(&ts.to_rfc3339()).unwrap(), ts);
        }
    }
}

//! The typed forms a setting can take, and how each is read from a file or a variable.
//!
//! Environment variables are text; a file can hold numbers. Every form accepts both, and an
//! invalid value fails at start-up with the form it accepts.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use telemetry_domain::values::TenantId;

/// A duration written in milliseconds (`30000`, the documented form) or with a unit
/// (`"30s"`, `"500ms"`, `"5m"`), for `*_ms` settings.
pub mod millis {
    use super::*;

    pub const ACCEPTED: &str =
        "milliseconds (e.g. 30000) or a duration with a unit (e.g. \"30s\", \"500ms\", \"5m\")";

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(Quantity {
            accepted: ACCEPTED,
            from_number: Duration::from_millis,
            from_text: |text| humantime::parse_duration(text).ok(),
        })
    }
}

/// A size in bytes (`67108864`) or with a binary or decimal unit (`"64MiB"`, `"10MB"`).
pub mod bytes {
    use super::*;

    pub const ACCEPTED: &str =
        "bytes (e.g. 1048576) or a size with a unit (e.g. \"64MiB\", \"10MB\")";

    pub fn serialize<S: Serializer, T: Copy + Into<u64>>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64((*value).into())
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: TryFrom<u64>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        let bytes = deserializer.deserialize_any(Quantity {
            accepted: ACCEPTED,
            from_number: |n| n,
            from_text: parse_size,
        })?;
        T::try_from(bytes).map_err(|_| {
            de::Error::custom(format!(
                "{bytes} bytes is more than this machine can address"
            ))
        })
    }

    pub(super) fn parse_size(text: &str) -> Option<u64> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().ok()?;
        let factor: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            _ => return None,
        };
        number.checked_mul(factor)
    }
}

/// `usize` bytes (body limits), through [`bytes`].
pub mod usize_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(value: &usize, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(*value as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
        bytes::deserialize(deserializer)
    }
}

/// A non-negative number written as a number or as the text of one.
struct Quantity<T> {
    accepted: &'static str,
    from_number: fn(u64) -> T,
    from_text: fn(&str) -> Option<T>,
}

impl<T> Visitor<'_> for Quantity<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.accepted)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        Ok((self.from_number)(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        u64::try_from(value)
            .map(self.from_number)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(value), &self))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        let text = text.trim();
        if let Ok(number) = text.parse::<u64>() {
            return Ok((self.from_number)(number));
        }
        (self.from_text)(text).ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (for collectors).
    Json,
    /// Human-readable lines (development).
    Pretty,
}

/// A dependency `/readyz` can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dependency {
    Postgres,
    Clickhouse,
    Redis,
}

impl Dependency {
    /// The name its readiness check reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Clickhouse => "clickhouse",
            Self::Redis => "redis",
        }
    }
}

/// A list written as a sequence in a file or as comma-separated text (`postgres, redis`).
pub mod comma_list {
    use super::*;

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &[T],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form<T> {
            List(Vec<T>),
            Text(String),
        }
        match Form::<T>::deserialize(deserializer)? {
            Form::List(items) => Ok(items),
            Form::Text(text) => text
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| T::deserialize(de::value::StrDeserializer::<D::Error>::new(item)))
                .collect(),
        }
    }
}

/// An optional tenant id, where empty text means none.
pub mod optional_tenant {
    use super::*;

    pub fn serialize<S: Serializer>(
        value: &Option<TenantId>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value.as_ref().map_or("", TenantId::as_str))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<TenantId>, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        TenantId::parse(text.trim()).map(Some).map_err(|error| {
            de::Error::custom(format!(
                "{error}: a tenant id (letters, digits, '-' and '_', at most 64 characters), or empty"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Forms {
        #[serde(with = "millis")]
        timeout: Duration,
        #[serde(with = "usize_bytes")]
        size: usize,
    }

    fn read(timeout: &str, size: &str) -> Result<Forms, String> {
        let text = format!("timeout = {timeout}\nsize = {size}\n");
        toml::from_str(&text).map_err(|error| error.to_string())
    }

    #[test]
    fn durations_read_milliseconds_or_units() {
        assert_eq!(
            read("1500", "1").unwrap().timeout,
            Duration::from_millis(1500)
        );
        assert_eq!(
            read("\"1500\"", "1").unwrap().timeout,
            Duration::from_millis(1500)
        );
        assert_eq!(
            read("\"30s\"", "1").unwrap().timeout,
            Duration::from_secs(30)
        );
        assert_eq!(
            read("\"2m 5s\"", "1").unwrap().timeout,
            Duration::from_secs(125)
        );
        let error = read("\"soon\"", "1").unwrap_err();
        assert!(error.contains("milliseconds (e.g. 30000)"), "{error}");
        assert!(read("-5", "1").is_err());
    }

    #[test]
    fn sizes_read_bytes_or_units() {
        assert_eq!(read("1", "1048576").unwrap().size, 1 << 20);
        assert_eq!(read("1", "\"64MiB\"").unwrap().size, 64 << 20);
        assert_eq!(read("1", "\"10 MB\"").unwrap().size, 10_000_000);
        let error = read("1", "\"lots\"").unwrap_err();
        assert!(error.contains("bytes (e.g. 1048576)"), "{error}");
        assert_eq!(bytes::parse_size("1TiB"), None);
    }
}

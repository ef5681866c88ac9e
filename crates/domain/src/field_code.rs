//! Why one field was refused: the codes of field-level problems, one vocabulary for events
//! (`FieldViolation`), rules (`RuleViolation`) and value objects (`ValueError`).
//!
//! They are answered on the wire (snake_case) inside the details of the request-level error
//! codes (`invalid_events`, `invalid_rule`, `invalid_query`, ...); `docs/API.md` lists them,
//! and a test checks that list against this enum.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! field_codes {
    ($($(#[$meta:meta])* $variant:ident => $name:literal,)+) => {
        /// A field-level problem.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum FieldCode {
            $($(#[$meta])* #[serde(rename = $name)] $variant,)+
        }

        impl FieldCode {
            pub const ALL: &'static [FieldCode] = &[$(FieldCode::$variant,)+];

            /// The name on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }
    };
}

field_codes! {
    /// A required field is missing (or `null`).
    Required => "required",
    /// The field holds another JSON type than it must.
    InvalidType => "invalid_type",
    /// The value is of the right type but not acceptable.
    InvalidValue => "invalid_value",
    /// The value is not one of a closed list.
    UnknownValue => "unknown_value",
    /// No such field.
    UnknownField => "unknown_field",
    /// The field is given more than once.
    DuplicateField => "duplicate_field",
    /// A number, duration or count outside its bounds.
    OutOfRange => "out_of_range",
    /// Text that must not be empty is.
    Empty => "empty",
    /// Text longer than allowed.
    TooLong => "too_long",
    /// Control characters, or characters outside an identifier's alphabet.
    InvalidCharacters => "invalid_characters",
    /// Not an RFC 3339 timestamp.
    InvalidTimestamp => "invalid_timestamp",
    /// A timestamp outside what can be stored (1970 to 2105).
    TimestampOutOfRange => "timestamp_out_of_range",
    /// A timestamp further in the future than the allowed skew.
    TimestampInFuture => "timestamp_in_future",
    /// Not a duration such as `30s`, `5m`, `2h` or `1d`.
    InvalidDuration => "invalid_duration",
    /// A field this kind of rule does not have.
    NotApplicable => "not_applicable",
    /// Not a webhook URL this service will call.
    InvalidUrl => "invalid_url",
}

impl fmt::Display for FieldCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// For comparisons with wire names (tests, logs).
impl PartialEq<&str> for FieldCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_the_serialized_ones() {
        for code in FieldCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            let back: FieldCode = serde_json::from_value(code.as_str().into()).unwrap();
            assert_eq!(back, *code);
        }
    }

    /// `docs/API.md` lists every field code between its markers, and no other.
    #[test]
    fn the_api_documents_every_field_code() {
        let api = include_str!("../../../docs/API.md");
        let start = api
            .find("<!-- field codes -->")
            .expect("API.md has the list of field codes");
        let end = api[start..]
            .find("<!-- end of field codes -->")
            .expect("the list of field codes ends")
            + start;
        let documented: Vec<&str> = api[start..end]
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split('`').next())
            .collect();
        let codes: Vec<&str> = FieldCode::ALL.iter().map(|code| code.as_str()).collect();
        assert_eq!(documented, codes);
    }
}

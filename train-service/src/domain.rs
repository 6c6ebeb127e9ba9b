//! Parsed inputs: a value of these types is valid by construction, so handlers and stores
//! never re-check. `parse` returns the message for a 400 naming the field.

use serde::{Deserialize, Serialize};
use servicekit::ApiError;
use std::fmt;

/// A class of travel, in the order searches list them (premium first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SeatClass {
    #[serde(rename = "AC_B")]
    AcBerth,
    #[serde(rename = "AC_S")]
    AcSeat,
    #[serde(rename = "SNIGDHA")]
    Snigdha,
    #[serde(rename = "S_CHAIR")]
    ShovanChair,
    #[serde(rename = "SHOVAN")]
    Shovan,
}

impl SeatClass {
    pub const ALL: [Self; 5] = [
        Self::AcBerth,
        Self::AcSeat,
        Self::Snigdha,
        Self::ShovanChair,
        Self::Shovan,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AcBerth => "AC_B",
            Self::AcSeat => "AC_S",
            Self::Snigdha => "SNIGDHA",
            Self::ShovanChair => "S_CHAIR",
            Self::Shovan => "SHOVAN",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for SeatClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A station code: three uppercase ASCII letters (`DHK`).
pub fn station_code(s: &str) -> Result<String, String> {
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(s.to_owned())
    } else {
        Err("a station code is three uppercase letters, like DHK".into())
    }
}

/// A display name: trimmed, 1 to 100 characters, no control characters.
pub fn display_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    let len = s.chars().count();
    if (1..=100).contains(&len) && !s.chars().any(char::is_control) {
        Ok(s.to_owned())
    } else {
        Err("must be 1 to 100 printable characters".into())
    }
}

/// A train number: 1 to 10 letters, digits or dashes (`701`).
pub fn train_number(s: &str) -> Result<String, String> {
    if (1..=10).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(s.to_owned())
    } else {
        Err("a train number is 1 to 10 letters, digits or dashes".into())
    }
}

/// A coach code: 1 to 4 uppercase letters (`KA`, `KHA`).
pub fn coach_code(s: &str) -> Result<String, String> {
    if (1..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(s.to_owned())
    } else {
        Err("a coach code is 1 to 4 uppercase letters, like KA".into())
    }
}

/// A `trip_id` from a path: 400 when it is not a number (a sign other than `-` included, so
/// `+5` is refused), 404 when it is a number that cannot be a trip (zero, negative, beyond
/// 64 bits). Ids themselves parse one strict way, [`servicekit::http::Id`].
pub fn trip_id(raw: &str) -> Result<i64, ApiError> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid_field(
            "trip_id",
            "trip_id must be a positive integer",
        ));
    }
    servicekit::http::Id::parse(raw, "trip_id")
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found("no such trip"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use servicekit::error::Code;

    #[test]
    fn trip_ids_are_positive_64_bit_integers() {
        assert_eq!(trip_id("42").ok(), Some(42));
        for (raw, code) in [
            ("abc", Code::InvalidRequest),
            ("", Code::InvalidRequest),
            ("1.5", Code::InvalidRequest),
            ("0", Code::NotFound),
            ("-3", Code::NotFound),
            ("+3", Code::InvalidRequest),
            ("99999999999999999999999", Code::NotFound),
        ] {
            assert_eq!(trip_id(raw).err().map(|e| e.code()), Some(code), "{raw}");
        }
    }

    #[test]
    fn codes_are_checked() {
        assert!(station_code("DHK").is_ok());
        for bad in ["dhk", "DH", "DHKA", "D1K", ""] {
            assert!(station_code(bad).is_err(), "{bad}");
        }
        assert!(coach_code("KHA").is_ok());
        assert!(coach_code("ka").is_err());
        assert!(train_number("701").is_ok());
        assert!(train_number("7 01").is_err());
        assert!(display_name("  Dhaka ").is_ok_and(|n| n == "Dhaka"));
        assert!(display_name(" ").is_err());
    }

    #[test]
    fn classes_round_trip_in_search_order() {
        for class in SeatClass::ALL {
            assert_eq!(SeatClass::parse(class.as_str()), Some(class));
        }
        assert!(SeatClass::AcBerth < SeatClass::Shovan);
        assert_eq!(SeatClass::parse("FIRST"), None);
    }
}

//! Domain time: `ts_utc` as RFC 3339 with exactly six fractional digits and `Z`.
//!
//! The envelope schema requires this exact shape, and `ts_utc` is hashed and compared as text
//! downstream, so it is kept as its validated text (never re-rendered) and ordered as text;
//! in this fixed-width shape, text order is time order.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Wrong textual shape.
    #[error(
        "`{0}` is not an RFC 3339 UTC timestamp with exactly 6 fractional digits \
         (expected YYYY-MM-DDTHH:MM:SS.ffffffZ)"
    )]
    Shape(String),
    /// Right shape, impossible calendar value.
    #[error("`{0}` is not a valid calendar date/time")]
    Calendar(String),
}

/// A UTC instant rendered as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TsUtc(String);

const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd.ddddddZ";

impl TsUtc {
    /// Validate the exact shape and the calendar value.
    pub fn parse(s: impl Into<String>) -> Result<Self, TimeError> {
        let s = s.into();
        let b = s.as_bytes();
        let shape_ok = b.len() == SHAPE.len()
            && b.iter().zip(SHAPE).all(|(c, want)| match want {
                b'd' => c.is_ascii_digit(),
                other => c == other,
            });
        if !shape_ok {
            return Err(TimeError::Shape(s.chars().take(80).collect()));
        }
        let t = Self(s);
        t.try_datetime()?;
        Ok(t)
    }

    /// Render an instant (truncated to microseconds).
    pub fn from_datetime(t: OffsetDateTime) -> Self {
        let t = t.to_offset(UtcOffset::UTC);
        Self(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        ))
    }

    /// WSP's `normalize(ts_utc)` (engine_interface.md §8.2): an ISO-8601 instant with any
    /// number of fractional digits, `Z`, an offset, or none (naive = UTC), rendered in the
    /// canonical shape (truncated to microseconds). The canonical shape passes through as is.
    pub fn normalize(s: &str) -> Result<Self, TimeError> {
        if let Ok(t) = Self::parse(s) {
            return Ok(t);
        }
        let shape = || TimeError::Shape(s.chars().take(80).collect());
        let text = s.trim();
        if !text.is_ascii() {
            return Err(shape());
        }
        // Split off the zone: `Z`, `±HH:MM` (or `±HHMM`), or none.
        let (local, offset_secs) = if let Some(rest) = text.strip_suffix(['Z', 'z']) {
            (rest, 0i32)
        } else if text.len() > 6
            && let Some(pos) = text[10.min(text.len())..].rfind(['+', '-'])
        {
            let pos = pos + 10.min(text.len());
            let zone = &text[pos + 1..];
            let digits: String = zone.chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(shape());
            }
            let h: i32 = digits[..2].parse().map_err(|_| shape())?;
            let m: i32 = digits[2..].parse().map_err(|_| shape())?;
            let sign = if text.as_bytes()[pos] == b'-' { -1 } else { 1 };
            (&text[..pos], sign * (h * 3600 + m * 60))
        } else {
            (text, 0)
        };
        // `YYYY-MM-DD[T ]HH:MM:SS[.f+]`
        let b = local.as_bytes();
        if b.len() < 19 || !(b[10] == b'T' || b[10] == b' ') {
            return Err(shape());
        }
        let (whole, frac) = match local[19..].strip_prefix('.') {
            Some(f) if !f.is_empty() && f.bytes().all(|c| c.is_ascii_digit()) => (&local[..19], f),
            None if local.len() == 19 => (&local[..19], ""),
            _ => return Err(shape()),
        };
        let micros: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
        let canonical = format!("{}T{}.{micros}Z", &whole[..10], &whole[11..]);
        let t = Self::parse(canonical).map_err(|_| shape())?;
        if offset_secs == 0 {
            return Ok(t);
        }
        let shifted = t.to_datetime() - time::Duration::seconds(i64::from(offset_secs));
        Ok(Self::from_datetime(shifted))
    }

    /// The wall clock now. Only for ingestion/apply metadata: domain time is never "now".
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    /// Microseconds since the Unix epoch.
    pub fn from_unix_micros(micros: i64) -> Result<Self, TimeError> {
        let nanos = i128::from(micros) * 1_000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .map(Self::from_datetime)
            .map_err(|_| TimeError::Calendar(micros.to_string()))
    }

    /// The instant.
    pub fn to_datetime(&self) -> OffsetDateTime {
        // Validated at construction, so this cannot fail; fall back to the epoch defensively.
        self.try_datetime().unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Microseconds since the Unix epoch.
    pub fn unix_micros(&self) -> i64 {
        (self.to_datetime().unix_timestamp_nanos() / 1_000) as i64
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn try_datetime(&self) -> Result<OffsetDateTime, TimeError> {
        let fmt = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        PrimitiveDateTime::parse(&self.0, &fmt)
            .map(PrimitiveDateTime::assume_utc)
            .map_err(|_| TimeError::Calendar(self.0.clone()))
    }
}

impl fmt::Display for TsUtc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TsUtc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TsUtc({})", self.0)
    }
}

impl FromStr for TsUtc {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for TsUtc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TsUtc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_matches_the_reference_rendering() {
        let n = |s: &str| TsUtc::normalize(s).map(|t| t.to_string());
        assert_eq!(
            n("2026-01-01T00:00:00.123456Z").unwrap(),
            "2026-01-01T00:00:00.123456Z"
        );
        assert_eq!(
            n("2026-01-01T00:00:00.123Z").unwrap(),
            "2026-01-01T00:00:00.123000Z"
        );
        assert_eq!(
            n("2026-01-01T00:00:00Z").unwrap(),
            "2026-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            n("2026-01-01 00:00:00.5").unwrap(),
            "2026-01-01T00:00:00.500000Z"
        );
        assert_eq!(
            n("2026-01-01T01:30:00.1234567+01:30").unwrap(),
            "2026-01-01T00:00:00.123456Z"
        );
        assert_eq!(
            n("2026-01-01T00:00:00-0100").unwrap(),
            "2026-01-01T01:00:00.000000Z"
        );
        for bad in [
            "",
            "2026-01-01",
            "2026-13-01T00:00:00Z",
            "2026-01-01T00:00:00.Z",
            "nope nope nope nope",
        ] {
            assert!(TsUtc::normalize(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accepts_exactly_six_fraction_digits() {
        assert!(TsUtc::parse("2026-01-02T10:15:30.123456Z").is_ok());
        for bad in [
            "2026-01-02T10:15:30.123Z",
            "2026-01-02T10:15:30Z",
            "2026-01-02T10:15:30.123456+00:00",
            "2026-01-02 10:15:30.123456Z",
            "2026-01-02T10:15:30.1234567Z",
        ] {
            assert!(
                matches!(TsUtc::parse(bad), Err(TimeError::Shape(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            TsUtc::parse("2026-02-30T10:15:30.123456Z"),
            Err(TimeError::Calendar(_))
        ));
    }

    #[test]
    fn round_trips_through_datetime_and_micros() {
        let t = TsUtc::parse("2026-01-02T10:15:30.000001Z").expect("valid");
        assert_eq!(TsUtc::from_datetime(t.to_datetime()), t);
        assert_eq!(TsUtc::from_unix_micros(t.unix_micros()).expect("valid"), t);
        assert_eq!(
            TsUtc::from_unix_micros(0).expect("epoch").as_str(),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn text_order_is_time_order() {
        let a = TsUtc::parse("2026-01-02T10:15:30.000001Z").expect("valid");
        let b = TsUtc::parse("2026-01-02T10:15:30.000010Z").expect("valid");
        assert!(a < b);
    }
}

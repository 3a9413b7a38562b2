//! Validated identifier newtypes: `hex32`, `hex64`, `platform_run_id`.
//!
//! They parse once at the boundary (serde or `FromStr`) so code past it never re-checks shape.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::sha256_hex;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not exactly `len` lowercase hex characters.
    #[error("`{value}` is not a {len}-character lowercase hex string")]
    NotHex {
        /// The offending input (truncated to 80 characters).
        value: String,
        /// Expected length.
        len: usize,
    },
    /// Not of the form `platform_YYYYMMDDTHHMMSSZ`.
    #[error("`{0}` is not a platform_run_id (expected platform_YYYYMMDDTHHMMSSZ)")]
    PlatformRunId(String),
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

macro_rules! hex_newtype {
    ($name:ident, $len:expr, $doc:expr) => {
        #[doc = $doc]
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Number of hex characters.
            pub const LEN: usize = $len;

            /// Validate and wrap.
            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                if is_lower_hex(&s, $len) {
                    Ok(Self(s))
                } else {
                    Err(IdError::NotHex {
                        value: clip(&s),
                        len: $len,
                    })
                }
            }

            /// Wrap a string this crate computed itself (a sha256 hex or prefix of one).
            pub(crate) fn from_trusted(s: String) -> Self {
                debug_assert!(is_lower_hex(&s, $len));
                Self(s)
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consume into the inner string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_newtype!(
    Hex32,
    32,
    "32 lowercase hex characters: a sha256 truncated to 128 bits."
);
hex_newtype!(Hex64, 64, "64 lowercase hex characters: a full sha256.");

impl Hex64 {
    /// sha256 of `bytes`.
    pub fn digest(bytes: impl AsRef<[u8]>) -> Self {
        Self(sha256_hex(bytes))
    }

    /// The all-zero fingerprint the reference uses for platform-internal events.
    pub fn zero() -> Self {
        Self("0".repeat(64))
    }

    /// The first 32 characters (the `H32` of the same input).
    pub fn truncate32(&self) -> Hex32 {
        Hex32(self.0[..32].to_owned())
    }
}

/// `platform_YYYYMMDDTHHMMSSZ`: the platform session (execution) run id; the scope of dedupe,
/// receipts and object-store prefixes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlatformRunId(String);

impl PlatformRunId {
    /// Validate and wrap.
    pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
        let s = s.into();
        let b = s.as_bytes();
        let ok = b.len() == 25
            && s.starts_with("platform_")
            && b[9..17].iter().all(u8::is_ascii_digit)
            && b[17] == b'T'
            && b[18..24].iter().all(u8::is_ascii_digit)
            && b[24] == b'Z';
        if ok {
            Ok(Self(s))
        } else {
            Err(IdError::PlatformRunId(clip(&s)))
        }
    }

    /// A new id for the given instant (the reference format, second resolution).
    pub fn at(t: time::OffsetDateTime) -> Self {
        let t = t.to_offset(time::UtcOffset::UTC);
        Self(format!(
            "platform_{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ))
    }

    /// A new id for the current wall-clock second (the reference's `_new_run_id`).
    pub fn now() -> Self {
        Self::at(time::OffsetDateTime::now_utc())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PlatformRunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PlatformRunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlatformRunId({})", self.0)
    }
}

impl FromStr for PlatformRunId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for PlatformRunId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PlatformRunId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_reject_wrong_shapes() {
        assert!(Hex32::parse("f99075b467eefd8598b7ca9aca767b16").is_ok());
        assert!(Hex32::parse("F99075B467EEFD8598B7CA9ACA767B16").is_err());
        assert!(Hex32::parse("f99075b467eefd8598b7ca9aca767b1").is_err());
        assert!(Hex64::parse("g".repeat(64)).is_err());
        assert_eq!(Hex64::zero().as_str().len(), 64);
    }

    #[test]
    fn platform_run_id_format() {
        assert!(PlatformRunId::parse("platform_20260223T184232Z").is_ok());
        assert!(PlatformRunId::parse("platform_20260223184232Z").is_err());
        assert!(PlatformRunId::parse("platform_2026022xT184232Z").is_err());
        let t = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        assert_eq!(PlatformRunId::at(t).as_str(), "platform_20260101T000000Z");
    }

    #[test]
    fn serde_validates() {
        let ok: Result<Hex32, _> = serde_json::from_str(r#""6bd4bed678138143ddbf9853dc80023c""#);
        assert!(ok.is_ok());
        let bad: Result<Hex32, _> = serde_json::from_str(r#""nope""#);
        assert!(bad.is_err());
    }
}

//! Runtime-only secrets: never written in a profile file, never printed, never persisted.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::interpolate::SECRET_MARK;

/// How a secret is shown anywhere it could be seen.
pub const REDACTED: &str = "***";

/// A secret value. `Debug`, `Display` and `Serialize` all print `***`; only
/// [`Secret::expose`] gives the value, so every use of the real value is greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret value, for the one place that needs it (an auth check, a client builder).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Construct from a runtime value (tests, CLI flags read from the environment).
    pub fn from_runtime(value: impl Into<String>) -> Self {
        Self(value.into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// Marker error text the loader turns into [`super::ProfileError::LiteralSecret`].
pub(crate) const LITERAL_SECRET: &str = "fp:literal-secret";

impl<'de> Deserialize<'de> for Secret {
    /// Accepts only values the interpolation step produced from `${secret:..}` or
    /// `${secret_file:..}`; a literal in the file is refused.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        match raw.strip_prefix(SECRET_MARK) {
            Some(value) => Ok(Self(value.to_owned())),
            None => Err(serde::de::Error::custom(LITERAL_SECRET)),
        }
    }
}

/// A connection string whose password is redacted when shown
/// (`postgresql://user:***@host/db`): the host and database are useful to see. When the whole
/// DSN comes from `${secret:..}`/`${secret_file:..}` it is shown as `***` entirely.
#[derive(Clone, PartialEq, Eq)]
pub struct Dsn {
    value: String,
    from_secret: bool,
}

impl Dsn {
    /// A DSN given in clear (its password, if any, is still redacted when shown).
    pub fn plain(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            from_secret: false,
        }
    }

    /// The full connection string.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// What may be shown: `***` for a secret DSN, else the DSN with its password redacted.
    pub fn redacted(&self) -> String {
        if self.from_secret {
            REDACTED.to_owned()
        } else {
            redact_url_password(&self.value)
        }
    }
}

impl<'de> Deserialize<'de> for Dsn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(match raw.strip_prefix(SECRET_MARK) {
            Some(value) => Self {
                value: value.to_owned(),
                from_secret: true,
            },
            None => Self::plain(raw),
        })
    }
}

/// Replace the password of a URL-shaped string with `***` (anything else is returned as is).
pub fn redact_url_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            // set_password only fails for URLs that cannot have credentials.
            if u.set_password(Some(REDACTED)).is_ok() {
                u.to_string()
            } else {
                raw.to_owned()
            }
        }
        _ => raw.to_owned(),
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for Dsn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::from_runtime("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(serde_json::to_string(&s).expect("json"), "\"***\"");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn dsn_hides_only_the_password() {
        let d = Dsn::plain("postgresql://fp:pw@127.0.0.1:5432/fp");
        assert_eq!(d.redacted(), "postgresql://fp:***@127.0.0.1:5432/fp");
        assert_eq!(d.expose(), "postgresql://fp:pw@127.0.0.1:5432/fp");
        let plain = Dsn::plain("sqlite:.fp/state.db");
        assert_eq!(plain.redacted(), "sqlite:.fp/state.db");
    }
}

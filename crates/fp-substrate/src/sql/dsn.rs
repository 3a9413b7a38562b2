//! SQL store URLs: which backend, where, and how to print them without the password.

use std::path::PathBuf;

use super::error::SqlError;

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dsn {
    /// A SQLite file (created if missing).
    SqliteFile(PathBuf),
    /// A private in-memory SQLite database (gone when the store is dropped).
    SqliteMemory,
    /// A PostgreSQL URL, passed to the driver as is.
    Postgres(String),
}

impl Dsn {
    /// Parse `sqlite:///abs/path.db`, `sqlite:relative.db`, `sqlite://relative.db`,
    /// `sqlite::memory:`, `postgres://...` or `postgresql://...`.
    pub(crate) fn parse(url: &str) -> Result<Self, SqlError> {
        let invalid = |reason: &str| SqlError::InvalidUrl {
            url: redact(url),
            reason: reason.to_owned(),
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let Some(rest) = url.strip_prefix("sqlite:") else {
            return Err(invalid(
                "expected sqlite:///abs/path.db, sqlite:relative.db, sqlite::memory: or \
                 postgres://...",
            ));
        };
        if rest == ":memory:" {
            return Ok(Self::SqliteMemory);
        }
        // `sqlite:///abs` keeps its leading `/`; `sqlite://rel` is relative (as in sqlx).
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(invalid("no database file named"));
        }
        if path.contains('?') {
            return Err(invalid("query parameters are not supported for sqlite"));
        }
        Ok(Self::SqliteFile(PathBuf::from(path)))
    }
}

/// `url` with any password replaced by `***`, in the userinfo and in a `password=` query
/// parameter, so errors and logs can name the server safely.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _password)) => format!("{user}:***{host}"),
                None => authority.to_owned(),
            }
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            Dsn::parse("sqlite:///abs/x.db").ok(),
            Some(Dsn::SqliteFile("/abs/x.db".into()))
        );
        assert_eq!(
            Dsn::parse("sqlite:rel.db").ok(),
            Some(Dsn::SqliteFile("rel.db".into()))
        );
        assert_eq!(
            Dsn::parse("sqlite://rel.db").ok(),
            Some(Dsn::SqliteFile("rel.db".into()))
        );
        assert_eq!(Dsn::parse("sqlite::memory:").ok(), Some(Dsn::SqliteMemory));
        assert!(matches!(
            Dsn::parse("postgresql://u@h/db"),
            Ok(Dsn::Postgres(_))
        ));
        assert!(Dsn::parse("sqlite:").is_err());
        assert!(Dsn::parse("mysql://u:pw@h/db").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgresql://u:s3cret@db.example:5432/x?sslmode=disable"),
            "postgresql://u:***@db.example:5432/x?sslmode=disable"
        );
        assert_eq!(
            redact("postgres://h/x?user=u&password=s3cret"),
            "postgres://h/x?user=u&password=***"
        );
        assert_eq!(redact("postgres://u@h/x"), "postgres://u@h/x");
        let err = Dsn::parse("mysql://u:s3cret@h/db").expect_err("unsupported");
        assert!(!err.to_string().contains("s3cret"));
    }
}

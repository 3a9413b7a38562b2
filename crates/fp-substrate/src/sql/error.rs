//! Typed SQL errors: callers branch on the kind (a duplicate, a dead server, schema drift),
//! never on backend message text.

use std::error::Error as StdError;
use std::fmt;

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlBackend {
    /// SQLite through `rusqlite` (embedded shape).
    Sqlite,
    /// PostgreSQL through `postgres` (services shape).
    Postgres,
}

impl fmt::Display for SqlBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// A boxed error from a backend or a caller.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong with SQL state.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The URL is not one this crate opens. `url` has its password redacted.
    #[error("invalid SQL url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The database cannot be reached right now (server down, connection lost, file locked
    /// past the busy timeout): retrying later may succeed.
    #[error("SQL store `{target}` unavailable: {reason}")]
    Unavailable {
        /// The URL (password redacted) or file.
        target: String,
        /// Why.
        reason: String,
    },
    /// The server answered but refused the connection (bad credentials, unknown database):
    /// retrying will not help.
    #[error("cannot connect to SQL store `{target}`: {reason}")]
    Connect {
        /// The URL, password redacted.
        target: String,
        /// The server's reason.
        reason: String,
    },
    /// An insert hit a unique or primary-key constraint. Inside a transaction this aborts the
    /// transaction (on PostgreSQL it cannot continue); for insert-if-absent without aborting,
    /// write `INSERT ... ON CONFLICT DO NOTHING` and check the affected-row count.
    #[error("unique constraint `{constraint}` violated: {message}")]
    UniqueViolation {
        /// Constraint name (PostgreSQL) or `table.column` list (SQLite); may be empty if the
        /// backend did not say.
        constraint: String,
        /// The backend's message.
        message: String,
    },
    /// An applied migration no longer matches this build; the store refuses to guess.
    #[error("migration drift for `{component}` version {version}: {reason}")]
    MigrationDrift {
        /// Component whose schema drifted.
        component: String,
        /// The migration version concerned.
        version: i64,
        /// What differs.
        reason: String,
    },
    /// The migration list itself is malformed (versions not increasing, empty name, ...).
    #[error("invalid migrations for `{component}`: {reason}")]
    InvalidMigration {
        /// Component.
        component: String,
        /// What is wrong.
        reason: String,
    },
    /// A row has no such column.
    #[error("no column `{column}` in the result row")]
    ColumnNotFound {
        /// Name, or `#index`.
        column: String,
    },
    /// A column holds another type than the one asked for.
    #[error("column `{column}`: expected {expected}, found {found}")]
    ColumnType {
        /// Name, or `#index`.
        column: String,
        /// What the caller asked for.
        expected: &'static str,
        /// What the value is (or the backend type that is not supported).
        found: String,
    },
    /// `query_opt` found more than one row.
    #[error("expected at most one row, found {found}")]
    TooManyRows {
        /// Rows returned.
        found: usize,
    },
    /// The transaction body chose to roll back; the caller's error is kept for downcasting.
    #[error("transaction aborted: {0}")]
    Aborted(#[source] BoxError),
    /// Any other backend error; `message` carries the whole error chain (PostgreSQL's
    /// severity, SQLSTATE, detail and hint included) so nothing is lost in logs.
    #[error("{backend} error: {message}")]
    Backend {
        /// Which engine.
        backend: SqlBackend,
        /// Full message.
        message: String,
        /// The original error.
        #[source]
        source: Option<BoxError>,
    },
    /// The blocking task running the statement panicked or was cancelled.
    #[error("SQL task failed: {reason}")]
    Task {
        /// The join error.
        reason: String,
    },
}

impl SqlError {
    /// Roll back a [`super::SqlStore::transact`] body with the caller's own error.
    pub fn abort(err: impl Into<BoxError>) -> Self {
        Self::Aborted(err.into())
    }

    /// Whether retrying later could succeed (the server or file is unavailable).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// `err: source: source...` so wrapped errors do not hide their cause.
pub(crate) fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

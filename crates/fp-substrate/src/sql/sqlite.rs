//! The SQLite backend: one connection per store, serialised by a mutex.
//!
//! One connection is enough for the embedded shape (one process, hot paths on append-only
//! journals) and removes SQLite's lock-upgrade failures between connections of one process;
//! other processes on the same file wait up to the busy timeout. Transactions start with
//! `BEGIN IMMEDIATE` so a read-then-write body takes the write lock up front instead of
//! failing with `SQLITE_BUSY` half-way.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::error::{SqlBackend, SqlError, chain};
use super::placeholders::to_sqlite;
use super::tx::SqlTx;
use super::value::{SqlRow, SqlValue};

/// An open SQLite database.
pub(crate) struct SqliteDb {
    conn: Mutex<Connection>,
    /// The file (or `:memory:`), for errors.
    target: String,
}

impl SqliteDb {
    /// Open (creating if needed) a database file with durable settings.
    pub(crate) fn open_file(
        path: &std::path::Path,
        busy_timeout: Duration,
    ) -> Result<Self, SqlError> {
        let target = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| SqlError::Unavailable {
                target: target.clone(),
                reason: format!("cannot create directory `{}`: {e}", parent.display()),
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| map_err(&target, e))?;
        Self::configure(conn, target, busy_timeout, true)
    }

    /// A private in-memory database.
    pub(crate) fn open_memory(busy_timeout: Duration) -> Result<Self, SqlError> {
        let target = ":memory:".to_owned();
        let conn = Connection::open_in_memory().map_err(|e| map_err(&target, e))?;
        Self::configure(conn, target, busy_timeout, false)
    }

    fn configure(
        conn: Connection,
        target: String,
        busy_timeout: Duration,
        file: bool,
    ) -> Result<Self, SqlError> {
        // Components reuse a few dozen statements; the default cache (16) would thrash.
        conn.set_prepared_statement_cache_capacity(64);
        conn.busy_timeout(busy_timeout)
            .map_err(|e| map_err(&target, e))?;
        // WAL: readers never block the writer; synchronous=FULL: a committed transaction
        // survives power loss, which dedupe rows and checkpoints rely on.
        let pragmas = if file {
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
        } else {
            "PRAGMA foreign_keys = ON;"
        };
        conn.execute_batch(pragmas)
            .map_err(|e| map_err(&target, e))?;
        if file {
            let mode: String = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .map_err(|e| map_err(&target, e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(SqlError::Unavailable {
                    target,
                    reason: format!("could not enable WAL (journal_mode is {mode})"),
                });
            }
        }
        Ok(Self {
            conn: Mutex::new(conn),
            target,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A body that panicked has already rolled back (the transaction guard's drop ran
        // during unwinding), so the connection behind a poisoned lock is still consistent.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Run `f` in one `BEGIN IMMEDIATE` transaction on the calling thread.
    pub(crate) fn transact<T>(
        &self,
        f: impl FnOnce(&mut dyn SqlTx) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| map_err(&self.target, e))?;
        let mut body = SqliteTx {
            tx: &tx,
            target: &self.target,
        };
        match f(&mut body) {
            Ok(value) => {
                tx.commit().map_err(|e| map_err(&self.target, e))?;
                Ok(value)
            }
            Err(err) => {
                // The body's error is the one worth reporting; a failed rollback leaves
                // SQLite to roll back when the connection next begins.
                let _ = tx.rollback();
                Err(err)
            }
        }
    }

    /// `SELECT 1`.
    pub(crate) fn ping(&self) -> Result<(), SqlError> {
        let conn = self.lock();
        conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
            .map(|_| ())
            .map_err(|e| map_err(&self.target, e))
    }
}

struct SqliteTx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    target: &'a str,
}

impl SqlTx for SqliteTx<'_> {
    fn backend(&self) -> SqlBackend {
        SqlBackend::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, SqlError> {
        let sql = to_sqlite(sql);
        let mut stmt = self
            .tx
            .prepare_cached(&sql)
            .map_err(|e| map_err(self.target, e))?;
        let params = rusqlite::params_from_iter(params.iter().map(Param));
        if stmt.column_count() > 0 {
            // `UPDATE ... RETURNING` and friends: run to completion, count the changes.
            let mut rows = stmt.query(params).map_err(|e| map_err(self.target, e))?;
            while rows.next().map_err(|e| map_err(self.target, e))?.is_some() {}
            drop(rows);
            Ok(self.tx.changes())
        } else {
            let n = stmt.execute(params).map_err(|e| map_err(self.target, e))?;
            Ok(u64::try_from(n).unwrap_or(u64::MAX))
        }
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>, SqlError> {
        let sql = to_sqlite(sql);
        let mut stmt = self
            .tx
            .prepare_cached(&sql)
            .map_err(|e| map_err(self.target, e))?;
        let columns: Arc<[String]> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let width = columns.len();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter().map(Param)))
            .map_err(|e| map_err(self.target, e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| map_err(self.target, e))? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                let value = row.get_ref(i).map_err(|e| map_err(self.target, e))?;
                values.push(from_ref(value, &columns[i])?);
            }
            out.push(SqlRow::new(Arc::clone(&columns), values));
        }
        Ok(out)
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), SqlError> {
        self.tx
            .execute_batch(sql)
            .map_err(|e| map_err(self.target, e))
    }
}

/// Borrowing adapter: binds a [`SqlValue`] without copying text or blobs.
struct Param<'a>(&'a SqlValue);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            SqlValue::Null => ValueRef::Null,
            SqlValue::Int(v) => ValueRef::Integer(*v),
            SqlValue::Real(v) => ValueRef::Real(*v),
            SqlValue::Text(v) => ValueRef::Text(v.as_bytes()),
            SqlValue::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

fn from_ref(value: ValueRef<'_>, column: &str) -> Result<SqlValue, SqlError> {
    Ok(match value {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(v) => SqlValue::Int(v),
        ValueRef::Real(v) => SqlValue::Real(v),
        ValueRef::Text(bytes) => SqlValue::Text(String::from_utf8(bytes.to_vec()).map_err(
            |_| SqlError::ColumnType {
                column: column.to_owned(),
                expected: "text",
                found: "text that is not valid UTF-8".to_owned(),
            },
        )?),
        ValueRef::Blob(bytes) => SqlValue::Blob(bytes.to_vec()),
    })
}

/// Map a rusqlite error onto the typed kinds.
fn map_err(target: &str, err: rusqlite::Error) -> SqlError {
    if let rusqlite::Error::SqliteFailure(code, message) = &err {
        let message = message.clone().unwrap_or_else(|| code.to_string());
        match code.code {
            ErrorCode::ConstraintViolation
                if matches!(
                    code.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                // "UNIQUE constraint failed: t.a, t.b": the columns are the constraint's name.
                let constraint = message
                    .split_once(": ")
                    .map_or("", |(_, cols)| cols)
                    .to_owned();
                return SqlError::UniqueViolation {
                    constraint,
                    message,
                };
            }
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull => {
                return SqlError::Unavailable {
                    target: target.to_owned(),
                    reason: message,
                };
            }
            _ => {}
        }
    }
    SqlError::Backend {
        backend: SqlBackend::Sqlite,
        message: format!("{target}: {}", chain(&err)),
        source: Some(Box::new(err)),
    }
}

//! [`SqlTx`]: the statements a transaction body can run, the same on both backends.

use super::error::{SqlBackend, SqlError};
use super::value::{SqlRow, SqlValue};

/// An open transaction. Bodies run synchronously on a blocking thread; the transaction
/// commits when the body returns `Ok` and rolls back when it returns `Err` (or panics).
///
/// SQL uses `$1..$n` placeholders on both backends.
pub trait SqlTx {
    /// Which engine this is (for the rare dialect-specific statement).
    fn backend(&self) -> SqlBackend;

    /// Run one statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, SqlError>;

    /// Run one query; all its rows.
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>, SqlError>;

    /// Run one query expected to return at most one row.
    fn query_opt(&mut self, sql: &str, params: &[SqlValue]) -> Result<Option<SqlRow>, SqlError> {
        let mut rows = self.query(sql, params)?;
        match rows.len() {
            0 | 1 => Ok(rows.pop()),
            found => Err(SqlError::TooManyRows { found }),
        }
    }

    /// Run several statements without parameters (DDL, migrations).
    fn execute_batch(&mut self, sql: &str) -> Result<(), SqlError>;
}

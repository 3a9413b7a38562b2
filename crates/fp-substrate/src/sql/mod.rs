//! SQL state: SQLite (embedded) or PostgreSQL (services) behind one API.
//!
//! * [`SqlStore`]: open by URL, run transactions ([`SqlStore::transact`]), migrate, check
//!   health;
//! * [`SqlTx`]: the statements a transaction body runs (`$1..$n` placeholders on both
//!   backends);
//! * [`SqlValue`] / [`SqlRow`]: portable values and rows with typed, non-panicking getters;
//! * [`Migration`]: versioned, checksummed schema changes per component;
//! * [`SqlError`]: typed failures (unique violation, unavailable, migration drift, ...).
//!
//! SQLite runs with WAL and `synchronous=FULL` (a commit survives power loss); PostgreSQL
//! uses a small connection pool. Both backends' drivers are synchronous, so async callers go
//! through [`SqlStore::transact`], which runs the body on tokio's blocking pool.
//! PostgreSQL connections use no TLS (`sslmode=require` is refused at connect).

mod dsn;
mod error;
mod migrate;
mod pg;
mod pg_types;
mod placeholders;
mod sqlite;
mod store;
mod tx;
mod value;

pub use dsn::redact as redact_url;
pub use error::{BoxError, SqlBackend, SqlError};
pub use migrate::{Migration, MigrationReport};
pub use store::{SqlOptions, SqlStore};
pub use tx::SqlTx;
pub use value::{ColumnIndex, FromSqlValue, SqlRow, SqlValue};

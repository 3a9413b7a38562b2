//! [`SqlStore`]: one API over SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dsn::{Dsn, redact};
use super::error::{SqlBackend, SqlError};
use super::migrate::{self, Migration, MigrationReport};
use super::pg::PgPool;
use super::sqlite::SqliteDb;
use super::tx::SqlTx;

/// Tuning for [`SqlStore::open_with`].
#[derive(Debug, Clone)]
pub struct SqlOptions {
    /// Most PostgreSQL connections held at once.
    pub pool_size: usize,
    /// How long a PostgreSQL transaction waits for a free pooled connection.
    pub acquire_timeout: Duration,
    /// PostgreSQL connect timeout (unless the URL sets `connect_timeout`).
    pub connect_timeout: Duration,
    /// How long SQLite waits on a file locked by another process.
    pub busy_timeout: Duration,
}

impl Default for SqlOptions {
    fn default() -> Self {
        Self {
            pool_size: 4,
            acquire_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

enum Engine {
    Sqlite(SqliteDb),
    // Boxed: the pool is much larger than the SQLite handle.
    Postgres(Box<PgPool>),
}

impl Engine {
    fn open(url: &str, options: &SqlOptions) -> Result<Self, SqlError> {
        Ok(match Dsn::parse(url)? {
            Dsn::SqliteFile(path) => {
                Self::Sqlite(SqliteDb::open_file(&path, options.busy_timeout)?)
            }
            Dsn::SqliteMemory => Self::Sqlite(SqliteDb::open_memory(options.busy_timeout)?),
            Dsn::Postgres(url) => Self::Postgres(Box::new(PgPool::open(
                &url,
                redact(&url),
                options.pool_size,
                options.connect_timeout,
                options.acquire_timeout,
            )?)),
        })
    }

    /// Must run on a thread that is not driving async tasks (see [`off_runtime`]).
    fn transact<T>(
        &self,
        f: impl FnOnce(&mut dyn SqlTx) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        match self {
            Self::Sqlite(db) => db.transact(f),
            Self::Postgres(pool) => pool.transact(f),
        }
    }

    fn migrate(
        &self,
        component: &str,
        migrations: &[Migration],
    ) -> Result<MigrationReport, SqlError> {
        migrate::run(component, migrations, |body| self.transact(|tx| body(tx)))
    }

    fn health(&self) -> Result<Duration, SqlError> {
        let start = Instant::now();
        match self {
            Self::Sqlite(db) => db.ping()?,
            Self::Postgres(pool) => pool.ping()?,
        }
        Ok(start.elapsed())
    }
}

/// SQL state: SQLite (`sqlite:///abs/path.db`, `sqlite:relative.db`, `sqlite::memory:`) or
/// PostgreSQL (`postgres://...`, `postgresql://...`) behind one API. Cheap to clone.
///
/// Work happens in transactions: a synchronous body gets a [`SqlTx`], and the transaction
/// commits if the body returns `Ok` and rolls back if it returns `Err`. That makes the
/// platform's recurring pattern (state change + dedupe row + checkpoint, all or nothing) a
/// single call:
///
/// ```no_run
/// # async fn demo() -> Result<(), fp_substrate::sql::SqlError> {
/// use fp_substrate::sql::{Migration, SqlError, SqlStore, SqlValue};
///
/// let store = SqlStore::open("sqlite:///var/lib/fp/state.db").await?;
/// store
///     .migrate(
///         "decision",
///         &[Migration {
///             version: 1,
///             name: "state, dedupe, checkpoint",
///             sql: "CREATE TABLE entity_state (entity TEXT PRIMARY KEY, total BIGINT NOT NULL);
///                   CREATE TABLE seen (event_id TEXT PRIMARY KEY);
///                   CREATE TABLE checkpoint (part BIGINT PRIMARY KEY, next_offset BIGINT NOT NULL);",
///         }],
///     )
///     .await?;
///
/// let (event_id, entity, amount, partition, offset) = ("e-1".to_owned(), "card-9", 250_i64, 3_i64, 41_i64);
/// let applied = store
///     .transact(move |tx| {
///         // Dedupe: a replayed event inserts nothing and changes nothing else.
///         let fresh = tx.execute(
///             "INSERT INTO seen (event_id) VALUES ($1) ON CONFLICT DO NOTHING",
///             &[event_id.into()],
///         )?;
///         if fresh == 1 {
///             tx.execute(
///                 "INSERT INTO entity_state (entity, total) VALUES ($1, $2)
///                  ON CONFLICT (entity) DO UPDATE SET total = entity_state.total + $2",
///                 &[entity.into(), amount.into()],
///             )?;
///         }
///         // The checkpoint moves in the same transaction: after a crash, state and offset
///         // agree, so the event is neither lost nor counted twice.
///         tx.execute(
///             "INSERT INTO checkpoint (part, next_offset) VALUES ($1, $2)
///              ON CONFLICT (part) DO UPDATE SET next_offset = $2",
///             &[partition.into(), SqlValue::Int(offset + 1)],
///         )?;
///         Ok::<_, SqlError>(fresh == 1)
///     })
///     .await?;
/// # let _ = applied;
/// # Ok(())
/// # }
/// ```
///
/// Isolation is each backend's default: SQLite transactions are serialisable (one writer at a
/// time), PostgreSQL runs READ COMMITTED, so write read-modify-write steps as single
/// statements (`UPDATE t SET n = n + 1 ... RETURNING n`) or guard them with a unique row.
#[derive(Clone)]
pub struct SqlStore {
    engine: Arc<Engine>,
    backend: SqlBackend,
    target: Arc<str>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend)
            .field("target", &self.target)
            .finish()
    }
}

impl SqlStore {
    /// Open `url` with default [`SqlOptions`]. PostgreSQL is connected to immediately, so a
    /// wrong URL or a down server fails here with the URL (password redacted) in the error.
    pub async fn open(url: &str) -> Result<Self, SqlError> {
        Self::open_with(url, SqlOptions::default()).await
    }

    /// [`Self::open`] with explicit options.
    pub async fn open_with(url: &str, options: SqlOptions) -> Result<Self, SqlError> {
        let url = url.to_owned();
        blocking(move || Self::open_now(&url, &options)).await
    }

    /// [`Self::open`] for synchronous callers.
    pub fn open_blocking(url: &str) -> Result<Self, SqlError> {
        Self::open_blocking_with(url, SqlOptions::default())
    }

    /// [`Self::open_with`] for synchronous callers.
    pub fn open_blocking_with(url: &str, options: SqlOptions) -> Result<Self, SqlError> {
        off_runtime(|| Self::open_now(url, &options))
    }

    fn open_now(url: &str, options: &SqlOptions) -> Result<Self, SqlError> {
        let engine = Engine::open(url, options)?;
        let (backend, target): (SqlBackend, Arc<str>) = match &engine {
            Engine::Sqlite(_) => (SqlBackend::Sqlite, Arc::from(url)),
            Engine::Postgres(pool) => (SqlBackend::Postgres, Arc::from(pool.target())),
        };
        Ok(Self {
            engine: Arc::new(engine),
            backend,
            target,
        })
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> SqlBackend {
        self.backend
    }

    /// The URL this store was opened with, password redacted.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Run `f` in one transaction on a blocking thread: commit on `Ok`, roll back on `Err`
    /// (use [`SqlError::abort`] to roll back with your own error).
    pub async fn transact<T, F>(&self, f: F) -> Result<T, SqlError>
    where
        F: FnOnce(&mut dyn SqlTx) -> Result<T, SqlError> + Send + 'static,
        T: Send + 'static,
    {
        let engine = Arc::clone(&self.engine);
        blocking(move || engine.transact(f)).await
    }

    /// [`Self::transact`] for synchronous callers; blocks the calling thread. Safe to call
    /// from inside a tokio runtime (PostgreSQL work then moves to a short-lived thread), but
    /// async code should prefer [`Self::transact`].
    pub fn transact_blocking<T, F>(&self, f: F) -> Result<T, SqlError>
    where
        F: FnOnce(&mut dyn SqlTx) -> Result<T, SqlError> + Send,
        T: Send,
    {
        match &*self.engine {
            // SQLite has no runtime of its own: run right here.
            Engine::Sqlite(db) => db.transact(f),
            Engine::Postgres(pool) => off_runtime(|| pool.transact(f)),
        }
    }

    /// Bring `component`'s schema up to date (see [`Migration`]): apply what is pending, each
    /// in its own transaction; verify what is applied; refuse drift.
    pub async fn migrate(
        &self,
        component: &str,
        migrations: &[Migration],
    ) -> Result<MigrationReport, SqlError> {
        let engine = Arc::clone(&self.engine);
        let component = component.to_owned();
        let migrations = migrations.to_vec();
        blocking(move || engine.migrate(&component, &migrations)).await
    }

    /// [`Self::migrate`] for synchronous callers.
    pub fn migrate_blocking(
        &self,
        component: &str,
        migrations: &[Migration],
    ) -> Result<MigrationReport, SqlError> {
        off_runtime(|| self.engine.migrate(component, migrations))
    }

    /// Round-trip time of `SELECT 1`, or [`SqlError::Unavailable`].
    pub async fn health(&self) -> Result<Duration, SqlError> {
        let engine = Arc::clone(&self.engine);
        blocking(move || engine.health()).await
    }
}

/// Run `f` on tokio's blocking pool, where synchronous drivers may block (and where the
/// `postgres` crate may start its own runtime). Panics in `f` propagate to the caller.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SqlError> + Send + 'static,
) -> Result<T, SqlError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(SqlError::Task {
            reason: e.to_string(),
        }),
    }
}

/// Run `f` where the `postgres` crate can block: here if this thread is outside any tokio
/// runtime, else on a scoped helper thread (blocking inside a runtime would panic).
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

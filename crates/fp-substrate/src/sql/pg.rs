//! The PostgreSQL backend: a small pool of synchronous `postgres` clients.
//!
//! The `postgres` crate drives its own single-threaded tokio runtime, so every call here
//! (including dropping a client) must happen on a thread that is not running async tasks;
//! [`super::SqlStore`] guarantees that by calling in from blocking threads.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};

use super::error::{SqlBackend, SqlError, chain};
use super::pg_types::{Cell, PgParam, decodable};
use super::tx::SqlTx;
use super::value::{SqlRow, SqlValue};

/// Prepared statements kept per connection; cleared when full (simple and bounded).
const STATEMENT_CACHE_CAP: usize = 256;

/// One pooled connection and its prepared statements.
struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
}

struct PoolState {
    idle: Vec<PgConn>,
    /// Connections open, idle or checked out.
    open: usize,
}

/// A bounded pool: reuses connections, drops broken ones, opens replacements on demand.
pub(crate) struct PgPool {
    config: postgres::Config,
    /// The URL with its password redacted, for errors.
    target: String,
    max: usize,
    acquire_timeout: Duration,
    state: Mutex<PoolState>,
    freed: Condvar,
}

/// A checked-out connection; returns to the pool on drop unless it broke.
struct Checkout<'a> {
    pool: &'a PgPool,
    conn: Option<PgConn>,
    broken: bool,
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let mut state = self.pool.lock();
        if self.broken || conn.client.is_closed() {
            state.open = state.open.saturating_sub(1);
            drop(state);
            // Closing a dead client is quick; done outside the lock anyway.
            drop(conn);
        } else {
            state.idle.push(conn);
            drop(state);
        }
        self.pool.freed.notify_one();
    }
}

impl PgPool {
    /// Parse `url`, connect once (so a wrong URL or a down server is reported at open).
    pub(crate) fn open(
        url: &str,
        target: String,
        max: usize,
        connect_timeout: Duration,
        acquire_timeout: Duration,
    ) -> Result<Self, SqlError> {
        let mut config: postgres::Config =
            url.parse()
                .map_err(|e: postgres::Error| SqlError::InvalidUrl {
                    url: target.clone(),
                    reason: chain(&e),
                })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("fraud-platform");
        }
        let pool = Self {
            config,
            target,
            max: max.max(1),
            acquire_timeout,
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        };
        drop(pool.checkout()?);
        Ok(pool)
    }

    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // The state is two plain fields updated atomically under the lock; a panic elsewhere
        // cannot leave it half-written.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn connect(&self) -> Result<PgConn, SqlError> {
        match self.config.connect(NoTls) {
            Ok(client) => Ok(PgConn {
                client,
                statements: HashMap::new(),
            }),
            Err(e) if e.as_db_error().is_some() => Err(SqlError::Connect {
                target: self.target.clone(),
                reason: describe(&e),
            }),
            Err(e) => Err(SqlError::Unavailable {
                target: self.target.clone(),
                reason: chain(&e),
            }),
        }
    }

    fn checkout(&self) -> Result<Checkout<'_>, SqlError> {
        let deadline = Instant::now() + self.acquire_timeout;
        let mut state = self.lock();
        loop {
            while let Some(conn) = state.idle.pop() {
                if conn.client.is_closed() {
                    state.open = state.open.saturating_sub(1);
                    continue;
                }
                return Ok(Checkout {
                    pool: self,
                    conn: Some(conn),
                    broken: false,
                });
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(conn) => Ok(Checkout {
                        pool: self,
                        conn: Some(conn),
                        broken: false,
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SqlError::Unavailable {
                    target: self.target.clone(),
                    reason: format!(
                        "all {} pooled connections busy for {:?}",
                        self.max, self.acquire_timeout
                    ),
                });
            }
            state = self
                .freed
                .wait_timeout(state, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }

    /// Run `f` in one transaction on a pooled connection, on the calling (blocking) thread.
    pub(crate) fn transact<T>(
        &self,
        f: impl FnOnce(&mut dyn SqlTx) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        let mut f = Some(f);
        // A pooled connection may have died while idle (server restart); that shows at BEGIN,
        // before the body ran, so one retry on a fresh connection is safe.
        for attempt in 0..2 {
            let mut checkout = self.checkout()?;
            let Some(conn) = checkout.conn.as_mut() else {
                continue;
            };
            let PgConn { client, statements } = conn;
            let tx = match client.transaction() {
                Ok(tx) => tx,
                Err(e) => {
                    let err = map_err(&self.target, e);
                    checkout.broken = err.is_unavailable();
                    if attempt == 0 && checkout.broken {
                        continue;
                    }
                    return Err(err);
                }
            };
            let Some(body_fn) = f.take() else { break };
            let mut body = PgTx {
                tx,
                statements,
                target: &self.target,
            };
            let outcome = body_fn(&mut body);
            let PgTx { tx, .. } = body;
            let result = match outcome {
                Ok(value) => tx
                    .commit()
                    .map(|()| value)
                    .map_err(|e| map_err(&self.target, e)),
                Err(err) => {
                    // If even the rollback fails the session state is unknown: discard it.
                    if tx.rollback().is_err() {
                        checkout.broken = true;
                    }
                    Err(err)
                }
            };
            if let Err(err) = &result
                && err.is_unavailable()
            {
                checkout.broken = true;
            }
            return result;
        }
        Err(SqlError::Unavailable {
            target: self.target.clone(),
            reason: "connection lost before the transaction began".to_owned(),
        })
    }

    /// `SELECT 1` on a pooled connection.
    pub(crate) fn ping(&self) -> Result<(), SqlError> {
        let mut checkout = self.checkout()?;
        let Some(conn) = checkout.conn.as_mut() else {
            return Ok(());
        };
        match conn.client.simple_query("SELECT 1") {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = map_err(&self.target, e);
                checkout.broken = err.is_unavailable();
                Err(err)
            }
        }
    }
}

impl Drop for PgPool {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.lock().idle);
        if idle.is_empty() {
            return;
        }
        // Dropping a client runs its private runtime, which panics on an async worker
        // thread; the last store handle may well be dropped there.
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = std::thread::spawn(move || drop(idle)).join();
        } else {
            drop(idle);
        }
    }
}

struct PgTx<'a> {
    tx: postgres::Transaction<'a>,
    statements: &'a mut HashMap<String, Statement>,
    target: &'a str,
}

impl PgTx<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, SqlError> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.tx.prepare(sql).map_err(|e| map_err(self.target, e))?;
        if self.statements.len() >= STATEMENT_CACHE_CAP {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    /// A failed statement may be a cached plan invalidated by DDL elsewhere: forget the cache
    /// so the next transaction prepares afresh.
    fn on_error(&mut self, err: postgres::Error) -> SqlError {
        if err.code() == Some(&SqlState::FEATURE_NOT_SUPPORTED) {
            self.statements.clear();
        }
        map_err(self.target, err)
    }
}

impl SqlTx for PgTx<'_> {
    fn backend(&self) -> SqlBackend {
        SqlBackend::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, SqlError> {
        let stmt = self.statement(sql)?;
        let wrapped: Vec<PgParam<'_>> = params.iter().map(PgParam).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            wrapped.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        self.tx.execute(&stmt, &refs).map_err(|e| self.on_error(e))
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>, SqlError> {
        let stmt = self.statement(sql)?;
        let columns: Arc<[String]> = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
        if let Some(bad) = stmt.columns().iter().find(|c| !decodable(c.type_())) {
            return Err(SqlError::ColumnType {
                column: bad.name().to_owned(),
                expected: "a portable type (integer, real, text, bytea, boolean, numeric)",
                found: format!("PostgreSQL {} (cast it in the query)", bad.type_().name()),
            });
        }
        let wrapped: Vec<PgParam<'_>> = params.iter().map(PgParam).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            wrapped.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = self.tx.query(&stmt, &refs).map_err(|e| self.on_error(e))?;
        rows.iter()
            .map(|row| {
                let values = (0..columns.len())
                    .map(|i| {
                        row.try_get::<_, Cell>(i)
                            .map(|c| c.0)
                            .map_err(|e| SqlError::ColumnType {
                                column: columns[i].clone(),
                                expected: "a decodable value",
                                found: chain(&e),
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(SqlRow::new(Arc::clone(&columns), values))
            })
            .collect()
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), SqlError> {
        // DDL can change what cached statements return.
        self.statements.clear();
        self.tx
            .batch_execute(sql)
            .map_err(|e| map_err(self.target, e))
    }
}

/// A server error with everything PostgreSQL said about it.
fn describe_db(db: &postgres::error::DbError) -> String {
    let mut out = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    if let Some(detail) = db.detail() {
        out.push_str(&format!(" (detail: {detail})"));
    }
    if let Some(hint) = db.hint() {
        out.push_str(&format!(" (hint: {hint})"));
    }
    out
}

fn describe(err: &postgres::Error) -> String {
    err.as_db_error().map_or_else(|| chain(err), describe_db)
}

/// Whether the error comes from the socket rather than the server.
fn is_io(err: &postgres::Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if e.is::<std::io::Error>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// Map a driver error onto the typed kinds.
fn map_err(target: &str, err: postgres::Error) -> SqlError {
    if let Some(db) = err.as_db_error() {
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION {
            return SqlError::UniqueViolation {
                constraint: db
                    .constraint()
                    .or_else(|| db.table())
                    .unwrap_or_default()
                    .to_owned(),
                message: describe_db(db),
            };
        }
        // Class 08 (connection exception) and the shutdown codes: the server is going away.
        if code.code().starts_with("08")
            || *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
        {
            return SqlError::Unavailable {
                target: target.to_owned(),
                reason: describe_db(db),
            };
        }
        let message = describe_db(db);
        return SqlError::Backend {
            backend: SqlBackend::Postgres,
            message,
            source: Some(Box::new(err)),
        };
    }
    if err.is_closed() || is_io(&err) {
        return SqlError::Unavailable {
            target: target.to_owned(),
            reason: chain(&err),
        };
    }
    SqlError::Backend {
        backend: SqlBackend::Postgres,
        message: chain(&err),
        source: Some(Box::new(err)),
    }
}

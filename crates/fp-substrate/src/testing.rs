//! Test support shared by every crate's service-backed tests (not for production code).
//!
//! Policy (decision 0006): a test that needs a service it cannot reach *fails* when
//! `FP_TEST_REQUIRE_SERVICES=1` (the test command sets it) and prints a `SKIP` line otherwise.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::sql::SqlStore;

/// Default PostgreSQL DSN when `FP_TEST_PG_DSN` is not set.
pub const DEFAULT_PG_DSN: &str = "postgresql://postgres@127.0.0.1:5432/test";

/// Whether missing services fail the run (`FP_TEST_REQUIRE_SERVICES=1`).
pub fn services_required() -> bool {
    std::env::var("FP_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A service is missing: panic when services are required, else print a SKIP line.
/// Returns `None` so callers can `return` straight away.
///
/// # Panics
/// When `FP_TEST_REQUIRE_SERVICES=1`: that is the point.
pub fn missing<T>(test: &str, service: &str, why: &str) -> Option<T> {
    assert!(
        !services_required(),
        "{test}: {service} is required (FP_TEST_REQUIRE_SERVICES=1) but {why}"
    );
    eprintln!("SKIP {test}: {service} {why} (set it up or run scripts/test.sh)");
    None
}

/// A lowercase name nobody else is using: for S3 prefixes, schemas, consumers and files.
pub fn unique(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut h = RandomState::new().build_hasher();
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{tag}_{:016x}", h.finish())
}

/// Whether something accepts TCP connections at `host:port` within a second.
pub fn reachable(host: &str, port: u16) -> bool {
    let Ok(addrs) = (host, port).to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
}

/// Host and port of a URL (`scheme://[user[:pw]@]host[:port]/...`).
pub fn host_port(url: &str, default_port: u16) -> Option<(String, u16)> {
    let parsed = url::Url::parse(url).ok()?;
    Some((
        parsed.host_str()?.to_owned(),
        parsed.port().unwrap_or(default_port),
    ))
}

/// The PostgreSQL DSN tests use (`FP_TEST_PG_DSN` or [`DEFAULT_PG_DSN`]).
pub fn pg_base_dsn() -> String {
    std::env::var("FP_TEST_PG_DSN")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| DEFAULT_PG_DSN.to_owned())
}

/// `dsn` with `options=-c search_path=<schema>` so every pooled connection lands in it.
pub fn with_search_path(dsn: &str, schema: &str) -> String {
    let sep = if dsn.contains('?') { '&' } else { '?' };
    format!("{dsn}{sep}options=-c%20search_path%3D{schema}")
}

/// A freshly created PostgreSQL schema for one test, dropped (best effort) when dropped, so
/// tests sharing a database never see each other's tables.
#[derive(Debug)]
pub struct PgSchema {
    base: String,
    schema: String,
}

impl PgSchema {
    /// Create the schema, or report the database missing per the policy above.
    ///
    /// # Panics
    /// When the database is required but unreachable, or the schema cannot be created.
    pub async fn create(test: &str) -> Option<Self> {
        let base = pg_base_dsn();
        let Some((host, port)) = host_port(&base, 5432) else {
            return missing(test, "PostgreSQL", "FP_TEST_PG_DSN is not a URL");
        };
        if !reachable(&host, port) {
            return missing(
                test,
                "PostgreSQL",
                &format!("{host}:{port} does not answer"),
            );
        }
        let admin = match SqlStore::open(&base).await {
            Ok(store) => store,
            Err(e) => return missing(test, "PostgreSQL", &e.to_string()),
        };
        let schema = unique("fp_t");
        let ddl = format!("CREATE SCHEMA {schema}");
        if let Err(e) = admin.transact(move |tx| tx.execute_batch(&ddl)).await {
            panic!("{test}: cannot create a test schema: {e}");
        }
        Some(Self { base, schema })
    }

    /// A DSN whose connections all use this schema.
    pub fn url(&self) -> String {
        with_search_path(&self.base, &self.schema)
    }

    /// The DSN without the schema option.
    pub fn base_url(&self) -> &str {
        &self.base
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // Best effort: a leaked test schema is harmless but untidy.
        let ddl = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        if let Ok(admin) = SqlStore::open_blocking(&self.base) {
            let _ = admin.transact_blocking(move |tx| tx.execute_batch(&ddl));
        }
    }
}

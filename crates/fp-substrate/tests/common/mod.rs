//! Shared by the conformance suites: service discovery, skip-or-fail policy, unique names.
#![allow(dead_code)] // each suite uses a different subset

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Default PostgreSQL DSN when `FP_TEST_PG_DSN` is not set.
pub const DEFAULT_PG_DSN: &str = "postgresql://postgres@127.0.0.1:5432/test";

/// Whether missing services fail the run (`FP_TEST_REQUIRE_SERVICES=1`, set by
/// `scripts/test.sh`) instead of being skipped.
pub fn services_required() -> bool {
    std::env::var("FP_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A service is missing: fail loudly when services are required, else print a SKIP line.
/// Returns `None` so callers can `return` straight away.
pub fn missing<T>(test: &str, service: &str, why: &str) -> Option<T> {
    assert!(
        !services_required(),
        "{test}: {service} is required (FP_TEST_REQUIRE_SERVICES=1) but {why}"
    );
    eprintln!("SKIP {test}: {service} {why} (set it up or run scripts/test.sh)");
    None
}

/// A lowercase name nobody else is using: for S3 prefixes, schemas and files.
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

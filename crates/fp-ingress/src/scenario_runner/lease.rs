//! SR's SQL state: the run lease (one leader per `run_id`) and the equivalence registry
//! (`run_equivalence_key -> (run_id, intent_fingerprint)`).
//!
//! Each claim is a single statement (`INSERT ... ON CONFLICT DO NOTHING`, or an `UPDATE`
//! guarded by owner/expiry), so it is atomic on SQLite and PostgreSQL alike, across tasks and
//! processes. A lease expires so a crashed leader does not block its run forever; a live
//! leader keeps it with a [`LeaseKeeper`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fp_substrate::sql::{Migration, SqlError, SqlStore, SqlValue};

/// Component name in `fp_schema_migrations`.
pub const COMPONENT: &str = "scenario_runner";

/// SR's migrations.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "sr lease and equivalence registry",
    sql: "CREATE TABLE IF NOT EXISTS sr_run_lease (
        run_id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at_micros BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS sr_run_equivalence (
        run_equivalence_key TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        intent_fingerprint TEXT NOT NULL
    );",
}];

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Register `key -> (run_id, fingerprint)`; returns the fingerprint registered first (equal
/// to `fingerprint` unless the key was used for another intent).
pub async fn register_equivalence(
    sql: &SqlStore,
    key: &str,
    run_id: &str,
    fingerprint: &str,
) -> Result<String, SqlError> {
    let (key, run_id, fingerprint) = (key.to_owned(), run_id.to_owned(), fingerprint.to_owned());
    sql.transact(move |tx| {
        tx.execute(
            "INSERT INTO sr_run_equivalence (run_equivalence_key, run_id, intent_fingerprint)
             VALUES ($1, $2, $3) ON CONFLICT (run_equivalence_key) DO NOTHING",
            &[
                SqlValue::Text(key.clone()),
                SqlValue::Text(run_id),
                SqlValue::Text(fingerprint.clone()),
            ],
        )?;
        let row = tx.query_opt(
            "SELECT intent_fingerprint FROM sr_run_equivalence WHERE run_equivalence_key = $1",
            &[SqlValue::Text(key)],
        )?;
        match row {
            Some(r) => r.get_string(0),
            None => Ok(fingerprint),
        }
    })
    .await
}

/// Try to become (or stay) the leader of `run_id` for `ttl`. True when `owner` holds it.
pub async fn try_acquire(
    sql: &SqlStore,
    run_id: &str,
    owner: &str,
    ttl: Duration,
) -> Result<bool, SqlError> {
    let (run_id, owner) = (run_id.to_owned(), owner.to_owned());
    let now = now_micros();
    let expires = now.saturating_add(i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX));
    sql.transact(move |tx| {
        let inserted = tx.execute(
            "INSERT INTO sr_run_lease (run_id, owner, expires_at_micros) VALUES ($1, $2, $3)
             ON CONFLICT (run_id) DO NOTHING",
            &[
                SqlValue::Text(run_id.clone()),
                SqlValue::Text(owner.clone()),
                SqlValue::Int(expires),
            ],
        )?;
        if inserted == 1 {
            return Ok(true);
        }
        // Held: take it over only if it is ours or its holder let it expire.
        let updated = tx.execute(
            "UPDATE sr_run_lease SET owner = $2, expires_at_micros = $3
             WHERE run_id = $1 AND (owner = $2 OR expires_at_micros < $4)",
            &[
                SqlValue::Text(run_id),
                SqlValue::Text(owner),
                SqlValue::Int(expires),
                SqlValue::Int(now),
            ],
        )?;
        Ok(updated == 1)
    })
    .await
}

/// Give the lease up (only if `owner` holds it).
pub async fn release(sql: &SqlStore, run_id: &str, owner: &str) -> Result<(), SqlError> {
    let (run_id, owner) = (run_id.to_owned(), owner.to_owned());
    sql.transact(move |tx| {
        tx.execute(
            "DELETE FROM sr_run_lease WHERE run_id = $1 AND owner = $2",
            &[SqlValue::Text(run_id), SqlValue::Text(owner)],
        )?;
        Ok(())
    })
    .await
}

/// Keeps a held lease alive: renews it every third of its ttl while the leader works (a
/// 1M-flow world verifies for longer than a short ttl; waiting for evidence can take the whole
/// evidence deadline). If a renewal finds the lease taken over, [`LeaseKeeper::held`] turns
/// false and the leader stops before writing anything further. Dropping it stops renewing.
#[derive(Debug)]
pub struct LeaseKeeper {
    lost: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl LeaseKeeper {
    /// Start renewing `owner`'s lease on `run_id` (already acquired) for `ttl` at a time.
    pub fn start(sql: SqlStore, run_id: String, owner: String, ttl: Duration) -> Self {
        let lost = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&lost);
        let every = (ttl / 3).max(Duration::from_millis(10));
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match try_acquire(&sql, &run_id, &owner, ttl).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(%run_id, %owner, "SR lease taken over; stopping");
                        flag.store(true, Ordering::SeqCst);
                        return;
                    }
                    // A failed renewal is retried; the lease lasts `ttl` from the last success.
                    Err(e) => tracing::warn!(%run_id, error = %e, "SR lease renewal failed"),
                }
            }
        });
        Self { lost, task }
    }

    /// True while no other owner has taken the lease over.
    pub fn held(&self) -> bool {
        !self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

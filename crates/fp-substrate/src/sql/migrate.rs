//! Schema migrations, tracked per component in `fp_schema_migrations`.
//!
//! Each pending migration runs in its own transaction together with its bookkeeping row, so a
//! failure leaves the schema at the previous version. Applied migrations are pinned by the
//! sha256 of their SQL: editing one after release is refused ([`SqlError::MigrationDrift`])
//! instead of silently diverging between environments. Concurrent migrators are serialised
//! (PostgreSQL: a transaction-scoped advisory lock; SQLite: `BEGIN IMMEDIATE`), and each
//! re-checks what is applied after taking the lock, so two processes starting together both
//! succeed and apply each migration once.

use fp_rails::TsUtc;
use fp_rails::digest::sha256_hex;

use super::error::{SqlBackend, SqlError};
use super::tx::SqlTx;
use super::value::SqlValue;

/// One schema change. Write portable DDL (`BIGINT`, `TEXT`, `DOUBLE PRECISION`, `BYTEA`) so
/// the same migration runs on both backends; statements that cannot run inside a transaction
/// (`CREATE INDEX CONCURRENTLY`) are not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Strictly increasing, starting at 1.
    pub version: i64,
    /// Short description (informational: renaming does not count as drift).
    pub name: &'static str,
    /// The DDL, possibly several statements.
    pub sql: &'static str,
}

/// What a [`super::SqlStore::migrate`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this call.
    pub applied: Vec<i64>,
    /// Versions that were already applied (checksums verified).
    pub already_applied: Vec<i64>,
}

/// `pg_advisory_xact_lock` key shared by every migrator ("fpmigrat" in ASCII).
const LOCK_KEY: i64 = 0x6670_6d69_6772_6174;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS fp_schema_migrations (
    component TEXT NOT NULL,
    version BIGINT NOT NULL,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (component, version)
)";

fn checksum(m: &Migration) -> String {
    sha256_hex(m.sql.as_bytes())
}

fn lock(tx: &mut dyn SqlTx) -> Result<(), SqlError> {
    if tx.backend() == SqlBackend::Postgres {
        tx.execute(&format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"), &[])?;
    }
    Ok(())
}

fn validate(component: &str, migrations: &[Migration]) -> Result<(), SqlError> {
    let invalid = |reason: String| SqlError::InvalidMigration {
        component: component.to_owned(),
        reason,
    };
    if component.is_empty() {
        return Err(invalid("empty component name".to_owned()));
    }
    let mut previous = 0;
    for m in migrations {
        if m.version <= previous {
            return Err(invalid(format!(
                "version {} must be greater than {previous} (versions start at 1 and increase)",
                m.version
            )));
        }
        if m.name.trim().is_empty() {
            return Err(invalid(format!("version {} has an empty name", m.version)));
        }
        previous = m.version;
    }
    Ok(())
}

/// Check one applied row against this build's migration list.
fn verify_applied(
    component: &str,
    version: i64,
    applied_checksum: &str,
    migrations: &[Migration],
) -> Result<(), SqlError> {
    let drift = |reason: String| SqlError::MigrationDrift {
        component: component.to_owned(),
        version,
        reason,
    };
    match migrations.iter().find(|m| m.version == version) {
        None => Err(drift(
            "applied in the database but unknown to this build (is an older binary running?)"
                .to_owned(),
        )),
        Some(m) if checksum(m) != applied_checksum => Err(drift(format!(
            "the SQL of applied migration `{}` has changed (applied sha256 {applied_checksum}, \
             this build {})",
            m.name,
            checksum(m)
        ))),
        Some(_) => Ok(()),
    }
}

/// Apply what is pending, verifying what is applied. `transact` runs one transaction.
pub(crate) fn run(
    component: &str,
    migrations: &[Migration],
    mut transact: impl FnMut(
        &mut dyn FnMut(&mut dyn SqlTx) -> Result<bool, SqlError>,
    ) -> Result<bool, SqlError>,
) -> Result<MigrationReport, SqlError> {
    validate(component, migrations)?;
    // First pass: create the table and verify everything already applied.
    let mut applied_before = Vec::new();
    transact(&mut |tx| {
        lock(tx)?;
        tx.execute_batch(CREATE_TABLE)?;
        let rows = tx.query(
            "SELECT version, checksum FROM fp_schema_migrations WHERE component = $1 \
             ORDER BY version",
            &[SqlValue::from(component)],
        )?;
        applied_before.clear();
        for row in rows {
            let version = row.get_i64("version")?;
            verify_applied(component, version, row.get_str("checksum")?, migrations)?;
            applied_before.push(version);
        }
        Ok(true)
    })?;

    let mut report = MigrationReport::default();
    for m in migrations {
        if applied_before.contains(&m.version) {
            report.already_applied.push(m.version);
            continue;
        }
        let applied_now = transact(&mut |tx| {
            lock(tx)?;
            // Another process may have applied it while we waited for the lock.
            let existing = tx.query_opt(
                "SELECT checksum FROM fp_schema_migrations WHERE component = $1 AND version = $2",
                &[SqlValue::from(component), SqlValue::from(m.version)],
            )?;
            if let Some(row) = existing {
                verify_applied(component, m.version, row.get_str("checksum")?, migrations)?;
                return Ok(false);
            }
            tx.execute_batch(m.sql)?;
            tx.execute(
                "INSERT INTO fp_schema_migrations (component, version, name, checksum, applied_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    SqlValue::from(component),
                    SqlValue::from(m.version),
                    SqlValue::from(m.name),
                    SqlValue::from(checksum(m)),
                    SqlValue::from(TsUtc::now().as_str()),
                ],
            )?;
            Ok(true)
        })?;
        if applied_now {
            report.applied.push(m.version);
        } else {
            report.already_applied.push(m.version);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_lists_must_increase() {
        let m = |version| Migration {
            version,
            name: "x",
            sql: "SELECT 1",
        };
        assert!(validate("c", &[m(1), m(2)]).is_ok());
        assert!(validate("c", &[m(2), m(1)]).is_err());
        assert!(validate("c", &[m(0)]).is_err());
        assert!(validate("c", &[m(1), m(1)]).is_err());
        assert!(validate("", &[m(1)]).is_err());
    }
}

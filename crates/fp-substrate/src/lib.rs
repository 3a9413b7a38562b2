//! # fp-substrate
//!
//! Where the platform keeps things, and how a process learns where that is:
//!
//! * [`profile`]: environment profiles (`policy` vs `wiring`), `${ENV}` interpolation,
//!   `policy_rev` digests, runtime-only secrets;
//! * [`objects`]: the object store (local directory | S3) with write-once puts, digest-checked
//!   reads and the platform prefix map;
//! * `testing`: service discovery and isolation for tests (skip-or-fail policy, fresh
//!   PostgreSQL schemas);
//! * [`sql`]: SQL state (SQLite | PostgreSQL) with migrations, health and a transaction helper.

pub mod objects;
pub mod profile;
pub mod sql;
#[doc(hidden)]
pub mod testing;

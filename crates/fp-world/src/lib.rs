//! # fp-world
//!
//! The stand-in data engine: `generate` writes one sealed synthetic world (a run root) that a
//! consumer cannot tell from the real engine at the interface (engine_interface.md §10), and
//! `verify` re-checks a run root from the files on disk: every gate digest (§6.3), every output
//! file's digest, and every invariant of §10.5.
//!
//! * [`catalogue`]: the 12 outputs (path template, Arrow schema, primary key, ordering, gate);
//! * [`config`] and [`identity`]: configuration, `parameter_hash`/`manifest_fingerprint`/`run_id`;
//! * [`model`]: the world as a pure function of (config, seed, scenario);
//! * [`tables`] and [`write`]: the world as Arrow tables, written as deterministic Parquet;
//! * [`gates`]: the 10 HashGate bundles and their verifier; [`invariants`]: the checks;
//! * [`fasthash`]: the hasher of the checks' in-memory maps; [`pool`]: work on every core,
//!   results in job order ([`with_threads`] caps the threads; the bytes do not change).
//! * [`oracle`]: the Oracle Store: sealing a world as a pack, and its stream views for WSP.
//!
//! Run-root layout: `run_receipt.json`; each output as one Parquet file at its catalogue path
//! (`part-00000.parquet`, or the fixed `s3_campaign_catalogue_6B.parquet`); one bundle per gate
//! under `data/layer{L}/{SEG}/validation/manifest_fingerprint={mf}/`. Beyond the validation
//! report, the 5B and 6B bundles list every output file with its sha256 and row count
//! (`output_digests_5B.json`, `s5_output_digests_6B.json`) so a changed byte anywhere in the
//! data is caught and named, and the 1A bundle keeps the parameter file the identity was
//! computed from.
//!
//! Increment status (issue #3): generation runs on every core (flow ids, per-flow details,
//! the four groups of tables, the checks and the file writes are independent jobs whose
//! results are gathered in a fixed order, so the bytes do not depend on the thread count).
//! The tables are still whole in memory (the checks read them whole), written as one part
//! file each in row groups of [`write::ROW_GROUP_ROWS`]; the identity columns are slices of
//! one shared array. Time zones are the DST-free zones of [`timefmt::ZONES`].

pub mod catalogue;
pub mod config;
pub mod fasthash;
pub mod gates;
pub mod identity;
pub mod invariants;
pub mod model;
pub mod oracle;
pub mod pool;
pub mod read;
pub mod rng;
pub mod tables;
pub mod timefmt;
mod world;
pub mod write;

pub use config::{ResolvedConfig, WorldConfig};
pub use identity::WorldIdentity;
pub use pool::with_threads;
pub use world::{
    GenerateOptions, OutputCount, VerifyReport, WorldSummary, generate, generate_with, verify,
};

/// Everything that can go wrong generating or verifying a world.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// Invalid configuration.
    #[error("invalid world config: {0}")]
    Config(String),
    /// The run root exists already: runs are never overwritten.
    #[error("run root `{0}` already exists; a world is never overwritten (choose a new --out)")]
    Exists(String),
    /// File-system failure.
    #[error("I/O error on `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Parquet read/write failure.
    #[error("parquet error on `{path}`: {detail}")]
    Parquet {
        /// The file.
        path: String,
        /// Cause.
        detail: String,
    },
    /// A generator check failed: the gate's bundle was written without `_passed.flag`.
    #[error(
        "check `{rule}` failed for `{output}` ({detail}); gate {gate} has no _passed.flag in `{run_root}`"
    )]
    CheckFailed {
        /// Gate left without a flag.
        gate: String,
        /// Rule id.
        rule: String,
        /// Output concerned.
        output: String,
        /// Detail.
        detail: String,
        /// Where the (unflagged) world was published.
        run_root: String,
    },
    /// Verification failed: the first broken file and rule.
    #[error("verify failed: `{path}` breaks {rule}: {detail}")]
    Verify {
        /// Run-root-relative path of the broken file.
        path: String,
        /// Rule or gate id.
        rule: String,
        /// Detail.
        detail: String,
    },
    /// A bug: should not happen.
    #[error("internal error: {0}")]
    Internal(String),
}

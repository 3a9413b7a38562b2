//! The Oracle Store (issue #3): sealing a generated world as an oracle pack and building the
//! per-output stream views the World Stream Producer reads.
//!
//! Everything goes through [`fp_substrate::objects::Objects`], so the same code seals and
//! streams a world in a local directory or under an S3 prefix. A *run root* is a prefix in a
//! store (`""` for the store root itself).
//!
//! * [`pack`]: [`seal`] verifies the world (every gate, every digest, every invariant), then
//!   writes `_oracle_pack_manifest.json` and `_SEALED.json` last, both write-once; sealing again
//!   with the same content is a no-op, with different content a typed error naming the file.
//!   [`upload_world`] copies a local run root into a store.
//! * [`stream_view`]: [`build_stream_views`] writes, per streamed output, the rows sorted by
//!   `(ts_utc, primary key)` as one Parquet part plus `_stream_view_manifest.json` and
//!   `_stream_sort_receipt.json` under `stream_view/ts_utc/output_id={id}/`; built once and
//!   reused. [`StreamViewReader`] reads a view back in order.
//!
//! Deliberate differences from the Python reference (engine_interface.md §8.3, §9):
//! * `catalogue_digest` / `gate_map_digest` are the sha256 of the canonical JSON of fp-world's
//!   own catalogue ([`crate::catalogue::OUTPUTS`]) and gate map ([`crate::gates::GATES`]), not
//!   of the bytes of `engine_outputs.catalogue.yaml` / `engine_gates.map.yaml`, which this
//!   project does not ship. The pack id recipe itself is the reference's.
//! * Stream views are sorted by `ts_utc` then the output's primary key (the reference breaks
//!   ties by source file name and row number); `sort_keys` in the manifest and in
//!   `stream_view_id` say so.
//! * Sorting holds one decoded output in memory (the sorted output is encoded one row group
//!   at a time).

pub mod pack;
pub mod stream_view;

pub use pack::{
    ENGINE_RELEASE, MANIFEST_FILE, OraclePackManifest, OraclePackSeal, SEAL_FILE, SealOptions,
    SealOutcome, SealReport, SealStatus, WorldKey, catalogue_digest, gate_map_digest, seal,
    seal_local, sealed_manifest, upload_world,
};
pub use stream_view::{
    STREAMED_OUTPUTS, StreamViewManifest, StreamViewOptions, StreamViewOutcome, StreamViewReader,
    StreamViewReport, build_stream_view, build_stream_views, row_to_json,
};

use fp_substrate::objects::ObjectError;

use crate::WorldError;

/// Everything that can go wrong sealing a pack or building / reading a stream view.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// The world does not verify (gates, digests, invariants): it is not sealed.
    #[error("world under `{root}` does not verify, refusing to seal: {source}")]
    NotVerified {
        /// The run root (URI).
        root: String,
        /// The verifier's error (names the broken file and rule); boxed to keep every
        /// `Result` of this module small.
        source: Box<WorldError>,
    },
    /// The pack manifest already present differs from the one this world yields.
    #[error("`{path}` already exists with different content ({detail}); a pack is never resealed")]
    ManifestMismatch {
        /// Store-relative path of the manifest.
        path: String,
        /// The first differing field.
        detail: String,
    },
    /// The seal already present differs from the one this pack yields.
    #[error("`{path}` already exists with different content ({detail}); a pack is never resealed")]
    SealMismatch {
        /// Store-relative path of the seal.
        path: String,
        /// The first differing field.
        detail: String,
    },
    /// A stream view was asked of a pack that is not sealed.
    #[error(
        "pack under `{path}` is not sealed (missing or not SEALED_OK); run `fp oracle seal` first"
    )]
    NotSealed {
        /// Store-relative path of the expected seal.
        path: String,
    },
    /// The output is not one of the streamed outputs.
    #[error("`{0}` is not a streamed output (expected one of {list})", list = stream_view::STREAMED_OUTPUTS.join(", "))]
    NotStreamed(String),
    /// A source file differs from what was sealed / what an existing view was built from.
    #[error("`{path}` changed: {detail}")]
    SourceChanged {
        /// Store-relative path of the changed source (or view) file.
        path: String,
        /// What differs.
        detail: String,
    },
    /// A document (manifest, seal, receipt, digest list) is malformed.
    #[error("`{path}` is invalid: {detail}")]
    Invalid {
        /// Store-relative path.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// Parquet decode/encode failure.
    #[error("parquet error on `{path}`: {detail}")]
    Parquet {
        /// Store-relative path.
        path: String,
        /// Cause.
        detail: String,
    },
    /// Object store failure (including write-once conflicts).
    #[error(transparent)]
    Objects(#[from] ObjectError),
    /// Local file-system failure.
    #[error("I/O error on `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// `prefix/name`, or `name` at the store root.
pub(crate) fn join(prefix: &str, name: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        name.to_owned()
    } else {
        format!("{p}/{name}")
    }
}

/// Now as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub(crate) fn now_utc() -> String {
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    crate::timefmt::ts_utc(us)
}

pub(crate) fn sha_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

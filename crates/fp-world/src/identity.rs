//! World identity: `parameter_hash`, `manifest_fingerprint` and `run_id`.
//!
//! Recipes (engine_interface.md §1.2, the engine's tuple-hash, applied to the stand-in's own
//! configuration). `UER(s)` is `LE32(len(s)) || utf8(s)`, `LE64(n)` little-endian.
//!
//! * The governed parameter "file" is `fp_world_parameters.json`, whose bytes are the compact
//!   canonical JSON (`fp_rails::canonical::cj`) of `{"days", "flows", "fraud_rate",
//!   "merchants", "parties", "start_date", "model"}` with derived defaults filled in
//!   (`model` = [`MODEL_ID`]). Seed and scenario are *not* parameters: they are separate tokens.
//! * `parameter_hash = hex(SHA256(SHA256(UER("fp_world_parameters.json") || SHA256(bytes))))`
//!   (the engine recipe with one file).
//! * The opened artefacts are the parameter file and `fp_world_model` (bytes = [`MODEL_ID`]);
//!   `manifest_fingerprint = hex(SHA256(T(fp_world_model) || T(fp_world_parameters.json) ||
//!   SHA256(MODEL_ID) || parameter_hash_bytes))` with `T(a) = SHA256(UER(name) ||
//!   SHA256(bytes))`, artefacts in ASCII name order, and `SHA256(MODEL_ID)` standing in for
//!   the 32-byte code digest. Any change to a parameter or the model version changes both.
//!   The parameter file itself is kept as a member of the 1A gate bundle, so `verify`
//!   recomputes both hashes from the run root and compares them with `run_receipt.json`.
//! * `run_id = hex(SHA256(UER("run:fp-world") || mf_bytes || LE64(seed) || LE64(T_ns))[0..16])`
//!   with `T_ns` the UTC start in nanoseconds; it appears only in `run_receipt.json`.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::ResolvedConfig;

/// Version of the world model; part of the fingerprint, so a model change is a new world.
pub const MODEL_ID: &str = "fp-world/model-v1";

/// The world key: what every output path and row is scoped by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldIdentity {
    /// hex64.
    pub manifest_fingerprint: String,
    /// hex64.
    pub parameter_hash: String,
    /// Seed.
    pub seed: u64,
    /// Scenario id.
    pub scenario_id: String,
}

fn uer(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + s.len());
    v.extend_from_slice(&(s.len() as u32).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
    v
}

fn t_of(name: &str, bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(uer(name));
    h.update(Sha256::digest(bytes));
    h.finalize().into()
}

/// The bytes of the virtual parameter file.
pub fn parameter_bytes(cfg: &ResolvedConfig) -> String {
    fp_rails::canonical::cj(&json!({
        "days": cfg.days,
        "flows": cfg.flows,
        "fraud_rate": cfg.fraud_rate,
        "merchants": cfg.merchants,
        "parties": cfg.parties,
        "start_date": cfg.start_date,
        "model": MODEL_ID,
    }))
}

/// Compute the identity of the world `cfg` describes.
pub fn identity(cfg: &ResolvedConfig) -> WorldIdentity {
    let (manifest_fingerprint, parameter_hash) = hashes(parameter_bytes(cfg).as_bytes());
    WorldIdentity {
        manifest_fingerprint,
        parameter_hash,
        seed: cfg.seed,
        scenario_id: cfg.scenario_id.clone(),
    }
}

/// `(manifest_fingerprint, parameter_hash)` of a parameter file's bytes (the recipe above);
/// `verify` recomputes the identity from the copy kept in the 1A bundle.
pub fn hashes(params: &[u8]) -> (String, String) {
    let t_params = t_of(PARAMETER_FILE, params);
    let ph: [u8; 32] = Sha256::digest(t_params).into();
    let t_model = t_of("fp_world_model", MODEL_ID.as_bytes());
    let mut h = Sha256::new();
    // ASCII order: "fp_world_model" < "fp_world_parameters.json".
    h.update(t_model);
    h.update(t_params);
    h.update(Sha256::digest(MODEL_ID.as_bytes()));
    h.update(ph);
    let mf: [u8; 32] = h.finalize().into();
    (hex::encode(mf), hex::encode(ph))
}

/// Name of the governed parameter file (kept as a member of the 1A bundle).
pub const PARAMETER_FILE: &str = "fp_world_parameters.json";

/// `run_id` for a world started at `t_ns` (nanoseconds since the epoch, UTC).
pub fn run_id(id: &WorldIdentity, t_ns: u64) -> String {
    let mut h = Sha256::new();
    h.update(uer("run:fp-world"));
    h.update(hex::decode(&id.manifest_fingerprint).unwrap_or_default());
    h.update(id.seed.to_le_bytes());
    h.update(t_ns.to_le_bytes());
    let d = h.finalize();
    hex::encode(&d[..16])
}

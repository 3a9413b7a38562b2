//! sha256 helpers and the `{algo, hex}` digest object carried by receipts and locators.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::canonical;
use crate::hexid::Hex64;

/// Lowercase hex sha256 of raw bytes.
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(bytes.as_ref()))
}

/// `H32(x)`: the first 32 hex characters (128 bits) of `sha256(x)`; the reference's short ids.
pub fn h32(bytes: impl AsRef<[u8]>) -> String {
    let mut full = sha256_hex(bytes);
    full.truncate(32);
    full
}

/// sha256 of the compact canonical JSON of a value.
pub fn sha256_cj(value: &serde_json::Value) -> String {
    sha256_hex(canonical::cj(value))
}

/// sha256 of the loose (Scenario Runner) canonical JSON of a value.
pub fn sha256_cj_sr(value: &serde_json::Value) -> String {
    sha256_hex(canonical::cj_sr(value))
}

/// `RECIPE(r, p) = sha256(CJ({"recipe": r, "payload": p}))`: the named-recipe hash used by the
/// decision fabric, case management, label store and learning ids.
pub fn recipe(name: &str, payload: serde_json::Value) -> String {
    sha256_cj(&serde_json::json!({ "recipe": name, "payload": payload }))
}

/// The only digest algorithm the platform accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DigestAlgo {
    /// SHA-256, lowercase hex.
    #[serde(rename = "sha256")]
    Sha256,
}

/// `{"algo": "sha256", "hex": "<64 hex>"}`: a content digest (receipts' `payload_hash`,
/// locators' `content_digest`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentDigest {
    /// Always `sha256`.
    pub algo: DigestAlgo,
    /// The digest value.
    pub hex: Hex64,
}

impl ContentDigest {
    /// Digest of `bytes`.
    pub fn of(bytes: impl AsRef<[u8]>) -> Self {
        Self::from_hex64(Hex64::digest(bytes))
    }

    /// Wrap an already computed sha256.
    pub fn from_hex64(hex: Hex64) -> Self {
        Self {
            algo: DigestAlgo::Sha256,
            hex,
        }
    }

    /// Whether `bytes` hash to this digest.
    pub fn matches(&self, bytes: impl AsRef<[u8]>) -> bool {
        self.hex.as_str() == sha256_hex(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(h32(b""), "e3b0c44298fc1c149afbf4c8996fb924");
    }

    #[test]
    fn content_digest_detects_changes() {
        let d = ContentDigest::of(b"world");
        assert!(d.matches(b"world"));
        assert!(!d.matches(b"World"));
        let json = serde_json::to_string(&d).expect("serialise");
        assert_eq!(
            json,
            format!(r#"{{"algo":"sha256","hex":"{}"}}"#, sha256_hex(b"world"))
        );
    }
}

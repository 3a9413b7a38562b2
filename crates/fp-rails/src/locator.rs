//! By-reference transport: locators carry a path and a content digest, and a reader that finds
//! different bytes fails closed (contracts rail R4).

use serde::{Deserialize, Serialize};

use crate::digest::ContentDigest;
use crate::hexid::{Hex32, Hex64};
use crate::pins::ScenarioId;
use crate::time::TsUtc;

/// A digest check failed: the bytes behind a reference are not the bytes it promised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("digest mismatch for `{path}`: expected sha256 {expected}, found {actual}")]
pub struct DigestMismatch {
    /// The reference that was read.
    pub path: String,
    /// What the locator promised.
    pub expected: String,
    /// What the bytes hash to.
    pub actual: String,
}

/// A reference to one stored object and the digest of its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    /// Location: a store-relative path or a URI (`s3://bucket/key`, `file:///...`).
    #[serde(rename = "ref")]
    pub reference: String,
    /// sha256 of the object's bytes.
    pub digest: ContentDigest,
}

impl ObjectRef {
    /// A reference to `bytes` stored at `reference`.
    pub fn new(reference: impl Into<String>, bytes: &[u8]) -> Self {
        Self {
            reference: reference.into(),
            digest: ContentDigest::of(bytes),
        }
    }

    /// Check that `bytes` are the promised ones.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), DigestMismatch> {
        verify_digest(&self.reference, &self.digest, bytes)
    }
}

/// Check `bytes` against `digest`, naming `path` in the error.
pub fn verify_digest(
    path: &str,
    digest: &ContentDigest,
    bytes: &[u8],
) -> Result<(), DigestMismatch> {
    if digest.matches(bytes) {
        Ok(())
    } else {
        Err(DigestMismatch {
            path: path.to_owned(),
            expected: digest.hex.to_string(),
            actual: crate::digest::sha256_hex(bytes),
        })
    }
}

/// The engine interface's output locator: where one output of one world lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineOutputLocator {
    /// Output id from the catalogue (`^[A-Za-z0-9_.-]+$`, ≤128).
    pub output_id: String,
    /// Path or URI of the output (≤2048).
    pub path: String,
    /// World identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_fingerprint: Option<Hex64>,
    /// Parameter identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_hash: Option<Hex64>,
    /// Seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_id: Option<ScenarioId>,
    /// Engine run id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<Hex32>,
    /// Schema anchor of the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_ref: Option<String>,
    /// Dictionary anchor of the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dictionary_ref: Option<String>,
    /// When the engine produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced_at_utc: Option<TsUtc>,
    /// Digest of the output's content (recipe defined by the Oracle Store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_digest: Option<ContentDigest>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// Why a locator is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocatorError {
    /// `output_id` has characters or a length the contract forbids.
    #[error("output_id `{0}` must match ^[A-Za-z0-9_.-]+$ and be at most 128 characters")]
    OutputId(String),
    /// Empty or over-long path.
    #[error("locator path must be 1..=2048 characters (got {0})")]
    Path(usize),
    /// None of the scoping pins is present.
    #[error(
        "locator for `{0}` names no scope (manifest_fingerprint, parameter_hash, run_id or scenario_id)"
    )]
    NoScope(String),
}

impl EngineOutputLocator {
    /// The contract's checks beyond types.
    pub fn validate(&self) -> Result<(), LocatorError> {
        let id_ok = !self.output_id.is_empty()
            && self.output_id.len() <= 128
            && self
                .output_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !id_ok {
            return Err(LocatorError::OutputId(self.output_id.clone()));
        }
        if self.path.is_empty() || self.path.len() > 2048 {
            return Err(LocatorError::Path(self.path.len()));
        }
        if self.manifest_fingerprint.is_none()
            && self.parameter_hash.is_none()
            && self.run_id.is_none()
            && self.scenario_id.is_none()
        {
            return Err(LocatorError::NoScope(self.output_id.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ref_fails_closed_on_other_bytes() {
        let r = ObjectRef::new("sr/run_facts_view/x.json", b"{}");
        assert!(r.verify(b"{}").is_ok());
        let err = r.verify(b"{ }").expect_err("different bytes");
        assert_eq!(err.path, "sr/run_facts_view/x.json");
        assert!(err.to_string().contains("digest mismatch"));
    }

    #[test]
    fn locator_needs_a_scope_and_a_clean_id() {
        let mut l = EngineOutputLocator {
            output_id: "arrival_events_5B".into(),
            path: "data/layer2/5B/arrival_events/".into(),
            manifest_fingerprint: Some(Hex64::zero()),
            parameter_hash: None,
            seed: None,
            scenario_id: None,
            run_id: None,
            schema_ref: None,
            dictionary_ref: None,
            produced_at_utc: None,
            content_digest: None,
            notes: None,
        };
        assert!(l.validate().is_ok());
        l.output_id = "bad id".into();
        assert!(matches!(l.validate(), Err(LocatorError::OutputId(_))));
        l.output_id = "ok".into();
        l.manifest_fingerprint = None;
        assert!(matches!(l.validate(), Err(LocatorError::NoScope(_))));
    }
}

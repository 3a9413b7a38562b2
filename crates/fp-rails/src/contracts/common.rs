//! Pieces several planes share (`contracts/common.schema.json`), and the [`Contract`] forms of
//! the two rails types that are contracts in their own right: the canonical envelope and
//! `eb_ref`.

use serde::{Deserialize, Serialize};

use super::check::{self, Checked};
use super::{Contract, Violation};
use crate::digest::ContentDigest;
use crate::eb::EbRef;
use crate::envelope::{CanonicalEnvelope, EnvelopeError};

wire_enum! {
    /// Who acts at a writer boundary: a service or a person (derived from authentication,
    /// never from the payload).
    pub enum ActorSourceType {
        /// A service principal (`SYSTEM::<service>`).
        System => "SYSTEM",
        /// A person (`HUMAN::<id>`).
        Human => "HUMAN",
    }
}

/// A `{kind, ref, digest?}` evidence pointer: Ingestion Gate receipts and quarantine records
/// (with an optional digest), degrade postures (without one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceRef {
    /// What the reference points at, e.g. `quarantine_record`, `receipt_ref`, `dl_snapshot`
    /// (1..=64).
    pub kind: String,
    /// The reference itself: a path, URI or id (1..=2048).
    #[serde(rename = "ref")]
    pub reference: String,
    /// Digest of the referenced bytes (not allowed in degrade-posture evidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<ContentDigest>,
}

impl EvidenceRef {
    /// Check lengths; `allow_digest` is false where the schema's form has no digest.
    pub(crate) fn check_at(&self, at: &str, allow_digest: bool) -> Checked {
        check::len(at, "kind", &self.kind, 1, 64)?;
        check::len(at, "ref", &self.reference, 1, 2048)?;
        if !allow_digest {
            check::absent(self.digest.as_ref(), at, "digest")?;
        }
        Ok(())
    }
}

/// Check a list of evidence refs.
pub(crate) fn check_evidence_refs(
    at: &str,
    name: &str,
    refs: &[EvidenceRef],
    allow_digest: bool,
) -> Checked {
    for (i, r) in refs.iter().enumerate() {
        r.check_at(&check::item(at, name, i), allow_digest)?;
    }
    Ok(())
}

impl Contract for CanonicalEnvelope {
    const SCHEMA: &'static str = "canonical_event_envelope";

    fn check(&self) -> Result<(), Violation> {
        self.validate().map_err(|e| match &e {
            EnvelopeError::Length { field, .. } => Violation::new(*field, e.to_string()),
            other => Violation::new("envelope", other.to_string()),
        })
    }
}

impl Contract for EbRef {
    const SCHEMA: &'static str = "eb_ref";

    fn check(&self) -> Result<(), Violation> {
        check::eb_ref("", self)
    }
}

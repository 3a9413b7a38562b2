//! Learning and registry contracts: the dataset manifest (Offline Feature Plane), the bundle
//! publication (Model Factory) and the registry lifecycle event (Model Policy Registry)
//! (`dataset_manifest`, `bundle_publication`, `registry_lifecycle_event`).
//!
//! These schemas are looser than the run-time ones (ids and offset kinds are plain non-empty
//! strings), and the structs keep that looseness so reference-produced documents still decode.

use serde::{Deserialize, Serialize};

use super::check::{self, Checked};
use super::common::ActorSourceType;
use super::{Contract, Violation};

wire_enum! {
    /// `schema_version` of a dataset manifest.
    pub enum DatasetManifestVersion {
        /// The only version.
        V0 => "learning.dataset_manifest.v0",
    }
}

wire_enum! {
    /// `schema_version` of a bundle publication.
    pub enum BundlePublicationVersion {
        /// The only version.
        V0 => "learning.bundle_publication.v0",
    }
}

wire_enum! {
    /// `schema_version` of a registry lifecycle event.
    pub enum RegistryLifecycleVersion {
        /// The only version.
        V0 => "learning.registry_lifecycle.v0",
    }
}

wire_enum! {
    /// What happened to a bundle in a registry scope.
    pub enum RegistryEventType {
        /// Published by the Model Factory (never implies ACTIVE).
        BundlePublished => "BUNDLE_PUBLISHED",
        /// Approved for promotion.
        BundleApproved => "BUNDLE_APPROVED",
        /// Made the scope's single ACTIVE bundle.
        BundlePromotedActive => "BUNDLE_PROMOTED_ACTIVE",
        /// A previous approved bundle made ACTIVE again.
        BundleRolledBack => "BUNDLE_ROLLED_BACK",
        /// Retired.
        BundleRetired => "BUNDLE_RETIRED",
    }
}

/// One origin-offset range of a dataset's replay basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayBasisRange {
    /// Topic (non-empty).
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Offset kind wire name (non-empty; not an enum here).
    pub offset_kind: String,
    /// First offset (non-empty).
    pub start_offset: String,
    /// End offset (non-empty).
    pub end_offset: String,
}

/// The label cut of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelBasis {
    /// Only labels observed at or before this time are used (non-empty text, hashed as is).
    pub label_asof_utc: String,
    /// How labels are resolved, e.g. `latest_observed` (non-empty).
    pub resolution_rule: String,
    /// Maturity window in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maturity_days: Option<u64>,
}

/// Which feature definitions a dataset was built with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDefinitionSet {
    /// e.g. `core_features` (non-empty).
    pub feature_set_id: String,
    /// e.g. `v1` (non-empty).
    pub feature_set_version: String,
}

/// Who built a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfsProvenance {
    /// Offline Feature Plane code release (non-empty).
    pub ofs_code_release_id: String,
    /// Configuration revision (non-empty).
    pub config_revision: String,
    /// Configuration digest (any text; the reference stores the policy revision here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_config_digest: Option<String>,
}

/// Immutable identity of a training/evaluation dataset, written by the Offline Feature Plane:
/// replay basis, label cut, feature definitions and provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetManifest {
    /// Always `learning.dataset_manifest.v0`.
    pub schema_version: DatasetManifestVersion,
    /// `dm_` + 32 hex (see [`crate::ids::dataset_manifest_id`]) (non-empty).
    pub dataset_manifest_id: String,
    /// Dataset fingerprint (at least 8 characters).
    pub dataset_fingerprint: String,
    /// Run the dataset is scoped to (non-empty).
    pub platform_run_id: String,
    /// Scenario runs included (non-empty strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_run_ids: Option<Vec<String>>,
    /// Origin-offset ranges (at least one).
    pub replay_basis: Vec<ReplayBasisRange>,
    /// Label cut.
    pub label_basis: LabelBasis,
    /// Feature definitions.
    pub feature_definition_set: FeatureDefinitionSet,
    /// Who built it.
    pub provenance: OfsProvenance,
}

fn check_feature_set(at: &str, id: &str, version: &str) -> Checked {
    check::min_len(at, "feature_set_id", id, 1)?;
    check::min_len(at, "feature_set_version", version, 1)
}

impl Contract for DatasetManifest {
    const SCHEMA: &'static str = "dataset_manifest";

    fn check(&self) -> Result<(), Violation> {
        check::min_len("", "dataset_manifest_id", &self.dataset_manifest_id, 1)?;
        check::min_len("", "dataset_fingerprint", &self.dataset_fingerprint, 8)?;
        check::min_len("", "platform_run_id", &self.platform_run_id, 1)?;
        check::opt(self.scenario_run_ids.as_deref(), |v| {
            check::items_min_len("", "scenario_run_ids", v, 1)
        })?;
        check::non_empty("", "replay_basis", &self.replay_basis)?;
        for (i, r) in self.replay_basis.iter().enumerate() {
            let at = check::item("", "replay_basis", i);
            check::min_len(&at, "topic", &r.topic, 1)?;
            check::min_len(&at, "offset_kind", &r.offset_kind, 1)?;
            check::min_len(&at, "start_offset", &r.start_offset, 1)?;
            check::min_len(&at, "end_offset", &r.end_offset, 1)?;
        }
        check::min_len(
            "label_basis",
            "label_asof_utc",
            &self.label_basis.label_asof_utc,
            1,
        )?;
        check::min_len(
            "label_basis",
            "resolution_rule",
            &self.label_basis.resolution_rule,
            1,
        )?;
        let f = &self.feature_definition_set;
        check_feature_set(
            "feature_definition_set",
            &f.feature_set_id,
            &f.feature_set_version,
        )?;
        check::min_len(
            "provenance",
            "ofs_code_release_id",
            &self.provenance.ofs_code_release_id,
            1,
        )?;
        check::min_len(
            "provenance",
            "config_revision",
            &self.provenance.config_revision,
            1,
        )
    }
}

/// What a bundle needs from its inputs and the current posture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleCompatibility {
    /// Feature set (non-empty).
    pub feature_set_id: String,
    /// Feature set version (non-empty).
    pub feature_set_version: String,
    /// Expected dataset manifest schema version (non-empty).
    pub input_contract_version: String,
    /// Capabilities, e.g. `pass_gate_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_capabilities: Option<Vec<String>>,
}

/// Who produced a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfProvenance {
    /// Model Factory code release (non-empty).
    pub mf_code_release_id: String,
    /// Configuration revision (non-empty).
    pub config_revision: String,
    /// Configuration digest (any text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_config_digest: Option<String>,
}

/// The Model Factory's immutable publication of one bundle (`bundle_id` + `bundle_version`),
/// with its evidence and compatibility metadata. Publishing never implies ACTIVE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundlePublication {
    /// Always `learning.bundle_publication.v0`.
    pub schema_version: BundlePublicationVersion,
    /// Bundle identity (non-empty; hex64 from [`crate::ids::bundle_id`]).
    pub bundle_id: String,
    /// Bundle version (non-empty; see [`crate::ids::bundle_version`]).
    pub bundle_version: String,
    /// Datasets trained on (at least one, non-empty strings).
    pub dataset_manifest_refs: Vec<String>,
    /// The evaluation report (non-empty).
    pub eval_report_ref: String,
    /// Compatibility metadata.
    pub compatibility: BundleCompatibility,
    /// Who produced it.
    pub provenance: MfProvenance,
}

impl Contract for BundlePublication {
    const SCHEMA: &'static str = "bundle_publication";

    fn check(&self) -> Result<(), Violation> {
        check::min_len("", "bundle_id", &self.bundle_id, 1)?;
        check::min_len("", "bundle_version", &self.bundle_version, 1)?;
        check::non_empty("", "dataset_manifest_refs", &self.dataset_manifest_refs)?;
        check::items_min_len("", "dataset_manifest_refs", &self.dataset_manifest_refs, 1)?;
        check::min_len("", "eval_report_ref", &self.eval_report_ref, 1)?;
        let c = &self.compatibility;
        check_feature_set("compatibility", &c.feature_set_id, &c.feature_set_version)?;
        check::min_len(
            "compatibility",
            "input_contract_version",
            &c.input_contract_version,
            1,
        )?;
        check::min_len(
            "provenance",
            "mf_code_release_id",
            &self.provenance.mf_code_release_id,
            1,
        )?;
        check::min_len(
            "provenance",
            "config_revision",
            &self.provenance.config_revision,
            1,
        )
    }
}

/// `{environment, mode, bundle_slot, tenant_id?}`: the registry scope a bundle is resolved in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryScopeKey {
    /// e.g. `local_parity` (non-empty).
    pub environment: String,
    /// e.g. `fraud` or `baseline` (non-empty).
    pub mode: String,
    /// e.g. `primary` (non-empty).
    pub bundle_slot: String,
    /// Tenant (any text, may be empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// `{bundle_id, bundle_version, registry_ref}`, all required: the registry's bundle reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryBundleRef {
    /// Bundle identity (non-empty).
    pub bundle_id: String,
    /// Bundle version (non-empty).
    pub bundle_version: String,
    /// Registry location (non-empty).
    pub registry_ref: String,
}

/// The governance actor of a registry event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernanceActor {
    /// `SYSTEM::<service>` or `HUMAN::<id>` (non-empty).
    pub actor_id: String,
    /// Service or person.
    pub source_type: ActorSourceType,
}

/// `{ref_type, ref_id}` evidence of a registry event, e.g. `mf_gate_receipt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryEvidenceRef {
    /// Evidence kind (non-empty).
    pub ref_type: String,
    /// Evidence id or path (non-empty).
    pub ref_id: String,
}

/// An append-only Model Policy Registry event: a bundle was published, approved, promoted to
/// ACTIVE, rolled back or retired in one scope, by a governance actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryLifecycleEvent {
    /// Always `learning.registry_lifecycle.v0`.
    pub schema_version: RegistryLifecycleVersion,
    /// Event id (non-empty; publish events: see [`crate::ids::registry_publish_event_id`]).
    pub registry_event_id: String,
    /// What happened.
    pub event_type: RegistryEventType,
    /// Scope it happened in.
    pub scope_key: RegistryScopeKey,
    /// The bundle.
    pub bundle_ref: RegistryBundleRef,
    /// Who did it.
    pub actor: GovernanceActor,
    /// When (non-empty text).
    pub ts_utc: String,
    /// Evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_refs: Option<Vec<RegistryEvidenceRef>>,
}

impl Contract for RegistryLifecycleEvent {
    const SCHEMA: &'static str = "registry_lifecycle_event";

    fn check(&self) -> Result<(), Violation> {
        check::min_len("", "registry_event_id", &self.registry_event_id, 1)?;
        let s = &self.scope_key;
        check::min_len("scope_key", "environment", &s.environment, 1)?;
        check::min_len("scope_key", "mode", &s.mode, 1)?;
        check::min_len("scope_key", "bundle_slot", &s.bundle_slot, 1)?;
        let b = &self.bundle_ref;
        check::min_len("bundle_ref", "bundle_id", &b.bundle_id, 1)?;
        check::min_len("bundle_ref", "bundle_version", &b.bundle_version, 1)?;
        check::min_len("bundle_ref", "registry_ref", &b.registry_ref, 1)?;
        check::min_len("actor", "actor_id", &self.actor.actor_id, 1)?;
        check::min_len("", "ts_utc", &self.ts_utc, 1)?;
        for (i, r) in self.evidence_refs.iter().flatten().enumerate() {
            let at = check::item("", "evidence_refs", i);
            check::min_len(&at, "ref_type", &r.ref_type, 1)?;
            check::min_len(&at, "ref_id", &r.ref_id, 1)?;
        }
        Ok(())
    }
}

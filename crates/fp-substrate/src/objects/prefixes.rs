//! The platform prefix map: the one place that knows where every artifact lives.
//!
//! Every function returns a store-relative path (see [`super::path`]); ids that would make an
//! unsafe path (empty, `..`, `/`, odd characters) are refused with a [`PathError`] rather than
//! escaped, so a path always reads back as the ids that built it.
//!
//! # Run-prefix layout (a documented choice)
//!
//! The reference puts a run's artifacts at `{platform_run_id}/...` when the store root is S3
//! or a local directory already named `fraud-platform`, and at
//! `fraud-platform/{platform_run_id}/...` otherwise. [`PlatformRoot::for_store`] applies
//! exactly that rule to the store's root, so an S3 bucket `s3://fraud-platform` and a local
//! `runs/fraud-platform` hold byte-identical trees, while a bare local `runs/` gains the
//! `fraud-platform/` level. Global (not run-scoped) artifacts such as the model registry sit
//! beside the runs under the same platform root.
//!
//! Where the reference scatters a component under its own root (DLA's per-profile prefix, the
//! label store's `runs/fraud-platform/...`), this map places it under the run prefix too:
//! one run, one subtree, so a run can be copied, audited or deleted as a unit.

use fp_rails::PlatformRunId;
use fp_rails::hexid::{Hex32, Hex64};

use super::config::StoreRoot;
use super::path::{PathError, validate_segment};

/// The directory level the reference adds when the store root does not name the platform.
pub const PLATFORM_DIR: &str = "fraud-platform";

/// Join checked segments.
fn join(base: &str, segments: &[&str]) -> Result<String, PathError> {
    let mut out = String::from(base);
    for segment in segments {
        validate_segment(segment)?;
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(segment);
    }
    Ok(out)
}

/// `{id}.{ext}` as a checked segment.
fn file(id: &str, ext: &str) -> Result<String, PathError> {
    validate_segment(id)?;
    Ok(format!("{id}.{ext}"))
}

/// `key=value` as a checked segment (Hive-style partition directories).
fn kv(key: &str, value: &str) -> Result<String, PathError> {
    validate_segment(key)?;
    validate_segment(value)?;
    let segment = format!("{key}={value}");
    validate_segment(&segment)?;
    Ok(segment)
}

/// The root under which run prefixes and global artifacts live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformRoot {
    /// `""` when the store root names the platform, else `fraud-platform`.
    base: &'static str,
}

impl PlatformRoot {
    /// The store root itself is the platform root (S3 buckets, `.../fraud-platform` dirs).
    pub fn at_store_root() -> Self {
        Self { base: "" }
    }

    /// The platform root is `fraud-platform/` inside the store.
    pub fn nested() -> Self {
        Self { base: PLATFORM_DIR }
    }

    /// The reference's rule for a given store root (see the module docs).
    pub fn for_store(root: &StoreRoot) -> Self {
        if root.names_platform() {
            Self::at_store_root()
        } else {
            Self::nested()
        }
    }

    /// The prefix of one platform run.
    pub fn run(&self, platform_run_id: &PlatformRunId) -> RunPrefix {
        let base = if self.base.is_empty() {
            platform_run_id.as_str().to_owned()
        } else {
            format!("{}/{}", self.base, platform_run_id.as_str())
        };
        RunPrefix { base }
    }

    /// *global* `registry/bundles/{bundle_id}/{bundle_version}/bundle_publication.json`
    /// (write-if-absent; differing content is `PUBLISH_CONFLICT`).
    pub fn registry_bundle_publication(
        &self,
        bundle_id: &str,
        bundle_version: &str,
    ) -> Result<String, PathError> {
        join(
            self.base,
            &[
                "registry",
                "bundles",
                bundle_id,
                bundle_version,
                "bundle_publication.json",
            ],
        )
    }

    /// *global* `registry/events/{bundle_id}/{bundle_version}/bundle_published_event.json`.
    pub fn registry_bundle_published_event(
        &self,
        bundle_id: &str,
        bundle_version: &str,
    ) -> Result<String, PathError> {
        join(
            self.base,
            &[
                "registry",
                "events",
                bundle_id,
                bundle_version,
                "bundle_published_event.json",
            ],
        )
    }

    /// *global* `registry/` (listing root).
    pub fn registry_root(&self) -> String {
        if self.base.is_empty() {
            "registry".to_owned()
        } else {
            format!("{}/registry", self.base)
        }
    }
}

/// The artifacts of one platform run, `{RP}` in the reference's table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunPrefix {
    base: String,
}

/// A named report under `{RP}/obs/` (one file per run each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObsReport {
    /// `run_report.json`
    RunReport,
    /// `reconciliation.json`
    Reconciliation,
    /// `replay_anchors.json`
    ReplayAnchors,
    /// `environment_conformance.json`
    EnvironmentConformance,
    /// `anomaly_summary.json`
    AnomalySummary,
    /// `platform_run_report.json`
    PlatformRunReport,
}

impl ObsReport {
    fn file_name(self) -> &'static str {
        match self {
            Self::RunReport => "run_report.json",
            Self::Reconciliation => "reconciliation.json",
            Self::ReplayAnchors => "replay_anchors.json",
            Self::EnvironmentConformance => "environment_conformance.json",
            Self::AnomalySummary => "anomaly_summary.json",
            Self::PlatformRunReport => "platform_run_report.json",
        }
    }
}

impl RunPrefix {
    /// The run prefix in a store whose root names the platform (`{platform_run_id}`); use
    /// [`PlatformRoot::run`] or [`super::Objects::run_prefix`] to follow the store's layout.
    pub fn new(platform_run_id: &PlatformRunId) -> Self {
        PlatformRoot::at_store_root().run(platform_run_id)
    }

    /// The prefix itself (`{platform_run_id}` or `fraud-platform/{platform_run_id}`).
    pub fn as_str(&self) -> &str {
        &self.base
    }

    fn at(&self, segments: &[&str]) -> Result<String, PathError> {
        join(&self.base, segments)
    }

    /// Fixed segments only: cannot fail (they are literals checked by the unit tests).
    fn fixed(&self, segments: &[&'static str]) -> String {
        let mut out = self.base.clone();
        for s in segments {
            out.push('/');
            out.push_str(s);
        }
        out
    }

    // ---- Scenario Runner -------------------------------------------------------------------

    /// `sr/run_plan/{run_id}.json` (write-once; drift is `PLAN_DRIFT`).
    pub fn sr_run_plan(&self, run_id: &Hex32) -> String {
        self.fixed(&["sr", "run_plan"]) + "/" + run_id.as_str() + ".json"
    }

    /// `sr/run_record/{run_id}.jsonl` (append-only JSONL, deduped by `event_id`).
    pub fn sr_run_record(&self, run_id: &Hex32) -> String {
        self.fixed(&["sr", "run_record"]) + "/" + run_id.as_str() + ".jsonl"
    }

    /// `sr/run_record_index/{run_id}.json` (`{"event_ids": [...]}`).
    pub fn sr_run_record_index(&self, run_id: &Hex32) -> String {
        self.fixed(&["sr", "run_record_index"]) + "/" + run_id.as_str() + ".json"
    }

    /// `sr/run_status/{run_id}.json` (mutable: the run state machine).
    pub fn sr_run_status(&self, run_id: &Hex32) -> String {
        self.fixed(&["sr", "run_status"]) + "/" + run_id.as_str() + ".json"
    }

    /// `sr/run_facts_view/{run_id}.json` (write-once; drift is `FACTS_VIEW_DRIFT`).
    pub fn sr_run_facts_view(&self, run_id: &Hex32) -> String {
        self.fixed(&["sr", "run_facts_view"]) + "/" + run_id.as_str() + ".json"
    }

    /// `sr/ready_signal/{run_id}.json` (write-once; drift is `READY_SIGNAL_DRIFT`).
    pub fn sr_ready_signal(&self, run_id: &Hex32) -> String {
        self.fixed(&["sr", "ready_signal"]) + "/" + run_id.as_str() + ".json"
    }

    /// `sr/quarantine/{run_id}.json`.
    pub fn sr_quarantine(&self, run_id: &Hex32) -> String {
        self.fixed(&["sr", "quarantine"]) + "/" + run_id.as_str() + ".json"
    }

    /// `sr/instance_receipts/output_id={output_id}/{k=v}.../instance_receipt.json`
    /// (write-once). `scope` is the ordered partition list (e.g. `manifest_fingerprint`,
    /// `parameter_hash`, `seed`, `scenario_id`, `run_id` as present); the caller fixes the
    /// order so the path is deterministic.
    pub fn sr_instance_receipt(
        &self,
        output_id: &str,
        scope: &[(&str, &str)],
    ) -> Result<String, PathError> {
        let mut segments = vec![kv("output_id", output_id)?];
        for (k, v) in scope {
            segments.push(kv(k, v)?);
        }
        let mut path = self.fixed(&["sr", "instance_receipts"]);
        for s in &segments {
            path.push('/');
            path.push_str(s);
        }
        Ok(path + "/instance_receipt.json")
    }

    /// `sr/engine_attempt_logs/run_id={run_id}/attempt_no={n}`.
    pub fn sr_engine_attempt_log(&self, run_id: &Hex32, attempt_no: u32) -> String {
        format!(
            "{}/run_id={}/attempt_no={attempt_no}",
            self.fixed(&["sr", "engine_attempt_logs"]),
            run_id.as_str()
        )
    }

    // ---- World Stream Producer -------------------------------------------------------------

    /// `wsp/ready_runs/{message_id}.jsonl` (the READY consumption record).
    pub fn wsp_ready_run(&self, message_id: &Hex64) -> String {
        self.fixed(&["wsp", "ready_runs"]) + "/" + message_id.as_str() + ".jsonl"
    }

    // ---- Ingestion Gate --------------------------------------------------------------------

    /// `ig/receipts/` (listing root of the receipt batches).
    pub fn ig_receipts_root(&self) -> String {
        self.fixed(&["ig", "receipts"])
    }

    /// `ig/receipts/batch-{first_seq:020}.jsonl`: one object per admitted batch, named by the
    /// admission-index sequence number of its first receipt. IG writes receipts in batches
    /// (one object per event does not keep up), and the zero padding makes bytewise listing
    /// order equal to admission order. The sequence comes from the shared index, so replicas
    /// never pick the same name.
    pub fn ig_receipt_batch(&self, first_seq: u64) -> String {
        format!("{}/batch-{first_seq:020}.jsonl", self.ig_receipts_root())
    }

    /// `ig/quarantine/{quarantine_id}.json` (write-if-absent).
    pub fn ig_quarantine_record(&self, quarantine_id: &Hex32) -> String {
        self.fixed(&["ig", "quarantine"]) + "/" + quarantine_id.as_str() + ".json"
    }

    /// `ig/quarantine/raw/{sha256}.bin`: the exact bytes IG refused, content-addressed so the
    /// same bad payload is stored once.
    pub fn ig_quarantine_raw(&self, sha256: &Hex64) -> String {
        self.fixed(&["ig", "quarantine", "raw"]) + "/" + sha256.as_str() + ".bin"
    }

    /// `ig/health/last_probe.json` (overwrite).
    pub fn ig_health(&self) -> String {
        self.fixed(&["ig", "health", "last_probe.json"])
    }

    /// `ig/policy/active.json` (overwrite).
    pub fn ig_policy_active(&self) -> String {
        self.fixed(&["ig", "policy", "active.json"])
    }

    // ---- Archive ---------------------------------------------------------------------------

    /// `archive/events/topic={t}/partition={p}/offset_kind={k}/offset={o}.json` (write-once,
    /// payload-hash checked).
    pub fn archive_event(
        &self,
        topic: &str,
        partition: u32,
        offset_kind: &str,
        offset: &str,
    ) -> Result<String, PathError> {
        let partition = partition.to_string();
        let file_name = kv("offset", offset)? + ".json";
        self.at(&[
            "archive",
            "events",
            &kv("topic", topic)?,
            &kv("partition", &partition)?,
            &kv("offset_kind", offset_kind)?,
            &file_name,
        ])
    }

    // ---- Decision plane --------------------------------------------------------------------

    /// `online_feature_plane/snapshots/{scenario_run_id}/{snapshot_hash}.json` (write-once).
    pub fn ofp_snapshot(&self, scenario_run_id: &Hex32, snapshot_hash: &Hex64) -> String {
        format!(
            "{}/{}/{}.json",
            self.fixed(&["online_feature_plane", "snapshots"]),
            scenario_run_id.as_str(),
            snapshot_hash.as_str()
        )
    }

    /// `decision_log_audit/records/{audit_id}.json` (append-only, digest-checked).
    pub fn dla_record(&self, audit_id: &str) -> Result<String, PathError> {
        self.at(&["decision_log_audit", "records", &file(audit_id, "json")?])
    }

    // ---- Case work -------------------------------------------------------------------------

    /// `label_store/assertions/{label_assertion_id}.json` (write-once; the `assertion_ref`).
    pub fn label_assertion(&self, label_assertion_id: &str) -> Result<String, PathError> {
        self.at(&[
            "label_store",
            "assertions",
            &file(label_assertion_id, "json")?,
        ])
    }

    /// `label_store/slices/{file_name}`.
    pub fn label_slice(&self, file_name: &str) -> Result<String, PathError> {
        self.at(&["label_store", "slices", file_name])
    }

    // ---- Learning --------------------------------------------------------------------------

    /// `ofs/`: the offline feature store's root; its sub-paths (`job_requests/`,
    /// `manifests/`, `staging/{run_key}/`, ...) are built with [`Self::ofs`].
    pub fn ofs_root(&self) -> String {
        self.fixed(&["ofs"])
    }

    /// `ofs/{segments...}` with every segment checked.
    pub fn ofs(&self, segments: &[&str]) -> Result<String, PathError> {
        join(&self.ofs_root(), segments)
    }

    /// `ofs/manifests/{dataset_manifest_id}.json` (immutable).
    pub fn ofs_manifest(&self, dataset_manifest_id: &str) -> Result<String, PathError> {
        self.ofs(&["manifests", &file(dataset_manifest_id, "json")?])
    }

    /// `mf/`: the model factory's root; see [`Self::mf`].
    pub fn mf_root(&self) -> String {
        self.fixed(&["mf"])
    }

    /// `mf/{segments...}` with every segment checked.
    pub fn mf(&self, segments: &[&str]) -> Result<String, PathError> {
        join(&self.mf_root(), segments)
    }

    /// `mf/train_runs/{run_key}/`: one training run's immutable evidence tree.
    pub fn mf_train_run(&self, run_key: &str) -> Result<String, PathError> {
        self.mf(&["train_runs", run_key])
    }

    // ---- Observability and governance ------------------------------------------------------

    /// `obs/governance/events/{event_id}.json` (write-if-absent).
    pub fn governance_event(&self, event_id: &str) -> Result<String, PathError> {
        self.at(&["obs", "governance", "events", &file(event_id, "json")?])
    }

    /// `obs/governance/markers/{event_id}.json` (write-if-absent).
    pub fn governance_marker(&self, event_id: &str) -> Result<String, PathError> {
        self.at(&["obs", "governance", "markers", &file(event_id, "json")?])
    }

    /// `obs/governance/events.jsonl` (projection of the events above).
    pub fn governance_events_projection(&self) -> String {
        self.fixed(&["obs", "governance", "events.jsonl"])
    }

    /// `obs/{report}.json`.
    pub fn obs_report(&self, report: ObsReport) -> String {
        self.fixed(&["obs"]) + "/" + report.file_name()
    }

    /// `run_completed.json`.
    pub fn run_completed(&self) -> String {
        self.fixed(&["run_completed.json"])
    }
}

#[cfg(test)]
mod tests {
    use super::super::path::validate_path;
    use super::*;

    fn run() -> PlatformRunId {
        PlatformRunId::parse("platform_20260223T184232Z").expect("valid id")
    }

    fn h32() -> Hex32 {
        Hex32::parse("0123456789abcdef0123456789abcdef").expect("hex32")
    }

    fn h64() -> Hex64 {
        Hex64::digest(b"x")
    }

    fn every_path(rp: &RunPrefix, root: &PlatformRoot) -> Vec<String> {
        let ok = |r: Result<String, PathError>| r.expect("valid ids");
        vec![
            rp.sr_run_plan(&h32()),
            rp.sr_run_record(&h32()),
            rp.sr_run_record_index(&h32()),
            rp.sr_run_status(&h32()),
            rp.sr_run_facts_view(&h32()),
            rp.sr_ready_signal(&h32()),
            rp.sr_quarantine(&h32()),
            ok(rp.sr_instance_receipt("s3_flow_6B", &[("seed", "42"), ("scenario_id", "base")])),
            rp.sr_engine_attempt_log(&h32(), 1),
            rp.wsp_ready_run(&h64()),
            rp.ig_receipt_batch(7),
            rp.ig_quarantine_record(&h32()),
            rp.ig_quarantine_raw(&h64()),
            rp.ig_health(),
            rp.ig_policy_active(),
            ok(rp.archive_event("fp.bus.traffic.v1", 3, "kinesis_sequence", "42")),
            rp.ofp_snapshot(&h32(), &h64()),
            ok(rp.dla_record("a1")),
            ok(rp.label_assertion("la1")),
            ok(rp.label_slice("slice-0.parquet")),
            ok(rp.ofs_manifest("m1")),
            ok(rp.ofs(&["staging", "rk", "dataset_manifest.json"])),
            ok(rp.mf_train_run("rk")),
            ok(rp.governance_event("e1")),
            ok(rp.governance_marker("e1")),
            rp.governance_events_projection(),
            rp.obs_report(ObsReport::PlatformRunReport),
            rp.run_completed(),
            ok(root.registry_bundle_publication("b1", "1.0.0")),
            ok(root.registry_bundle_published_event("b1", "1.0.0")),
            root.registry_root(),
        ]
    }

    #[test]
    fn every_path_is_valid_and_deterministic() {
        for root in [PlatformRoot::at_store_root(), PlatformRoot::nested()] {
            let first = every_path(&root.run(&run()), &root);
            let second = every_path(&root.run(&run()), &root);
            assert_eq!(first, second);
            for p in &first {
                validate_path(p).unwrap_or_else(|e| panic!("{p}: {e}"));
                assert!(!p.contains(".."), "{p}");
                assert!(!p.contains("//"), "{p}");
            }
            let mut unique = first.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), first.len(), "two artifacts share a path");
        }
    }

    #[test]
    fn layout_follows_the_store_root() {
        let id = run();
        let s3 = StoreRoot::S3 {
            bucket: "fraud-platform".into(),
            prefix: String::new(),
        };
        let named = StoreRoot::Local {
            dir: "/data/runs/fraud-platform".into(),
        };
        let bare = StoreRoot::Local {
            dir: "/data/runs".into(),
        };
        assert_eq!(
            PlatformRoot::for_store(&s3).run(&id).as_str(),
            "platform_20260223T184232Z"
        );
        assert_eq!(
            PlatformRoot::for_store(&named).run(&id).as_str(),
            "platform_20260223T184232Z"
        );
        assert_eq!(
            PlatformRoot::for_store(&bare).run(&id).as_str(),
            "fraud-platform/platform_20260223T184232Z"
        );
        assert_eq!(RunPrefix::new(&id), PlatformRoot::for_store(&s3).run(&id));
    }

    #[test]
    fn known_shapes() {
        let rp = RunPrefix::new(&run());
        assert_eq!(
            rp.ig_receipt_batch(12),
            "platform_20260223T184232Z/ig/receipts/batch-00000000000000000012.jsonl"
        );
        assert_eq!(
            rp.sr_instance_receipt("o1", &[("seed", "7")]).expect("ok"),
            "platform_20260223T184232Z/sr/instance_receipts/output_id=o1/seed=7/instance_receipt.json"
        );
        assert_eq!(
            PlatformRoot::nested()
                .registry_bundle_publication("b", "v1")
                .expect("ok"),
            "fraud-platform/registry/bundles/b/v1/bundle_publication.json"
        );
    }

    #[test]
    fn unsafe_ids_are_refused() {
        let rp = RunPrefix::new(&run());
        for bad in ["", "..", ".", "a/b", "../x", "a b", "x#1"] {
            assert!(rp.dla_record(bad).is_err(), "{bad:?}");
            assert!(rp.label_assertion(bad).is_err(), "{bad:?}");
            assert!(rp.governance_event(bad).is_err(), "{bad:?}");
            assert!(rp.sr_instance_receipt(bad, &[]).is_err(), "{bad:?}");
            assert!(
                rp.sr_instance_receipt("o", &[("seed", bad)]).is_err(),
                "{bad:?}"
            );
            assert!(rp.ofs(&["x", bad]).is_err(), "{bad:?}");
            assert!(rp.mf_train_run(bad).is_err(), "{bad:?}");
            assert!(
                PlatformRoot::nested()
                    .registry_bundle_publication("b", bad)
                    .is_err(),
                "{bad:?}"
            );
        }
    }
}

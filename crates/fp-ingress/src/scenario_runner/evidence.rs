//! Evidence from an engine run root, read from the files on disk (blocking; run it on the
//! blocking pool): the run receipt's identity, every required gate verified by `fp_world`'s
//! verifier (which recomputes each digest; no recipe is re-implemented here), and every
//! requested output located with the sha256 of its Parquet file and proven against the digest
//! list its gate bundle carries (that list is a bundle member, so the gate digest covers it).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use fp_rails::contracts::scenario_runner::{
    GateArtifacts, GateReceipt, GateReceiptKind, GateScope, GateStatus,
};
use fp_rails::locator::EngineOutputLocator;
use fp_rails::pins::ScenarioId;
use fp_rails::{ContentDigest, Hex64};
use fp_world::catalogue;
use fp_world::gates::{self, GATES};
use fp_world::identity::WorldIdentity;
use serde_json::Value;

use super::request::RunRequest;
use super::state::{self, Reason};

/// The digest list of each segment's bundle (member names of the stand-in engine's 5B and 6B
/// bundles, see `fp_world`'s crate docs): `{"outputs": [{path, sha256_hex, rows}]}`.
fn digest_list_name(segment: &str) -> Option<&'static str> {
    match segment {
        "5B" => Some("output_digests_5B.json"),
        "6B" => Some("s5_output_digests_6B.json"),
        _ => None,
    }
}

/// One located output.
#[derive(Debug, Clone)]
pub struct LocatedOutput {
    /// Output id.
    pub output_id: String,
    /// Path relative to the run root (the catalogue path): the instance's identity.
    pub relative_path: String,
    /// Absolute path, for readers.
    pub path: String,
    /// sha256 of the file.
    pub digest: ContentDigest,
    /// The bundle member that lists it (run-root-relative).
    pub bundle_manifest_ref: String,
}

/// Everything a READY needs from the run root.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// Absolute run root.
    pub run_root: String,
    /// Engine run id from `run_receipt.json`.
    pub engine_run_id: String,
    /// Verified gates, in dependency order.
    pub gate_receipts: Vec<GateReceipt>,
    /// Located outputs, in plan order.
    pub outputs: Vec<LocatedOutput>,
}

impl LocatedOutput {
    /// Facts-view locator of this output (scoped to the world; absolute path).
    pub fn locator(&self, request: &RunRequest, relative: bool) -> EngineOutputLocator {
        EngineOutputLocator {
            output_id: self.output_id.clone(),
            path: if relative {
                self.relative_path.clone()
            } else {
                self.path.clone()
            },
            manifest_fingerprint: Some(request.manifest_fingerprint.clone()),
            parameter_hash: Some(request.parameter_hash.clone()),
            seed: Some(request.seed),
            scenario_id: Some(ScenarioId::Text(request.scenario_id.clone())),
            run_id: None,
            schema_ref: None,
            dictionary_ref: None,
            produced_at_utc: None,
            content_digest: Some(self.digest.clone()),
            notes: None,
        }
    }
}

fn hex_field(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// Collect the evidence for `request` under `run_root`, failing closed on the first gap or
/// contradiction with a reason naming the file.
pub fn collect(
    run_root: &Path,
    request: &RunRequest,
    outputs: &[String],
    required_gates: &[String],
) -> Result<Evidence, Reason> {
    let root_str = run_root.display().to_string();

    // 1. Run receipt identity: the world on disk must be the world asked for.
    let receipt_path = run_root.join("run_receipt.json");
    let receipt_rel = "run_receipt.json";
    let bytes = match fs::read(&receipt_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Reason::absent(
                state::RUN_RECEIPT_MISSING,
                receipt_rel,
                format!("no run receipt under `{root_str}`"),
            ));
        }
        Err(e) => {
            return Err(Reason::failed(
                state::RUN_RECEIPT_INVALID,
                receipt_rel,
                e.to_string(),
            ));
        }
    };
    let receipt: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Reason::quarantined(state::RUN_RECEIPT_INVALID, receipt_rel, e.to_string()))?;
    let engine_run_id = hex_field(&receipt, "run_id").unwrap_or_default();
    let mf = hex_field(&receipt, "manifest_fingerprint");
    let ph = hex_field(&receipt, "parameter_hash");
    let seed = receipt.get("seed").and_then(Value::as_u64);
    let mut mismatches = Vec::new();
    if mf.as_deref() != Some(request.manifest_fingerprint.as_str()) {
        mismatches.push(format!(
            "manifest_fingerprint {} != requested {}",
            mf.as_deref().unwrap_or("<absent>"),
            request.manifest_fingerprint
        ));
    }
    if ph.as_deref() != Some(request.parameter_hash.as_str()) {
        mismatches.push(format!(
            "parameter_hash {} != requested {}",
            ph.as_deref().unwrap_or("<absent>"),
            request.parameter_hash
        ));
    }
    if seed != Some(request.seed) {
        mismatches.push(format!(
            "seed {} != requested {}",
            seed.map_or("<absent>".to_owned(), |s| s.to_string()),
            request.seed
        ));
    }
    if !mismatches.is_empty() {
        return Err(Reason::quarantined(
            state::RECEIPT_IDENTITY_MISMATCH,
            receipt_rel,
            mismatches.join("; "),
        ));
    }
    let mf = request.manifest_fingerprint.as_str();

    // 2. Gates: recompute every required digest with fp_world's verifier.
    let mut gate_receipts = Vec::with_capacity(required_gates.len());
    for gate_id in required_gates {
        let Some(g) = GATES.iter().find(|g| g.id == gate_id) else {
            return Err(Reason::failed(
                "UNKNOWN_GATE_ID",
                gate_id.clone(),
                "not in the gate map",
            ));
        };
        let digest = gates::verify_gate(run_root, g, mf).map_err(|f| {
            if f.reason.starts_with("missing") {
                // Absent, not wrong: the engine may still be writing it (WAITING_EVIDENCE).
                Reason::absent(state::GATE_EVIDENCE_MISSING, f.path, f.reason)
            } else {
                Reason::quarantined(state::GATE_DIGEST_MISMATCH, f.path, f.reason)
            }
        })?;
        let digest = Hex64::parse(digest.clone()).map_err(|_| {
            Reason::quarantined(
                state::GATE_DIGEST_MISMATCH,
                g.bundle_dir(mf),
                format!("verifier returned a non-sha256 digest `{digest}`"),
            )
        })?;
        let dir = run_root.join(g.bundle_dir(mf));
        gate_receipts.push(GateReceipt {
            gate_id: g.id.to_owned(),
            status: GateStatus::Pass,
            scope: GateScope {
                manifest_fingerprint: request.manifest_fingerprint.clone(),
                parameter_hash: None,
                seed: None,
                scenario_id: None,
                run_id: None,
            },
            produced_at_utc: None,
            receipt_kind: Some(GateReceiptKind::PassedFlag),
            digest: Some(ContentDigest::from_hex64(digest)),
            artifacts: Some(GateArtifacts {
                validation_bundle_root: Some(dir.display().to_string()),
                index_path: Some(dir.join(g.index_file).display().to_string()),
                passed_flag_path: Some(dir.join("_passed.flag").display().to_string()),
            }),
            notes: None,
        });
    }

    // 3. Outputs: locate each, digest it, prove it against its bundle's digest list.
    let id = WorldIdentity {
        manifest_fingerprint: mf.to_owned(),
        parameter_hash: request.parameter_hash.to_string(),
        seed: request.seed,
        scenario_id: request.scenario_id.clone(),
    };
    let mut lists: HashMap<&'static str, (String, HashMap<String, String>)> = HashMap::new();
    let mut located = Vec::with_capacity(outputs.len());
    for output_id in outputs {
        let Some(spec) = catalogue::output(output_id) else {
            return Err(Reason::failed(
                "UNKNOWN_OUTPUT_ID",
                output_id.clone(),
                "not in the engine catalogue",
            ));
        };
        let rel = spec.file_path(&id, 0);
        let file: PathBuf = run_root.join(&rel);
        let bytes = fs::read(&file).map_err(|e| {
            let detail = format!("output `{output_id}`: {e}");
            if e.kind() == std::io::ErrorKind::NotFound {
                Reason::absent(state::OUTPUT_MISSING, rel.clone(), detail)
            } else {
                Reason::failed(state::OUTPUT_MISSING, rel.clone(), detail)
            }
        })?;
        let digest = ContentDigest::of(&bytes);
        if !lists.contains_key(spec.segment) {
            lists.insert(spec.segment, digest_list(run_root, spec.segment, mf)?);
        }
        let Some((list_ref, listed)) = lists.get(spec.segment) else {
            return Err(Reason::failed(
                state::OUTPUT_NOT_IN_BUNDLE,
                rel,
                "no digest list",
            ));
        };
        match listed.get(&rel) {
            None => {
                return Err(Reason::quarantined(
                    state::OUTPUT_NOT_IN_BUNDLE,
                    rel,
                    format!("not listed in `{list_ref}`"),
                ));
            }
            Some(h) if h != digest.hex.as_str() => {
                return Err(Reason::quarantined(
                    state::OUTPUT_DIGEST_MISMATCH,
                    rel,
                    format!("sha256 {} != {h} listed in `{list_ref}`", digest.hex),
                ));
            }
            Some(_) => {}
        }
        located.push(LocatedOutput {
            output_id: output_id.clone(),
            relative_path: rel,
            path: file.display().to_string(),
            digest,
            bundle_manifest_ref: list_ref.clone(),
        });
    }
    Ok(Evidence {
        run_root: root_str,
        engine_run_id,
        gate_receipts,
        outputs: located,
    })
}

/// The digest list of `segment`'s bundle: (run-root-relative ref, path -> sha256).
fn digest_list(
    run_root: &Path,
    segment: &str,
    mf: &str,
) -> Result<(String, HashMap<String, String>), Reason> {
    let (Some(g), Some(name)) = (gates::gate(segment), digest_list_name(segment)) else {
        return Err(Reason::failed(
            state::OUTPUT_NOT_IN_BUNDLE,
            segment,
            "segment has no output digest list",
        ));
    };
    let rel = format!("{}/{name}", g.bundle_dir(mf));
    let bytes = fs::read(run_root.join(&rel)).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Reason::absent(
                state::GATE_EVIDENCE_MISSING,
                rel.clone(),
                "output digest list absent",
            )
        } else {
            Reason::failed(state::GATE_EVIDENCE_MISSING, rel.clone(), e.to_string())
        }
    })?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Reason::quarantined(
            state::GATE_DIGEST_MISMATCH,
            rel.clone(),
            format!("output digest list is not JSON: {e}"),
        )
    })?;
    let listed = v
        .get("outputs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| {
            Some((
                o.get("path")?.as_str()?.to_owned(),
                o.get("sha256_hex")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    Ok((rel, listed))
}

//! The 10 HashGates (engine_interface.md §6): bundle writing per segment recipe (§10.4) and
//! an independent verifier that follows the platform's `GateVerifier` (§6.3) on the files on
//! disk, sharing nothing with the writer but the gate table.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::WorldError;

/// How a gate's digest is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every file under the bundle root (recursive) except excluded basenames, sorted by path.
    BundleDigest,
    /// The files listed in the index, concatenated.
    IndexRawBytes,
    /// sha256 of the concatenated members' `sha256_hex` strings.
    MemberDigestConcat,
}

/// Order of index items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Sorted by path.
    AsciiLex,
    /// As listed.
    IndexOrder,
    /// Array order of `members`.
    MembersArray,
}

/// One gate of the gate map.
#[derive(Debug, Clone, Copy)]
pub struct GateSpec {
    /// `gate_id`.
    pub id: &'static str,
    /// Layer number.
    pub layer: u8,
    /// Segment.
    pub seg: &'static str,
    /// Index file name in the bundle root.
    pub index_file: &'static str,
    /// Digest kind.
    pub kind: Kind,
    /// Digest field of the flag.
    pub digest_field: &'static str,
    /// Item ordering.
    pub order: Order,
    /// Index paths are run-root-relative (2B).
    pub path_base_run_root: bool,
    /// Basenames excluded from the digest.
    pub exclude: &'static [&'static str],
}

const EX_FLAG: &[&str] = &["_passed.flag"];
const EX_FLAG_INDEX: &[&str] = &["_passed.flag", "index.json"];

macro_rules! gate {
    ($id:literal, $l:literal, $seg:literal, $idx:literal, $kind:ident, $field:literal, $ord:ident, $rr:literal, $ex:expr) => {
        GateSpec {
            id: $id,
            layer: $l,
            seg: $seg,
            index_file: $idx,
            kind: Kind::$kind,
            digest_field: $field,
            order: Order::$ord,
            path_base_run_root: $rr,
            exclude: $ex,
        }
    };
}

/// The gate map (§6.2), in dependency order.
pub const GATES: [GateSpec; 10] = [
    gate!(
        "gate.layer1.1A.validation",
        1,
        "1A",
        "index.json",
        BundleDigest,
        "sha256_hex",
        AsciiLex,
        false,
        EX_FLAG
    ),
    gate!(
        "gate.layer1.1B.validation",
        1,
        "1B",
        "index.json",
        BundleDigest,
        "sha256_hex",
        AsciiLex,
        false,
        EX_FLAG
    ),
    gate!(
        "gate.layer1.2A.validation",
        1,
        "2A",
        "index.json",
        IndexRawBytes,
        "sha256_hex",
        AsciiLex,
        false,
        EX_FLAG
    ),
    gate!(
        "gate.layer1.2B.validation",
        1,
        "2B",
        "index.json",
        IndexRawBytes,
        "sha256_hex",
        AsciiLex,
        true,
        EX_FLAG
    ),
    gate!(
        "gate.layer1.3A.validation",
        1,
        "3A",
        "index.json",
        MemberDigestConcat,
        "sha256_hex",
        MembersArray,
        false,
        EX_FLAG
    ),
    gate!(
        "gate.layer1.3B.validation",
        1,
        "3B",
        "index.json",
        IndexRawBytes,
        "sha256_hex",
        AsciiLex,
        false,
        EX_FLAG
    ),
    gate!(
        "gate.layer2.5A.validation",
        2,
        "5A",
        "validation_bundle_index_5A.json",
        IndexRawBytes,
        "bundle_digest_sha256",
        AsciiLex,
        false,
        EX_FLAG
    ),
    gate!(
        "gate.layer2.5B.validation",
        2,
        "5B",
        "index.json",
        IndexRawBytes,
        "bundle_digest_sha256",
        AsciiLex,
        false,
        EX_FLAG
    ),
    gate!(
        "gate.layer3.6A.validation",
        3,
        "6A",
        "validation_bundle_index_6A.json",
        IndexRawBytes,
        "sha256_hex",
        IndexOrder,
        false,
        EX_FLAG
    ),
    gate!(
        "gate.layer3.6B.validation",
        3,
        "6B",
        "index.json",
        IndexRawBytes,
        "sha256_hex",
        AsciiLex,
        false,
        EX_FLAG_INDEX
    ),
];

impl GateSpec {
    /// Bundle root relative to the run root.
    pub fn bundle_dir(&self, mf: &str) -> String {
        format!(
            "data/layer{}/{}/validation/manifest_fingerprint={mf}",
            self.layer, self.seg
        )
    }

    /// Name of the validation report member.
    pub fn report_name(&self) -> String {
        match self.seg {
            "6B" => "s5_validation_report_6B.json".to_owned(),
            seg => format!("validation_report_{seg}.json"),
        }
    }

    fn flag_is_json(&self) -> bool {
        self.digest_field == "bundle_digest_sha256"
    }
}

/// Find a gate by segment.
pub fn gate(seg: &str) -> Option<&'static GateSpec> {
    GATES.iter().find(|g| g.seg == seg)
}

/// One check a segment ran.
#[derive(Debug, Clone)]
pub struct Check {
    /// Check id.
    pub id: String,
    /// Whether it passed.
    pub passed: bool,
    /// Metrics (counts etc.).
    pub metrics: Value,
}

impl Check {
    /// A check.
    pub fn new(id: impl Into<String>, passed: bool, metrics: Value) -> Self {
        Self {
            id: id.into(),
            passed,
            metrics,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "check_id": self.id,
            "severity": "REQUIRED",
            "result": if self.passed { "PASS" } else { "FAIL" },
            "metrics": self.metrics,
        })
    }
}

/// Canonical JSON bytes with a trailing newline.
pub fn json_bytes(v: &Value) -> Vec<u8> {
    let mut s = fp_rails::canonical::cj(v);
    s.push('\n');
    s.into_bytes()
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), WorldError> {
    let io = |e| WorldError::Io {
        path: path.display().to_string(),
        source: e,
    };
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).map_err(io)?;
    }
    fs::write(path, bytes).map_err(io)
}

/// What the writer of one bundle needs.
pub struct BundleInput<'a> {
    /// manifest_fingerprint.
    pub mf: &'a str,
    /// parameter_hash.
    pub ph: &'a str,
    /// Deterministic `generated_utc` (derived from the world, not the clock).
    pub generated_utc: &'a str,
    /// Checks the segment ran.
    pub checks: &'a [Check],
    /// Extra members `(bundle-relative path, bytes)`.
    pub extra: Vec<(String, Vec<u8>)>,
    /// Upstream results for the 6B report: seg → (bundle digest, flag path).
    pub upstream: &'a BTreeMap<String, (String, String)>,
}

/// Write the bundle of `g` under `run_root`. Returns the bundle digest when every check passed
/// (and the flag was written), `None` otherwise (no flag: "no PASS").
pub fn write_bundle(
    run_root: &Path,
    g: &GateSpec,
    inp: &BundleInput<'_>,
) -> Result<Option<String>, WorldError> {
    let dir_rel = g.bundle_dir(inp.mf);
    let dir = run_root.join(&dir_rel);
    let passed = inp.checks.iter().all(|c| c.passed);
    let status = if passed { "PASS" } else { "FAIL" };
    let checks: Vec<Value> = inp.checks.iter().map(Check::to_json).collect();
    let report = match g.seg {
        "6B" => {
            let up: serde_json::Map<String, Value> = inp
                .upstream
                .iter()
                .map(|(s, (d, f))| {
                    (
                        s.clone(),
                        json!({"status": "PASS", "bundle_sha256": d, "flag_path": f}),
                    )
                })
                .collect();
            json!({
                "manifest_fingerprint": inp.mf,
                "parameter_hash": inp.ph,
                "spec_version_6B": "1.0.0",
                "overall_status": status,
                "upstream_segments": up,
                "segment_states": {"S1": status, "S2": status, "S3": status, "S4": status},
                "checks": checks,
            })
        }
        "5B" => json!({
            "manifest_fingerprint": inp.mf,
            "spec_version": "1.0.0",
            "status": status,
            "checks": checks,
        }),
        seg => json!({
            "manifest_fingerprint": inp.mf,
            "parameter_hash": inp.ph,
            "segment_id": seg,
            "status": status,
            "checks": checks,
        }),
    };
    let mut members: Vec<(String, Vec<u8>)> = vec![(g.report_name(), json_bytes(&report))];
    members.extend(inp.extra.iter().cloned());
    members.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, bytes) in &members {
        write_file(&dir.join(name), bytes)?;
    }
    let rel = |name: &str| {
        if g.path_base_run_root {
            format!("{dir_rel}/{name}")
        } else {
            name.to_owned()
        }
    };
    let simple: Vec<Value> = members
        .iter()
        .map(|(n, b)| json!({"path": rel(n), "sha256_hex": sha_hex(b)}))
        .collect();
    let rich: Vec<Value> = members
        .iter()
        .map(|(n, b)| {
            json!({"logical_id": n.trim_end_matches(".json"), "path": n, "schema_ref": null,
                   "sha256_hex": sha_hex(b), "role": if n == &g.report_name() { "validation_report" } else { "evidence" }})
        })
        .collect();
    let concat_member_hex: String = members.iter().map(|(_, b)| sha_hex(b)).collect();
    let index = match g.seg {
        "1A" | "1B" | "2A" | "2B" => Value::Array(simple),
        "3A" => json!({"manifest_fingerprint": inp.mf, "parameter_hash": inp.ph,
                        "s6_receipt_digest": sha_hex(concat_member_hex.as_bytes()), "members": rich}),
        "3B" => json!({"manifest_fingerprint": inp.mf, "parameter_hash": inp.ph,
                        "s5_manifest_digest": sha_hex(concat_member_hex.as_bytes()), "members": rich}),
        "5A" => {
            json!({"manifest_fingerprint": inp.mf, "segment_id": "5A", "s5_spec_version": "1.0.0",
                        "generated_utc": inp.generated_utc, "overall_status": status, "entries": simple})
        }
        "5B" => {
            json!({"manifest_fingerprint": inp.mf, "segment_id": "5B", "s5_spec_version": "1.0.0",
                        "generated_utc": inp.generated_utc, "status": status, "entries": simple})
        }
        _ => {
            let items: Vec<Value> = members
                .iter()
                .map(|(n, b)| json!({"path": n, "sha256_hex": sha_hex(b),
                    "role": if n == &g.report_name() { "validation_report" } else { "evidence" },
                    "schema_ref": if n == "s5_validation_report_6B.json" { json!("schemas.layer3.yaml#/validation/6B/s5_validation_report") } else { Value::Null }}))
                .collect();
            let spec_key = if g.seg == "6A" {
                "spec_version_6A"
            } else {
                "spec_version_6B"
            };
            json!({"manifest_fingerprint": inp.mf, "parameter_hash": inp.ph, spec_key: "1.0.0", "items": items})
        }
    };
    write_file(&dir.join(g.index_file), &json_bytes(&index))?;
    if !passed {
        return Ok(None);
    }
    // The digest, computed by the gate's recipe from what was just written.
    let digest = match g.kind {
        Kind::MemberDigestConcat => sha_hex(concat_member_hex.as_bytes()),
        Kind::IndexRawBytes => {
            let mut h = Sha256::new();
            for (_, b) in &members {
                h.update(b);
            }
            hex::encode(h.finalize())
        }
        Kind::BundleDigest => {
            let mut files: Vec<(String, Vec<u8>)> = members.clone();
            files.push((g.index_file.to_owned(), json_bytes(&index)));
            files.sort_by(|a, b| a.0.cmp(&b.0));
            let mut h = Sha256::new();
            for (_, b) in &files {
                h.update(b);
            }
            hex::encode(h.finalize())
        }
    };
    let flag = if g.flag_is_json() {
        json_bytes(&json!({"manifest_fingerprint": inp.mf, "bundle_digest_sha256": digest}))
    } else {
        format!("sha256_hex = {digest}\n").into_bytes()
    };
    write_file(&dir.join("_passed.flag"), &flag)?;
    Ok(Some(digest))
}

// ------------------------------------------------------------------------------ verifier

/// Why a gate does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateFailure {
    /// Gate id.
    pub gate: String,
    /// The file at fault (run-root-relative where possible).
    pub path: String,
    /// `missing` or `conflict` plus detail.
    pub reason: String,
}

fn read(p: &Path) -> Option<Vec<u8>> {
    fs::read(p).ok()
}

fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        let ft = e.file_type()?;
        if ft.is_dir() {
            walk(&p, base, out)?;
        } else if ft.is_file() {
            let rel = p
                .strip_prefix(base)
                .map(|r| {
                    r.components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or_default();
            out.push((rel, p));
        }
    }
    Ok(())
}

/// Verify gate `g` of the world `mf` under `run_root` exactly as the platform's SR does.
/// Returns the bundle digest.
pub fn verify_gate(run_root: &Path, g: &GateSpec, mf: &str) -> Result<String, GateFailure> {
    let dir_rel = g.bundle_dir(mf);
    let dir = run_root.join(&dir_rel);
    let fail = |path: String, reason: String| GateFailure {
        gate: g.id.to_owned(),
        path,
        reason,
    };
    let flag_rel = format!("{dir_rel}/_passed.flag");
    if !dir.is_dir() {
        return Err(fail(dir_rel, "missing: bundle directory".into()));
    }
    let Some(flag) = read(&dir.join("_passed.flag")) else {
        return Err(fail(flag_rel, "missing: _passed.flag".into()));
    };
    // Step 2: parse the flag.
    let content = String::from_utf8_lossy(&flag).trim().to_owned();
    let expected = if content.is_empty() {
        return Err(fail(flag_rel, "conflict: empty flag".into()));
    } else if content.starts_with('{') {
        let v: Value = serde_json::from_str(&content)
            .map_err(|e| fail(flag_rel.clone(), format!("conflict: flag JSON: {e}")))?;
        match v.get(g.digest_field).and_then(Value::as_str) {
            Some(s) => s.to_owned(),
            None => {
                return Err(fail(
                    flag_rel,
                    format!("conflict: flag lacks `{}`", g.digest_field),
                ));
            }
        }
    } else if let Some((k, v)) = content.split_once('=') {
        if k.trim() != g.digest_field {
            return Err(fail(
                flag_rel,
                format!(
                    "conflict: flag key `{}` is not `{}`",
                    k.trim(),
                    g.digest_field
                ),
            ));
        }
        v.trim().to_owned()
    } else {
        return Err(fail(flag_rel, "conflict: unparseable flag".into()));
    };
    // Step 3: the actual digest.
    let excluded = |p: &str| {
        let base = p.rsplit('/').next().unwrap_or(p);
        g.exclude.contains(&p) || g.exclude.contains(&base)
    };
    let actual = match g.kind {
        Kind::BundleDigest => {
            let mut files = Vec::new();
            walk(&dir, &dir, &mut files)
                .map_err(|e| fail(dir_rel.clone(), format!("missing: {e}")))?;
            files.retain(|(rel, _)| !excluded(rel));
            files.sort_by(|a, b| a.0.cmp(&b.0));
            let mut h = Sha256::new();
            for (rel, p) in &files {
                let b = read(p).ok_or_else(|| {
                    fail(format!("{dir_rel}/{rel}"), "missing: unreadable".into())
                })?;
                h.update(b);
            }
            hex::encode(h.finalize())
        }
        Kind::IndexRawBytes | Kind::MemberDigestConcat => {
            let idx_rel = format!("{dir_rel}/{}", g.index_file);
            let Some(ib) = read(&dir.join(g.index_file)) else {
                return Err(fail(idx_rel, "missing: index".into()));
            };
            let index: Value = serde_json::from_slice(&ib)
                .map_err(|e| fail(idx_rel.clone(), format!("conflict: index JSON: {e}")))?;
            let items: Vec<Value> = if let Value::Array(a) = &index {
                a.clone()
            } else if g.kind == Kind::MemberDigestConcat {
                ["members", "items"]
                    .iter()
                    .find_map(|k| {
                        index
                            .get(*k)
                            .and_then(Value::as_array)
                            .filter(|a| !a.is_empty())
                            .cloned()
                    })
                    .unwrap_or_default()
            } else {
                ["items", "members", "entries", "files"]
                    .iter()
                    .find_map(|k| {
                        index
                            .get(*k)
                            .and_then(Value::as_array)
                            .filter(|a| !a.is_empty())
                            .cloned()
                    })
                    .unwrap_or_default()
            };
            if g.kind == Kind::MemberDigestConcat {
                let concat: String = items
                    .iter()
                    .filter_map(|i| i.get(g.digest_field).and_then(Value::as_str))
                    .collect();
                sha_hex(concat.as_bytes())
            } else {
                let mut paths: Vec<String> = items
                    .iter()
                    .filter_map(|i| i.get("path").and_then(Value::as_str).map(str::to_owned))
                    .filter(|p| !excluded(p))
                    .collect();
                if g.order == Order::AsciiLex {
                    paths.sort();
                }
                let base = if g.path_base_run_root {
                    run_root.to_path_buf()
                } else {
                    dir.clone()
                };
                let mut h = Sha256::new();
                for p in &paths {
                    let full = if Path::new(p).is_absolute() {
                        PathBuf::from(p)
                    } else {
                        base.join(p)
                    };
                    let shown = if g.path_base_run_root {
                        p.clone()
                    } else {
                        format!("{dir_rel}/{p}")
                    };
                    let b =
                        read(&full).ok_or_else(|| fail(shown, "missing: listed file".into()))?;
                    h.update(b);
                }
                hex::encode(h.finalize())
            }
        }
    };
    if actual != expected {
        return Err(fail(
            flag_rel,
            format!("conflict: bundle digest {actual} != flag {expected}"),
        ));
    }
    Ok(actual)
}

//! Oracle pack manifest and seal (engine_interface.md §9): `seal` and `upload_world`.
//!
//! The run root is the pack root (v0 layout). Order of `seal`: verify the world, write
//! `_oracle_pack_manifest.json` (write-once), write `_SEALED.json` last (write-once), so "seal
//! exists ⇒ pack sealed" holds even if the process dies in between.
//!
//! S3 roots: the verifier ([`crate::verify`]) works on a directory, so `seal` downloads the run
//! root (without the stream view and the oracle markers) into a temporary directory and verifies
//! that copy; local roots are verified in place. Downloading costs one read of the world, which
//! is what verification costs anyway. [`upload_world`] puts a local run root into a store.

use std::path::{Path, PathBuf};

use fp_substrate::objects::{ObjectError, ObjectStoreConfig, Objects, PutOutcome, StoreRoot};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{OracleError, join, now_utc, sha_hex};
use crate::catalogue::{ColType, OUTPUTS};
use crate::gates::{GATES, Kind, Order, json_bytes};
use crate::{VerifyReport, WorldError};

/// Name of the pack manifest at the pack root.
pub const MANIFEST_FILE: &str = "_oracle_pack_manifest.json";
/// Name of the seal at the pack root (the reference's readers also accept `_SEALED.flag`).
pub const SEAL_FILE: &str = "_SEALED.json";
/// `engine_release` stamped on every pack this stand-in seals.
pub const ENGINE_RELEASE: &str = concat!("fp-world-standin/", env!("CARGO_PKG_VERSION"));
/// `version` of both documents (the reference packer writes `"v0"`).
const DOC_VERSION: &str = "v0";
/// The stream view lives under the pack root but is not part of the verified world.
pub(crate) const STREAM_VIEW_DIR: &str = "stream_view";

/// `OracleWorldKey` (engine_interface.md §1.3): the world's identity minus `run_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldKey {
    /// hex64.
    pub manifest_fingerprint: String,
    /// hex64.
    pub parameter_hash: String,
    /// 1..=256 characters.
    pub scenario_id: String,
    /// uint64.
    pub seed: u64,
}

/// `_oracle_pack_manifest.json`, field for field as the reference schema
/// `contracts/oracle_store/oracle_pack_manifest.schema.yaml` (`additionalProperties: false`,
/// every field required). No JSON Schema for it is in `contracts/` yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OraclePackManifest {
    /// `"v0"`.
    pub version: String,
    /// hex64, `fp_rails::ids::oracle_pack_id`.
    pub oracle_pack_id: String,
    /// The world key.
    pub world_key: WorldKey,
    /// [`ENGINE_RELEASE`].
    pub engine_release: String,
    /// hex64, [`catalogue_digest`].
    pub catalogue_digest: String,
    /// hex64, [`gate_map_digest`].
    pub gate_map_digest: String,
    /// When the pack was first sealed (non-empty).
    pub created_at_utc: String,
}

/// `seal_status` of [`OraclePackSeal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SealStatus {
    /// Sealed, world verified.
    #[serde(rename = "SEALED_OK")]
    SealedOk,
    /// Sealed as failed (this implementation never writes it: a failing world is refused).
    #[serde(rename = "SEALED_FAILED")]
    SealedFailed,
}

/// `_SEALED.json`, field for field as the reference schema
/// `contracts/oracle_store/oracle_pack_seal.schema.yaml` (`additionalProperties: false`, every
/// field required). No JSON Schema for it is in `contracts/` yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OraclePackSeal {
    /// `"v0"`.
    pub version: String,
    /// hex64, equal to the manifest's.
    pub oracle_pack_id: String,
    /// `SEALED_OK` | `SEALED_FAILED`.
    pub seal_status: SealStatus,
    /// When the pack was first sealed (non-empty).
    pub sealed_at_utc: String,
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl OraclePackManifest {
    /// The schema rules serde does not enforce (hex64 patterns, string lengths).
    pub fn check(&self) -> Result<(), String> {
        for (k, v) in [
            ("oracle_pack_id", &self.oracle_pack_id),
            (
                "world_key.manifest_fingerprint",
                &self.world_key.manifest_fingerprint,
            ),
            ("world_key.parameter_hash", &self.world_key.parameter_hash),
            ("catalogue_digest", &self.catalogue_digest),
            ("gate_map_digest", &self.gate_map_digest),
        ] {
            if !is_hex64(v) {
                return Err(format!("`{k}` must be 64 lowercase hex characters"));
            }
        }
        let n = self.world_key.scenario_id.chars().count();
        if !(1..=256).contains(&n) {
            return Err("`world_key.scenario_id` must be 1..=256 characters".into());
        }
        if self.created_at_utc.is_empty() {
            return Err("`created_at_utc` must not be empty".into());
        }
        Ok(())
    }
}

impl OraclePackSeal {
    /// The schema rules serde does not enforce.
    pub fn check(&self) -> Result<(), String> {
        if !is_hex64(&self.oracle_pack_id) {
            return Err("`oracle_pack_id` must be 64 lowercase hex characters".into());
        }
        if self.sealed_at_utc.is_empty() {
            return Err("`sealed_at_utc` must not be empty".into());
        }
        Ok(())
    }
}

/// Options of one `seal` call that do not change what is sealed.
#[derive(Debug, Clone, Default)]
pub struct SealOptions {
    /// `created_at_utc` / `sealed_at_utc` of a first seal; the clock when absent. Ignored when
    /// the pack is already (partly) sealed with the same content: the stored times are kept.
    pub at_utc: Option<String>,
}

/// What `seal` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SealOutcome {
    /// The seal was written now (the manifest too, unless an earlier attempt left it).
    Sealed,
    /// Manifest and seal were already there with this content: nothing written.
    AlreadySealed,
}

/// The result of `seal`.
#[derive(Debug, Clone, Serialize)]
pub struct SealReport {
    /// Sealed now or already.
    pub outcome: SealOutcome,
    /// URI of the pack root.
    pub root: String,
    /// Store-relative path of the manifest.
    pub manifest_path: String,
    /// Store-relative path of the seal.
    pub seal_path: String,
    /// The manifest as stored.
    pub manifest: OraclePackManifest,
    /// The seal as stored.
    pub seal: OraclePackSeal,
}

fn col_type(t: ColType) -> &'static str {
    match t {
        ColType::Utf8 => "utf8",
        ColType::Int64 => "int64",
        ColType::UInt64 => "uint64",
        ColType::Float64 => "float64",
        ColType::Boolean => "boolean",
    }
}

/// sha256 of the canonical JSON of fp-world's catalogue (every output: id, segment, path
/// template, columns, primary key, ordering, gate). Stands in for the reference's digest of
/// `engine_outputs.catalogue.yaml`, which this project does not ship.
pub fn catalogue_digest() -> String {
    let outputs: Vec<Value> = OUTPUTS
        .iter()
        .map(|o| {
            let cols: Vec<Value> = o
                .columns
                .iter()
                .map(|(n, t, nullable)| json!({"name": n, "type": col_type(*t), "nullable": nullable}))
                .collect();
            json!({
                "output_id": o.id, "segment": o.segment, "path_template": o.path_template,
                "columns": cols, "primary_key": o.primary_key, "ordering": o.ordering,
                "gate": o.gate,
            })
        })
        .collect();
    sha_hex(fp_rails::canonical::cj(&json!({"outputs": outputs})).as_bytes())
}

/// sha256 of the canonical JSON of fp-world's gate map ([`GATES`]). Stands in for the
/// reference's digest of `engine_gates.map.yaml`, which this project does not ship.
pub fn gate_map_digest() -> String {
    let gates: Vec<Value> = GATES
        .iter()
        .map(|g| {
            json!({
                "gate_id": g.id, "layer": g.layer, "segment": g.seg, "index_file": g.index_file,
                "kind": match g.kind {
                    Kind::BundleDigest => "bundle_digest",
                    Kind::IndexRawBytes => "index_raw_bytes",
                    Kind::MemberDigestConcat => "member_digest_concat",
                },
                "digest_field": g.digest_field,
                "order": match g.order {
                    Order::AsciiLex => "ascii_lex",
                    Order::IndexOrder => "index_order",
                    Order::MembersArray => "members_array",
                },
                "path_base_run_root": g.path_base_run_root, "exclude": g.exclude,
            })
        })
        .collect();
    sha_hex(fp_rails::canonical::cj(&json!({"gates": gates})).as_bytes())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OracleError + '_ {
    move |e| OracleError::Io {
        path: path.display().to_string(),
        source: e,
    }
}

/// Whether a run-root-relative path belongs to the oracle rather than to the engine's world.
fn is_oracle_file(rel: &str) -> bool {
    rel == MANIFEST_FILE
        || rel == SEAL_FILE
        || rel == STREAM_VIEW_DIR
        || rel.starts_with(&format!("{STREAM_VIEW_DIR}/"))
}

/// Verify the world under `prefix`: in place for a local store, from a downloaded copy for S3.
async fn verify_root(objects: &Objects, prefix: &str) -> Result<VerifyReport, OracleError> {
    let uri = objects.uri_of(prefix);
    let not_verified = |source: WorldError| OracleError::NotVerified {
        root: uri.clone(),
        source: Box::new(source),
    };
    let (dir, _tmp) = match objects.root() {
        StoreRoot::Local { dir } => (dir.join(prefix.trim_matches('/')), None),
        StoreRoot::S3 { .. } => {
            let tmp = tempfile::tempdir().map_err(io_err(Path::new("<tempdir>")))?;
            download_world(objects, prefix, tmp.path()).await?;
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };
    // Verification reads and hashes the whole world: keep it off the async worker threads.
    let report = tokio::task::spawn_blocking(move || crate::verify(&dir))
        .await
        .map_err(|e| not_verified(WorldError::Internal(format!("verifier task: {e}"))))?;
    report.map_err(not_verified)
}

/// Copy every engine file under `prefix` (not the oracle's own files) into `dir`.
async fn download_world(objects: &Objects, prefix: &str, dir: &Path) -> Result<(), OracleError> {
    let p = prefix.trim_matches('/');
    for path in objects.list(p).await? {
        let rel = if p.is_empty() {
            path.as_str()
        } else {
            match path.strip_prefix(p).and_then(|r| r.strip_prefix('/')) {
                Some(r) => r,
                None => continue,
            }
        };
        if is_oracle_file(rel) {
            continue;
        }
        let bytes = objects.get(&path).await?;
        // Store paths are validated (no `..`, no absolute segments), so `rel` stays in `dir`.
        let local = dir.join(rel);
        if let Some(parent) = local.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        std::fs::write(&local, &bytes).map_err(io_err(&local))?;
    }
    Ok(())
}

/// Put every engine file of the local run root `local_root` under `prefix` in `objects`
/// (write-once: re-uploading the same world is a no-op). Returns the number of files.
///
/// The oracle's own files (manifest, seal, stream view) are not copied: the stream view's ids
/// name the run root it was built under, and sealing at the destination re-verifies what was
/// actually uploaded.
pub async fn upload_world(
    local_root: &Path,
    objects: &Objects,
    prefix: &str,
) -> Result<usize, OracleError> {
    let mut files = Vec::new();
    walk(local_root, local_root, &mut files)?;
    files.retain(|(rel, _)| !is_oracle_file(rel));
    files.sort();
    for (rel, full) in &files {
        let bytes = std::fs::read(full).map_err(io_err(full))?;
        objects.put_once(&join(prefix, rel), bytes).await?;
    }
    Ok(files.len())
}

fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), OracleError> {
    for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let p = e.path();
        let ft = e.file_type().map_err(io_err(&p))?;
        if ft.is_dir() {
            walk(&p, base, out)?;
        } else if ft.is_file() {
            let rel = p
                .strip_prefix(base)
                .map_err(|_| OracleError::Invalid {
                    path: p.display().to_string(),
                    detail: "outside the run root".into(),
                })?
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((rel, p));
        }
    }
    Ok(())
}

/// The manifest a verified world yields.
fn manifest_for(report: &VerifyReport, at: &str) -> OraclePackManifest {
    let cat = catalogue_digest();
    let gm = gate_map_digest();
    let id = fp_rails::ids::oracle_pack_id(
        &report.manifest_fingerprint,
        &report.parameter_hash,
        &report.scenario_id,
        report.seed,
        ENGINE_RELEASE,
        &cat,
        &gm,
    );
    OraclePackManifest {
        version: DOC_VERSION.to_owned(),
        oracle_pack_id: id.as_str().to_owned(),
        world_key: WorldKey {
            manifest_fingerprint: report.manifest_fingerprint.clone(),
            parameter_hash: report.parameter_hash.clone(),
            scenario_id: report.scenario_id.clone(),
            seed: report.seed,
        },
        engine_release: ENGINE_RELEASE.to_owned(),
        catalogue_digest: cat,
        gate_map_digest: gm,
        created_at_utc: at.to_owned(),
    }
}

/// The first top-level field where two documents differ.
fn first_diff<T: Serialize>(existing: &T, fresh: &T) -> String {
    let (a, b) = (
        serde_json::to_value(existing).unwrap_or(Value::Null),
        serde_json::to_value(fresh).unwrap_or(Value::Null),
    );
    if let (Value::Object(a), Value::Object(b)) = (&a, &b) {
        for (k, v) in a {
            if b.get(k) != Some(v) {
                return format!(
                    "`{k}` is {v}, this world gives {}",
                    b.get(k).unwrap_or(&Value::Null)
                );
            }
        }
    }
    "content differs".into()
}

/// Read and decode a JSON document; `None` when absent.
pub(crate) async fn read_doc<T: DeserializeOwned>(
    objects: &Objects,
    path: &str,
) -> Result<Option<T>, OracleError> {
    let bytes = match objects.get(path).await {
        Ok(b) => b,
        Err(ObjectError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| OracleError::Invalid {
            path: path.to_owned(),
            detail: e.to_string(),
        })
}

/// Write `fresh` once at `path`, or accept what is there if it equals `fresh` up to its
/// timestamp (`same` normalises that). Returns the stored document and whether it was new.
async fn put_doc<T>(
    objects: &Objects,
    path: &str,
    fresh: &T,
    same: impl Fn(&T, &T) -> bool,
    mismatch: impl Fn(String) -> OracleError,
) -> Result<(T, PutOutcome), OracleError>
where
    T: Serialize + DeserializeOwned + Clone,
{
    // Two rounds: a concurrent sealer may create the document between our read and our put;
    // the second round then compares against what it wrote.
    for _ in 0..2 {
        match read_doc::<T>(objects, path).await {
            Ok(Some(existing)) => {
                return if same(&existing, fresh) {
                    Ok((existing, PutOutcome::AlreadyIdentical))
                } else {
                    Err(mismatch(first_diff(&existing, fresh)))
                };
            }
            Ok(None) => {}
            Err(OracleError::Invalid { detail, .. }) => {
                return Err(mismatch(format!("not a valid document: {detail}")));
            }
            Err(e) => return Err(e),
        }
        let value = serde_json::to_value(fresh).map_err(|e| OracleError::Invalid {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        match objects.put_once(path, json_bytes(&value)).await {
            Ok(outcome) => return Ok((fresh.clone(), outcome)),
            Err(ObjectError::WriteOnceConflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(mismatch("changed concurrently while sealing".into()))
}

/// Seal the world under `prefix` of `objects` (`""`: the store root is the run root).
///
/// Verifies the world first ([`OracleError::NotVerified`] names the broken file and rule and
/// nothing is written), then writes the manifest, then the seal. Re-sealing identical content
/// is [`SealOutcome::AlreadySealed`]; a different manifest or seal already at the root is
/// [`OracleError::ManifestMismatch`] / [`OracleError::SealMismatch`] naming the file.
pub async fn seal(
    objects: &Objects,
    prefix: &str,
    opts: &SealOptions,
) -> Result<SealReport, OracleError> {
    let report = verify_root(objects, prefix).await?;
    let at = opts.at_utc.clone().unwrap_or_else(now_utc);
    let fresh = manifest_for(&report, &at);
    let manifest_path = join(prefix, MANIFEST_FILE);
    let seal_path = join(prefix, SEAL_FILE);

    let (manifest, m_out) = put_doc(
        objects,
        &manifest_path,
        &fresh,
        |e: &OraclePackManifest, f| {
            e.check().is_ok()
                && OraclePackManifest {
                    created_at_utc: f.created_at_utc.clone(),
                    ..e.clone()
                } == *f
        },
        |detail| OracleError::ManifestMismatch {
            path: manifest_path.clone(),
            detail,
        },
    )
    .await?;

    let fresh_seal = OraclePackSeal {
        version: DOC_VERSION.to_owned(),
        oracle_pack_id: manifest.oracle_pack_id.clone(),
        seal_status: SealStatus::SealedOk,
        sealed_at_utc: at,
    };
    let (seal, s_out) = put_doc(
        objects,
        &seal_path,
        &fresh_seal,
        |e: &OraclePackSeal, f| {
            e.check().is_ok()
                && OraclePackSeal {
                    sealed_at_utc: f.sealed_at_utc.clone(),
                    ..e.clone()
                } == *f
        },
        |detail| OracleError::SealMismatch {
            path: seal_path.clone(),
            detail,
        },
    )
    .await?;

    let outcome = if m_out == PutOutcome::AlreadyIdentical && s_out == PutOutcome::AlreadyIdentical
    {
        SealOutcome::AlreadySealed
    } else {
        SealOutcome::Sealed
    };
    Ok(SealReport {
        outcome,
        root: objects.uri_of(prefix),
        manifest_path,
        seal_path,
        manifest,
        seal,
    })
}

/// [`seal`] for a run root that is a local directory.
pub async fn seal_local(root: &Path, opts: &SealOptions) -> Result<SealReport, OracleError> {
    if !root.is_dir() {
        return Err(OracleError::Io {
            path: root.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "run root not found"),
        });
    }
    let objects = Objects::open(&ObjectStoreConfig::local(root))?;
    seal(&objects, "", opts).await
}

/// The manifest of a sealed pack (`SEALED_OK`, same pack id as the manifest).
pub async fn sealed_manifest(
    objects: &Objects,
    prefix: &str,
) -> Result<OraclePackManifest, OracleError> {
    let seal_path = join(prefix, SEAL_FILE);
    let manifest_path = join(prefix, MANIFEST_FILE);
    let not_sealed = || OracleError::NotSealed {
        path: seal_path.clone(),
    };
    let seal: OraclePackSeal = read_doc(objects, &seal_path)
        .await?
        .ok_or_else(not_sealed)?;
    if seal.seal_status != SealStatus::SealedOk {
        return Err(not_sealed());
    }
    let manifest: OraclePackManifest =
        read_doc(objects, &manifest_path)
            .await?
            .ok_or_else(|| OracleError::Invalid {
                path: manifest_path.clone(),
                detail: "sealed pack without a manifest".into(),
            })?;
    let invalid = |detail: String| OracleError::Invalid {
        path: manifest_path.clone(),
        detail,
    };
    manifest.check().map_err(invalid)?;
    seal.check().map_err(|detail| OracleError::Invalid {
        path: seal_path.clone(),
        detail,
    })?;
    if seal.oracle_pack_id != manifest.oracle_pack_id {
        return Err(invalid(format!(
            "oracle_pack_id {} differs from the seal's {}",
            manifest.oracle_pack_id, seal.oracle_pack_id
        )));
    }
    Ok(manifest)
}

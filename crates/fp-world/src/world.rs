//! `generate` and `verify`.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::catalogue::{self, OUTPUTS};
use crate::gates::{self, BundleInput, Check, GATES};
use crate::identity::{self, WorldIdentity};
use crate::invariants::{self, Tables};
use crate::model::{self, World, entities::PARTY_BASE};
use crate::{WorldConfig, WorldError, read, tables, timefmt, write};

/// Options of one generation run that do not change the world's bytes.
#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// `run_id` to echo in `run_receipt.json` (the Scenario Runner supplies one); derived from
    /// the clock when absent.
    pub run_id: Option<String>,
    /// `created_utc` of the receipt; the clock when absent.
    pub created_utc: Option<String>,
}

/// Row count of one output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputCount {
    /// Output id.
    pub output_id: String,
    /// Run-root-relative path of its file.
    pub path: String,
    /// Rows.
    pub rows: u64,
}

/// What `generate` produced.
#[derive(Debug, Clone, Serialize)]
pub struct WorldSummary {
    /// The run root.
    pub run_root: PathBuf,
    /// Engine run id (only in the receipt).
    pub run_id: String,
    /// World fingerprint.
    pub manifest_fingerprint: String,
    /// Parameter hash.
    pub parameter_hash: String,
    /// Seed.
    pub seed: u64,
    /// Scenario.
    pub scenario_id: String,
    /// Rows per output.
    pub outputs: Vec<OutputCount>,
    /// Flows.
    pub flows: u64,
    /// Flows tagged by a campaign.
    pub fraud_flows: u64,
    /// `fraud_flows / flows`.
    pub fraud_rate: f64,
    /// Campaign mix: label → (campaigns, flows tagged).
    pub campaign_mix: BTreeMap<String, (u64, u64)>,
    /// Flows whose truth is FRAUD or ABUSE.
    pub truth_positive: u64,
    /// Flows the bank sees as fraud.
    pub bank_positive: u64,
    /// Cases opened.
    pub cases: u64,
    /// Gate id → bundle digest.
    pub gates: BTreeMap<String, String>,
}

/// What `verify` checked.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// World fingerprint.
    pub manifest_fingerprint: String,
    /// Parameter hash.
    pub parameter_hash: String,
    /// Seed.
    pub seed: u64,
    /// Scenario.
    pub scenario_id: String,
    /// Gate id → verified digest.
    pub gates: BTreeMap<String, String>,
    /// Rows per output.
    pub outputs: Vec<OutputCount>,
    /// Number of invariants that held.
    pub invariants_passed: usize,
}

/// Generate the world `cfg` into the new run root `out` (run id and timestamp from the clock).
pub fn generate(cfg: &WorldConfig, out: &Path) -> Result<WorldSummary, WorldError> {
    generate_with(cfg, out, &GenerateOptions::default())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WorldError + '_ {
    move |e| WorldError::Io {
        path: path.display().to_string(),
        source: e,
    }
}

const DIGESTS_5B: &str = "output_digests_5B.json";
const DIGESTS_6B: &str = "s5_output_digests_6B.json";

/// Generate with explicit options. Writes into a temporary sibling directory and renames it
/// into place; refuses an existing `out`.
pub fn generate_with(
    cfg: &WorldConfig,
    out: &Path,
    opts: &GenerateOptions,
) -> Result<WorldSummary, WorldError> {
    let rc = cfg.resolve()?;
    let id = identity::identity(&rc);
    if out.exists() {
        return Err(WorldError::Exists(out.display().to_string()));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            WorldError::Config(format!("--out `{}` has no final component", out.display()))
        })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let tmp = parent.join(format!(".{name}.fp-world-tmp-{}-{now}", std::process::id()));
    fs::create_dir(&tmp).map_err(io_err(&tmp))?;
    let result = populate(&rc, &id, &tmp, opts, now);
    let (mut summary, failure) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if out.exists() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(WorldError::Exists(out.display().to_string()));
    }
    fs::rename(&tmp, out).map_err(io_err(out))?;
    summary.run_root = out.to_path_buf();
    if let Some((gate, o)) = failure {
        return Err(WorldError::CheckFailed {
            gate,
            rule: o.rule.to_owned(),
            output: o.output.to_owned(),
            detail: o.result.err().unwrap_or_default(),
            run_root: out.display().to_string(),
        });
    }
    Ok(summary)
}

type Failure = Option<(String, invariants::Outcome)>;

fn populate(
    rc: &crate::ResolvedConfig,
    id: &WorldIdentity,
    root: &Path,
    opts: &GenerateOptions,
    now_ns: u64,
) -> Result<(WorldSummary, Failure), WorldError> {
    let world = model::build(rc, id);
    let tabs = tables::build(&world, id)?;
    let (digests, counts, outcomes) = write_and_check(&tabs, id, root)?;
    drop(tabs);

    let mut by_seg: HashMap<&str, Vec<Check>> = upstream_checks(&world, rc);
    let mut failure: Failure = None;
    for o in &outcomes {
        let check = match &o.result {
            Ok(m) => Check::new(format!("{}:{}", o.rule, o.output), true, m.clone()),
            Err(d) => Check::new(
                format!("{}:{}", o.rule, o.output),
                false,
                json!({"error": d}),
            ),
        };
        by_seg.entry(o.seg).or_default().push(check);
    }
    let generated_utc = timefmt::ts_utc(world.start_us);
    let mut upstream: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut gate_digests = BTreeMap::new();
    for g in &GATES {
        let checks = by_seg.remove(g.seg).unwrap_or_default();
        let mut extra = Vec::new();
        if g.seg == "1A" {
            extra.push((
                identity::PARAMETER_FILE.to_owned(),
                identity::parameter_bytes(rc).into_bytes(),
            ));
        }
        if g.seg == "5B" || g.seg == "6B" {
            let mut list: Vec<Value> = digests
                .iter()
                .filter(|(s, _)| s == g.seg)
                .map(|(_, v)| v.clone())
                .collect();
            list.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
            let name = if g.seg == "5B" {
                DIGESTS_5B
            } else {
                DIGESTS_6B
            };
            extra.push((
                name.to_owned(),
                gates::json_bytes(
                    &json!({"manifest_fingerprint": id.manifest_fingerprint, "outputs": list}),
                ),
            ));
        }
        let inp = BundleInput {
            mf: &id.manifest_fingerprint,
            ph: &id.parameter_hash,
            generated_utc: &generated_utc,
            checks: &checks,
            extra,
            upstream: &upstream,
        };
        match gates::write_bundle(root, g, &inp)? {
            Some(d) => {
                upstream.insert(
                    g.seg.to_owned(),
                    (
                        d.clone(),
                        format!("{}/_passed.flag", g.bundle_dir(&id.manifest_fingerprint)),
                    ),
                );
                gate_digests.insert(g.id.to_owned(), d);
            }
            None => {
                if failure.is_none() {
                    let o = outcomes
                        .iter()
                        .find(|o| o.seg == g.seg && o.result.is_err())
                        .cloned()
                        .unwrap_or(invariants::Outcome {
                            rule: "upstream_check",
                            seg: g.seg,
                            output: "-",
                            result: Err(checks
                                .iter()
                                .filter(|c| !c.passed)
                                .map(|c| c.id.clone())
                                .collect::<Vec<_>>()
                                .join(", ")),
                        });
                    failure = Some((g.id.to_owned(), o));
                }
            }
        }
    }

    let run_id = match &opts.run_id {
        Some(r) => {
            fp_rails::Hex32::parse(r.clone())
                .map_err(|e| WorldError::Config(format!("run_id: {e}")))?;
            r.clone()
        }
        None => identity::run_id(id, now_ns),
    };
    let created = opts
        .created_utc
        .clone()
        .unwrap_or_else(|| timefmt::ts_utc((now_ns / 1000) as i64));
    let receipt = json!({
        "run_id": run_id,
        "manifest_fingerprint": id.manifest_fingerprint,
        "parameter_hash": id.parameter_hash,
        "seed": id.seed,
        "created_utc": created,
    });
    let rp = root.join("run_receipt.json");
    fs::write(&rp, gates::json_bytes(&receipt)).map_err(io_err(&rp))?;

    let n = world.arrivals.len() as u64;
    let fraud_flows = world
        .arrivals
        .iter()
        .filter(|a| a.campaign.is_some())
        .count() as u64;
    let mut mix: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for c in world.campaigns.iter().filter(|c| c.tagged > 0) {
        let e = mix.entry(c.template.label().to_owned()).or_default();
        e.0 += 1;
        e.1 += c.tagged;
    }
    let summary = WorldSummary {
        run_root: root.to_path_buf(),
        run_id,
        manifest_fingerprint: id.manifest_fingerprint.clone(),
        parameter_hash: id.parameter_hash.clone(),
        seed: id.seed,
        scenario_id: id.scenario_id.clone(),
        outputs: counts,
        flows: n,
        fraud_flows,
        fraud_rate: fraud_flows as f64 / n.max(1) as f64,
        campaign_mix: mix,
        truth_positive: world
            .outcomes
            .iter()
            .filter(|o| o.fraud_label != model::truth::LEGIT)
            .count() as u64,
        bank_positive: world
            .outcomes
            .iter()
            .filter(|o| model::truth::BANK_FRAUD_LABELS.contains(&o.bank_label))
            .count() as u64,
        cases: world.case_ids.iter().filter(|c| c.is_some()).count() as u64,
        gates: gate_digests,
    };
    Ok((summary, failure))
}

/// One unit of work of [`write_and_check`].
enum Job {
    /// Run the invariants on the tables in memory.
    Check,
    /// Write table `i`.
    Write(usize),
}

/// What one job produced.
enum Done {
    Checked(Vec<invariants::Outcome>),
    Written(String),
}

type Written = (
    Vec<(String, Value)>,
    Vec<OutputCount>,
    Vec<invariants::Outcome>,
);

/// Write every table to its file and run the invariants, on every core: the jobs (the checks
/// first, then the tables by size) are taken in turn by `min(cores, jobs)` threads. Each
/// file's bytes depend only on its table, and results are gathered by job index, so the
/// outcome does not depend on the number of threads or their timing.
fn write_and_check(
    tabs: &[tables::Table],
    id: &WorldIdentity,
    root: &Path,
) -> Result<Written, WorldError> {
    let mut jobs = vec![Job::Check];
    let mut order: Vec<usize> = (0..tabs.len()).collect();
    order.sort_by_key(|&i| {
        let b = &tabs[i].batch;
        (std::cmp::Reverse(b.num_rows() * b.num_columns()), i)
    });
    jobs.extend(order.into_iter().map(Job::Write));
    let map: Tables = tabs.iter().map(|t| (t.spec.id, t.batch.clone())).collect();
    let paths: Vec<String> = tabs.iter().map(|t| t.spec.file_path(id, 0)).collect();
    let run = |job: &Job| -> Result<Done, WorldError> {
        match *job {
            Job::Check => Ok(Done::Checked(invariants::run(&map, id))),
            Job::Write(i) => {
                write::write_table_digest(&tabs[i], &root.join(&paths[i])).map(Done::Written)
            }
        }
    };
    let results = crate::pool::parallel(&jobs, run);
    let mut outcomes = Vec::new();
    let mut shas: Vec<Option<String>> = vec![None; tabs.len()];
    for (job, r) in jobs.iter().zip(results) {
        match (job, r?) {
            (Job::Check, Done::Checked(o)) => outcomes = o,
            (Job::Write(i), Done::Written(sha)) => shas[*i] = Some(sha),
            _ => return Err(WorldError::Internal("job result mismatch".into())),
        }
    }
    let mut digests = Vec::with_capacity(tabs.len());
    let mut counts = Vec::with_capacity(tabs.len());
    for ((t, rel), sha) in tabs.iter().zip(paths).zip(shas) {
        let sha = sha.ok_or_else(|| WorldError::Internal(format!("{} not written", t.spec.id)))?;
        let rows = t.batch.num_rows() as u64;
        digests.push((
            t.spec.segment.to_owned(),
            json!({"output_id": t.spec.id, "path": rel, "sha256_hex": sha, "rows": rows}),
        ));
        counts.push(OutputCount {
            output_id: t.spec.id.to_owned(),
            path: rel,
            rows,
        });
    }
    Ok((digests, counts, outcomes))
}

/// Checks of the upstream segments (1A..6A), computed from the model the outputs came from.
fn upstream_checks(w: &World, rc: &crate::ResolvedConfig) -> HashMap<&'static str, Vec<Check>> {
    let mut m: HashMap<&'static str, Vec<Check>> = HashMap::new();
    let mut ids: Vec<u64> = w.merchants.iter().map(|x| x.id).collect();
    ids.sort_unstable();
    ids.dedup();
    m.entry("1A").or_default().push(Check::new(
        "merchant_ids_unique_id64",
        ids.len() == w.merchants.len() && ids.iter().all(|&i| i >= 1 && i <= i64::MAX as u64),
        json!({"merchants": w.merchants.len()}),
    ));
    let mut sites: Vec<u64> = w
        .merchants
        .iter()
        .flat_map(|x| x.sites.iter().copied())
        .collect();
    let n_sites = sites.len();
    sites.sort_unstable();
    sites.dedup();
    m.entry("1B").or_default().push(Check::new(
        "sites_unique_and_every_physical_merchant_sited",
        sites.len() == n_sites
            && w.merchants
                .iter()
                .all(|x| x.is_virtual || !x.sites.is_empty()),
        json!({"sites": n_sites}),
    ));
    m.entry("2A").or_default().push(Check::new(
        "tz_assigned_from_table",
        w.merchants
            .iter()
            .all(|x| x.zone < timefmt::ZONES.len() && x.op_zone < timefmt::ZONES.len()),
        json!({"zones": timefmt::ZONES.len()}),
    ));
    let routed = w.arrivals.iter().all(|a| {
        let mm = &w.merchants[a.merchant as usize];
        if mm.is_virtual {
            mm.edges.contains(&a.route)
        } else {
            mm.sites.contains(&a.route)
        }
    });
    m.entry("2B").or_default().push(Check::new(
        "arrivals_routed_to_own_site_or_edge",
        routed,
        json!({"arrivals": w.arrivals.len()}),
    ));
    let mut per_zone = vec![0u64; timefmt::ZONES.len()];
    for x in &w.merchants {
        per_zone[x.zone] += 1;
    }
    m.entry("3A").or_default().push(Check::new(
        "zone_allocation_sums_to_merchants",
        per_zone.iter().sum::<u64>() == w.merchants.len() as u64,
        json!({"per_zone": per_zone}),
    ));
    let mut edges: Vec<u64> = w
        .merchants
        .iter()
        .flat_map(|x| x.edges.iter().copied())
        .collect();
    let n_edges = edges.len();
    edges.sort_unstable();
    edges.dedup();
    m.entry("3B").or_default().push(Check::new(
        "virtual_edges_unique_and_every_virtual_merchant_edged",
        edges.len() == n_edges && w.merchants.iter().all(|x| !x.is_virtual || !x.edges.is_empty()),
        json!({"edges": n_edges, "virtual_merchants": w.merchants.iter().filter(|x| x.is_virtual).count()}),
    ));
    let mut per_day = vec![0u64; rc.days as usize + 1];
    for a in &w.arrivals {
        let d = ((a.bucket / 24) as usize).min(rc.days as usize);
        per_day[d] += 1;
    }
    m.entry("5A").or_default().push(Check::new(
        "arrivals_per_day_sum_to_flows",
        per_day.iter().sum::<u64>() == rc.flows,
        json!({"per_day": per_day}),
    ));
    let parties_ok = w
        .arrivals
        .iter()
        .all(|a| a.party_id >= PARTY_BASE && a.party_id < PARTY_BASE + w.parties as i64);
    m.entry("6A").or_default().push(Check::new(
        "arrival_parties_in_population",
        parties_ok,
        json!({"parties": w.parties}),
    ));
    m
}

fn verr(path: impl Into<String>, rule: impl Into<String>, detail: impl Into<String>) -> WorldError {
    WorldError::Verify {
        path: path.into(),
        rule: rule.into(),
        detail: detail.into(),
    }
}

fn hex_field(v: &Value, k: &str, len: usize) -> Result<String, WorldError> {
    let s = v.get(k).and_then(Value::as_str).unwrap_or_default();
    if s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(s.to_owned())
    } else {
        Err(verr(
            "run_receipt.json",
            "run_receipt_schema",
            format!("`{k}` must be {len} lowercase hex characters"),
        ))
    }
}

/// Verify a run root from the files on disk; the error names the first broken file and rule.
pub fn verify(root: &Path) -> Result<VerifyReport, WorldError> {
    // Receipt.
    let rb = fs::read(root.join("run_receipt.json"))
        .map_err(|e| verr("run_receipt.json", "run_receipt_present", e.to_string()))?;
    let receipt: Value = serde_json::from_slice(&rb)
        .map_err(|e| verr("run_receipt.json", "run_receipt_schema", e.to_string()))?;
    hex_field(&receipt, "run_id", 32)?;
    let mf = hex_field(&receipt, "manifest_fingerprint", 64)?;
    let ph = hex_field(&receipt, "parameter_hash", 64)?;
    let seed = receipt.get("seed").and_then(Value::as_u64).ok_or_else(|| {
        verr(
            "run_receipt.json",
            "run_receipt_schema",
            "`seed` must be a uint64",
        )
    })?;

    // Scenario: exactly one `scenario_id=` directory under the 5B output.
    let sc_parent = format!("data/layer2/5B/arrival_events/seed={seed}/manifest_fingerprint={mf}");
    let mut scenarios = Vec::new();
    let rd = fs::read_dir(root.join(&sc_parent))
        .map_err(|e| verr(&sc_parent, "output_present", e.to_string()))?;
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if let Some(s) = n.strip_prefix("scenario_id=") {
            scenarios.push(s.to_owned());
        }
    }
    if scenarios.len() != 1 {
        return Err(verr(
            &sc_parent,
            "one_scenario_per_run_root",
            format!("found {} scenario_id= directories", scenarios.len()),
        ));
    }
    let id = WorldIdentity {
        manifest_fingerprint: mf.clone(),
        parameter_hash: ph.clone(),
        seed,
        scenario_id: scenarios.remove(0),
    };

    // Gates.
    let mut gate_digests = BTreeMap::new();
    for g in &GATES {
        let d = gates::verify_gate(root, g, &mf).map_err(|f| verr(f.path, f.gate, f.reason))?;
        gate_digests.insert(g.id.to_owned(), d);
    }

    // Identity: recompute parameter_hash and manifest_fingerprint from the kept parameter file.
    let prel = format!("{}/{}", GATES[0].bundle_dir(&mf), identity::PARAMETER_FILE);
    let params =
        fs::read(root.join(&prel)).map_err(|e| verr(&prel, "identity_recipe", e.to_string()))?;
    let (mf2, ph2) = identity::hashes(&params);
    if mf2 != mf || ph2 != ph {
        return Err(verr(
            &prel,
            "identity_recipe",
            format!(
                "recomputed manifest_fingerprint {mf2} / parameter_hash {ph2} differ from run_receipt.json"
            ),
        ));
    }

    // Output files: exactly the listed files, with the listed digests.
    let mut listed: HashMap<String, (String, u64)> = HashMap::new();
    for (seg, name) in [("5B", DIGESTS_5B), ("6B", DIGESTS_6B)] {
        let g = gates::gate(seg).ok_or_else(|| WorldError::Internal(format!("no gate {seg}")))?;
        let rel = format!("{}/{name}", g.bundle_dir(&mf));
        let v: Value = fs::read(root.join(&rel))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| verr(&rel, g.id, "output digest list missing or not JSON"))?;
        for o in v
            .get("outputs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let p = o
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let h = o
                .get("sha256_hex")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let rows = o.get("rows").and_then(Value::as_u64).unwrap_or(0);
            listed.insert(p, (h, rows));
        }
    }
    let mut tabs: Tables = HashMap::new();
    let mut counts = Vec::new();
    for spec in OUTPUTS {
        let dir = spec.partition_dir(&id);
        let mut files: Vec<String> = fs::read_dir(root.join(&dir))
            .map_err(|e| verr(&dir, "output_present", e.to_string()))?
            .flatten()
            .map(|e| format!("{dir}/{}", e.file_name().to_string_lossy()))
            .collect();
        files.sort();
        let want = spec.file_path(&id, 0);
        if files != [want.clone()] {
            return Err(verr(
                &dir,
                "output_files_exactly_as_listed",
                format!("found {files:?}, expected [{want}]"),
            ));
        }
        let (h, rows) = listed
            .get(&want)
            .ok_or_else(|| verr(&want, "output_listed_in_gate_bundle", "not listed"))?;
        let bytes =
            fs::read(root.join(&want)).map_err(|e| verr(&want, "output_present", e.to_string()))?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if &actual != h {
            return Err(verr(
                &want,
                "output_content_digest",
                format!("sha256 {actual} != listed {h}"),
            ));
        }
        let batch = read::read_table(&root.join(&want))
            .map_err(|e| verr(&want, "parquet_readable", e.to_string()))?;
        if batch.num_rows() as u64 != *rows {
            return Err(verr(
                &want,
                "row_count",
                format!("{} rows, bundle lists {rows}", batch.num_rows()),
            ));
        }
        counts.push(OutputCount {
            output_id: spec.id.to_owned(),
            path: want,
            rows: *rows,
        });
        tabs.insert(spec.id, batch);
    }
    if listed.len() != OUTPUTS.len() {
        return Err(verr(
            "data",
            "output_digest_list",
            format!(
                "{} files listed for {} outputs",
                listed.len(),
                OUTPUTS.len()
            ),
        ));
    }

    // Invariants.
    let outcomes = invariants::run(&tabs, &id);
    let mut passed = 0;
    for o in &outcomes {
        match &o.result {
            Ok(_) => passed += 1,
            Err(d) => {
                let spec = catalogue::output(o.output)
                    .ok_or_else(|| WorldError::Internal(o.output.to_owned()))?;
                return Err(verr(spec.file_path(&id, 0), o.rule, d.clone()));
            }
        }
    }
    Ok(VerifyReport {
        manifest_fingerprint: mf,
        parameter_hash: ph,
        seed,
        scenario_id: id.scenario_id,
        gates: gate_digests,
        outputs: counts,
        invariants_passed: passed,
    })
}

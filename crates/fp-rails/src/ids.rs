//! Every id and hash recipe of the platform, byte-compatible with the Python reference
//! (contracts §18). Each function documents its recipe; `tests/vectors.rs` reproduces §21.
//!
//! Notation: `sha(x)` is the lowercase hex sha256 of UTF-8 bytes, `H32` its first 32 hex
//! characters, `CJ`/`CJ-SR` the canonical JSON encodings, `RECIPE(r, p)` =
//! `sha(CJ({"recipe": r, "payload": p}))`.

use serde_json::{Value, json};

use crate::canonical::{cj, cj_sr};
use crate::digest::{h32, recipe, sha256_hex};
use crate::eb::{EbRef, OffsetKind};
use crate::hexid::{Hex32, Hex64};
use crate::pins::ContextPins;

// Every caller passes a sha256 hex digest (or its 32-character prefix) computed here.
fn hex32(s: String) -> Hex32 {
    Hex32::from_trusted(s)
}

fn hex64(s: String) -> Hex64 {
    Hex64::from_trusted(s)
}

fn h32_of(v: String) -> Hex32 {
    let mut s = v;
    s.truncate(32);
    hex32(s)
}

/// Python's `str(x)` for the JSON scalars that appear in id recipes: strings as-is, integers in
/// decimal, floats in `repr` form, booleans `True`/`False`, null `None`; containers fall back
/// to their compact canonical JSON (the reference never hashes those through `str`).
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                crate::canonical::python_float_repr(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Null => "None".to_owned(),
        other => cj(other),
    }
}

// ---------------------------------------------------------------- Scenario Runner (§7.1)

/// `scenario_run_id = H32("sr_run|" + run_equivalence_key)` (SR `run_id`).
pub fn scenario_run_id(run_equivalence_key: &str) -> Hex32 {
    hex32(h32(format!("sr_run|{run_equivalence_key}")))
}

/// `attempt_id = H32("sr_attempt|{run_id}|{attempt_no}")`.
pub fn attempt_id(run_id: &Hex32, attempt_no: u32) -> Hex32 {
    hex32(h32(format!("sr_attempt|{run_id}|{attempt_no}")))
}

/// Scenario id for a scenario set: `"scnset_" + sha("|".join(sorted(set(s))))[:16]`.
pub fn scenario_set_id(scenarios: &[String]) -> String {
    let mut set: Vec<&str> = scenarios.iter().map(String::as_str).collect();
    set.sort_unstable();
    set.dedup();
    let digest = sha256_hex(set.join("|"));
    format!("scnset_{}", &digest[..16])
}

/// `intent_fingerprint = sha(CJ-SR({manifest_fingerprint, parameter_hash, seed, scenario_id,
/// scenario_set, window_start_utc, window_end_utc, window_tz}))`; the caller builds the object.
pub fn sr_intent_fingerprint(intent: &Value) -> Hex64 {
    hex64(sha256_hex(cj_sr(intent)))
}

/// `plan_hash = sha(CJ-SR(plan without plan_hash))`.
pub fn sr_plan_hash(plan: &Value) -> Hex64 {
    let mut plan = plan.clone();
    if let Some(map) = plan.as_object_mut() {
        map.remove("plan_hash");
    }
    hex64(sha256_hex(cj_sr(&plan)))
}

/// Run-record `event_id = sha(CJ-SR({event_kind, run_id, details}))`: the timestamp is excluded
/// so appending the same fact twice dedupes.
pub fn sr_record_event_id(event_kind: &str, run_id: &Hex32, details: &Value) -> Hex64 {
    hex64(sha256_hex(cj_sr(&json!({
        "event_kind": event_kind,
        "run_id": run_id.as_str(),
        "details": details,
    }))))
}

fn sorted_by_key(items: &[Value], key: &str) -> Vec<Value> {
    let mut v = items.to_vec();
    v.sort_by(|a, b| py_str(&a[key]).cmp(&py_str(&b[key])));
    v
}

/// `bundle_hash = sha(CJ({locators↑output_id, receipts↑gate_id, instance_receipts↑output_id,
/// policy_rev}))`.
pub fn sr_bundle_hash(
    locators: &[Value],
    gate_receipts: &[Value],
    instance_receipts: &[Value],
    policy_rev: &Value,
) -> Hex64 {
    hex64(sha256_hex(cj(&json!({
        "locators": sorted_by_key(locators, "output_id"),
        "receipts": sorted_by_key(gate_receipts, "gate_id"),
        "instance_receipts": sorted_by_key(instance_receipts, "output_id"),
        "policy_rev": policy_rev,
    }))))
}

/// READY `message_id = sha("ready|{platform_run_id}|{scenario_run_id}|{bundle_hash or
/// plan_hash}")`: identical on every re-emit, so consumers dedupe on it.
pub fn ready_message_id(
    platform_run_id: &str,
    scenario_run_id: &str,
    bundle_or_plan_hash: &str,
) -> Hex64 {
    hex64(sha256_hex(format!(
        "ready|{platform_run_id}|{scenario_run_id}|{bundle_or_plan_hash}"
    )))
}

/// Terminal re-emit key: `sha("terminal|{run_id}|{state}|" + sha(CJ-SR(run_status)))`.
pub fn terminal_reemit_key(run_id: &Hex32, state: &str, run_status: &Value) -> Hex64 {
    let status_hash = sha256_hex(cj_sr(run_status));
    hex64(sha256_hex(format!(
        "terminal|{run_id}|{state}|{status_hash}"
    )))
}

// ---------------------------------------------------------------- Oracle Store / WSP (§8, §9)

/// `oracle_pack_id = sha("{mf}|{ph}|{scenario_id}|{seed}|{engine_release}|{catalogue_digest}|
/// {gate_map_digest}")`.
pub fn oracle_pack_id(
    manifest_fingerprint: &str,
    parameter_hash: &str,
    scenario_id: &str,
    seed: u64,
    engine_release: &str,
    catalogue_digest: &str,
    gate_map_digest: &str,
) -> Hex64 {
    hex64(sha256_hex(format!(
        "{manifest_fingerprint}|{parameter_hash}|{scenario_id}|{seed}|{engine_release}|\
         {catalogue_digest}|{gate_map_digest}"
    )))
}

/// `stream_view_id = sha(CJ({engine_run_root, scenario_id, output_id, sort_keys,
/// partition_granularity}))`.
pub fn stream_view_id(
    engine_run_root: &str,
    scenario_id: &str,
    output_id: &str,
    sort_keys: &[&str],
    partition_granularity: &str,
) -> Hex64 {
    hex64(sha256_hex(cj(&json!({
        "engine_run_root": engine_run_root,
        "scenario_id": scenario_id,
        "output_id": output_id,
        "sort_keys": sort_keys,
        "partition_granularity": partition_granularity,
    }))))
}

/// Engine event id as WSP frames it: `sha("|".join([output_id] + [str(row[k]) for k in
/// primary_key] + [str(v) for v in (mf, ph, seed, scenario_id) if v is not None]))`.
/// Independent of `platform_run_id`, so the same row has the same id in every run and lane.
pub fn engine_event_id(
    output_id: &str,
    primary_key_values: &[Value],
    manifest_fingerprint: Option<&str>,
    parameter_hash: Option<&str>,
    seed: Option<u64>,
    scenario_id: Option<&str>,
) -> Hex64 {
    let key: Vec<String> = primary_key_values.iter().map(py_str).collect();
    engine_event_id_of_strs(
        output_id,
        key,
        manifest_fingerprint,
        parameter_hash,
        seed,
        scenario_id,
    )
}

/// [`engine_event_id`] with the primary-key values already rendered as Python's `str()`
/// (producers reading typed columns render them without building JSON values).
pub fn engine_event_id_of_strs(
    output_id: &str,
    primary_key_strs: Vec<String>,
    manifest_fingerprint: Option<&str>,
    parameter_hash: Option<&str>,
    seed: Option<u64>,
    scenario_id: Option<&str>,
) -> Hex64 {
    let mut parts: Vec<String> = Vec::with_capacity(primary_key_strs.len() + 5);
    parts.push(output_id.to_owned());
    parts.extend(primary_key_strs);
    parts.extend(manifest_fingerprint.map(str::to_owned));
    parts.extend(parameter_hash.map(str::to_owned));
    parts.extend(seed.map(|s| s.to_string()));
    parts.extend(scenario_id.map(str::to_owned));
    hex64(sha256_hex(parts.join("|")))
}

/// WSP lane of an event: `int.from_bytes(sha256(event_id)[:8], "big") % lane_count`.
pub fn wsp_lane(event_id: &str, lane_count: u64) -> u64 {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(event_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first) % lane_count.max(1)
}

/// WSP checkpoint scope: `sha("|".join([pack_key, platform_run_id, scenario_run_id,
/// lane_count, lane_index, attempt_id]))`.
pub fn wsp_checkpoint_scope(
    pack_key: &str,
    platform_run_id: &str,
    scenario_run_id: &str,
    lane_count: u64,
    lane_index: u64,
    attempt_id: &str,
) -> Hex64 {
    hex64(sha256_hex(format!(
        "{pack_key}|{platform_run_id}|{scenario_run_id}|{lane_count}|{lane_index}|{attempt_id}"
    )))
}

// ---------------------------------------------------------------- Ingestion Gate (§10)

/// IG dedupe key: `sha("{platform_run_id}:{event_class}:{event_id}")` (`""` when the run is
/// absent).
pub fn ig_dedupe_key(platform_run_id: &str, event_class: &str, event_id: &str) -> Hex64 {
    hex64(sha256_hex(format!(
        "{platform_run_id}:{event_class}:{event_id}"
    )))
}

/// IG receipt id: `H32("{decision}:{event_id}")` (`ADMIT`, `DUPLICATE`, `QUARANTINE`).
pub fn ig_receipt_id(decision: &str, event_id: &str) -> Hex32 {
    hex32(h32(format!("{decision}:{event_id}")))
}

/// IG quarantine id: `H32("QUARANTINE:{event_id}")`.
pub fn ig_quarantine_id(event_id: &str) -> Hex32 {
    ig_receipt_id("QUARANTINE", event_id)
}

/// Partition key: `sha(str(raw))` of the first non-empty value of the profile's key
/// precedence.
pub fn partition_key(raw: &Value) -> Hex64 {
    hex64(sha256_hex(py_str(raw)))
}

/// IG policy content digest: `sha(CJ([{"path": p, "content": CJ(content)} ...] sorted by
/// path))` over the schema policy, class map and partitioning profiles.
pub fn ig_policy_digest(files: &[(String, Value)]) -> Hex64 {
    let mut entries: Vec<(&String, &Value)> = files.iter().map(|(p, c)| (p, c)).collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let list: Vec<Value> = entries
        .into_iter()
        .map(|(p, c)| json!({"path": p, "content": cj(c)}))
        .collect();
    hex64(sha256_hex(cj(&Value::Array(list))))
}

/// IG audit event id: `sha("{event_type}:{ts_iso}:{CJ(payload)}")`. Timestamp-based in the
/// reference (so not replay-stable); kept for wire compatibility of IG audit events.
pub fn ig_audit_event_id(event_type: &str, ts_iso: &str, payload: &Value) -> Hex64 {
    hex64(sha256_hex(format!("{event_type}:{ts_iso}:{}", cj(payload))))
}

// ---------------------------------------------------------------- RTDL (§12)

/// IEG entity id: `sha("{entity_type}:{identifier_type}:{identifier_value}:{scope}")` with
/// `scope = "|".join([platform_run_id, mf, ph, seed, scenario_id, scenario_run_id, run_id])`.
pub fn ieg_entity_id(
    entity_type: &str,
    identifier_type: &str,
    identifier_value: &str,
    pins: &ContextPins,
) -> Hex64 {
    let run_id = pins.run_id.as_ref().map_or("", Hex32::as_str);
    let scope = [
        pins.platform_run_id.as_str(),
        pins.manifest_fingerprint.as_str(),
        pins.parameter_hash.as_str(),
        &pins.seed.to_string(),
        &pins.scenario_id,
        pins.scenario_run_id.as_str(),
        run_id,
    ]
    .join("|");
    hex64(sha256_hex(format!(
        "{entity_type}:{identifier_type}:{identifier_value}:{scope}"
    )))
}

/// IEG graph-version token: `sha(CJ({stream_id, topics: {topic: {partitions: {"<pid>":
/// {next_offset, offset_kind}}}}}))`. The caller builds the basis object; the reference token is
/// 64 hex while the `graph_version` contract wants hex32 (decided with IEG, issue #8).
pub fn ieg_graph_version(basis: &Value) -> Hex64 {
    hex64(sha256_hex(cj(basis)))
}

/// The inputs of an OFP feature snapshot's hash.
#[derive(Debug, Clone)]
pub struct SnapshotHashInput<'a> {
    /// Six pins (as in the snapshot).
    pub pins: &'a Value,
    /// As-of time of the request.
    pub as_of_time_utc: &'a str,
    /// `[{name, version}]` (sorted here).
    pub feature_groups: &'a [(String, String)],
    /// Feature-definition policy revision.
    pub feature_def_policy_rev: &'a Value,
    /// EB offset basis.
    pub eb_offset_basis: &'a Value,
    /// Graph version, or `null`.
    pub graph_version: Option<&'a Value>,
    /// Run config digest, or `null`.
    pub run_config_digest: Option<&'a str>,
    /// `"<key_type>:<key_id>" -> values`.
    pub features: &'a Value,
    /// Freshness block, or `null`.
    pub freshness: Option<&'a Value>,
}

/// OFP `snapshot_hash = sha(CJ({pins, as_of_time_utc, feature_groups↑(name, version),
/// feature_def_policy_rev, eb_offset_basis, graph_version, run_config_digest, features,
/// freshness}))`.
pub fn ofp_snapshot_hash(input: &SnapshotHashInput<'_>) -> Hex64 {
    let mut groups = input.feature_groups.to_vec();
    groups.sort();
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(name, version)| json!({"name": name, "version": version}))
        .collect();
    hex64(sha256_hex(cj(&json!({
        "pins": input.pins,
        "as_of_time_utc": input.as_of_time_utc,
        "feature_groups": groups,
        "feature_def_policy_rev": input.feature_def_policy_rev,
        "eb_offset_basis": input.eb_offset_basis,
        "graph_version": input.graph_version,
        "run_config_digest": input.run_config_digest,
        "features": input.features,
        "freshness": input.freshness,
    }))))
}

/// One `(partition, offset)` entry of an offset basis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOffset {
    /// Partition number.
    pub partition: u32,
    /// Exclusive-next offset as a string.
    pub offset: String,
}

/// `basis_digest = sha(CJ({stream, offset_kind, offsets sorted by (partition, offset)}))`.
pub fn eb_offset_basis_digest(
    stream: &str,
    offset_kind: OffsetKind,
    offsets: &[PartitionOffset],
) -> Hex64 {
    let mut sorted = offsets.to_vec();
    sorted.sort_by(|a, b| (a.partition, &a.offset).cmp(&(b.partition, &b.offset)));
    let offsets: Vec<Value> = sorted
        .iter()
        .map(|o| json!({"partition": o.partition, "offset": o.offset}))
        .collect();
    hex64(sha256_hex(cj(&json!({
        "stream": stream,
        "offset_kind": offset_kind.as_str(),
        "offsets": offsets,
    }))))
}

/// DL posture-change event id: `sha("{scope_key}|{posture_seq}")`.
pub fn dl_posture_event_id(scope_key: &str, posture_seq: u64) -> Hex64 {
    hex64(sha256_hex(format!("{scope_key}|{posture_seq}")))
}

/// The bundle a decision was made with (`""` where a field is absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleRefKey<'a> {
    /// hex64 bundle id.
    pub bundle_id: &'a str,
    /// Version label.
    pub bundle_version: &'a str,
    /// Registry reference.
    pub registry_ref: &'a str,
}

/// DF `decision_id = RECIPE("df.decision_id.v2", {source_event_id, platform_run_id,
/// decision_scope, bundle_ref{bundle_id, bundle_version, registry_ref}, origin_offset{topic,
/// partition, offset, offset_kind}})[:32]`: stable under replay of the same offset.
pub fn df_decision_id(
    source_event_id: &str,
    platform_run_id: &str,
    decision_scope: &str,
    bundle_ref: &BundleRefKey<'_>,
    origin_offset: &EbRef,
) -> Hex32 {
    h32_of(recipe(
        "df.decision_id.v2",
        json!({
            "source_event_id": source_event_id,
            "platform_run_id": platform_run_id,
            "decision_scope": decision_scope,
            "bundle_ref": {
                "bundle_id": bundle_ref.bundle_id,
                "bundle_version": bundle_ref.bundle_version,
                "registry_ref": bundle_ref.registry_ref,
            },
            "origin_offset": origin_offset.origin_offset(),
        }),
    ))
}

/// DF decision envelope `event_id = RECIPE("df.decision_response.event_id.v1",
/// {source_event_id, decision_scope, pin_scope})`.
pub fn df_decision_event_id(
    source_event_id: &str,
    decision_scope: &str,
    pins: &ContextPins,
) -> Hex64 {
    hex64(recipe(
        "df.decision_response.event_id.v1",
        json!({
            "source_event_id": source_event_id,
            "decision_scope": decision_scope,
            "pin_scope": pins.pin_scope(),
        }),
    ))
}

/// DF action-intent envelope `event_id = RECIPE("df.action_intent.event_id.v1",
/// {source_event_id, action_domain, pin_scope})`.
pub fn df_action_intent_event_id(
    source_event_id: &str,
    action_domain: &str,
    pins: &ContextPins,
) -> Hex64 {
    hex64(recipe(
        "df.action_intent.event_id.v1",
        json!({
            "source_event_id": source_event_id,
            "action_domain": action_domain,
            "pin_scope": pins.pin_scope(),
        }),
    ))
}

/// DF `idempotency_key = RECIPE("df.action_intent.idempotency_key.v1", {source_event_id,
/// action_domain, pin_scope})`; `action_domain = action_kind.lower()`. Independent of the
/// decision id, so a re-derived decision cannot execute the same action twice.
pub fn df_idempotency_key(source_event_id: &str, action_domain: &str, pins: &ContextPins) -> Hex64 {
    hex64(recipe(
        "df.action_intent.idempotency_key.v1",
        json!({
            "source_event_id": source_event_id,
            "action_domain": action_domain,
            "pin_scope": pins.pin_scope(),
        }),
    ))
}

/// DF `action_id = H32("{decision_id}:{action_kind}")`.
pub fn df_action_id(decision_id: &Hex32, action_kind: &str) -> Hex32 {
    hex32(h32(format!("{decision_id}:{action_kind}")))
}

/// DF `run_config_digest = sha(CJ({trigger, context, registry_policy, registry_snapshot}))`
/// over the digests of its four policies.
pub fn df_run_config_digest(
    trigger: &str,
    context: &str,
    registry_policy: &str,
    registry_snapshot: &str,
) -> Hex64 {
    hex64(sha256_hex(cj(&json!({
        "trigger": trigger,
        "context": context,
        "registry_policy": registry_policy,
        "registry_snapshot": registry_snapshot,
    }))))
}

/// AL semantic key: `sha(CJ({platform_run_id, scenario_run_id, idempotency_key}))`.
pub fn al_semantic_key(
    platform_run_id: &str,
    scenario_run_id: &str,
    idempotency_key: &str,
) -> Hex64 {
    hex64(sha256_hex(cj(&json!({
        "platform_run_id": platform_run_id,
        "scenario_run_id": scenario_run_id,
        "idempotency_key": idempotency_key,
    }))))
}

/// AL outcome id for an executed/failed action: `H32(CJ({decision_id, action_id,
/// idempotency_key, terminal_state, reason_code, final_attempt_seq}))`.
pub fn al_outcome_id(
    decision_id: &str,
    action_id: &str,
    idempotency_key: &str,
    terminal_state: &str,
    reason_code: &str,
    final_attempt_seq: u32,
) -> Hex32 {
    hex32(h32(cj(&json!({
        "decision_id": decision_id,
        "action_id": action_id,
        "idempotency_key": idempotency_key,
        "terminal_state": terminal_state,
        "reason_code": reason_code,
        "final_attempt_seq": final_attempt_seq,
    }))))
}

/// AL outcome id for a denied action: `H32(CJ({decision_id, action_id, idempotency_key,
/// status: "DENIED", authz_policy_rev, reason}))`.
pub fn al_denied_outcome_id(
    decision_id: &str,
    action_id: &str,
    idempotency_key: &str,
    authz_policy_rev: &Value,
    reason: &str,
) -> Hex32 {
    hex32(h32(cj(&json!({
        "decision_id": decision_id,
        "action_id": action_id,
        "idempotency_key": idempotency_key,
        "status": "DENIED",
        "authz_policy_rev": authz_policy_rev,
        "reason": reason,
    }))))
}

/// DLA intake quarantine id:
/// `H32("{topic}|{partition}|{offset}|{offset_kind}|{reason_code}|{event_id}")`.
pub fn dla_quarantine_id(origin: &EbRef, reason_code: &str, event_id: &str) -> Hex32 {
    hex32(h32(format!(
        "{}|{}|{}|{}|{reason_code}|{event_id}",
        origin.topic, origin.partition, origin.offset, origin.offset_kind
    )))
}

// ---------------------------------------------------------------- Case and labels (§13)

/// An evidence reference as hashed: `{ref_type, ref_id, ref_scope ("" if absent)}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EvidenceRefKey {
    /// `DLA_AUDIT_RECORD`, `DECISION`, `ACTION_OUTCOME`, `EB_ORIGIN_OFFSET`, `CASE_EVENT`,
    /// `EXTERNAL_REF`.
    pub ref_type: String,
    /// The referenced id.
    pub ref_id: String,
    /// Optional scope (`""` when absent).
    pub ref_scope: String,
}

/// Evidence refs canonicalised: sorted by `(ref_type, ref_id, ref_scope)`.
pub fn canonical_evidence_refs(refs: &[EvidenceRefKey]) -> Value {
    let mut sorted = refs.to_vec();
    sorted.sort();
    Value::Array(
        sorted
            .into_iter()
            .map(|r| json!({"ref_type": r.ref_type, "ref_id": r.ref_id, "ref_scope": r.ref_scope}))
            .collect(),
    )
}

/// `case_id = RECIPE("cm.case_id.v1", {platform_run_id, event_class, event_id})[:32]`.
pub fn case_id(platform_run_id: &str, event_class: &str, event_id: &str) -> Hex32 {
    h32_of(recipe(
        "cm.case_id.v1",
        json!({"platform_run_id": platform_run_id, "event_class": event_class, "event_id": event_id}),
    ))
}

/// `case_trigger_id = RECIPE("cm.case_trigger_id.v1", {case_id, trigger_type,
/// source_ref_id})[:32]`.
pub fn case_trigger_id(case_id: &Hex32, trigger_type: &str, source_ref_id: &str) -> Hex32 {
    h32_of(recipe(
        "cm.case_trigger_id.v1",
        json!({"case_id": case_id.as_str(), "trigger_type": trigger_type, "source_ref_id": source_ref_id}),
    ))
}

/// `case_timeline_event_id = RECIPE("cm.case_timeline_event_id.v1", {case_id,
/// timeline_event_type, source_ref_id})[:32]`.
pub fn case_timeline_event_id(
    case_id: &Hex32,
    timeline_event_type: &str,
    source_ref_id: &str,
) -> Hex32 {
    h32_of(recipe(
        "cm.case_timeline_event_id.v1",
        json!({
            "case_id": case_id.as_str(),
            "timeline_event_type": timeline_event_type,
            "source_ref_id": source_ref_id,
        }),
    ))
}

/// `label_assertion_id = RECIPE("ls.label_assertion_id.v1", {case_timeline_event_id,
/// label_subject_key{platform_run_id, event_id}, label_type})[:32]`.
pub fn label_assertion_id(
    case_timeline_event_id: &Hex32,
    platform_run_id: &str,
    event_id: &str,
    label_type: &str,
) -> Hex32 {
    h32_of(recipe(
        "ls.label_assertion_id.v1",
        json!({
            "case_timeline_event_id": case_timeline_event_id.as_str(),
            "label_subject_key": {"platform_run_id": platform_run_id, "event_id": event_id},
            "label_type": label_type,
        }),
    ))
}

/// The fields a label assertion's payload hash covers (no pins, ids or transport metadata).
#[derive(Debug, Clone)]
pub struct LabelHashFields<'a> {
    /// Subject run.
    pub platform_run_id: &'a str,
    /// Subject (traffic) event.
    pub event_id: &'a str,
    /// e.g. `fraud_disposition`.
    pub label_type: &'a str,
    /// e.g. `FRAUD_SUSPECTED`.
    pub label_value: &'a str,
    /// When the label is true in the world.
    pub effective_time: &'a str,
    /// When the platform learned it.
    pub observed_time: &'a str,
    /// `HUMAN`, `EXTERNAL`, `AUTO`, `SYSTEM`.
    pub source_type: &'a str,
    /// Actor (`""` when absent).
    pub actor_id: Option<&'a str>,
    /// Evidence.
    pub evidence_refs: &'a [EvidenceRefKey],
}

/// Label payload hash: `RECIPE("ls.label_assertion_payload_hash.v1", {label_subject_key,
/// label_type, label_value, effective_time, observed_time, source_type, actor_id or "",
/// evidence_refs↑})`.
pub fn label_payload_hash(f: &LabelHashFields<'_>) -> Hex64 {
    hex64(recipe(
        "ls.label_assertion_payload_hash.v1",
        json!({
            "label_subject_key": {"platform_run_id": f.platform_run_id, "event_id": f.event_id},
            "label_type": f.label_type,
            "label_value": f.label_value,
            "effective_time": f.effective_time,
            "observed_time": f.observed_time,
            "source_type": f.source_type,
            "actor_id": f.actor_id.unwrap_or(""),
            "evidence_refs": canonical_evidence_refs(f.evidence_refs),
        }),
    ))
}

/// Case trigger payload hash: `RECIPE("cm.case_trigger_payload_hash.v1", {case_subject_key,
/// trigger_type, source_ref_id, pins, observed_time, evidence_refs↑, trigger_payload})`.
pub fn case_trigger_payload_hash(
    case_subject_key: &Value,
    trigger_type: &str,
    source_ref_id: &str,
    pins: &Value,
    observed_time: &str,
    evidence_refs: &[EvidenceRefKey],
    trigger_payload: &Value,
) -> Hex64 {
    hex64(recipe(
        "cm.case_trigger_payload_hash.v1",
        json!({
            "case_subject_key": case_subject_key,
            "trigger_type": trigger_type,
            "source_ref_id": source_ref_id,
            "pins": pins,
            "observed_time": observed_time,
            "evidence_refs": canonical_evidence_refs(evidence_refs),
            "trigger_payload": trigger_payload,
        }),
    ))
}

/// Case timeline payload hash: `RECIPE("cm.case_timeline_payload_hash.v1", {case_id,
/// timeline_event_type, source_ref_id, pins, observed_time, evidence_refs↑, timeline_payload,
/// case_subject_key|null})`.
#[allow(clippy::too_many_arguments)]
pub fn case_timeline_payload_hash(
    case_id: &Hex32,
    timeline_event_type: &str,
    source_ref_id: &str,
    pins: &Value,
    observed_time: &str,
    evidence_refs: &[EvidenceRefKey],
    timeline_payload: &Value,
    case_subject_key: Option<&Value>,
) -> Hex64 {
    hex64(recipe(
        "cm.case_timeline_payload_hash.v1",
        json!({
            "case_id": case_id.as_str(),
            "timeline_event_type": timeline_event_type,
            "source_ref_id": source_ref_id,
            "pins": pins,
            "observed_time": observed_time,
            "evidence_refs": canonical_evidence_refs(evidence_refs),
            "timeline_payload": timeline_payload,
            "case_subject_key": case_subject_key,
        }),
    ))
}

/// CM action `idempotency_key = RECIPE("cm.action_intent.idempotency_key.v1", {case_id,
/// source_case_event_id, action_kind, target_ref{ref_type, ref_id}})`.
pub fn cm_action_idempotency_key(
    case_id: &Hex32,
    source_case_event_id: &str,
    action_kind: &str,
    target_ref_type: &str,
    target_ref_id: &str,
) -> Hex64 {
    hex64(recipe(
        "cm.action_intent.idempotency_key.v1",
        json!({
            "case_id": case_id.as_str(),
            "source_case_event_id": source_case_event_id,
            "action_kind": action_kind,
            "target_ref": {"ref_type": target_ref_type, "ref_id": target_ref_id},
        }),
    ))
}

/// CM `action_id = RECIPE("cm.action_intent.action_id.v1", {case_id, source_case_event_id,
/// action_idempotency_key})[:32]`.
pub fn cm_action_id(case_id: &Hex32, source_case_event_id: &str, idempotency_key: &Hex64) -> Hex32 {
    h32_of(recipe(
        "cm.action_intent.action_id.v1",
        json!({
            "case_id": case_id.as_str(),
            "source_case_event_id": source_case_event_id,
            "action_idempotency_key": idempotency_key.as_str(),
        }),
    ))
}

// ---------------------------------------------------------------- Learning (§14)

/// OFS `run_key = sha(CJ({"recipe": "ofs.run_key.v1", "request_id": id}))[:32]` (note: no
/// `payload` wrapper, unlike RECIPE).
pub fn ofs_run_key(request_id: &str) -> Hex32 {
    hex32(h32(cj(
        &json!({"recipe": "ofs.run_key.v1", "request_id": request_id}),
    )))
}

/// One replay-basis range of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReplayRange {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Offset kind wire name.
    pub offset_kind: String,
    /// First offset (string).
    pub start_offset: String,
    /// End offset (string).
    pub end_offset: String,
}

/// The canonical identity of a dataset, as the OFS fingerprints it.
#[derive(Debug, Clone)]
pub struct DatasetIdentity {
    /// Run the dataset is scoped to.
    pub platform_run_id: String,
    /// Scenario runs included (trimmed and sorted when hashed).
    pub scenario_run_ids: Vec<String>,
    /// Offset ranges (sorted when hashed).
    pub replay_basis: Vec<ReplayRange>,
    /// `{label_asof_utc, resolution_rule, maturity_days?}`.
    pub label_basis: Value,
    /// `{feature_set_id, feature_set_version}`.
    pub feature_definition_set: Value,
    /// Join scope (open object).
    pub join_scope: Value,
    /// Filters (open object).
    pub filters: Value,
    /// Policy revision.
    pub policy_revision: String,
    /// Config revision.
    pub config_revision: String,
    /// Code release of the OFS.
    pub ofs_code_release_id: String,
}

impl DatasetIdentity {
    /// The normalised identity object that is hashed.
    pub fn canonical(&self) -> Value {
        let mut scenario_run_ids: Vec<String> = self
            .scenario_run_ids
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        scenario_run_ids.sort();
        let mut basis = self.replay_basis.clone();
        basis.sort();
        let basis: Vec<Value> = basis
            .into_iter()
            .map(|r| {
                json!({
                    "topic": r.topic,
                    "partition": r.partition,
                    "offset_kind": r.offset_kind,
                    "start_offset": r.start_offset,
                    "end_offset": r.end_offset,
                })
            })
            .collect();
        json!({
            "platform_run_id": self.platform_run_id,
            "scenario_run_ids": scenario_run_ids,
            "replay_basis": basis,
            "label_basis": self.label_basis,
            "feature_definition_set": self.feature_definition_set,
            "join_scope": self.join_scope,
            "filters": self.filters,
            "policy_revision": self.policy_revision,
            "config_revision": self.config_revision,
            "ofs_code_release_id": self.ofs_code_release_id,
        })
    }

    /// `dataset_fingerprint = RECIPE("ofs.dataset_fingerprint.v1", canonical identity)`.
    pub fn fingerprint(&self) -> Hex64 {
        hex64(recipe("ofs.dataset_fingerprint.v1", self.canonical()))
    }
}

/// `dataset_manifest_id = "dm_" + RECIPE("ofs.dataset_manifest_id.v1",
/// {dataset_fingerprint})[:32]`.
pub fn dataset_manifest_id(dataset_fingerprint: &Hex64) -> String {
    let r = recipe(
        "ofs.dataset_manifest_id.v1",
        json!({"dataset_fingerprint": dataset_fingerprint.as_str()}),
    );
    format!("dm_{}", &r[..32])
}

/// MF `train_run_key = RECIPE("mf.train_run_key.v1", {intent_kind, platform_run_id,
/// dataset_manifest_refs↑uniq, training_config_ref, governance_profile_ref, target_scope,
/// policy_revision, config_revision, mf_code_release_id})`; the caller passes the object and
/// the refs are sorted and de-duplicated here.
pub fn mf_train_run_key(request: &Value) -> Hex64 {
    let mut payload = request.clone();
    if let Some(refs) = payload
        .get_mut("dataset_manifest_refs")
        .and_then(Value::as_array_mut)
    {
        let mut strs: Vec<String> = refs.iter().map(py_str).collect();
        strs.sort();
        strs.dedup();
        *refs = strs.into_iter().map(Value::String).collect();
    }
    hex64(recipe("mf.train_run_key.v1", payload))
}

/// MF `train_run_id = "tr_" + RECIPE("mf.train_run_id.v1", {train_run_key})[:32]`.
pub fn mf_train_run_id(train_run_key: &Hex64) -> String {
    let r = recipe(
        "mf.train_run_id.v1",
        json!({"train_run_key": train_run_key.as_str()}),
    );
    format!("tr_{}", &r[..32])
}

/// `eval_report_id = "er_" + sha(run_key)[:16]`.
pub fn eval_report_id(train_run_id: &str) -> String {
    format!("er_{}", &sha256_hex(train_run_id)[..16])
}

/// `bundle_id = sha(CJ({run_key, manifest_digests, training_profile_digest,
/// governance_profile_digest, eval_report_ref, gate_receipt_ref}))`; the caller builds the
/// object.
pub fn bundle_id(parts: &Value) -> Hex64 {
    hex64(sha256_hex(cj(parts)))
}

/// `bundle_version = "v0-" + sha(CJ({bundle_id, policy_revision, config_revision}))[:12]`.
pub fn bundle_version(bundle_id: &Hex64, policy_revision: &str, config_revision: &str) -> String {
    let d = sha256_hex(cj(&json!({
        "bundle_id": bundle_id.as_str(),
        "policy_revision": policy_revision,
        "config_revision": config_revision,
    })));
    format!("v0-{}", &d[..12])
}

/// Registry publish event id: `"reg_evt_" + sha(CJ({bundle_id, bundle_version}))[:24]`.
pub fn registry_publish_event_id(bundle_id: &Hex64, bundle_version: &str) -> String {
    let d = sha256_hex(cj(&json!({
        "bundle_id": bundle_id.as_str(),
        "bundle_version": bundle_version,
    })));
    format!("reg_evt_{}", &d[..24])
}

// ---------------------------------------------------------------- Governance, archive (§15, §11)

/// Governance fact `event_id = sha("{FAMILY}|{platform_run_id}|{scenario_run_id}|
/// {source_component}|{dedupe_key or CJ(details)}")`: re-emitting the same fact is a no-op.
pub fn governance_event_id(
    family: &str,
    platform_run_id: &str,
    scenario_run_id: Option<&str>,
    source_component: &str,
    dedupe_key: Option<&str>,
    details: &Value,
) -> Hex64 {
    let tail = match dedupe_key {
        Some(k) if !k.is_empty() => k.to_owned(),
        _ => cj(details),
    };
    hex64(sha256_hex(format!(
        "{family}|{platform_run_id}|{}|{source_component}|{tail}",
        scenario_run_id.unwrap_or("")
    )))
}

/// Archive `payload_hash = sha(CJ(full envelope))`.
pub fn archive_payload_hash(envelope: &Value) -> Hex64 {
    hex64(sha256_hex(cj(envelope)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_str_matches_python() {
        assert_eq!(py_str(&json!(1001)), "1001");
        assert_eq!(py_str(&json!("m_1")), "m_1");
        assert_eq!(py_str(&json!(25.0)), "25.0");
        assert_eq!(py_str(&json!(true)), "True");
        assert_eq!(py_str(&Value::Null), "None");
    }

    #[test]
    fn scenario_set_id_is_order_and_duplicate_insensitive() {
        let a = scenario_set_id(&["b".into(), "a".into(), "a".into()]);
        let b = scenario_set_id(&["a".into(), "b".into()]);
        assert_eq!(a, b);
        assert!(a.starts_with("scnset_") && a.len() == 7 + 16);
    }

    #[test]
    fn lanes_partition_the_event_space() {
        let mut seen = [0u32; 4];
        for i in 0..400 {
            seen[wsp_lane(&format!("evt-{i}"), 4) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }

    #[test]
    fn governance_id_prefers_dedupe_key() {
        let a = governance_event_id(
            "RUN_STARTED",
            "p",
            Some("s"),
            "wsp",
            Some("k"),
            &json!({"x": 1}),
        );
        let b = governance_event_id(
            "RUN_STARTED",
            "p",
            Some("s"),
            "wsp",
            Some("k"),
            &json!({"x": 2}),
        );
        let c = governance_event_id("RUN_STARTED", "p", Some("s"), "wsp", None, &json!({"x": 2}));
        assert_eq!(a, b);
        assert_ne!(b, c);
    }

    fn snapshot_hash_of(groups: &[(String, String)], features: &Value) -> Hex64 {
        let pins = json!({"platform_run_id": "p"});
        let rev = json!({"policy_id": "ofp.features.v0", "revision": "r1"});
        let basis = json!({"stream": "s", "offset_kind": "file_line", "offsets": []});
        ofp_snapshot_hash(&SnapshotHashInput {
            pins: &pins,
            as_of_time_utc: "2026-01-01T00:00:00.000000Z",
            feature_groups: groups,
            feature_def_policy_rev: &rev,
            eb_offset_basis: &basis,
            graph_version: None,
            run_config_digest: None,
            features,
            freshness: None,
        })
    }

    #[test]
    fn snapshot_hash_sorts_groups_and_covers_features() {
        let a = ("a".to_owned(), "v1".to_owned());
        let b = ("b".to_owned(), "v1".to_owned());
        let f1 = json!({"flow_id:1": {"event_count": 1}});
        let f2 = json!({"flow_id:1": {"event_count": 2}});
        let ab = [a.clone(), b.clone()];
        let ba = [b, a];
        assert_eq!(snapshot_hash_of(&ab, &f1), snapshot_hash_of(&ba, &f1));
        assert_ne!(snapshot_hash_of(&ab, &f1), snapshot_hash_of(&ab, &f2));
    }

    #[test]
    fn basis_digest_is_order_independent() {
        let a = eb_offset_basis_digest(
            "fp.bus.traffic.fraud.v1",
            OffsetKind::FileLine,
            &[
                PartitionOffset {
                    partition: 1,
                    offset: "5".into(),
                },
                PartitionOffset {
                    partition: 0,
                    offset: "9".into(),
                },
            ],
        );
        let b = eb_offset_basis_digest(
            "fp.bus.traffic.fraud.v1",
            OffsetKind::FileLine,
            &[
                PartitionOffset {
                    partition: 0,
                    offset: "9".into(),
                },
                PartitionOffset {
                    partition: 1,
                    offset: "5".into(),
                },
            ],
        );
        assert_eq!(a, b);
    }
}

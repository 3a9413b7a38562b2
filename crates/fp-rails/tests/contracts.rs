#![allow(clippy::unwrap_used)]
//! The contracts in `contracts/`: every schema compiles (draft 2020-12, relative `$ref`s into
//! `common.schema.json`), every valid example validates and round-trips through its Rust
//! struct, every invalid example is rejected by both, and the schemas and the structs agree on
//! hundreds of mechanical mutations of the valid examples.

use std::collections::BTreeSet;
use std::path::PathBuf;

use fp_rails::contracts::casework::{CaseTrigger, LabelAssertion};
use fp_rails::contracts::ingestion::{IngestionReceipt, QuarantineRecord};
use fp_rails::contracts::learning::{BundlePublication, DatasetManifest, RegistryLifecycleEvent};
use fp_rails::contracts::rtdl::{
    ActionIntent, ActionOutcome, AuditRecord, DecisionResponse, DegradePosture, EbOffsetBasis,
    GraphVersion,
};
use fp_rails::contracts::scenario_runner::{
    ControlMessage, InstanceReceipt, RunFactsView, RunPlan, RunQuarantine, RunReadySignal,
    RunRecordEvent, RunRequest, RunStatus, RunTerminalSignal,
};
use fp_rails::contracts::{
    COMMON_SCHEMA, Contract, ContractError, SCHEMA_NAMES, schema_id, schema_text,
};
use fp_rails::ids::{self, BundleRefKey, LabelHashFields, PartitionOffset};
use fp_rails::{CanonicalEnvelope, EbRef, Hex32, Hex64};
use jsonschema::{Draft, Registry, Validator};
use serde_json::{Value, json};

// ------------------------------------------------------------------------------- fixtures

type RoundTrip = fn(Value) -> Result<Value, ContractError>;

/// Decode + validate as `T`, then encode back.
fn round_trip<T: Contract>(value: Value) -> Result<Value, ContractError> {
    T::from_value(value).map(|doc| doc.to_value())
}

/// `(schema name from the type, round trip through the type)`.
fn entry<T: Contract>() -> (&'static str, RoundTrip) {
    (T::SCHEMA, round_trip::<T>)
}

/// Every typed contract.
fn typed() -> Vec<(&'static str, RoundTrip)> {
    vec![
        entry::<CanonicalEnvelope>(),
        entry::<EbRef>(),
        entry::<RunFactsView>(),
        entry::<RunReadySignal>(),
        entry::<RunRequest>(),
        entry::<RunPlan>(),
        entry::<RunRecordEvent>(),
        entry::<RunStatus>(),
        entry::<RunTerminalSignal>(),
        entry::<ControlMessage>(),
        entry::<InstanceReceipt>(),
        entry::<RunQuarantine>(),
        entry::<IngestionReceipt>(),
        entry::<QuarantineRecord>(),
        entry::<DecisionResponse>(),
        entry::<DegradePosture>(),
        entry::<EbOffsetBasis>(),
        entry::<GraphVersion>(),
        entry::<ActionIntent>(),
        entry::<ActionOutcome>(),
        entry::<AuditRecord>(),
        entry::<CaseTrigger>(),
        entry::<LabelAssertion>(),
        entry::<DatasetManifest>(),
        entry::<BundlePublication>(),
        entry::<RegistryLifecycleEvent>(),
    ]
}

fn typed_for(name: &str) -> RoundTrip {
    typed()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| f)
        .unwrap_or_else(|| panic!("no typed contract for {name}"))
}

fn contracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts")
}

fn schema_value(name: &str) -> Value {
    let text = schema_text(name).unwrap_or_else(|| panic!("no schema text for {name}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}.schema.json is not JSON: {e}"))
}

fn example(name: &str, kind: &str) -> Value {
    let path = contracts_dir().join(format!("examples/{name}.{kind}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The contract schemas, without `common`.
fn contract_names() -> Vec<&'static str> {
    SCHEMA_NAMES
        .iter()
        .copied()
        .filter(|n| *n != COMMON_SCHEMA)
        .collect()
}

/// The shared-definitions resource, registered under its `$id`, as a component would at
/// start-up (no filesystem, no network).
fn registry() -> Registry<'static> {
    Registry::new()
        .add(schema_id(COMMON_SCHEMA), schema_value(COMMON_SCHEMA))
        .unwrap()
        .prepare()
        .unwrap()
}

fn compile(registry: &Registry<'_>, name: &str) -> Validator {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .with_registry(registry)
        .offline()
        .build(&schema_value(name))
        .unwrap_or_else(|e| panic!("{name}.schema.json does not compile: {e}"))
}

fn schema_errors(v: &Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

// ------------------------------------------------------------------------------- schemas

#[test]
fn every_schema_compiles_with_its_id_and_draft() {
    let reg = registry();
    for name in SCHEMA_NAMES {
        let schema = schema_value(name);
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}: $schema"
        );
        assert_eq!(schema["$id"], schema_id(name).as_str(), "{name}: $id");
        assert!(
            schema["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{name}: description"
        );
        compile(&reg, name);
    }
    assert!(schema_text("no_such_contract").is_none());
}

#[test]
fn relative_refs_need_the_common_resource() {
    // Without `common` registered, offline compilation must fail: the refs are real.
    let err = jsonschema::options()
        .with_draft(Draft::Draft202012)
        .offline()
        .build(&schema_value("decision_response"));
    assert!(err.is_err(), "decision_response compiled without common");
}

#[test]
fn schema_list_matches_the_contracts_directory() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(contracts_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".schema.json").map(str::to_owned)
        })
        .collect();
    let listed: BTreeSet<String> = SCHEMA_NAMES.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(on_disk, listed);
    for name in SCHEMA_NAMES {
        let disk =
            std::fs::read_to_string(contracts_dir().join(format!("{name}.schema.json"))).unwrap();
        assert_eq!(schema_text(name), Some(disk.as_str()), "{name}");
    }
}

#[test]
fn typed_contracts_cover_every_schema() {
    let typed: BTreeSet<&str> = typed().iter().map(|(n, _)| *n).collect();
    let names: BTreeSet<&str> = contract_names().into_iter().collect();
    assert_eq!(typed, names);
}

/// Open maps the contracts allow (`additionalProperties: true`), by property name.
const OPEN_MAPS: &[&str] = &[
    "payload",
    "decision",
    "envelope",
    "action_payload",
    "outcome_payload",
    "trigger_payload",
    "label_payload",
    "details",
];

fn lint(node: &Value, path: &str, problems: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            let closed = map.get("additionalProperties") == Some(&Value::Bool(false))
                || map.get("unevaluatedProperties") == Some(&Value::Bool(false));
            // `$defs/*_fields` are open bases, closed by whoever references them.
            let is_fields_base = path.rsplit_once('/').is_some_and(|(parent, key)| {
                parent.ends_with("/$defs") && key.ends_with("_fields")
            });
            // `if`/`then` of a conditional constrain an object already closed by its parent.
            let is_conditional = path.ends_with("/if") || path.ends_with("/then");
            if map.contains_key("properties") && !closed && !is_fields_base && !is_conditional {
                problems.push(format!("{path}: has properties but is not closed"));
            }
            if map.get("type") == Some(&json!("object"))
                && !map.contains_key("properties")
                && !map.contains_key("$ref")
            {
                match map.get("additionalProperties") {
                    Some(Value::Bool(true)) => {
                        let prop = path.rsplit('/').next().unwrap_or_default();
                        if !OPEN_MAPS.contains(&prop) {
                            problems.push(format!("{path}: open object is not a known open map"));
                        }
                    }
                    Some(Value::Object(_)) => {} // a typed map
                    _ => problems.push(format!("{path}: object without properties or map type")),
                }
            }
            let foreign_ref = map.get("$ref").and_then(Value::as_str).filter(|r| {
                !(r.starts_with("#/$defs/") || r.starts_with("common.schema.json#/$defs/"))
            });
            if let Some(r) = foreign_ref {
                problems.push(format!("{path}: $ref {r} is neither local nor into common"));
            }
            for (k, v) in map {
                lint(v, &format!("{path}/{k}"), problems);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                lint(v, &format!("{path}/{i}"), problems);
            }
        }
        _ => {}
    }
}

#[test]
fn every_object_is_closed_or_a_declared_open_map() {
    let mut problems = Vec::new();
    for name in SCHEMA_NAMES {
        lint(&schema_value(name), name, &mut problems);
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_common_definition_is_used_and_every_ref_resolves() {
    let common = schema_value(COMMON_SCHEMA);
    let defs: BTreeSet<String> = common["$defs"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut used = BTreeSet::new();
    fn refs(node: &Value, out: &mut Vec<String>) {
        match node {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    out.push(r.to_owned());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    for name in SCHEMA_NAMES {
        let mut out = Vec::new();
        refs(&schema_value(name), &mut out);
        for r in out {
            let def = r.rsplit('/').next().unwrap().to_owned();
            assert!(defs.contains(&def), "{name}: {r} does not resolve");
            used.insert(def);
        }
    }
    let unused: Vec<_> = defs.difference(&used).collect();
    assert!(unused.is_empty(), "unused common definitions: {unused:?}");
}

// ------------------------------------------------------------------------------- examples

#[test]
fn valid_examples_validate_and_round_trip_through_their_structs() {
    let reg = registry();
    for name in contract_names() {
        let v = compile(&reg, name);
        let doc = example(name, "valid");
        let errors = schema_errors(&v, &doc);
        assert!(errors.is_empty(), "{name}.valid.json: {errors:#?}");
        let back = typed_for(name)(doc.clone())
            .unwrap_or_else(|e| panic!("{name}.valid.json rejected by the struct: {e}"));
        assert_eq!(back, doc, "{name}: round trip changed the document");
    }
}

#[test]
fn invalid_examples_are_rejected_by_schema_and_struct() {
    let reg = registry();
    for name in contract_names() {
        let v = compile(&reg, name);
        let doc = example(name, "invalid");
        assert!(
            !v.is_valid(&doc),
            "{name}.invalid.json is accepted by the schema"
        );
        assert!(
            typed_for(name)(doc).is_err(),
            "{name}.invalid.json is accepted by the struct"
        );
        // Each invalid example is its valid example with one defect, not a different document.
        assert_ne!(example(name, "invalid"), example(name, "valid"), "{name}");
    }
}

#[test]
fn invalid_md_documents_every_invalid_example() {
    let text = std::fs::read_to_string(contracts_dir().join("examples/INVALID.md")).unwrap();
    let listed: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split(".invalid.json`").next())
        .map(str::to_owned)
        .collect();
    let names: BTreeSet<String> = contract_names().iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(listed, names);
}

// ------------------------------------------------------------------------------- agreement

/// Mechanical variations of a document: every key dropped, an unknown key added to every
/// object, every value nulled, every array emptied, every object replaced by an array, every
/// leaf replaced by
/// values at and around the contracts' bounds (lengths in characters, timestamp shapes, case,
/// type changes).
fn mutations(doc: &Value) -> Vec<(String, Value)> {
    fn set(doc: &Value, pointer: &str, value: Value) -> Value {
        let mut d = doc.clone();
        *d.pointer_mut(pointer).unwrap() = value;
        d
    }
    fn walk(doc: &Value, node: &Value, pointer: &str, out: &mut Vec<(String, Value)>) {
        if !pointer.is_empty() && !node.is_null() {
            out.push((format!("{pointer} = null"), set(doc, pointer, Value::Null)));
        }
        match node {
            Value::Object(map) => {
                for k in map.keys() {
                    let mut d = doc.clone();
                    d.pointer_mut(pointer)
                        .unwrap()
                        .as_object_mut()
                        .unwrap()
                        .remove(k);
                    out.push((format!("{pointer}/{k} dropped"), d));
                }
                let mut d = doc.clone();
                d.pointer_mut(pointer)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .insert("zz_unknown".into(), json!(1));
                out.push((format!("{pointer} + unknown key"), d));
                if !pointer.is_empty() {
                    out.push((format!("{pointer} = []"), set(doc, pointer, json!([]))));
                }
                for (k, v) in map {
                    walk(doc, v, &format!("{pointer}/{k}"), out);
                }
            }
            Value::Array(items) => {
                out.push((format!("{pointer} = []"), set(doc, pointer, json!([]))));
                for (i, v) in items.iter().enumerate() {
                    walk(doc, v, &format!("{pointer}/{i}"), out);
                }
            }
            Value::String(s) => {
                let mut variants: Vec<(String, Value)> = vec![
                    ("empty".into(), json!("")),
                    ("ts 3 digits".into(), json!("2026-01-01T00:00:00.123Z")),
                    (
                        "ts offset".into(),
                        json!("2026-01-01T00:00:00.123456+00:00"),
                    ),
                    ("ts micros".into(), json!("2026-01-01T00:00:00.123456Z")),
                    ("bool".into(), json!(true)),
                    ("number".into(), json!(7)),
                ];
                for n in [
                    7, 8, 64, 65, 128, 129, 256, 257, 512, 513, 1024, 1025, 2048, 2049,
                ] {
                    variants.push((format!("{n} chars"), json!("y".repeat(n))));
                }
                for n in [256, 257] {
                    variants.push((format!("{n} two-byte chars"), json!("é".repeat(n))));
                }
                if s.to_uppercase() != *s {
                    variants.push(("upper".into(), json!(s.to_uppercase())));
                }
                for (tag, v) in variants {
                    out.push((format!("{pointer}: {tag}"), set(doc, pointer, v)));
                }
            }
            Value::Number(_) => {
                for (tag, v) in [
                    ("-1", json!(-1)),
                    ("0", json!(0)),
                    ("1.5", json!(1.5)),
                    ("u32::MAX", json!(u32::MAX)),
                    ("string", json!("1")),
                ] {
                    out.push((format!("{pointer}: {tag}"), set(doc, pointer, v)));
                }
            }
            Value::Bool(_) => {
                out.push((
                    format!("{pointer}: string"),
                    set(doc, pointer, json!("yes")),
                ));
            }
            Value::Null => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, doc, "", &mut out);
    out
}

#[test]
fn schemas_and_structs_agree_on_every_mutation() {
    let reg = registry();
    let mut disagreements = Vec::new();
    for name in contract_names() {
        let v = compile(&reg, name);
        let typed = typed_for(name);
        let muts = mutations(&example(name, "valid"));
        let (mut accepted, mut rejected) = (0, 0);
        for (label, doc) in muts {
            let schema_ok = v.is_valid(&doc);
            let typed_result = typed(doc.clone());
            if schema_ok != typed_result.is_ok() {
                disagreements.push(format!(
                    "{name} {label}: schema {}, struct {}",
                    if schema_ok { "accepts" } else { "rejects" },
                    match &typed_result {
                        Ok(_) => "accepts".to_owned(),
                        Err(e) => format!("rejects ({e})"),
                    }
                ));
            }
            match typed_result {
                Ok(back) => {
                    accepted += 1;
                    if back != doc {
                        disagreements.push(format!("{name} {label}: round trip changed it"));
                    }
                }
                Err(_) => rejected += 1,
            }
        }
        // The mutations exercise both verdicts for every contract.
        assert!(
            accepted > 5 && rejected > 5,
            "{name}: {accepted}/{rejected}"
        );
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// Apply `f` to a copy of a valid example and check that schema and struct give `expect`.
fn assert_verdict(name: &str, what: &str, expect: bool, f: impl FnOnce(&mut Value)) {
    let reg = registry();
    let v = compile(&reg, name);
    let mut doc = example(name, "valid");
    f(&mut doc);
    let schema_ok = v.is_valid(&doc);
    let typed_ok = typed_for(name)(doc.clone());
    assert_eq!(schema_ok, expect, "{name} {what}: schema verdict");
    assert_eq!(
        typed_ok.is_ok(),
        expect,
        "{name} {what}: struct verdict {typed_ok:?}"
    );
}

#[test]
fn ingestion_receipt_conditional_requirements() {
    for field in [
        "eb_ref",
        "scenario_run_id",
        "payload_hash",
        "admitted_at_utc",
    ] {
        for decision in ["ADMIT", "DUPLICATE"] {
            assert_verdict("ingestion_receipt", field, false, |d| {
                d["decision"] = json!(decision);
                d.as_object_mut().unwrap().remove(field);
            });
        }
        // A quarantine receipt needs none of them, only evidence refs.
        assert_verdict("ingestion_receipt", field, true, |d| {
            d["decision"] = json!("QUARANTINE");
            d["evidence_refs"] = json!([{"kind": "quarantine_record", "ref": "q/1.json"}]);
            d.as_object_mut().unwrap().remove(field);
        });
    }
    assert_verdict("ingestion_receipt", "duplicate", true, |d| {
        d["decision"] = json!("DUPLICATE");
        d["evidence_refs"] = json!([{"kind": "receipt_ref", "ref": "ig/receipts/x.json"}]);
        d["reason_codes"] = json!(["DUPLICATE"]);
    });
    assert_verdict(
        "ingestion_receipt",
        "quarantine without evidence",
        false,
        |d| {
            d["decision"] = json!("QUARANTINE");
        },
    );
    assert_verdict("ingestion_receipt", "pins without run", false, |d| {
        d["pins"].as_object_mut().unwrap().remove("platform_run_id");
    });
}

#[test]
fn label_assertion_conditional_requirements() {
    assert_verdict("label_assertion", "human without actor", false, |d| {
        d["source_type"] = json!("HUMAN");
        d.as_object_mut().unwrap().remove("actor_id");
    });
    assert_verdict("label_assertion", "human with actor", true, |d| {
        d["source_type"] = json!("HUMAN");
        d["actor_id"] = json!("HUMAN::analyst_7");
    });
    assert_verdict("label_assertion", "chargeback value", true, |d| {
        d["label_type"] = json!("chargeback_status");
        d["label_value"] = json!("PENDING");
    });
    assert_verdict(
        "label_assertion",
        "ato value under chargeback",
        false,
        |d| {
            d["label_type"] = json!("chargeback_status");
            d["label_value"] = json!("ATO_SUSPECTED");
        },
    );
    assert_verdict("label_assertion", "unknown value", false, |d| {
        d["label_value"] = json!("MAYBE");
    });
}

#[test]
fn extension_fields_only_where_the_contract_has_them() {
    let notes = json!("free text");
    let origin = json!({"topic": "t", "partition": 0, "offset": "1", "offset_kind": "file_line"});
    let digest = json!({"algo": "sha256", "hex": "0".repeat(64)});
    // Standalone forms carry notes; embedded ones must not.
    assert_verdict("graph_version", "notes", true, |d| {
        d["notes"] = notes.clone()
    });
    assert_verdict("eb_offset_basis", "notes", true, |d| {
        d["notes"] = notes.clone()
    });
    for name in ["decision_response", "audit_record"] {
        assert_verdict(name, "graph_version.notes", false, |d| {
            d["graph_version"]["notes"] = notes.clone();
        });
        assert_verdict(name, "eb_offset_basis.notes", false, |d| {
            d["eb_offset_basis"]["notes"] = notes.clone();
        });
        assert_verdict(name, "posture evidence digest", false, |d| {
            d["degrade_posture"]["evidence_refs"][0]["digest"] = digest.clone();
        });
    }
    // Only a decision's source event carries origin_offset.
    assert_verdict(
        "decision_response",
        "source_event.origin_offset",
        true,
        |d| {
            d["source_event"]["origin_offset"] = origin.clone();
        },
    );
    assert_verdict(
        "audit_record",
        "action_intents[0].origin_offset",
        false,
        |d| {
            d["action_intents"][0]["origin_offset"] = origin.clone();
        },
    );
    // IG evidence refs carry digests; facts-view locators carry no notes.
    assert_verdict("ingestion_receipt", "evidence digest", true, |d| {
        d["evidence_refs"] = json!([{"kind": "k", "ref": "r", "digest": digest.clone()}]);
    });
    assert_verdict("run_facts_view", "locator notes", false, |d| {
        d["locators"][0]["notes"] = notes.clone();
    });
    assert_verdict(
        "run_facts_view",
        "numeric locator scenario_id",
        false,
        |d| {
            d["locators"][0]["scenario_id"] = json!(3);
        },
    );
    assert_verdict("run_facts_view", "long facts-view scenario_id", true, |d| {
        d["pins"]["scenario_id"] = json!("s".repeat(300));
    });
    assert_verdict("run_facts_view", "policy_rev without digest", false, |d| {
        d["policy_rev"]
            .as_object_mut()
            .unwrap()
            .remove("content_digest");
    });
    assert_verdict("run_facts_view", "empty oracle_pack_ref", false, |d| {
        d["oracle_pack_ref"] = json!({});
    });
    assert_verdict(
        "canonical_event_envelope",
        "numeric scenario_id",
        true,
        |d| {
            d["scenario_id"] = json!(42);
        },
    );
    assert_verdict("canonical_event_envelope", "event_class", false, |d| {
        d["event_class"] = json!("traffic_fraud");
    });
}

#[test]
fn from_value_is_as_strict_as_the_schema_where_serde_is_not() {
    // An explicit null for an optional field: plain serde decodes it as absent, the schema and
    // `Contract::from_value` refuse it.
    let mut doc = example("eb_ref", "valid");
    doc["published_at_utc"] = Value::Null;
    assert!(serde_json::from_value::<EbRef>(doc.clone()).is_ok());
    let err = EbRef::from_value(doc).unwrap_err();
    assert!(err.to_string().contains("published_at_utc"), "{err}");

    // A positional array in place of an object: serde's derive accepts it, the contract not.
    let positional = json!(["fp.bus.traffic.fraud.v1", 0, "17", "kafka_offset"]);
    assert!(serde_json::from_value::<EbRef>(positional.clone()).is_ok());
    assert!(EbRef::from_value(positional).is_err());

    // Bytes go through the same checks.
    let bytes = serde_json::to_vec(&example("eb_ref", "valid")).unwrap();
    assert!(EbRef::from_json_bytes(&bytes).is_ok());
    assert!(EbRef::from_json_bytes(b"{\"topic\": \"t\"}").is_err());
    assert!(EbRef::from_json_bytes(b"not json").is_err());
}

// ------------------------------------------------------------------------------- ids

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

#[test]
fn valid_examples_carry_ids_derived_by_the_platform_recipes() {
    let env =
        <CanonicalEnvelope as Contract>::from_value(example("canonical_event_envelope", "valid"))
            .unwrap();
    let receipt = IngestionReceipt::from_value(example("ingestion_receipt", "valid")).unwrap();
    let p = env.platform_run_id.as_ref().unwrap().as_str();
    assert_eq!(receipt.event_id, env.event_id);
    assert_eq!(
        receipt.payload_hash.as_ref().unwrap().hex,
        env.payload_hash()
    );
    assert_eq!(
        receipt.receipt_id,
        ids::ig_receipt_id(receipt.decision.as_str(), &env.event_id)
    );
    assert_eq!(
        receipt.dedupe_key.as_deref(),
        Some(ids::ig_dedupe_key(p, &receipt.event_class, &env.event_id).as_str())
    );
    let flow_id = &env.payload.as_ref().unwrap()["flow_id"];
    assert_eq!(
        receipt.partition_key.as_deref(),
        Some(ids::partition_key(flow_id).as_str())
    );

    let q = example("quarantine_record", "valid");
    assert_eq!(
        s(&q["quarantine_id"]),
        ids::ig_quarantine_id(s(&q["envelope"]["event_id"])).as_str()
    );

    let ready = RunReadySignal::from_value(example("run_ready_signal", "valid")).unwrap();
    assert_eq!(
        ready.message_id,
        ids::ready_message_id(
            ready.platform_run_id.as_str(),
            ready.scenario_run_id.as_str(),
            ready.bundle_hash.as_str()
        )
    );

    let decision = DecisionResponse::from_value(example("decision_response", "valid")).unwrap();
    let origin = decision.source_event.origin_offset.as_ref().unwrap();
    let b = &decision.bundle_ref;
    assert_eq!(
        decision.decision_id,
        ids::df_decision_id(
            &decision.source_event.event_id,
            decision.pins.platform_run_id.as_str(),
            "fraud.primary",
            &BundleRefKey {
                bundle_id: b.bundle_id.as_str(),
                bundle_version: b.bundle_version.as_deref().unwrap(),
                registry_ref: b.registry_ref.as_deref().unwrap(),
            },
            origin,
        )
    );
    let basis = &decision.eb_offset_basis;
    let offsets: Vec<PartitionOffset> = basis
        .offsets
        .iter()
        .map(|o| PartitionOffset {
            partition: o.partition,
            offset: o.offset.clone(),
        })
        .collect();
    assert_eq!(
        basis.basis_digest.as_ref(),
        Some(&ids::eb_offset_basis_digest(
            &basis.stream,
            basis.offset_kind,
            &offsets
        ))
    );

    let intent = ActionIntent::from_value(example("action_intent", "valid")).unwrap();
    assert_eq!(intent.decision_id, decision.decision_id);
    assert_eq!(
        intent.action_id,
        ids::df_action_id(&intent.decision_id, &intent.action_kind)
    );
    assert_eq!(
        intent.idempotency_key,
        ids::df_idempotency_key(
            &decision.source_event.event_id,
            &intent.action_kind.to_lowercase(),
            &intent.pins
        )
        .as_str()
    );

    let outcome = ActionOutcome::from_value(example("action_outcome", "valid")).unwrap();
    assert_eq!(
        outcome.outcome_id,
        ids::al_outcome_id(
            outcome.decision_id.as_str(),
            outcome.action_id.as_str(),
            &outcome.idempotency_key,
            "EXECUTED",
            "EXECUTED",
            1
        )
    );

    let trigger = CaseTrigger::from_value(example("case_trigger", "valid")).unwrap();
    let k = &trigger.case_subject_key;
    assert_eq!(
        trigger.case_id,
        ids::case_id(k.platform_run_id.as_str(), &k.event_class, &k.event_id)
    );
    assert_eq!(
        trigger.case_trigger_id,
        ids::case_trigger_id(
            &trigger.case_id,
            trigger.trigger_type.as_str(),
            &trigger.source_ref_id
        )
    );
    let keys: Vec<_> = trigger
        .evidence_refs
        .iter()
        .flatten()
        .map(|r| r.key())
        .collect();
    let doc = example("case_trigger", "valid");
    assert_eq!(
        trigger.payload_hash,
        ids::case_trigger_payload_hash(
            &doc["case_subject_key"],
            trigger.trigger_type.as_str(),
            &trigger.source_ref_id,
            &doc["pins"],
            trigger.observed_time.as_str(),
            &keys,
            &doc["trigger_payload"],
        )
    );

    let label = LabelAssertion::from_value(example("label_assertion", "valid")).unwrap();
    let timeline = ids::case_timeline_event_id(
        &trigger.case_id,
        "CASE_TRIGGERED",
        trigger.case_trigger_id.as_str(),
    );
    assert_eq!(label.case_timeline_event_id, timeline);
    let subject = &label.label_subject_key;
    assert_eq!(
        label.label_assertion_id,
        ids::label_assertion_id(
            &timeline,
            subject.platform_run_id.as_str(),
            &subject.event_id,
            label.label_type.as_str()
        )
    );
    let keys: Vec<_> = label.evidence_refs.iter().map(|r| r.key()).collect();
    assert_eq!(
        label.payload_hash,
        ids::label_payload_hash(&LabelHashFields {
            platform_run_id: subject.platform_run_id.as_str(),
            event_id: &subject.event_id,
            label_type: label.label_type.as_str(),
            label_value: label.label_value.as_str(),
            effective_time: label.effective_time.as_str(),
            observed_time: label.observed_time.as_str(),
            source_type: label.source_type.as_str(),
            actor_id: label.actor_id.as_deref(),
            evidence_refs: &keys,
        })
    );

    let manifest = DatasetManifest::from_value(example("dataset_manifest", "valid")).unwrap();
    let fingerprint = Hex64::parse(manifest.dataset_fingerprint.clone()).unwrap();
    assert_eq!(
        manifest.dataset_manifest_id,
        ids::dataset_manifest_id(&fingerprint)
    );

    let event =
        RegistryLifecycleEvent::from_value(example("registry_lifecycle_event", "valid")).unwrap();
    let bundle_id = Hex64::parse(event.bundle_ref.bundle_id.clone()).unwrap();
    assert_eq!(
        event.registry_event_id,
        ids::registry_publish_event_id(&bundle_id, &event.bundle_ref.bundle_version)
    );

    // The §21 scenario run id ties the examples together.
    assert_eq!(
        receipt.scenario_run_id,
        Some(Hex32::parse("f99075b467eefd8598b7ca9aca767b16").unwrap())
    );
}

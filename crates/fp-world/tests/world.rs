#![allow(clippy::unwrap_used)]
//! End-to-end tests of `fp_world::generate` / `verify` on small worlds.

mod common;

use std::collections::{HashMap, HashSet};
use std::fs;

use arrow_array::{Array, BooleanArray, Float64Array, Int64Array, StringArray, UInt64Array};
use common::*;
use parquet::basic::{LogicalType, Repetition, Type as Phys};
use parquet::file::reader::{FileReader, SerializedFileReader};

/// Expected columns, written from engine_interface.md §4 (not from the catalogue module):
/// (name, kind, nullable) with kind S = Utf8, I = Int64, U = UInt64, F = Float64, B = Boolean.
type Columns = Vec<(&'static str, char, bool)>;

fn expected() -> Vec<(&'static str, Columns)> {
    let id6 = |v: &mut Vec<(&'static str, char, bool)>| {
        v.extend([
            ("seed", 'I', false),
            ("manifest_fingerprint", 'S', false),
            ("parameter_hash", 'S', false),
            ("scenario_id", 'S', false),
        ])
    };
    let mut anchor = vec![
        ("flow_id", 'I', false),
        ("arrival_seq", 'I', false),
        ("merchant_id", 'U', false),
        ("party_id", 'I', false),
        ("account_id", 'I', false),
        ("instrument_id", 'I', false),
        ("device_id", 'I', false),
        ("ip_id", 'I', false),
        ("ts_utc", 'S', false),
        ("amount", 'F', false),
    ];
    id6(&mut anchor);
    let mut anchor3 = anchor.clone();
    anchor3.extend([("fraud_flag", 'B', false), ("campaign_id", 'S', true)]);
    let mut ev = vec![
        ("flow_id", 'I', false),
        ("event_seq", 'I', false),
        ("event_type", 'S', false),
        ("ts_utc", 'S', false),
        ("amount", 'F', false),
    ];
    id6(&mut ev);
    let mut ev3 = ev.clone();
    ev3.extend([("fraud_flag", 'B', false), ("campaign_id", 'S', true)]);
    let mut truth = vec![
        ("flow_id", 'I', false),
        ("is_fraud_truth", 'B', false),
        ("fraud_label", 'S', true),
    ];
    id6(&mut truth);
    let mut bank = vec![
        ("flow_id", 'I', false),
        ("is_fraud_bank_view", 'B', false),
        ("bank_label", 'S', true),
    ];
    id6(&mut bank);
    let mut el = vec![
        ("flow_id", 'I', false),
        ("event_seq", 'I', false),
        ("is_fraud_truth", 'B', false),
        ("is_fraud_bank_view", 'B', false),
    ];
    id6(&mut el);
    let mut ct = vec![
        ("case_id", 'I', false),
        ("case_event_seq", 'I', false),
        ("flow_id", 'I', false),
        ("case_event_type", 'S', false),
        ("ts_utc", 'S', false),
    ];
    id6(&mut ct);
    vec![
        (
            "arrival_events_5B",
            vec![
                ("manifest_fingerprint", 'S', false),
                ("parameter_hash", 'S', false),
                ("seed", 'U', false),
                ("scenario_id", 'S', false),
                ("merchant_id", 'U', false),
                ("zone_representation", 'S', false),
                ("channel_group", 'S', true),
                ("bucket_index", 'I', false),
                ("arrival_seq", 'I', false),
                ("ts_utc", 'S', false),
                ("tzid_primary", 'S', false),
                ("ts_local_primary", 'S', false),
                ("tzid_settlement", 'S', true),
                ("ts_local_settlement", 'S', true),
                ("tzid_operational", 'S', true),
                ("ts_local_operational", 'S', true),
                ("routing_universe_hash", 'S', true),
                ("is_virtual", 'B', false),
                ("s4_spec_version", 'S', true),
                ("site_id", 'U', true),
                ("edge_id", 'U', true),
            ],
        ),
        (
            "s1_arrival_entities_6B",
            vec![
                ("scenario_id", 'S', false),
                ("arrival_seq", 'I', false),
                ("merchant_id", 'U', false),
                ("ts_utc", 'S', false),
                ("party_id", 'I', false),
                ("account_id", 'I', false),
                ("instrument_id", 'I', false),
                ("device_id", 'I', false),
                ("ip_id", 'I', false),
                ("session_id", 'I', false),
                ("seed", 'I', false),
                ("manifest_fingerprint", 'S', false),
                ("parameter_hash", 'S', false),
            ],
        ),
        (
            "s1_session_index_6B",
            vec![
                ("session_id", 'I', false),
                ("arrival_count", 'I', false),
                ("session_start_utc", 'S', false),
                ("session_end_utc", 'S', false),
                ("seed", 'I', false),
                ("manifest_fingerprint", 'S', false),
                ("scenario_id", 'S', false),
                ("party_id", 'I', false),
                ("device_id", 'I', false),
                ("account_id", 'I', false),
                ("instrument_id", 'I', false),
                ("merchant_id", 'U', false),
            ],
        ),
        ("s2_flow_anchor_baseline_6B", anchor),
        ("s2_event_stream_baseline_6B", ev),
        (
            "s3_campaign_catalogue_6B",
            vec![
                ("campaign_id", 'S', false),
                ("campaign_label", 'S', false),
                ("fraud_rate", 'F', false),
                ("scenario_id", 'S', false),
                ("seed", 'I', false),
                ("manifest_fingerprint", 'S', false),
                ("parameter_hash", 'S', false),
            ],
        ),
        ("s3_flow_anchor_with_fraud_6B", anchor3),
        ("s3_event_stream_with_fraud_6B", ev3),
        ("s4_flow_truth_labels_6B", truth),
        ("s4_flow_bank_view_6B", bank),
        ("s4_event_labels_6B", el),
        ("s4_case_timeline_6B", ct),
    ]
}

#[test]
fn every_file_has_the_interface_schema_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let (root, s) = generate_small(dir.path(), "run");
    let (mf, ph) = (&s.manifest_fingerprint, &s.parameter_hash);
    for (id, cols) in expected() {
        let path = output_file(&root, id);
        let rel = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let want_dir = if id == "arrival_events_5B" {
            format!(
                "data/layer2/5B/arrival_events/seed=42/manifest_fingerprint={mf}/scenario_id=baseline_v1/"
            )
        } else {
            format!(
                "data/layer3/6B/{id}/seed=42/parameter_hash={ph}/manifest_fingerprint={mf}/scenario_id=baseline_v1/"
            )
        };
        let want_file = if id == "s3_campaign_catalogue_6B" {
            "s3_campaign_catalogue_6B.parquet"
        } else {
            "part-00000.parquet"
        };
        assert_eq!(rel, format!("{want_dir}{want_file}"));
        let r = SerializedFileReader::new(fs::File::open(&path).unwrap()).unwrap();
        let schema = r.metadata().file_metadata().schema_descr();
        assert_eq!(schema.num_columns(), cols.len(), "{id}: column count");
        for (i, (name, kind, nullable)) in cols.iter().enumerate() {
            let c = schema.column(i);
            assert_eq!(c.name(), *name, "{id} column {i}");
            let lt = c.logical_type_ref().cloned();
            let ok = match kind {
                'S' => c.physical_type() == Phys::BYTE_ARRAY && lt == Some(LogicalType::String),
                'I' => {
                    c.physical_type() == Phys::INT64
                        && matches!(
                            lt,
                            None | Some(LogicalType::Integer {
                                bit_width: 64,
                                is_signed: true
                            })
                        )
                }
                'U' => {
                    c.physical_type() == Phys::INT64
                        && lt
                            == Some(LogicalType::Integer {
                                bit_width: 64,
                                is_signed: false,
                            })
                }
                'F' => c.physical_type() == Phys::DOUBLE && lt.is_none(),
                'B' => c.physical_type() == Phys::BOOLEAN && lt.is_none(),
                _ => false,
            };
            assert!(
                ok,
                "{id}.{name}: physical {:?} logical {lt:?} is not {kind}",
                c.physical_type()
            );
            let rep = c.self_type().get_basic_info().repetition();
            assert_eq!(
                rep,
                if *nullable {
                    Repetition::OPTIONAL
                } else {
                    Repetition::REQUIRED
                },
                "{id}.{name} repetition"
            );
        }
        assert_eq!(
            r.metadata().file_metadata().created_by(),
            Some(fp_world::write::CREATED_BY)
        );
    }
    // Nothing else than the receipt, the 12 outputs and the 10 bundles.
    for k in all_files(&root).keys() {
        assert!(
            k == "run_receipt.json"
                || k.ends_with(".parquet")
                || k.contains("/validation/manifest_fingerprint="),
            "unexpected {k}"
        );
    }
    fp_world::verify(&root).unwrap();
}

fn read(root: &std::path::Path, id: &str) -> arrow_array::RecordBatch {
    fp_world::read::read_table(&output_file(root, id)).unwrap()
}
fn i64c<'a>(b: &'a arrow_array::RecordBatch, c: &str) -> &'a [i64] {
    b.column_by_name(c)
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .values()
}
fn u64c<'a>(b: &'a arrow_array::RecordBatch, c: &str) -> &'a [u64] {
    b.column_by_name(c)
        .unwrap()
        .as_any()
        .downcast_ref::<UInt64Array>()
        .unwrap()
        .values()
}
fn strc<'a>(b: &'a arrow_array::RecordBatch, c: &str) -> &'a StringArray {
    b.column_by_name(c)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
}
fn boolc<'a>(b: &'a arrow_array::RecordBatch, c: &str) -> &'a BooleanArray {
    b.column_by_name(c)
        .unwrap()
        .as_any()
        .downcast_ref::<BooleanArray>()
        .unwrap()
}

#[test]
fn keys_unique_references_resolve_and_labels_cover() {
    let dir = tempfile::tempdir().unwrap();
    let (root, s) = generate_small(dir.path(), "run");
    let arr = read(&root, "arrival_events_5B");
    let ent = read(&root, "s1_arrival_entities_6B");
    let a2 = read(&root, "s2_flow_anchor_baseline_6B");
    let a3 = read(&root, "s3_flow_anchor_with_fraud_6B");
    let e2 = read(&root, "s2_event_stream_baseline_6B");
    let e3 = read(&root, "s3_event_stream_with_fraud_6B");
    let tr = read(&root, "s4_flow_truth_labels_6B");
    let bk = read(&root, "s4_flow_bank_view_6B");
    let el = read(&root, "s4_event_labels_6B");
    let ct = read(&root, "s4_case_timeline_6B");
    let cc = read(&root, "s3_campaign_catalogue_6B");
    let si = read(&root, "s1_session_index_6B");
    assert_eq!(arr.num_rows(), 2_000);
    assert_eq!(s.flows, 2_000);

    let arrivals: HashSet<(u64, i64)> = (0..arr.num_rows())
        .map(|i| (u64c(&arr, "merchant_id")[i], i64c(&arr, "arrival_seq")[i]))
        .collect();
    assert_eq!(arrivals.len(), arr.num_rows(), "arrival PK unique");
    let entities: HashSet<(u64, i64)> = (0..ent.num_rows())
        .map(|i| (u64c(&ent, "merchant_id")[i], i64c(&ent, "arrival_seq")[i]))
        .collect();
    assert_eq!(entities, arrivals, "one entity row per arrival");
    let sessions: HashSet<i64> = i64c(&ent, "session_id").iter().copied().collect();
    assert_eq!(
        sessions,
        i64c(&si, "session_id")
            .iter()
            .copied()
            .collect::<HashSet<_>>()
    );
    assert_eq!(
        i64c(&si, "arrival_count").iter().sum::<i64>(),
        ent.num_rows() as i64
    );

    for a in [&a2, &a3] {
        let flows: HashSet<i64> = i64c(a, "flow_id").iter().copied().collect();
        assert_eq!(flows.len(), a.num_rows(), "flow PK unique");
        for i in 0..a.num_rows() {
            assert!(
                arrivals.contains(&(u64c(a, "merchant_id")[i], i64c(a, "arrival_seq")[i])),
                "flow's arrival exists"
            );
        }
    }
    let flows: HashSet<i64> = i64c(&a3, "flow_id").iter().copied().collect();
    for e in [&e2, &e3] {
        let keys: HashSet<(i64, i64)> = (0..e.num_rows())
            .map(|i| (i64c(e, "flow_id")[i], i64c(e, "event_seq")[i]))
            .collect();
        assert_eq!(keys.len(), e.num_rows(), "event PK unique");
        assert!(
            i64c(e, "flow_id").iter().all(|f| flows.contains(f)),
            "event's flow exists"
        );
    }
    assert_eq!(
        i64c(&tr, "flow_id").iter().copied().collect::<HashSet<_>>(),
        flows,
        "truth covers flows"
    );
    assert_eq!(
        i64c(&bk, "flow_id").iter().copied().collect::<HashSet<_>>(),
        flows,
        "bank view covers flows"
    );
    assert_eq!(el.num_rows(), e3.num_rows(), "one label per S3 event");
    assert!(
        i64c(&ct, "flow_id").iter().all(|f| flows.contains(f)),
        "case's flow exists"
    );
    let case_keys: HashSet<(i64, i64)> = (0..ct.num_rows())
        .map(|i| (i64c(&ct, "case_id")[i], i64c(&ct, "case_event_seq")[i]))
        .collect();
    assert_eq!(case_keys.len(), ct.num_rows(), "case PK unique");
    let camp: HashSet<&str> = (0..cc.num_rows())
        .map(|i| strc(&cc, "campaign_id").value(i))
        .collect();
    let c3 = strc(&a3, "campaign_id");
    for i in 0..a3.num_rows() {
        assert_eq!(boolc(&a3, "fraud_flag").value(i), c3.is_valid(i));
        if c3.is_valid(i) {
            assert!(camp.contains(c3.value(i)), "campaign FK");
            assert!(
                boolc(&tr, "is_fraud_truth").value(i),
                "campaign flows are fraud in truth (both sorted by flow_id)"
            );
        }
    }
}

#[test]
fn fraud_carries_signal_and_all_patterns_appear() {
    let dir = tempfile::tempdir().unwrap();
    let (root, s) = generate_small(dir.path(), "run");
    for label in [
        "T_CARD_TESTING_BURST",
        "T_ATO_ACCOUNT_SWEEP",
        "T_COMPROMISED_CARD",
        "T_COMPROMISED_MERCHANT",
        "T_LARGE_AMOUNT",
    ] {
        assert!(
            s.campaign_mix.get(label).is_some_and(|m| m.1 > 0),
            "{label} missing: {:?}",
            s.campaign_mix
        );
    }
    assert!(
        s.fraud_rate > 0.02 && s.fraud_rate < 0.10,
        "fraud rate {} {:?}",
        s.fraud_rate,
        s.campaign_mix
    );
    assert!(
        s.bank_positive > 0 && s.bank_positive != s.truth_positive,
        "bank view disagrees with truth sometimes"
    );
    assert!(s.cases > 0);
    let a3 = read(&root, "s3_flow_anchor_with_fraud_6B");
    let a2 = read(&root, "s2_flow_anchor_baseline_6B");
    let amt3 = a3
        .column_by_name("amount")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let amt2 = a2
        .column_by_name("amount")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let flag = boolc(&a3, "fraud_flag");
    let labels: HashMap<&str, &str> = {
        let cc = read(&root, "s3_campaign_catalogue_6B");
        (0..cc.num_rows())
            .map(|i| {
                (
                    strc(&cc, "campaign_id").value(i).to_owned().leak() as &str,
                    strc(&cc, "campaign_label").value(i).to_owned().leak() as &str,
                )
            })
            .collect()
    };
    let cid = strc(&a3, "campaign_id");
    let mean = |f: &dyn Fn(usize) -> bool| {
        let v: Vec<f64> = (0..a3.num_rows())
            .filter(|&i| f(i))
            .map(|i| amt3.value(i))
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let legit = mean(&|i| !flag.value(i));
    let large = mean(&|i| cid.is_valid(i) && labels[cid.value(i)] == "T_LARGE_AMOUNT");
    let testing = mean(&|i| cid.is_valid(i) && labels[cid.value(i)] == "T_CARD_TESTING_BURST");
    assert!(large > 5.0 * legit, "large {large} vs legit {legit}");
    assert!(testing < 3.5, "card testing amounts are tiny: {testing}");
    let ev = read(&root, "s3_event_stream_with_fraud_6B");
    let types: HashSet<&str> = (0..ev.num_rows())
        .map(|i| strc(&ev, "event_type").value(i))
        .collect();
    for t in [
        "AUTH_REQUEST",
        "AUTH_RESPONSE",
        "STEP_UP_CHALLENGE",
        "STEP_UP_COMPLETE",
        "CLEARING",
        "REFUND",
    ] {
        assert!(types.contains(t), "{t} never emitted: {types:?}");
    }
    // Overlay inflates amounts only on tagged flows.
    for i in 0..a3.num_rows() {
        if !flag.value(i) {
            assert_eq!(amt3.value(i), amt2.value(i));
        }
    }
}

/// Independent re-implementation of the gate recipes (engine_interface.md §10.4 / §6.3).
#[test]
fn gate_digests_recomputed_independently() {
    let dir = tempfile::tempdir().unwrap();
    let (root, s) = generate_small(dir.path(), "run");
    let mf = &s.manifest_fingerprint;
    let files = all_files(&root);
    let segs = [
        ("1", "1A"),
        ("1", "1B"),
        ("1", "2A"),
        ("1", "2B"),
        ("1", "3A"),
        ("1", "3B"),
        ("2", "5A"),
        ("2", "5B"),
        ("3", "6A"),
        ("3", "6B"),
    ];
    for (layer, seg) in segs {
        let base = format!("data/layer{layer}/{seg}/validation/manifest_fingerprint={mf}/");
        let flag = String::from_utf8(files[&format!("{base}_passed.flag")].clone()).unwrap();
        let expected = if seg == "5A" || seg == "5B" {
            let v: serde_json::Value = serde_json::from_str(flag.trim()).unwrap();
            assert_eq!(v["manifest_fingerprint"], serde_json::json!(mf));
            v["bundle_digest_sha256"].as_str().unwrap().to_owned()
        } else {
            assert!(
                flag.starts_with("sha256_hex = ") && flag.ends_with('\n'),
                "{seg} flag {flag:?}"
            );
            flag.trim()["sha256_hex = ".len()..].to_owned()
        };
        let index_name = match seg {
            "5A" => "validation_bundle_index_5A.json",
            "6A" => "validation_bundle_index_6A.json",
            _ => "index.json",
        };
        let index: serde_json::Value =
            serde_json::from_slice(&files[&format!("{base}{index_name}")]).unwrap();
        let actual = match seg {
            "1A" | "1B" => {
                // all files in the bundle except the flag, sorted by relative path (BTreeMap order)
                let mut cat = Vec::new();
                for (k, v) in files
                    .iter()
                    .filter(|(k, _)| k.starts_with(&base) && !k.ends_with("/_passed.flag"))
                {
                    assert!(k.starts_with(&base));
                    cat.extend_from_slice(v);
                }
                sha(&cat)
            }
            "3A" => {
                let hexes: String = index["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["sha256_hex"].as_str().unwrap())
                    .collect();
                sha(hexes.as_bytes())
            }
            _ => {
                let items = match &index {
                    serde_json::Value::Array(a) => a.clone(),
                    o => ["items", "members", "entries"]
                        .iter()
                        .find_map(|k| o[*k].as_array().cloned())
                        .unwrap(),
                };
                let mut paths: Vec<String> = items
                    .iter()
                    .map(|i| i["path"].as_str().unwrap().to_owned())
                    .collect();
                paths.retain(|p| {
                    !(p.ends_with("_passed.flag") || (seg == "6B" && p == "index.json"))
                });
                paths.sort();
                let mut cat = Vec::new();
                for p in &paths {
                    let key = if seg == "2B" {
                        p.clone()
                    } else {
                        format!("{base}{p}")
                    };
                    // per-item digest as listed
                    let b = &files[&key];
                    cat.extend_from_slice(b);
                }
                sha(&cat)
            }
        };
        assert_eq!(actual, expected, "gate {seg}");
        assert_eq!(
            s.gates[&format!("gate.layer{layer}.{seg}.validation")],
            expected
        );
    }
    // The 6B report reflects checks that ran.
    let report: serde_json::Value = serde_json::from_slice(
        &files[&format!(
            "data/layer3/6B/validation/manifest_fingerprint={mf}/s5_validation_report_6B.json"
        )],
    )
    .unwrap();
    assert_eq!(report["overall_status"], "PASS");
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check_id"].as_str().unwrap())
        .collect();
    for want in [
        "6B.s4.flow_truth_coverage",
        "6B.s4.event_label_coverage",
        "6B.s2.flow_per_arrival",
        "6B.s1.entity_graph",
    ] {
        assert!(
            ids.iter().any(|i| i.starts_with(want)),
            "{want} not in report"
        );
    }
}

#[test]
fn tampering_a_parquet_byte_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (root, _) = generate_small(dir.path(), "run");
    let p = output_file(&root, "s4_event_labels_6B");
    let mut b = fs::read(&p).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x01;
    fs::write(&p, b).unwrap();
    let err = fp_world::verify(&root).unwrap_err().to_string();
    assert!(
        err.contains("s4_event_labels_6B/") && err.contains("part-00000.parquet"),
        "{err}"
    );
    assert!(err.contains("output_content_digest"), "{err}");
}

#[test]
fn deleting_a_flag_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (root, s) = generate_small(dir.path(), "run");
    let flag = root.join(format!(
        "data/layer1/2B/validation/manifest_fingerprint={}/_passed.flag",
        s.manifest_fingerprint
    ));
    fs::remove_file(&flag).unwrap();
    let err = fp_world::verify(&root).unwrap_err().to_string();
    assert!(
        err.contains("data/layer1/2B/validation/")
            && err.contains("_passed.flag")
            && err.contains("gate.layer1.2B.validation"),
        "{err}"
    );
}

#[test]
fn tampering_a_bundle_member_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let (root, s) = generate_small(dir.path(), "run");
    let rep = root.join(format!(
        "data/layer2/5B/validation/manifest_fingerprint={}/validation_report_5B.json",
        s.manifest_fingerprint
    ));
    let mut b = fs::read(&rep).unwrap();
    b.push(b' ');
    fs::write(&rep, b).unwrap();
    let err = fp_world::verify(&root).unwrap_err().to_string();
    assert!(
        err.contains("gate.layer2.5B.validation") && err.contains("conflict"),
        "{err}"
    );
}

#[test]
fn two_runs_are_byte_identical_except_the_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let (r1, s1) = generate_small(dir.path(), "a");
    let (r2, s2) = generate_small(dir.path(), "b");
    let (f1, f2) = (all_files(&r1), all_files(&r2));
    assert_eq!(f1.keys().collect::<Vec<_>>(), f2.keys().collect::<Vec<_>>());
    for (k, v) in &f1 {
        if k == "run_receipt.json" {
            continue;
        }
        assert_eq!(sha(v), sha(&f2[k]), "{k} differs");
        assert!(
            !String::from_utf8_lossy(v).contains(&s1.run_id),
            "run_id leaked into {k}"
        );
    }
    assert_eq!(s1.manifest_fingerprint, s2.manifest_fingerprint);
    let receipt: serde_json::Value = serde_json::from_slice(&f1["run_receipt.json"]).unwrap();
    assert_eq!(receipt["run_id"], serde_json::json!(s1.run_id));
    assert_eq!(receipt["seed"], serde_json::json!(42));
    assert_eq!(
        receipt["manifest_fingerprint"],
        serde_json::json!(s1.manifest_fingerprint)
    );
    let _ = s2;
}

/// The world's bytes do not depend on the thread count: the same config generated on 1, 2
/// and 3 threads gives the same sha256 for every file but the receipt (which holds the run
/// id). Large enough for several model chunks and several row groups per event table.
#[test]
fn generation_is_byte_identical_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fp_world::WorldConfig {
        flows: 50_000,
        ..small_config()
    };
    let digests = |threads: usize| {
        let root = dir.path().join(format!("t{threads}"));
        fp_world::with_threads(threads, || fp_world::generate(&cfg, &root)).unwrap();
        let mut files = all_files(&root);
        files.remove("run_receipt.json");
        files
            .into_iter()
            .map(|(k, v)| (k, sha(&v)))
            .collect::<Vec<_>>()
    };
    let one = digests(1);
    assert!(one.len() > 30, "{} files", one.len());
    for threads in [2, 3] {
        assert_eq!(digests(threads), one, "{threads} threads");
    }
}

#[test]
fn an_existing_run_root_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (root, _) = generate_small(dir.path(), "run");
    let before = all_files(&root);
    let err = fp_world::generate(&small_config(), &root).unwrap_err();
    assert!(matches!(err, fp_world::WorldError::Exists(_)), "{err}");
    assert_eq!(all_files(&root), before);
    // An empty directory is an existing run root too.
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    assert!(matches!(
        fp_world::generate(&small_config(), &empty),
        Err(fp_world::WorldError::Exists(_))
    ));
    // No temporary directories are left behind.
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
fn identity_follows_the_config() {
    let base = small_config();
    let id = |c: &fp_world::WorldConfig| fp_world::identity::identity(&c.resolve().unwrap());
    let i0 = id(&base);
    let mut seen = HashSet::new();
    seen.insert(i0.manifest_fingerprint.clone());
    for c in [
        fp_world::WorldConfig {
            flows: 2_001,
            ..base.clone()
        },
        fp_world::WorldConfig {
            days: 4,
            ..base.clone()
        },
        fp_world::WorldConfig {
            fraud_rate: 0.051,
            ..base.clone()
        },
        fp_world::WorldConfig {
            start_date: "2026-03-03".into(),
            ..base.clone()
        },
        fp_world::WorldConfig {
            merchants: Some(21),
            ..base.clone()
        },
        fp_world::WorldConfig {
            parties: Some(81),
            ..base.clone()
        },
    ] {
        let i = id(&c);
        assert!(
            seen.insert(i.manifest_fingerprint.clone()),
            "{c:?} shares a fingerprint"
        );
        assert_ne!(i.parameter_hash, i0.parameter_hash);
    }
    // Seed and scenario are tokens, not parameters.
    let other_seed = id(&fp_world::WorldConfig {
        seed: 7,
        ..base.clone()
    });
    assert_eq!(other_seed.manifest_fingerprint, i0.manifest_fingerprint);
    assert_eq!(i0.manifest_fingerprint.len(), 64);
    // The derived defaults are part of the parameters: explicit = derived gives the same hash.
    let r = base.resolve().unwrap();
    let explicit = fp_world::WorldConfig {
        merchants: Some(r.merchants),
        parties: Some(r.parties),
        ..base.clone()
    };
    assert_eq!(id(&explicit), i0);
    assert!(
        fp_world::WorldConfig {
            scenario_id: "a/b".into(),
            ..base.clone()
        }
        .resolve()
        .is_err()
    );
    assert!(fp_world::WorldConfig::from_json_str(r#"{"flowz": 3}"#).is_err());
    assert!(fp_world::WorldConfig::from_yaml_str("flowz: 3\n").is_err());
    let y = fp_world::WorldConfig::from_yaml_str("flows: 5000\nfraud_rate: 0.01\nmerchants: 40\n")
        .unwrap();
    assert_eq!(
        (y.flows, y.fraud_rate, y.merchants, y.days),
        (5000, 0.01, Some(40), 7)
    );
    let f = tempfile::NamedTempFile::new().unwrap();
    fs::write(f.path(), "{\"days\": 2, \"seed\": 9}").unwrap();
    let j = fp_world::WorldConfig::from_file(f.path()).unwrap();
    assert_eq!((j.days, j.seed), (2, 9));
}

#[test]
fn a_world_without_fraud_has_an_empty_catalogue_file_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fp_world::WorldConfig {
        flows: 500,
        days: 1,
        fraud_rate: 0.0,
        ..small_config()
    };
    let root = dir.path().join("clean");
    let s = fp_world::generate(&cfg, &root).unwrap();
    assert_eq!(s.fraud_flows, 0);
    let cc = read(&root, "s3_campaign_catalogue_6B");
    assert_eq!(cc.num_rows(), 0);
    assert_eq!(cc.num_columns(), 7);
    let rep = fp_world::verify(&root).unwrap();
    assert_eq!(
        rep.outputs
            .iter()
            .find(|o| o.output_id == "s3_campaign_catalogue_6B")
            .unwrap()
            .rows,
        0
    );
}

#[test]
fn a_failed_check_writes_no_flag() {
    let dir = tempfile::tempdir().unwrap();
    let g = fp_world::gates::gate("6B").unwrap();
    let mf = "a".repeat(64);
    let ph = "b".repeat(64);
    let checks = vec![
        fp_world::gates::Check::new("ok", true, serde_json::json!({})),
        fp_world::gates::Check::new("pk_unique", false, serde_json::json!({"duplicates": 3})),
    ];
    let up = Default::default();
    let inp = fp_world::gates::BundleInput {
        mf: &mf,
        ph: &ph,
        generated_utc: "2026-03-02T00:00:00.000000Z",
        checks: &checks,
        extra: vec![],
        upstream: &up,
    };
    assert_eq!(
        fp_world::gates::write_bundle(dir.path(), g, &inp).unwrap(),
        None
    );
    let bundle = dir.path().join(g.bundle_dir(&mf));
    assert!(bundle.join("s5_validation_report_6B.json").exists());
    assert!(!bundle.join("_passed.flag").exists());
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("s5_validation_report_6B.json")).unwrap())
            .unwrap();
    assert_eq!(report["overall_status"], "FAIL");
    let f = fp_world::gates::verify_gate(dir.path(), g, &mf).unwrap_err();
    assert!(f.reason.starts_with("missing"), "{f:?}");
}

#[test]
fn an_invariant_broken_on_disk_is_named() {
    // Rewrite the truth labels with one flipped boolean (and fix the listed digest so only the
    // invariant can catch it).
    let dir = tempfile::tempdir().unwrap();
    let (root, s) = generate_small(dir.path(), "run");
    let p = output_file(&root, "s4_flow_truth_labels_6B");
    let batch = fp_world::read::read_table(&p).unwrap();
    let col = boolc(&batch, "is_fraud_truth");
    let mut v: Vec<bool> = (0..col.len()).map(|i| col.value(i)).collect();
    v[0] = !v[0];
    let mut cols = batch.columns().to_vec();
    cols[1] = std::sync::Arc::new(BooleanArray::from(v));
    let bad = arrow_array::RecordBatch::try_new(batch.schema(), cols).unwrap();
    let table = fp_world::tables::Table {
        spec: fp_world::catalogue::output("s4_flow_truth_labels_6B").unwrap(),
        batch: bad,
    };
    fs::remove_file(&p).unwrap();
    fp_world::write::write_table(&table, &p).unwrap();
    // Update the digest list and re-seal the 6B gate the way a forger would.
    let bdir = root.join(format!(
        "data/layer3/6B/validation/manifest_fingerprint={}",
        s.manifest_fingerprint
    ));
    let dl = bdir.join("s5_output_digests_6B.json");
    let text = fs::read_to_string(&dl).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rel = p
        .strip_prefix(&root)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for o in v["outputs"].as_array_mut().unwrap() {
        if o["path"] == serde_json::json!(rel) {
            o["sha256_hex"] = serde_json::json!(sha(&fs::read(&p).unwrap()));
        }
    }
    fs::write(&dl, fp_world::gates::json_bytes(&v)).unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(bdir.join("index.json")).unwrap()).unwrap();
    let mut paths: Vec<String> = index["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_owned())
        .collect();
    paths.sort();
    let mut cat = Vec::new();
    for q in paths {
        cat.extend(fs::read(bdir.join(q)).unwrap());
    }
    fs::write(
        bdir.join("_passed.flag"),
        format!("sha256_hex = {}\n", sha(&cat)),
    )
    .unwrap();
    let err = fp_world::verify(&root).unwrap_err().to_string();
    assert!(
        err.contains("s4_flow_truth_labels_6B/") && err.contains("6B.s4.flow_truth_coverage"),
        "{err}"
    );
}

#[test]
fn the_receipt_identity_is_recomputed_and_a_supplied_run_id_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("run");
    let opts = fp_world::GenerateOptions {
        run_id: Some("89abcdef0123456789abcdef01234567".into()),
        created_utc: Some("2026-03-02T00:00:00.000000Z".into()),
    };
    let s = fp_world::generate_with(&small_config(), &root, &opts).unwrap();
    assert_eq!(s.run_id, "89abcdef0123456789abcdef01234567");
    let rp = root.join("run_receipt.json");
    let mut receipt: serde_json::Value = serde_json::from_slice(&fs::read(&rp).unwrap()).unwrap();
    assert_eq!(receipt["run_id"], "89abcdef0123456789abcdef01234567");
    assert_eq!(receipt["created_utc"], "2026-03-02T00:00:00.000000Z");
    receipt["parameter_hash"] = serde_json::json!("0".repeat(64));
    fs::write(&rp, serde_json::to_vec(&receipt).unwrap()).unwrap();
    let err = fp_world::verify(&root).unwrap_err().to_string();
    assert!(
        err.contains("identity_recipe") && err.contains("fp_world_parameters.json"),
        "{err}"
    );
    let bad = fp_world::GenerateOptions {
        run_id: Some("nope".into()),
        created_utc: None,
    };
    assert!(fp_world::generate_with(&small_config(), &dir.path().join("x"), &bad).is_err());
    assert!(!dir.path().join("x").exists());
}

#[test]
fn arrivals_follow_local_rhythm_and_takeovers_use_new_devices() {
    let dir = tempfile::tempdir().unwrap();
    let (root, _) = generate_small(dir.path(), "run");
    let arr = read(&root, "arrival_events_5B");
    let local = strc(&arr, "ts_local_primary");
    let mut by_hour = [0u32; 24];
    for i in 0..arr.num_rows() {
        by_hour[local.value(i)[11..13].parse::<usize>().unwrap()] += 1;
    }
    let night: u32 = by_hour[2..5].iter().sum();
    let evening: u32 = by_hour[17..20].iter().sum();
    assert!(evening > 5 * night, "local rhythm: {by_hour:?}");

    // Account takeover: the device of every ATO flow was never used by that party before.
    let a3 = read(&root, "s3_flow_anchor_with_fraud_6B");
    let cc = read(&root, "s3_campaign_catalogue_6B");
    let ato: HashSet<String> = (0..cc.num_rows())
        .filter(|&i| strc(&cc, "campaign_label").value(i) == "T_ATO_ACCOUNT_SWEEP")
        .map(|i| strc(&cc, "campaign_id").value(i).to_owned())
        .collect();
    assert!(!ato.is_empty());
    let (party, device, cid) = (
        i64c(&a3, "party_id"),
        i64c(&a3, "device_id"),
        strc(&a3, "campaign_id"),
    );
    let mut checked = 0;
    for i in 0..a3.num_rows() {
        if cid.is_valid(i) && ato.contains(cid.value(i)) {
            for j in 0..a3.num_rows() {
                if party[j] == party[i]
                    && device[j] == device[i]
                    && !(cid.is_valid(j) && ato.contains(cid.value(j)))
                {
                    panic!(
                        "ATO device {} used by party {} outside the takeover",
                        device[i], party[i]
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 0);
}

#[test]
fn tiny_and_fraud_heavy_worlds_verify() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (flows, rate, days)) in [
        (1u64, 0.0, 1u32),
        (37, 0.5, 1),
        (300, 0.5, 2),
        (800, 0.001, 30),
    ]
    .into_iter()
    .enumerate()
    {
        let cfg = fp_world::WorldConfig {
            flows,
            fraud_rate: rate,
            days,
            seed: i as u64,
            ..small_config()
        };
        let root = dir.path().join(format!("w{i}"));
        let s = fp_world::generate(&cfg, &root).unwrap();
        assert_eq!(s.flows, flows);
        let r = fp_world::verify(&root).unwrap();
        assert_eq!(r.gates.len(), 10);
    }
}

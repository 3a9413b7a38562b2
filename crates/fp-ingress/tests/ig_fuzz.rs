//! Property tests: arbitrary bytes and mutated envelopes never panic the pipeline, never get
//! a retry or an error, and are admitted only when they are valid.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::ig::*;
use fp_ingress::ingestion_gate::check::{Checked, check};
use fp_ingress::ingestion_gate::payload_schemas::PayloadSchemas;
use fp_ingress::ingestion_gate::{IgPolicy, Outcome, Submission};
use fp_rails::CanonicalEnvelope;
use fp_rails::contracts::ingestion::IgDecision;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::Value;

fn policy() -> (Arc<IgPolicy>, Arc<PayloadSchemas>) {
    let p = Arc::new(IgPolicy::builtin("r").unwrap());
    let s = Arc::new(PayloadSchemas::compile(&p).unwrap());
    (p, s)
}

/// One mutation of a valid envelope: drop, retype or replace a field, anywhere.
fn mutate(mut v: Value, kind: u8, field: usize, junk: &str) -> Value {
    let top: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    let payload: Vec<String> = v["payload"].as_object().unwrap().keys().cloned().collect();
    let in_payload = kind.is_multiple_of(2);
    let keys = if in_payload { &payload } else { &top };
    let key = keys[field % keys.len()].clone();
    let obj = if in_payload {
        v["payload"].as_object_mut().unwrap()
    } else {
        v.as_object_mut().unwrap()
    };
    match kind % 6 {
        0 | 1 => {
            obj.remove(&key);
        }
        2 | 3 => {
            obj.insert(key, Value::from(junk));
        }
        4 => {
            obj.insert(key, Value::from(field as i64 - 3));
        }
        _ => {
            obj.insert(format!("x_{junk}"), Value::Null);
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_refused_not_panicked(raw in proptest::collection::vec(any::<u8>(), 0..600)) {
        let (p, s) = policy();
        match check(&p, &s, Bytes::from(raw.clone())) {
            Checked::Refused(r) => prop_assert_eq!(&r.raw[..], &raw[..]),
            Checked::Candidate(c) => {
                // Only a fully valid envelope may pass: re-parse independently.
                prop_assert!(CanonicalEnvelope::from_json_bytes(&c.value).is_ok());
            }
        }
    }

    #[test]
    fn mutated_envelopes_pass_only_when_still_valid(
        n in 0u64..1000, kind in any::<u8>(), field in 0usize..64, junk in "[a-zA-Z0-9:.\\-]{0,40}"
    ) {
        let (p, s) = policy();
        let v = mutate(traffic_envelope(n), kind, field, &junk);
        if let Checked::Candidate(c) = check(&p, &s, bytes(&v)) {
            let env = CanonicalEnvelope::from_json_bytes(&c.value).unwrap();
            for pin in p.rule(&env.event_type).required_pins.iter() {
                prop_assert!(env.has_pin(pin), "admitted without {}", pin);
            }
        }
    }
}

/// The whole gate on a few hundred hostile submissions: every one gets a verdict with a
/// receipt (never an error, a retry or a panic); only valid ones reach the bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_gives_every_hostile_submission_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("state.db").display());
    let h = Harness::new(dir.path(), &url).await;
    h.make_ready("READY").await;
    let gate = h.gate().await;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strat = (
        any::<u8>(),
        0usize..64,
        "[a-z0-9]{0,12}",
        proptest::collection::vec(any::<u8>(), 0..200),
    );
    let mut subs = Vec::new();
    for i in 0..400u64 {
        let (kind, field, junk, raw) = strat.new_tree(&mut runner).unwrap().current();
        let b = if i.is_multiple_of(4) {
            Bytes::from(raw)
        } else {
            bytes(&mutate(traffic_envelope(i), kind, field, &junk))
        };
        subs.push(Submission::anonymous(b));
    }
    let out = gate.admit_batch(subs).await.unwrap();
    let mut admitted = 0;
    for o in &out {
        match o {
            Outcome::Decided {
                decision, receipt, ..
            } => {
                fp_rails::contracts::Contract::check(receipt.as_ref()).unwrap();
                if *decision == IgDecision::Admit {
                    admitted += 1;
                }
            }
            Outcome::Retry { error, detail } => panic!("retry {error}: {detail}"),
        }
    }
    let mut on_bus = 0;
    for p in h.bus.partitions("fp.bus.traffic.fraud.v1").await.unwrap() {
        on_bus += h
            .bus
            .read(
                "fp.bus.traffic.fraud.v1",
                p.partition,
                &fp_bus::ReadFrom::Earliest,
                10_000,
            )
            .await
            .unwrap()
            .records
            .len();
    }
    assert_eq!(on_bus, admitted);
}

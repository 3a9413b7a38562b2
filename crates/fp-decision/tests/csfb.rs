//! Context Store + FlowBinding: join answers, the authority of the anchor, duplicates and
//! anomalies, late and out-of-order context, retention, the join wait, intake failures, and
//! export/restore continuing exactly where an uninterrupted store would be.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{MF, PH, pins, ts};
use fp_decision::EntityKeys;
use fp_decision::csfb::{
    AnchorMode, ContextEvent, ContextOutcome, ContextStateExport, ContextStore, CsfbPolicy,
    JoinStatus, JoinWait, reasons,
};
use fp_rails::envelope::CanonicalEnvelope;
use proptest::prelude::*;
use serde_json::{Value, json};

const SECOND: i64 = 1_000_000;

fn store() -> ContextStore {
    ContextStore::new(
        Arc::new(CsfbPolicy::builtin().unwrap()),
        pins(),
        AnchorMode::Fraud,
    )
}

fn keys_of(flow: u64) -> EntityKeys {
    EntityKeys {
        party: 500 + flow,
        account: 600 + flow,
        instrument: 700 + flow,
        device: 800 + flow,
        ip: 900 + flow,
        merchant: 7,
    }
}

/// A context envelope of the fixture run.
fn envelope(event_type: &str, event_id: &str, secs: i64, payload: Value) -> CanonicalEnvelope {
    let p = pins();
    CanonicalEnvelope::from_value(json!({
        "event_id": event_id,
        "event_type": event_type,
        "ts_utc": ts(secs).as_str(),
        "manifest_fingerprint": MF,
        "parameter_hash": PH,
        "seed": 42,
        "scenario_id": "baseline_v1",
        "platform_run_id": p.platform_run_id.as_str(),
        "scenario_run_id": p.scenario_run_id.as_str(),
        "run_id": "0123456789abcdef0123456789abcdef",
        "payload": payload,
    }))
    .unwrap()
}

fn arrival(merchant: u64, seq: u64, secs: i64) -> Value {
    json!({"merchant_id": merchant, "arrival_seq": seq, "ts_utc": ts(secs).as_str(),
           "manifest_fingerprint": MF, "seed": 42, "scenario_id": "baseline_v1"})
}

fn entities(merchant: u64, seq: u64, flow: u64, secs: i64) -> Value {
    let k = keys_of(flow);
    json!({"merchant_id": merchant, "arrival_seq": seq, "ts_utc": ts(secs).as_str(),
           "party_id": k.party, "account_id": k.account, "instrument_id": k.instrument,
           "device_id": k.device, "ip_id": k.ip, "session_id": 77})
}

fn anchor(merchant: u64, seq: u64, flow: u64, secs: i64) -> Value {
    let k = keys_of(flow);
    json!({"flow_id": flow, "merchant_id": merchant, "arrival_seq": seq,
           "ts_utc": ts(secs).as_str(), "amount": 12.5,
           "party_id": k.party, "account_id": k.account, "instrument_id": k.instrument,
           "device_id": k.device, "ip_id": k.ip,
           "fraud_flag": false, "campaign_id": null})
}

fn ev(event_type: &str, id: &str, secs: i64, payload: Value) -> ContextEvent {
    ContextEvent::from_envelope(
        &envelope(event_type, id, secs, payload),
        &pins(),
        AnchorMode::Fraud,
    )
    .unwrap()
}

/// The three context events of flow `flow` (merchant 7, arrival `flow`) at `secs`.
fn context_of(flow: u64, secs: i64) -> [ContextEvent; 3] {
    [
        ev(
            "arrival_events_5B",
            &format!("a{flow}"),
            secs,
            arrival(7, flow, secs),
        ),
        ev(
            "s1_arrival_entities_6B",
            &format!("e{flow}"),
            secs,
            entities(7, flow, flow, secs),
        ),
        ev(
            "s3_flow_anchor_with_fraud_6B",
            &format!("f{flow}"),
            secs,
            anchor(7, flow, flow, secs),
        ),
    ]
}

fn us(secs: i64) -> i64 {
    ts(secs).unix_micros()
}

#[test]
fn a_complete_frame_answers_ready_with_the_anchor_keys() {
    let mut s = store();
    for e in context_of(1, 10) {
        assert_eq!(s.apply(&e).outcome, ContextOutcome::Applied);
    }
    let a = s.resolve(1, us(10));
    assert_eq!(a.status, JoinStatus::Ready);
    assert!(a.reasons.is_empty(), "{:?}", a.reasons);
    assert_eq!(a.keys(), Some(&keys_of(1)));
    let b = a.binding.unwrap();
    assert_eq!((b.key.merchant_id, b.key.arrival_seq), (7, 1));
    assert_eq!(&*b.source_event_id, "f1");
}

#[test]
fn missing_context_is_explicit_and_later_context_is_never_used() {
    let mut s = store();
    // Nothing bound.
    let a = s.resolve(1, us(10));
    assert_eq!(a.status, JoinStatus::MissingBinding);
    assert_eq!(a.reasons, [reasons::FLOW_BINDING_NOT_FOUND]);
    assert_eq!(a.keys(), None);

    // The anchor alone: bound, frame incomplete (no arrival); the keys are usable.
    let [arr, ent, anc] = context_of(1, 10);
    s.apply(&anc);
    let a = s.resolve(1, us(10));
    assert_eq!(a.status, JoinStatus::MissingJoinFrame);
    assert_eq!(a.reasons, [reasons::JOIN_FRAME_INCOMPLETE]);
    assert_eq!(a.keys(), Some(&keys_of(1)));

    // An event before the anchor's time does not see the binding.
    let a = s.resolve(1, us(9));
    assert_eq!(a.status, JoinStatus::MissingBinding);
    assert_eq!(a.reasons, [reasons::FLOW_BINDING_AFTER_AS_OF]);

    // The arrival completes the frame; entities are optional and only reported.
    s.apply(&arr);
    let a = s.resolve(1, us(10));
    assert_eq!(a.status, JoinStatus::Ready);
    assert_eq!(a.reasons, [reasons::ARRIVAL_ENTITIES_MISSING]);
    s.apply(&ent);
    assert!(s.resolve(1, us(10)).reasons.is_empty());

    // An arrival later than the event is not used for it.
    let mut s = store();
    let [_, _, anc2] = context_of(2, 10);
    s.apply(&anc2);
    s.apply(&ev("arrival_events_5B", "a2", 11, arrival(7, 2, 11)));
    assert_eq!(s.resolve(2, us(10)).status, JoinStatus::MissingJoinFrame);
    assert_eq!(s.resolve(2, us(11)).status, JoinStatus::Ready);
}

#[test]
fn duplicates_are_idempotent_and_mismatches_are_anomalies_never_applied() {
    let mut s = store();
    let [arr, _, anc] = context_of(1, 10);
    s.apply(&arr);
    s.apply(&anc);
    let before = s.export();
    assert_eq!(s.apply(&arr).outcome, ContextOutcome::Duplicate);
    assert_eq!(s.apply(&anc).outcome, ContextOutcome::Duplicate);

    // Same arrival key, other content.
    let other = ev("arrival_events_5B", "a1", 10, {
        let mut p = arrival(7, 1, 10);
        p["channel_group"] = json!("ECOM");
        p
    });
    let r = s.apply(&other);
    assert_eq!(r.outcome, ContextOutcome::PayloadHashMismatch);
    assert!(r.outcome.is_anomaly());
    // Same anchor event id, other content.
    let mut p = anchor(7, 1, 1, 10);
    p["amount"] = json!(99.0);
    let r = s.apply(&ev("s3_flow_anchor_with_fraud_6B", "f1", 10, p));
    assert_eq!(r.outcome, ContextOutcome::PayloadHashMismatch);

    let after = s.export();
    assert_eq!(after.frames, before.frames, "nothing was replaced");
    assert_eq!(after.bindings, before.bindings);
    assert_eq!(after.counters.duplicates, 2);
    assert_eq!(after.counters.payload_hash_mismatches, 2);
    assert_eq!(s.resolve(1, us(10)).status, JoinStatus::Ready);
}

#[test]
fn contradicting_anchors_are_conflicts_and_the_binding_answers_conflict() {
    // A bound flow anchored again to another frame.
    let mut s = store();
    for e in context_of(1, 10) {
        s.apply(&e);
    }
    let r = s.apply(&ev(
        "s3_flow_anchor_with_fraud_6B",
        "f1-again",
        11,
        anchor(7, 2, 1, 11),
    ));
    assert_eq!(r.outcome, ContextOutcome::FlowBindingJoinKeyConflict);
    let a = s.resolve(1, us(11));
    assert_eq!(a.status, JoinStatus::Conflict);
    assert_eq!(a.reasons, [reasons::FLOW_BINDING_JOIN_KEY_CONFLICT]);
    assert_eq!(
        a.keys(),
        None,
        "a contradicted binding gives no feature keys"
    );
    assert_eq!(s.binding(1).unwrap().key.arrival_seq, 1, "never replaced");

    // Another flow anchored to a bound frame.
    let mut s = store();
    for e in context_of(1, 10) {
        s.apply(&e);
    }
    let r = s.apply(&ev(
        "s3_flow_anchor_with_fraud_6B",
        "f9",
        11,
        anchor(7, 1, 9, 11),
    ));
    assert_eq!(r.outcome, ContextOutcome::FlowBindingJoinKeyConflict);
    assert_eq!(s.resolve(9, us(11)).status, JoinStatus::MissingBinding);
    assert_eq!(s.resolve(1, us(11)).status, JoinStatus::Conflict);
    assert_eq!(s.counters().binding_conflicts, 1);
}

#[test]
fn only_the_run_modes_anchor_binds_and_bad_envelopes_name_their_failure() {
    let p = pins();
    let fail =
        |env: CanonicalEnvelope, mode| ContextEvent::from_envelope(&env, &p, mode).unwrap_err();

    let e = fail(
        envelope("s2_flow_anchor_baseline_6B", "b1", 10, anchor(7, 1, 1, 10)),
        AnchorMode::Fraud,
    );
    assert_eq!(e.code, "EVENT_CLASS_UNSUPPORTED");
    assert!(e.detail.contains("s3_flow_anchor_with_fraud_6B"), "{e}");
    assert!(
        ContextEvent::from_envelope(
            &envelope("s2_flow_anchor_baseline_6B", "b1", 10, anchor(7, 1, 1, 10)),
            &p,
            AnchorMode::Baseline
        )
        .is_ok()
    );
    let e = fail(
        envelope("s3_event_stream_with_fraud_6B", "t1", 10, json!({})),
        AnchorMode::Fraud,
    );
    assert_eq!(e.code, "EVENT_CLASS_UNSUPPORTED");

    let mut no_merchant = arrival(7, 1, 10);
    no_merchant.as_object_mut().unwrap().remove("merchant_id");
    let e = fail(
        envelope("arrival_events_5B", "a", 10, no_merchant),
        AnchorMode::Fraud,
    );
    assert_eq!(e.code, "JOIN_KEY_MISSING");
    assert!(e.detail.contains("merchant_id"), "{e}");

    let mut no_flow = anchor(7, 1, 1, 10);
    no_flow.as_object_mut().unwrap().remove("flow_id");
    let e = fail(
        envelope("s3_flow_anchor_with_fraud_6B", "f", 10, no_flow),
        AnchorMode::Fraud,
    );
    assert_eq!(e.code, "FLOW_ID_MISSING");

    let mut bad = entities(7, 1, 1, 10);
    bad["device_id"] = json!("dev-1");
    let e = fail(
        envelope("s1_arrival_entities_6B", "e", 10, bad),
        AnchorMode::Fraud,
    );
    assert_eq!(e.code, "PAYLOAD_INVALID");
    assert!(e.detail.contains("device_id"), "{e}");

    let mut other_run = envelope("arrival_events_5B", "a", 10, arrival(7, 1, 10));
    other_run.scenario_run_id = Some("00000000000000000000000000000001".parse().unwrap());
    let e = fail(other_run, AnchorMode::Fraud);
    assert_eq!(e.code, "RUN_SCOPE_MISMATCH");

    let mut no_seed = envelope("arrival_events_5B", "a", 10, arrival(7, 1, 10));
    no_seed.seed = None;
    assert_eq!(
        fail(no_seed, AnchorMode::Fraud).code,
        "REQUIRED_PINS_MISSING"
    );
}

#[test]
fn truth_fields_of_the_anchor_never_reach_the_binding_keys() {
    let mut a = anchor(7, 1, 1, 10);
    let honest = ev("s3_flow_anchor_with_fraud_6B", "f1", 10, a.clone());
    a["fraud_flag"] = json!(true);
    a["campaign_id"] = json!("camp-1");
    let flipped = ev("s3_flow_anchor_with_fraud_6B", "f1", 10, a);
    assert_eq!(honest.body, flipped.body);
    assert_eq!(honest.key, flipped.key);
}

#[test]
fn late_context_is_applied_and_counted() {
    let mut s = store();
    for e in context_of(2, 100) {
        assert!(!s.apply(&e).late);
    }
    let [arr, ent, anc] = context_of(1, 50);
    let r = s.apply(&anc);
    assert_eq!(r.outcome, ContextOutcome::Applied);
    assert!(r.late);
    assert_eq!(r.flow_id, Some(1));
    // The arrival names its bound flow, so waiting traffic of that flow can be retried.
    assert_eq!(s.apply(&arr).flow_id, Some(1));
    s.apply(&ent);
    assert_eq!(s.counters().late, 3);
    assert_eq!(s.resolve(1, us(50)).status, JoinStatus::Ready);
}

#[test]
fn retention_drops_old_frames_and_keeps_state_bounded() {
    let mut s = store();
    // One flow per 10 minutes over 10 days of event time.
    let flows = 10 * 24 * 6;
    for f in 0..flows {
        for e in context_of(f, f as i64 * 600) {
            s.apply(&e);
        }
    }
    let (frames, bindings) = s.len();
    // Retention 2 days = 288 flows, plus up to one hour between sweeps.
    assert!((288..=288 + 7).contains(&frames), "{frames} frames held");
    assert_eq!(frames, bindings);
    assert_eq!(s.counters().frames_expired, flows - frames as u64);
    // An old flow is gone; a recent one answers.
    assert_eq!(
        s.resolve(0, us(flows as i64 * 600)).status,
        JoinStatus::MissingBinding
    );
    assert_eq!(
        s.resolve(flows - 1, us(flows as i64 * 600)).status,
        JoinStatus::Ready
    );
}

#[test]
fn the_join_wait_releases_by_context_or_by_budget_in_event_order() {
    let budget = CsfbPolicy::builtin().unwrap().join_wait_budget_us;
    assert_eq!(budget, 2 * SECOND);
    let mut w: JoinWait<&'static str> = JoinWait::new(budget);
    w.park(1, us(10), "t1");
    w.park(2, us(10) + 1, "t2");
    w.park(1, us(11), "t1b");
    // Context of flow 1 arrives: both its events come out, oldest first.
    let got: Vec<_> = w.take_flow(1).into_iter().map(|p| p.item).collect();
    assert_eq!(got, ["t1", "t1b"]);
    w.park(3, us(10), "t3");
    // Exactly the budget past t3 (10 s): not yet; just past both: released, earlier ts first
    // although t3 was parked last.
    assert!(w.expire(us(12)).is_empty());
    let got: Vec<_> = w.expire(us(12) + 2).into_iter().map(|p| p.item).collect();
    assert_eq!(got, ["t3", "t2"]);
    assert!(w.is_empty());

    // Export / restore keeps the order and the sequence.
    let mut w: JoinWait<String> = JoinWait::new(budget);
    for i in 0..5u64 {
        w.park(i % 2, us(20 - i as i64), format!("x{i}"));
    }
    let restored = JoinWait::restore(w.export());
    assert_eq!(restored.export(), w.export());
    let mut r = restored;
    let a: Vec<_> = r.drain().into_iter().map(|p| p.item).collect();
    let b: Vec<_> = w.drain().into_iter().map(|p| p.item).collect();
    assert_eq!(a, b);
    assert_eq!(a, ["x4", "x3", "x2", "x1", "x0"]);
}

fn export_json(s: &ContextStore) -> String {
    serde_json::to_string(&s.export()).unwrap()
}

#[test]
fn export_and_restore_continue_exactly_like_an_uninterrupted_store() {
    let events: Vec<ContextEvent> = (0..400u64)
        .flat_map(|f| context_of(f, f as i64 * 900))
        .collect();
    let policy = Arc::new(CsfbPolicy::builtin().unwrap());
    let mut whole = store();
    for e in &events {
        whole.apply(e);
    }
    for cut in [0, 1, 500, events.len()] {
        let mut first = store();
        for e in &events[..cut] {
            first.apply(e);
        }
        let text = export_json(&first);
        let export: ContextStateExport = serde_json::from_str(&text).unwrap();
        let mut resumed = ContextStore::restore(Arc::clone(&policy), export).unwrap();
        assert_eq!(export_json(&resumed), text, "restore is exact at {cut}");
        for e in &events[cut..] {
            resumed.apply(e);
        }
        assert_eq!(export_json(&resumed), export_json(&whole), "cut at {cut}");
    }

    // Another policy is refused.
    let other = CsfbPolicy::from_yaml(
        "p",
        "policy_id: context_store_flow_binding.policy.v0\nrevision: r3\njoin_wait_budget: 1s\nretention: 1d\n",
    )
    .unwrap();
    assert!(ContextStore::restore(Arc::new(other), whole.export()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Out-of-order context (any arrival order of the three parts of each flow, any
    /// interleaving of flows) converges to the same frames and bindings.
    #[test]
    fn context_order_does_not_change_the_frames(seed in any::<u64>(), flows in 1u64..40) {
        let mut events: Vec<ContextEvent> =
            (0..flows).flat_map(|f| context_of(f, 100 + f as i64)).collect();
        let mut sorted = store();
        for e in &events {
            sorted.apply(e);
        }
        // Fisher-Yates with a seeded xorshift.
        let mut x = seed | 1;
        for i in (1..events.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            events.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut shuffled = store();
        for e in &events {
            shuffled.apply(e);
        }
        let (a, b) = (sorted.export(), shuffled.export());
        prop_assert_eq!(a.frames, b.frames);
        prop_assert_eq!(a.bindings, b.bindings);
        for f in 0..flows {
            prop_assert_eq!(shuffled.resolve(f, us(100 + f as i64)).status, JoinStatus::Ready);
        }
    }
}

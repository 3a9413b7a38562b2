//! The feature state stays bounded: entities no window covers any more are evicted, and an
//! evicted entity reads exactly like one never seen.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{basis, keys, pins, ts};
use fp_decision::KeyType;
use fp_decision::ofp::{FeatureKey, FeaturePolicy, FeatureRequest, OnlineFeatures, TrafficEvent};

fn event(flow: u64, secs: i64) -> TrafficEvent {
    TrafficEvent {
        flow_id: flow,
        event_seq: 0,
        event_type: "AUTH_REQUEST".into(),
        ts_utc: ts(secs),
        amount: 10.0,
        run: None,
    }
}

#[test]
fn entities_outside_every_window_are_evicted_and_read_as_never_seen() {
    let policy = Arc::new(FeaturePolicy::builtin().unwrap());
    let mut s = OnlineFeatures::new(Arc::clone(&policy), pins());
    // A fresh set of six entities every hour for 90 days: the longest window is 30 days.
    let hours = 90 * 24u64;
    let mut peak = 0;
    for h in 0..hours {
        s.apply(&event(h, h as i64 * 3_600), &keys(h, h, h, h))
            .unwrap();
        peak = peak.max(s.entity_count());
    }
    // Six groups; the 30-day groups hold at most ~31 days of hourly entities, the 7-day
    // groups ~8 days, plus one sweep period of slack.
    let bound = 3 * (31 * 24 + 2) + 3 * (8 * 24 + 2);
    assert!(peak <= bound, "peak {peak} entities, bound {bound}");
    assert!(s.entity_count() < peak + 1);
    assert!(s.entity_count() > 0);

    // The first entity (evicted long ago) reads exactly like an entity never seen.
    let read = |s: &OnlineFeatures, id: u64| {
        let k = keys(id, id, id, id);
        let req = FeatureRequest {
            pins: pins(),
            as_of_time_utc: ts(hours as i64 * 3_600),
            feature_keys: vec![FeatureKey::new(KeyType::Instrument, k.instrument)],
            feature_groups: policy
                .groups
                .iter()
                .map(|g| fp_decision::ofp::GroupRef {
                    name: g.name.clone(),
                    version: g.version.clone(),
                })
                .collect(),
            graph_resolution_mode: None,
            request_id: None,
            current_amount: None,
        };
        // Everything but the key name and the hash over it.
        let json = s.get_features(&req, &basis(0)).unwrap().canonical_json;
        let body = json.split(",\"snapshot_hash\"").next().unwrap_or_default();
        body.replace(&format!("instrument:{}", k.instrument), "instrument:X")
    };
    assert_eq!(read(&s, 0), read(&s, 10_000_000));
}

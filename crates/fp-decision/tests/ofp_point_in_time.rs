//! Point in time: on random streams (in-order, late within and beyond the allowed lateness,
//! uncounted event types), every snapshot equals a brute-force computation over the raw list
//! of applied events with the documented window semantics, so no event after the as-of time
//! (and no event after the decided one) ever contributes.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use fp_decision::ofp::{
    ApplyOutcome, FeatureKey, FeaturePolicy, FeatureRequest, GroupRef, OfpError, OnlineFeatures,
    TrafficEvent,
};
use fp_decision::{EntityKeys, KeyType};
use fp_rails::canonical::cj;
use fp_rails::ids::{SnapshotHashInput, ofp_snapshot_hash};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const TEST_POLICY: &str = "
policy_id: ofp.features.test
revision: t1
allowed_lateness: 2m
counted_event_types: [AUTH_REQUEST]
windows:
  - {name: 10m, duration: 10m, bucket: 1m}
  - {name: 1h, duration: 1h, bucket: 10m}
groups:
  - {name: instrument_velocity, version: v1, key_type: instrument, windows: [10m, 1h], distinct: [merchant, device, ip]}
  - {name: merchant_velocity, version: v1, key_type: merchant, windows: [1h], distinct: [device]}
";

/// (name, duration µs, bucket µs) of the test policy's windows, per group.
const INSTRUMENT_WINDOWS: [(&str, i64, i64); 2] = [
    ("10m", 600_000_000, 60_000_000),
    ("1h", 3_600_000_000, 600_000_000),
];
const MERCHANT_WINDOWS: [(&str, i64, i64); 1] = [("1h", 3_600_000_000, 600_000_000)];
const LATENESS_US: i64 = 120_000_000;

/// (group name, windows, distinct dimensions) of a test group.
type GroupShape = (
    &'static str,
    &'static [(&'static str, i64, i64)],
    &'static [KeyType],
);

#[derive(Debug, Clone)]
struct RawEvent {
    ts_us: i64,
    amount_us: i64,
    keys: EntityKeys,
}

/// The brute-force reference: features of one entity from the raw applied list. `None` when
/// the entity holds an event later than `as_of` (the store must withhold it).
fn reference(
    applied: &[RawEvent],
    key_type: KeyType,
    id: u64,
    as_of: i64,
    current: Option<i64>,
) -> Option<(Value, bool)> {
    let (group, windows, dims): GroupShape = match key_type {
        KeyType::Instrument => (
            "instrument_velocity",
            &INSTRUMENT_WINDOWS,
            &[KeyType::Merchant, KeyType::Device, KeyType::Ip],
        ),
        KeyType::Merchant => ("merchant_velocity", &MERCHANT_WINDOWS, &[KeyType::Device]),
        _ => unreachable!(),
    };
    let mine: Vec<&RawEvent> = applied
        .iter()
        .filter(|e| e.keys.get(key_type) == id)
        .collect();
    if mine.iter().any(|e| e.ts_us > as_of) {
        return None;
    }
    let mut f = Map::new();
    let mut any = false;
    let mut longest_lo_us = i64::MAX;
    for (name, dur, width) in windows {
        let hi = as_of.div_euclid(*width);
        let lo = hi - dur / width + 1;
        longest_lo_us = longest_lo_us.min(lo * width);
        let inw: Vec<&&RawEvent> = mine
            .iter()
            .filter(|e| (lo..=hi).contains(&e.ts_us.div_euclid(*width)))
            .collect();
        let n = inw.len() as u64;
        any |= n > 0;
        let sum: i128 = inw.iter().map(|e| i128::from(e.amount_us)).sum();
        let max = inw.iter().map(|e| e.amount_us).max();
        f.insert(format!("count_{name}"), json!(n));
        f.insert(format!("amount_sum_{name}"), json!(sum as f64 / 1e6));
        f.insert(
            format!("amount_mean_{name}"),
            if n == 0 {
                Value::Null
            } else {
                json!(sum as f64 / 1e6 / n as f64)
            },
        );
        f.insert(
            format!("amount_max_{name}"),
            max.map_or(Value::Null, |m| json!(m as f64 / 1e6)),
        );
        f.insert(
            format!("amount_to_mean_ratio_{name}"),
            match current {
                Some(c) if n > 0 && sum != 0 => json!(c as f64 * n as f64 / sum as f64),
                _ => Value::Null,
            },
        );
        for d in dims {
            let distinct: BTreeSet<u64> = inw.iter().map(|e| e.keys.get(*d)).collect();
            f.insert(format!("distinct_{d}_{name}"), json!(distinct.len()));
        }
    }
    let last = mine.iter().map(|e| e.ts_us).max();
    f.insert(
        "time_since_last_event_s".into(),
        match last {
            // The longest window of both test groups is the 1h one (10-minute buckets).
            Some(l) if l >= longest_lo_us => json!((as_of - l) as f64 / 1e6),
            _ => Value::Null,
        },
    );
    Some((json!({ group: f }), any))
}

#[derive(Debug, Clone)]
enum Step {
    /// Advance the clock by this many seconds, then an event at the clock.
    InOrder(i64),
    /// An event this many seconds behind the clock (late; beyond the lateness if > 120).
    Late(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0i64..200).prop_map(Step::InOrder),
        1 => (0i64..900).prop_map(Step::InOrder),
        2 => (1i64..260).prop_map(Step::Late),
    ]
}

type Ev = (Step, u64, u64, u64, u64, i64, bool);

fn event() -> impl Strategy<Value = Ev> {
    (
        step(),
        0u64..4,
        0u64..3,
        0u64..4,
        0u64..3,
        -500i64..200_000,
        proptest::bool::weighted(0.85),
    )
}

fn run_stream(events: Vec<Ev>) {
    let policy = Arc::new(FeaturePolicy::from_yaml("test", TEST_POLICY).unwrap());
    let mut store = OnlineFeatures::new(policy, common::pins());
    let mut applied: Vec<RawEvent> = Vec::new();
    let mut watermark: Option<i64> = None;
    let mut clock = 0i64;
    for (i, (step, inst, merch, dev, ip, cents, counted)) in events.into_iter().enumerate() {
        let secs = match step {
            Step::InOrder(gap) => {
                clock += gap;
                clock
            }
            Step::Late(behind) => clock - behind,
        };
        let t = common::ts(secs);
        let ts_us = t.unix_micros();
        let amount = cents as f64 / 100.0;
        let keys = common::keys(inst, merch, dev, ip);
        let payload = common::traffic_payload(
            i as u64,
            0,
            if counted {
                "AUTH_REQUEST"
            } else {
                "AUTH_RESPONSE"
            },
            &t,
            amount,
            false,
            None,
        );
        let ev = TrafficEvent::from_payload(&payload).unwrap();

        // Read first: the event's features as of its own time.
        let request = FeatureRequest {
            pins: common::pins(),
            as_of_time_utc: t.clone(),
            feature_keys: vec![
                FeatureKey::new(KeyType::Instrument, keys.instrument),
                FeatureKey::new(KeyType::Merchant, keys.merchant),
            ],
            feature_groups: vec![
                GroupRef {
                    name: "merchant_velocity".into(),
                    version: "v1".into(),
                },
                GroupRef {
                    name: "instrument_velocity".into(),
                    version: "v1".into(),
                },
            ],
            graph_resolution_mode: None,
            request_id: None,
            current_amount: Some(amount),
        };
        let served = store.get_features(&request, &common::basis(i as u64));
        let too_old = watermark.is_some_and(|w| ts_us < w - LATENESS_US);
        if too_old {
            assert!(
                matches!(served, Err(OfpError::AsOfBeyondLateness { .. })),
                "event {i}: read beyond lateness must be refused, got {served:?}"
            );
        } else {
            let served = served.unwrap();
            let doc: Value = serde_json::from_str(&served.canonical_json).unwrap();
            assert_eq!(
                cj(&doc),
                served.canonical_json,
                "snapshot bytes are canonical JSON"
            );
            let features = doc["features"].as_object().unwrap();
            let mut missing = BTreeSet::new();
            let current = Some((amount * 1e6).round() as i64);
            for (kt, id) in [
                (KeyType::Instrument, keys.instrument),
                (KeyType::Merchant, keys.merchant),
            ] {
                let name = format!("{kt}:{id}");
                match reference(&applied, kt, id, ts_us, current) {
                    None => {
                        assert!(
                            !features.contains_key(&name),
                            "event {i}: {name} must be withheld"
                        );
                        missing.insert(name);
                    }
                    Some((want, has_history)) => {
                        let got = features
                            .get(&name)
                            .unwrap_or_else(|| panic!("event {i}: {name} absent"));
                        assert_eq!(cj(got), cj(&want), "event {i}: features of {name}");
                        if !has_history {
                            missing.insert(name);
                        }
                    }
                }
            }
            let got_missing: BTreeSet<String> = doc["freshness"]["missing_feature_keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            assert_eq!(got_missing, missing, "event {i}: missing_feature_keys");
            // The hash is the reference recipe over the served content.
            let groups: Vec<(String, String)> = doc["feature_groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    (
                        g["name"].as_str().unwrap().into(),
                        g["version"].as_str().unwrap().into(),
                    )
                })
                .collect();
            let want_hash = ofp_snapshot_hash(&SnapshotHashInput {
                pins: &doc["pins"],
                as_of_time_utc: doc["as_of_time_utc"].as_str().unwrap(),
                feature_groups: &groups,
                feature_def_policy_rev: &doc["feature_def_policy_rev"],
                eb_offset_basis: &doc["eb_offset_basis"],
                graph_version: None,
                run_config_digest: None,
                features: &doc["features"],
                freshness: Some(&doc["freshness"]),
            });
            assert_eq!(
                served.snapshot_hash, want_hash,
                "event {i}: snapshot_hash recipe"
            );
            assert_eq!(doc["snapshot_hash"].as_str().unwrap(), want_hash.as_str());
        }

        // Then apply, and check the lateness rule.
        let outcome = store.apply(&ev, &keys).unwrap();
        if !counted {
            assert_eq!(outcome, ApplyOutcome::NotCounted);
            continue;
        }
        match watermark {
            Some(w) if ts_us < w && w - ts_us > LATENESS_US => {
                assert_eq!(
                    outcome,
                    ApplyOutcome::Late {
                        lateness_us: w - ts_us
                    }
                );
            }
            Some(w) if ts_us < w => {
                assert_eq!(
                    outcome,
                    ApplyOutcome::AppliedLate {
                        lateness_us: w - ts_us
                    }
                );
                applied.push(RawEvent {
                    ts_us,
                    amount_us: (amount * 1e6).round() as i64,
                    keys,
                });
            }
            _ => {
                assert_eq!(outcome, ApplyOutcome::Applied);
                applied.push(RawEvent {
                    ts_us,
                    amount_us: (amount * 1e6).round() as i64,
                    keys,
                });
                watermark = Some(ts_us);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn snapshots_equal_a_brute_force_over_the_applied_events(events in proptest::collection::vec(event(), 1..120)) {
        run_stream(events);
    }
}

#[test]
fn a_long_stream_rolls_every_window_many_times() {
    // Deterministic pseudo-random stream of 3,000 events over ~3 days: every bucket expires,
    // entities are evicted and come back.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let events: Vec<Ev> = (0..3_000)
        .map(|_| {
            let r = next();
            let step = if r % 10 == 0 {
                Step::Late((r >> 8) as i64 % 200 + 1)
            } else {
                Step::InOrder((r >> 16) as i64 % 180)
            };
            (
                step,
                next() % 6,
                next() % 4,
                next() % 5,
                next() % 3,
                (next() % 100_000) as i64,
                next() % 8 != 0,
            )
        })
        .collect();
    run_stream(events);
}

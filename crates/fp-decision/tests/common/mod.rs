//! Shared fixtures of the fp-decision tests.
#![allow(dead_code, clippy::unwrap_used)]

use fp_decision::EntityKeys;
use fp_decision::ofp::InputBasis;
use fp_rails::contracts::rtdl::{BasisOffset, EbOffsetBasis};
use fp_rails::{ContextPins, OffsetKind, TsUtc};
use serde_json::{Map, Value, json};

pub const MF: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
pub const PH: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

pub fn pins() -> ContextPins {
    serde_json::from_value(json!({
        "platform_run_id": "platform_20260101T000000Z",
        "scenario_run_id": "f99075b467eefd8598b7ca9aca767b16",
        "manifest_fingerprint": MF,
        "parameter_hash": PH,
        "scenario_id": "baseline_v1",
        "seed": 42,
    }))
    .unwrap()
}

pub fn basis(next_offset: u64) -> InputBasis {
    InputBasis {
        eb_offset_basis: EbOffsetBasis {
            stream: "fp.bus.traffic.fraud.v1".into(),
            basis_digest: None,
            offset_kind: OffsetKind::FileLine,
            offsets: vec![BasisOffset {
                partition: 0,
                offset: next_offset.to_string(),
            }],
            window_start_utc: None,
            window_end_utc: None,
            notes: None,
        },
        graph_version: None,
        run_config_digest: None,
    }
}

/// 2026-03-01T00:00:00Z plus `secs`.
pub fn ts(secs: i64) -> TsUtc {
    TsUtc::from_unix_micros(1_772_323_200_000_000 + secs * 1_000_000).unwrap()
}

pub fn keys(instrument: u64, merchant: u64, device: u64, ip: u64) -> EntityKeys {
    EntityKeys {
        party: 500_000 + instrument / 2,
        account: 700_000 + instrument,
        instrument: 900_000 + instrument,
        device: 300_000 + device,
        ip: 200_000 + ip,
        merchant: 1_000 + merchant,
    }
}

/// A `s3_event_stream_with_fraud_6B` row.
pub fn traffic_payload(
    flow_id: u64,
    event_seq: u64,
    event_type: &str,
    ts_utc: &TsUtc,
    amount: f64,
    fraud_flag: bool,
    campaign_id: Option<&str>,
) -> Map<String, Value> {
    json!({
        "flow_id": flow_id,
        "event_seq": event_seq,
        "event_type": event_type,
        "ts_utc": ts_utc.as_str(),
        "amount": amount,
        "seed": 42,
        "manifest_fingerprint": MF,
        "parameter_hash": PH,
        "scenario_id": "baseline_v1",
        "fraud_flag": fraud_flag,
        "campaign_id": campaign_id,
    })
    .as_object()
    .unwrap()
    .clone()
}

//! Framing stream-view rows as canonical envelopes (contracts §9.3, engine_interface.md §8):
//! `event_id` by the reference recipe (independent of the platform run, so a replay has the
//! same ids), `event_type` = output id, `ts_utc` normalised but never moved, every pin.

use std::sync::Arc;

use fp_rails::TsUtc;
use fp_rails::ids::engine_event_id_of_strs;
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::WspError;
use super::plan::WorldPins;
use super::row_json::RowWriter;

/// The producer id WSP stamps (the reference's allowlisted id).
pub const PRODUCER_ID: &str = "svc:world_stream_producer";

/// One framed envelope.
#[derive(Debug, Clone)]
pub struct Framed {
    /// Row index in the stream view (the checkpoint unit).
    pub row: u64,
    /// Event time, microseconds since the epoch (pacing).
    pub ts_micros: i64,
    /// The envelope's JSON bytes.
    pub bytes: Vec<u8>,
}

/// Frames the rows of one output.
#[derive(Debug, Clone)]
pub struct Framer {
    output_id: String,
    primary_key: &'static [&'static str],
    pins: Arc<WorldPins>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    event_id: &'a str,
    event_type: &'a str,
    schema_version: &'static str,
    ts_utc: &'a str,
    manifest_fingerprint: &'a str,
    parameter_hash: &'a str,
    seed: u64,
    scenario_id: &'a str,
    run_id: &'a str,
    platform_run_id: &'a str,
    scenario_run_id: &'a str,
    producer: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    span_id: Option<&'a str>,
    payload: &'a Map<String, Value>,
}

impl Framer {
    /// The envelope of stream-view row `row`, read straight from its record batch at `index`
    /// (the fast path: no per-row map; the same bytes as [`Self::frame`]).
    pub fn frame_row(
        &self,
        writer: &RowWriter<'_>,
        index: usize,
        row: u64,
    ) -> Result<Framed, WspError> {
        let mut key = Vec::with_capacity(self.primary_key.len());
        for column in self.primary_key {
            match writer.py_str(column, index) {
                Some(v) => key.push(v),
                None => return Err(self.key_missing(row, column)),
            }
        }
        let event_id = self.event_id(key);
        let ts = self.timestamp(row, writer.str_value("ts_utc", index))?;
        let p = &self.pins;

        let mut out = Vec::with_capacity(1024);
        // Field order and forms are those of `Envelope`'s serde derive (see `frame`).
        let field = |out: &mut Vec<u8>, first: bool, name: &str| {
            if !first {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
        };
        let string = |out: &mut Vec<u8>, s: &str| {
            let _ = serde_json::to_writer(&mut *out, s);
        };
        out.push(b'{');
        field(&mut out, true, "event_id");
        string(&mut out, event_id.as_str());
        field(&mut out, false, "event_type");
        string(&mut out, &self.output_id);
        field(&mut out, false, "schema_version");
        string(&mut out, "v1");
        field(&mut out, false, "ts_utc");
        string(&mut out, ts.as_str());
        field(&mut out, false, "manifest_fingerprint");
        string(&mut out, &p.manifest_fingerprint);
        field(&mut out, false, "parameter_hash");
        string(&mut out, &p.parameter_hash);
        field(&mut out, false, "seed");
        out.extend_from_slice(p.seed.to_string().as_bytes());
        field(&mut out, false, "scenario_id");
        string(&mut out, &p.scenario_id);
        field(&mut out, false, "run_id");
        string(&mut out, &p.engine_run_id);
        field(&mut out, false, "platform_run_id");
        string(&mut out, &p.platform_run_id);
        field(&mut out, false, "scenario_run_id");
        string(&mut out, &p.scenario_run_id);
        field(&mut out, false, "producer");
        string(&mut out, PRODUCER_ID);
        if let Some(t) = &p.pack_id {
            field(&mut out, false, "trace_id");
            string(&mut out, t);
        }
        if let Some(sp) = &p.engine_release {
            field(&mut out, false, "span_id");
            string(&mut out, sp);
        }
        field(&mut out, false, "payload");
        writer.write_row(index, &mut out);
        out.push(b'}');
        Ok(Framed {
            row,
            ts_micros: ts.unix_micros(),
            bytes: out,
        })
    }

    /// A framer of `output_id` (must be a catalogue output).
    pub fn new(output_id: &str, pins: Arc<WorldPins>) -> Result<Self, WspError> {
        let spec = fp_world::catalogue::output(output_id)
            .ok_or_else(|| WspError::UnknownOutput(output_id.into()))?;
        Ok(Self {
            output_id: output_id.to_owned(),
            primary_key: spec.primary_key,
            pins,
        })
    }

    /// The reference event id of a row whose key columns rendered as `key`.
    fn event_id(&self, key: Vec<String>) -> fp_rails::Hex64 {
        let p = &self.pins;
        engine_event_id_of_strs(
            &self.output_id,
            key,
            Some(&p.manifest_fingerprint),
            Some(&p.parameter_hash),
            Some(p.seed),
            Some(&p.scenario_id),
        )
    }

    /// The row's `ts_utc`, normalised; a missing or unparseable one is a typed error.
    fn timestamp(&self, row: u64, raw: Option<&str>) -> Result<TsUtc, WspError> {
        let bad = |detail: String| WspError::BadTimestamp {
            output_id: self.output_id.clone(),
            row,
            detail,
        };
        let raw = raw.ok_or_else(|| bad("no ts_utc string".into()))?;
        TsUtc::normalize(raw).map_err(|e| bad(e.to_string()))
    }

    fn key_missing(&self, row: u64, column: &'static str) -> WspError {
        WspError::PrimaryKeyMissing {
            output_id: self.output_id.clone(),
            row,
            column,
        }
    }

    /// The output this framer frames.
    pub fn output_id(&self) -> &str {
        &self.output_id
    }

    /// The envelope of stream-view row `row` (the row itself is the payload).
    pub fn frame(&self, row: u64, payload: &Map<String, Value>) -> Result<Framed, WspError> {
        let mut key = Vec::with_capacity(self.primary_key.len());
        for column in self.primary_key {
            match payload.get(*column) {
                Some(v) if !v.is_null() => key.push(fp_rails::ids::py_str(v)),
                _ => return Err(self.key_missing(row, column)),
            }
        }
        let event_id = self.event_id(key);
        let raw_ts = match payload.get("ts_utc") {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        };
        let ts = self.timestamp(row, raw_ts)?;
        let p = &self.pins;
        let env = Envelope {
            event_id: event_id.as_str(),
            event_type: &self.output_id,
            schema_version: "v1",
            ts_utc: ts.as_str(),
            manifest_fingerprint: &p.manifest_fingerprint,
            parameter_hash: &p.parameter_hash,
            seed: p.seed,
            scenario_id: &p.scenario_id,
            run_id: &p.engine_run_id,
            platform_run_id: &p.platform_run_id,
            scenario_run_id: &p.scenario_run_id,
            producer: PRODUCER_ID,
            trace_id: p.pack_id.as_deref(),
            span_id: p.engine_release.as_deref(),
            payload,
        };
        let bytes = serde_json::to_vec(&env).map_err(|e| WspError::BadTimestamp {
            output_id: self.output_id.clone(),
            row,
            detail: format!("envelope not serialisable: {e}"),
        })?;
        Ok(Framed {
            row,
            ts_micros: ts.unix_micros(),
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MF: &str = "c8fd41a42fc3d8a8fdb4e3ee8fc0ec6f1a2a2cd1bb4d53e0b9d7c9bbd0e705c8";
    const PH: &str = "56d45126eaabedd083a1d8428a763e0278c89b04b4e80d1f7b5c8d5a2c9bd2d7";

    fn pins() -> Arc<WorldPins> {
        Arc::new(WorldPins {
            manifest_fingerprint: MF.into(),
            parameter_hash: PH.into(),
            seed: 42,
            scenario_id: "baseline_v1".into(),
            engine_run_id: "0123456789abcdef0123456789abcdef".into(),
            platform_run_id: "platform_20260101T000000Z".into(),
            scenario_run_id: "fedcba9876543210fedcba9876543210".into(),
            pack_id: None,
            engine_release: Some("fp-world-standin/0.1.0".into()),
        })
    }

    fn row() -> Map<String, Value> {
        json!({
            "flow_id": 350714343300180549u64, "event_seq": 0, "seed": 42,
            "manifest_fingerprint": MF, "parameter_hash": PH, "scenario_id": "baseline_v1",
            "ts_utc": "2026-01-01T00:00:00.123Z", "amount": 12.5
        })
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn event_id_and_envelope_follow_the_reference() {
        let f = Framer::new("s3_event_stream_with_fraud_6B", pins()).expect("framer");
        let framed = f.frame(7, &row()).expect("frame");
        let env: Value = serde_json::from_slice(&framed.bytes).expect("json");
        // The row's id by the recipe, computed independently here.
        let want = fp_rails::digest::sha256_hex(format!(
            "s3_event_stream_with_fraud_6B|42|{MF}|baseline_v1|350714343300180549|0|{MF}|{PH}|42|baseline_v1"
        ));
        assert_eq!(env["event_id"], want.as_str());
        assert_eq!(env["event_type"], "s3_event_stream_with_fraud_6B");
        assert_eq!(env["ts_utc"], "2026-01-01T00:00:00.123000Z");
        assert_eq!(
            env["payload"]["ts_utc"], "2026-01-01T00:00:00.123Z",
            "payload untouched"
        );
        assert_eq!(env["producer"], PRODUCER_ID);
        assert_eq!(env["span_id"], "fp-world-standin/0.1.0");
        assert!(env.get("trace_id").is_none());
        assert_eq!(framed.row, 7);
        // The envelope is a valid canonical envelope.
        fp_rails::CanonicalEnvelope::from_json_bytes(&framed.bytes).expect("canonical");
    }

    #[test]
    fn a_missing_key_or_time_is_a_typed_error() {
        let f = Framer::new("s3_event_stream_with_fraud_6B", pins()).expect("framer");
        let mut r = row();
        r.remove("event_seq");
        assert!(matches!(
            f.frame(3, &r),
            Err(WspError::PrimaryKeyMissing {
                column: "event_seq",
                row: 3,
                ..
            })
        ));
        let mut r = row();
        r.insert("ts_utc".into(), json!("yesterday"));
        assert!(matches!(
            f.frame(4, &r),
            Err(WspError::BadTimestamp { row: 4, .. })
        ));
    }
}

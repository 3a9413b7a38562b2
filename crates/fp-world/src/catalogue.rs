//! The 12 consumed outputs of the engine interface (engine_interface.md §4): id, path template, Arrow
//! schema with the physical types the real engine writes, primary key, dictionary ordering and
//! the gate that authorises reading it.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

/// Gate authorising the 5B output.
pub const GATE_5B: &str = "gate.layer2.5B.validation";
/// Gate authorising every 6B output.
pub const GATE_6B: &str = "gate.layer3.6B.validation";

/// One catalogue entry.
#[derive(Debug, Clone)]
pub struct OutputSpec {
    /// `output_id` of the catalogue.
    pub id: &'static str,
    /// Segment (`5B` or `6B`).
    pub segment: &'static str,
    /// Path template with `{seed}`, `{parameter_hash}`, `{manifest_fingerprint}`,
    /// `{scenario_id}` tokens, relative to the run root.
    pub path_template: &'static str,
    /// Columns: name, Arrow type, nullable.
    pub columns: &'static [(&'static str, ColType, bool)],
    /// Primary key columns.
    pub primary_key: &'static [&'static str],
    /// Row ordering the file is sorted by (dictionary `ordering`, constant columns dropped).
    pub ordering: &'static [&'static str],
    /// Gate that authorises reading this output.
    pub gate: &'static str,
}

/// The column types used by the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// UTF-8 string (`BYTE_ARRAY` / `String`).
    Utf8,
    /// Signed 64-bit integer.
    Int64,
    /// Unsigned 64-bit integer (`INT64` / `Integer(64, unsigned)`).
    UInt64,
    /// IEEE double.
    Float64,
    /// Boolean.
    Boolean,
}

impl ColType {
    /// The Arrow type.
    pub fn data_type(self) -> DataType {
        match self {
            ColType::Utf8 => DataType::Utf8,
            ColType::Int64 => DataType::Int64,
            ColType::UInt64 => DataType::UInt64,
            ColType::Float64 => DataType::Float64,
            ColType::Boolean => DataType::Boolean,
        }
    }
}

impl OutputSpec {
    /// Arrow schema of the output (no metadata).
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|(n, t, null)| Field::new(*n, t.data_type(), *null))
                .collect::<Vec<_>>(),
        ))
    }

    /// The directory (relative to the run root) of the output's one partition, tokens filled.
    pub fn partition_dir(&self, id: &crate::identity::WorldIdentity) -> String {
        let full = self.file_path(id, 0);
        match full.rfind('/') {
            Some(i) => full[..i].to_owned(),
            None => full,
        }
    }

    /// Relative path of part file `part` (the campaign catalogue has a fixed file name).
    pub fn file_path(&self, id: &crate::identity::WorldIdentity, part: usize) -> String {
        self.path_template
            .replace("{seed}", &id.seed.to_string())
            .replace("{parameter_hash}", id.parameter_hash.as_str())
            .replace("{manifest_fingerprint}", id.manifest_fingerprint.as_str())
            .replace("{scenario_id}", &id.scenario_id)
            .replace("part-*.parquet", &format!("part-{part:05}.parquet"))
    }
}

use ColType::{Boolean as B, Float64 as F, Int64 as I, UInt64 as U, Utf8 as S};

const P5B: &str = "data/layer2/5B/arrival_events/seed={seed}/manifest_fingerprint={manifest_fingerprint}/scenario_id={scenario_id}/part-*.parquet";

macro_rules! p6b {
    ($id:literal) => {
        concat!(
            "data/layer3/6B/",
            $id,
            "/seed={seed}/parameter_hash={parameter_hash}/manifest_fingerprint={manifest_fingerprint}/scenario_id={scenario_id}/part-*.parquet"
        )
    };
}

/// `arrival_events_5B`.
pub const ARRIVAL_EVENTS: OutputSpec = OutputSpec {
    id: "arrival_events_5B",
    segment: "5B",
    path_template: P5B,
    columns: &[
        ("manifest_fingerprint", S, false),
        ("parameter_hash", S, false),
        ("seed", U, false),
        ("scenario_id", S, false),
        ("merchant_id", U, false),
        ("zone_representation", S, false),
        ("channel_group", S, true),
        ("bucket_index", I, false),
        ("arrival_seq", I, false),
        ("ts_utc", S, false),
        ("tzid_primary", S, false),
        ("ts_local_primary", S, false),
        ("tzid_settlement", S, true),
        ("ts_local_settlement", S, true),
        ("tzid_operational", S, true),
        ("ts_local_operational", S, true),
        ("routing_universe_hash", S, true),
        ("is_virtual", B, false),
        ("s4_spec_version", S, true),
        ("site_id", U, true),
        ("edge_id", U, true),
    ],
    primary_key: &[
        "seed",
        "manifest_fingerprint",
        "scenario_id",
        "merchant_id",
        "arrival_seq",
    ],
    ordering: &["merchant_id", "ts_utc", "arrival_seq"],
    gate: GATE_5B,
};

/// `s1_arrival_entities_6B`.
pub const ARRIVAL_ENTITIES: OutputSpec = OutputSpec {
    id: "s1_arrival_entities_6B",
    segment: "6B",
    path_template: p6b!("s1_arrival_entities_6B"),
    columns: &[
        ("scenario_id", S, false),
        ("arrival_seq", I, false),
        ("merchant_id", U, false),
        ("ts_utc", S, false),
        ("party_id", I, false),
        ("account_id", I, false),
        ("instrument_id", I, false),
        ("device_id", I, false),
        ("ip_id", I, false),
        ("session_id", I, false),
        ("seed", I, false),
        ("manifest_fingerprint", S, false),
        ("parameter_hash", S, false),
    ],
    primary_key: &[
        "seed",
        "manifest_fingerprint",
        "scenario_id",
        "merchant_id",
        "arrival_seq",
    ],
    ordering: &["merchant_id", "arrival_seq"],
    gate: GATE_6B,
};

/// `s1_session_index_6B` (no `parameter_hash` column: `additionalProperties: false`).
pub const SESSION_INDEX: OutputSpec = OutputSpec {
    id: "s1_session_index_6B",
    segment: "6B",
    path_template: p6b!("s1_session_index_6B"),
    columns: &[
        ("session_id", I, false),
        ("arrival_count", I, false),
        ("session_start_utc", S, false),
        ("session_end_utc", S, false),
        ("seed", I, false),
        ("manifest_fingerprint", S, false),
        ("scenario_id", S, false),
        ("party_id", I, false),
        ("device_id", I, false),
        ("account_id", I, false),
        ("instrument_id", I, false),
        ("merchant_id", U, false),
    ],
    primary_key: &["seed", "manifest_fingerprint", "scenario_id", "session_id"],
    ordering: &["session_id"],
    gate: GATE_6B,
};

const ANCHOR_COLS: [(&str, ColType, bool); 14] = [
    ("flow_id", I, false),
    ("arrival_seq", I, false),
    ("merchant_id", U, false),
    ("party_id", I, false),
    ("account_id", I, false),
    ("instrument_id", I, false),
    ("device_id", I, false),
    ("ip_id", I, false),
    ("ts_utc", S, false),
    ("amount", F, false),
    ("seed", I, false),
    ("manifest_fingerprint", S, false),
    ("parameter_hash", S, false),
    ("scenario_id", S, false),
];

const FLOW_PK: &[&str] = &["seed", "manifest_fingerprint", "scenario_id", "flow_id"];
const EVENT_PK: &[&str] = &[
    "seed",
    "manifest_fingerprint",
    "scenario_id",
    "flow_id",
    "event_seq",
];

/// `s2_flow_anchor_baseline_6B`.
pub const FLOW_ANCHOR_BASELINE: OutputSpec = OutputSpec {
    id: "s2_flow_anchor_baseline_6B",
    segment: "6B",
    path_template: p6b!("s2_flow_anchor_baseline_6B"),
    columns: &ANCHOR_COLS,
    primary_key: FLOW_PK,
    ordering: &["flow_id"],
    gate: GATE_6B,
};

const EVENT_COLS: [(&str, ColType, bool); 9] = [
    ("flow_id", I, false),
    ("event_seq", I, false),
    ("event_type", S, false),
    ("ts_utc", S, false),
    ("amount", F, false),
    ("seed", I, false),
    ("manifest_fingerprint", S, false),
    ("parameter_hash", S, false),
    ("scenario_id", S, false),
];

/// `s2_event_stream_baseline_6B`.
pub const EVENT_STREAM_BASELINE: OutputSpec = OutputSpec {
    id: "s2_event_stream_baseline_6B",
    segment: "6B",
    path_template: p6b!("s2_event_stream_baseline_6B"),
    columns: &EVENT_COLS,
    primary_key: EVENT_PK,
    ordering: &["flow_id", "event_seq"],
    gate: GATE_6B,
};

/// `s3_campaign_catalogue_6B` (a fixed file name).
pub const CAMPAIGN_CATALOGUE: OutputSpec = OutputSpec {
    id: "s3_campaign_catalogue_6B",
    segment: "6B",
    path_template: "data/layer3/6B/s3_campaign_catalogue_6B/seed={seed}/parameter_hash={parameter_hash}/manifest_fingerprint={manifest_fingerprint}/scenario_id={scenario_id}/s3_campaign_catalogue_6B.parquet",
    columns: &[
        ("campaign_id", S, false),
        ("campaign_label", S, false),
        ("fraud_rate", F, false),
        ("scenario_id", S, false),
        ("seed", I, false),
        ("manifest_fingerprint", S, false),
        ("parameter_hash", S, false),
    ],
    primary_key: &["seed", "manifest_fingerprint", "scenario_id", "campaign_id"],
    ordering: &["campaign_id"],
    gate: GATE_6B,
};

const ANCHOR_FRAUD_COLS: [(&str, ColType, bool); 16] = [
    ANCHOR_COLS[0],
    ANCHOR_COLS[1],
    ANCHOR_COLS[2],
    ANCHOR_COLS[3],
    ANCHOR_COLS[4],
    ANCHOR_COLS[5],
    ANCHOR_COLS[6],
    ANCHOR_COLS[7],
    ANCHOR_COLS[8],
    ANCHOR_COLS[9],
    ANCHOR_COLS[10],
    ANCHOR_COLS[11],
    ANCHOR_COLS[12],
    ANCHOR_COLS[13],
    ("fraud_flag", B, false),
    ("campaign_id", S, true),
];

/// `s3_flow_anchor_with_fraud_6B`.
pub const FLOW_ANCHOR_FRAUD: OutputSpec = OutputSpec {
    id: "s3_flow_anchor_with_fraud_6B",
    segment: "6B",
    path_template: p6b!("s3_flow_anchor_with_fraud_6B"),
    columns: &ANCHOR_FRAUD_COLS,
    primary_key: FLOW_PK,
    ordering: &["flow_id"],
    gate: GATE_6B,
};

const EVENT_FRAUD_COLS: [(&str, ColType, bool); 11] = [
    EVENT_COLS[0],
    EVENT_COLS[1],
    EVENT_COLS[2],
    EVENT_COLS[3],
    EVENT_COLS[4],
    EVENT_COLS[5],
    EVENT_COLS[6],
    EVENT_COLS[7],
    EVENT_COLS[8],
    ("fraud_flag", B, false),
    ("campaign_id", S, true),
];

/// `s3_event_stream_with_fraud_6B`.
pub const EVENT_STREAM_FRAUD: OutputSpec = OutputSpec {
    id: "s3_event_stream_with_fraud_6B",
    segment: "6B",
    path_template: p6b!("s3_event_stream_with_fraud_6B"),
    columns: &EVENT_FRAUD_COLS,
    primary_key: EVENT_PK,
    ordering: &["flow_id", "event_seq"],
    gate: GATE_6B,
};

const ID4: [(&str, ColType, bool); 4] = [
    ("seed", I, false),
    ("manifest_fingerprint", S, false),
    ("parameter_hash", S, false),
    ("scenario_id", S, false),
];

/// `s4_flow_truth_labels_6B`.
pub const FLOW_TRUTH: OutputSpec = OutputSpec {
    id: "s4_flow_truth_labels_6B",
    segment: "6B",
    path_template: p6b!("s4_flow_truth_labels_6B"),
    columns: &[
        ("flow_id", I, false),
        ("is_fraud_truth", B, false),
        ("fraud_label", S, true),
        ID4[0],
        ID4[1],
        ID4[2],
        ID4[3],
    ],
    primary_key: FLOW_PK,
    ordering: &["flow_id"],
    gate: GATE_6B,
};

/// `s4_flow_bank_view_6B`.
pub const FLOW_BANK_VIEW: OutputSpec = OutputSpec {
    id: "s4_flow_bank_view_6B",
    segment: "6B",
    path_template: p6b!("s4_flow_bank_view_6B"),
    columns: &[
        ("flow_id", I, false),
        ("is_fraud_bank_view", B, false),
        ("bank_label", S, true),
        ID4[0],
        ID4[1],
        ID4[2],
        ID4[3],
    ],
    primary_key: FLOW_PK,
    ordering: &["flow_id"],
    gate: GATE_6B,
};

/// `s4_event_labels_6B`.
pub const EVENT_LABELS: OutputSpec = OutputSpec {
    id: "s4_event_labels_6B",
    segment: "6B",
    path_template: p6b!("s4_event_labels_6B"),
    columns: &[
        ("flow_id", I, false),
        ("event_seq", I, false),
        ("is_fraud_truth", B, false),
        ("is_fraud_bank_view", B, false),
        ID4[0],
        ID4[1],
        ID4[2],
        ID4[3],
    ],
    primary_key: EVENT_PK,
    ordering: &["flow_id", "event_seq"],
    gate: GATE_6B,
};

/// `s4_case_timeline_6B`.
pub const CASE_TIMELINE: OutputSpec = OutputSpec {
    id: "s4_case_timeline_6B",
    segment: "6B",
    path_template: p6b!("s4_case_timeline_6B"),
    columns: &[
        ("case_id", I, false),
        ("case_event_seq", I, false),
        ("flow_id", I, false),
        ("case_event_type", S, false),
        ("ts_utc", S, false),
        ID4[0],
        ID4[1],
        ID4[2],
        ID4[3],
    ],
    primary_key: &[
        "seed",
        "manifest_fingerprint",
        "scenario_id",
        "case_id",
        "case_event_seq",
    ],
    ordering: &["case_id", "case_event_seq"],
    gate: GATE_6B,
};

/// All 12 outputs of engine_interface.md §4.1-§4.12 (the report's "13" counts §4.13, the
/// optional artefacts nobody reads), in catalogue order.
pub const OUTPUTS: [&OutputSpec; 12] = [
    &ARRIVAL_EVENTS,
    &ARRIVAL_ENTITIES,
    &SESSION_INDEX,
    &FLOW_ANCHOR_BASELINE,
    &EVENT_STREAM_BASELINE,
    &CAMPAIGN_CATALOGUE,
    &FLOW_ANCHOR_FRAUD,
    &EVENT_STREAM_FRAUD,
    &FLOW_TRUTH,
    &FLOW_BANK_VIEW,
    &EVENT_LABELS,
    &CASE_TIMELINE,
];

/// Find an output by id.
pub fn output(id: &str) -> Option<&'static OutputSpec> {
    OUTPUTS.iter().copied().find(|o| o.id == id)
}

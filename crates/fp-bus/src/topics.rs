//! The topic taxonomy (contracts §4.6) and topic specifications.
//!
//! Topic names are wire contracts: producers, consumers, checkpoints, archive paths and
//! `eb_ref`s all carry them, so they live here once, as constants, and nowhere else.

use serde::{Deserialize, Serialize};

use crate::error::BusError;

/// Engine traffic with fraud overlay (the only DF trigger topic).
pub const TRAFFIC_FRAUD: &str = "fp.bus.traffic.fraud.v1";
/// Baseline engine traffic (baseline-mode runs).
pub const TRAFFIC_BASELINE: &str = "fp.bus.traffic.baseline.v1";
/// Arrival events (context; merchant-local).
pub const CONTEXT_ARRIVAL_EVENTS: &str = "fp.bus.context.arrival_events.v1";
/// Arrival entities (context; merchant-local).
pub const CONTEXT_ARRIVAL_ENTITIES: &str = "fp.bus.context.arrival_entities.v1";
/// Flow anchors with fraud overlay (context; flow-local).
pub const CONTEXT_FLOW_ANCHOR_FRAUD: &str = "fp.bus.context.flow_anchor.fraud.v1";
/// Baseline flow anchors (context; baseline mode).
pub const CONTEXT_FLOW_ANCHOR_BASELINE: &str = "fp.bus.context.flow_anchor.baseline.v1";
/// Decisions, action intents and action outcomes.
pub const RTDL: &str = "fp.bus.rtdl.v1";
/// Case triggers.
pub const CASE_TRIGGERS: &str = "fp.bus.case.triggers.v1";
/// IG audit events (published directly, best-effort).
pub const AUDIT: &str = "fp.bus.audit.v1";
/// Control: SR READY/terminal/re-emit, DL posture changes, governance facts.
pub const CONTROL: &str = "fp.bus.control.v1";
/// Derived label events.
pub const LABEL_EVENTS: &str = "fp.bus.labels.events.v1";

/// Every topic of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// [`TRAFFIC_FRAUD`]
    TrafficFraud,
    /// [`TRAFFIC_BASELINE`]
    TrafficBaseline,
    /// [`CONTEXT_ARRIVAL_EVENTS`]
    ContextArrivalEvents,
    /// [`CONTEXT_ARRIVAL_ENTITIES`]
    ContextArrivalEntities,
    /// [`CONTEXT_FLOW_ANCHOR_FRAUD`]
    ContextFlowAnchorFraud,
    /// [`CONTEXT_FLOW_ANCHOR_BASELINE`]
    ContextFlowAnchorBaseline,
    /// [`RTDL`]
    Rtdl,
    /// [`CASE_TRIGGERS`]
    CaseTriggers,
    /// [`AUDIT`]
    Audit,
    /// [`CONTROL`]
    Control,
    /// [`LABEL_EVENTS`]
    LabelEvents,
}

/// How much traffic a topic carries; decides its partition count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Volume {
    /// Per-event traffic, context and RTDL streams.
    High,
    /// Control, audit, cases and labels.
    Low,
}

impl Topic {
    /// Every topic, in taxonomy order.
    pub const ALL: [Topic; 11] = [
        Topic::TrafficFraud,
        Topic::TrafficBaseline,
        Topic::ContextArrivalEvents,
        Topic::ContextArrivalEntities,
        Topic::ContextFlowAnchorFraud,
        Topic::ContextFlowAnchorBaseline,
        Topic::Rtdl,
        Topic::CaseTriggers,
        Topic::Audit,
        Topic::Control,
        Topic::LabelEvents,
    ];

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Topic::TrafficFraud => TRAFFIC_FRAUD,
            Topic::TrafficBaseline => TRAFFIC_BASELINE,
            Topic::ContextArrivalEvents => CONTEXT_ARRIVAL_EVENTS,
            Topic::ContextArrivalEntities => CONTEXT_ARRIVAL_ENTITIES,
            Topic::ContextFlowAnchorFraud => CONTEXT_FLOW_ANCHOR_FRAUD,
            Topic::ContextFlowAnchorBaseline => CONTEXT_FLOW_ANCHOR_BASELINE,
            Topic::Rtdl => RTDL,
            Topic::CaseTriggers => CASE_TRIGGERS,
            Topic::Audit => AUDIT,
            Topic::Control => CONTROL,
            Topic::LabelEvents => LABEL_EVENTS,
        }
    }

    /// The topic with this wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Volume class (contracts §4.1: high-volume 6 partitions, low-volume 3 on Kafka).
    pub fn volume(self) -> Volume {
        match self {
            Topic::TrafficFraud
            | Topic::TrafficBaseline
            | Topic::ContextArrivalEvents
            | Topic::ContextArrivalEntities
            | Topic::ContextFlowAnchorFraud
            | Topic::ContextFlowAnchorBaseline
            | Topic::Rtdl => Volume::High,
            Topic::CaseTriggers | Topic::Audit | Topic::Control | Topic::LabelEvents => Volume::Low,
        }
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A topic to provision: its name and its partition count.
///
/// The partition count is part of the topic's identity: keys are routed by it, so a topic is
/// never re-provisioned with another count ([`BusError::TopicConflict`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TopicSpec {
    /// Wire name.
    pub name: String,
    /// Number of partitions (Kinesis: shards), at least 1.
    pub partitions: u32,
}

impl TopicSpec {
    /// A spec; the name is checked when it is provisioned.
    pub fn new(name: impl Into<String>, partitions: u32) -> Self {
        Self {
            name: name.into(),
            partitions,
        }
    }
}

/// Partition counts per volume class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionCounts {
    /// Partitions of a high-volume topic.
    pub high: u32,
    /// Partitions of a low-volume topic.
    pub low: u32,
}

impl Default for PartitionCounts {
    /// The reference's Kafka shape (contracts §4.1): 6 high, 3 low.
    fn default() -> Self {
        Self { high: 6, low: 3 }
    }
}

impl PartitionCounts {
    /// The count for a volume class.
    pub fn for_volume(self, volume: Volume) -> u32 {
        match volume {
            Volume::High => self.high,
            Volume::Low => self.low,
        }
    }
}

/// The whole taxonomy as specs to provision.
pub fn taxonomy(counts: PartitionCounts) -> Vec<TopicSpec> {
    Topic::ALL
        .into_iter()
        .map(|t| TopicSpec::new(t.name(), counts.for_volume(t.volume())))
        .collect()
}

/// Longest topic name accepted (Kinesis stream names are at most 128 characters).
pub const MAX_TOPIC_NAME_LEN: usize = 128;

/// Check that a name can be a topic on every backend: a directory name for the embedded log and
/// a stream name for Kinesis (`[a-zA-Z0-9_.-]{1,128}`); `.` and `..` are refused.
pub fn validate_topic_name(name: &str) -> Result<(), BusError> {
    let fail = |reason| {
        Err(BusError::InvalidTopicName {
            topic: name.chars().take(200).collect(),
            reason,
        })
    };
    if name.is_empty() {
        return fail("it is empty");
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return fail("it is longer than 128 characters");
    }
    if name == "." || name == ".." {
        return fail("`.` and `..` are not names");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return fail("only ASCII letters, digits, `.`, `_` and `-` are allowed");
    }
    Ok(())
}

/// Check a spec: a valid name and at least one partition.
pub fn validate_spec(spec: &TopicSpec) -> Result<(), BusError> {
    validate_topic_name(&spec.name)?;
    if spec.partitions == 0 {
        return Err(BusError::Config(format!(
            "topic `{}` needs at least one partition",
            spec.name
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_and_is_valid() {
        for t in Topic::ALL {
            assert_eq!(Topic::from_name(t.name()), Some(t));
            assert!(validate_topic_name(t.name()).is_ok(), "{t}");
        }
        assert_eq!(Topic::from_name("fp.bus.traffic.v1"), None);
    }

    #[test]
    fn taxonomy_uses_volume_classes() {
        let specs = taxonomy(PartitionCounts { high: 4, low: 1 });
        assert_eq!(specs.len(), 11);
        let fraud = specs.iter().find(|s| s.name == TRAFFIC_FRAUD);
        assert_eq!(fraud.map(|s| s.partitions), Some(4));
        let control = specs.iter().find(|s| s.name == CONTROL);
        assert_eq!(control.map(|s| s.partitions), Some(1));
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"x".repeat(129)] {
            assert!(
                matches!(
                    validate_topic_name(bad),
                    Err(BusError::InvalidTopicName { .. })
                ),
                "{bad:?}"
            );
        }
    }
}

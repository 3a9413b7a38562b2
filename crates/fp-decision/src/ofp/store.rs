//! The online feature state of one run: apply traffic events in canonical order, answer
//! point-in-time feature requests, export and restore the state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use fp_rails::canonical::{Style, to_canonical, write_str_to};
use fp_rails::envelope::CanonicalEnvelope;
use fp_rails::{ContextPins, Hex32, Hex64, PlatformRunId, TsUtc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::OfpError;
use super::policy::{FeaturePolicy, FeatureRef, GroupDef, MAX_DISTINCT};
use super::request::{FeatureRequest, GroupRef, InputBasis};
use super::snapshot::{Freshness, FreshnessState, Num, Pieces, ServedSnapshot, flags, write_num};
use super::state::{EntityState, WindowAgg};
use crate::entity::{EntityKeys, KeyType};
use crate::fasthash::IdMap;

/// Micro-units per major unit: amounts are kept as exact integers (decision 0012).
pub const AMOUNT_SCALE: f64 = 1_000_000.0;

/// Largest absolute amount accepted (major units): keeps every sum far inside `i128` and
/// every micro-unit amount inside `i64`.
pub const MAX_ABS_AMOUNT: f64 = 1e12;

/// `ts_utc` resolution.
const MICROS_PER_SECOND: f64 = 1_000_000.0;

/// Event time between two sweeps of entities no window covers any more.
const EVICTION_EVERY_US: i64 = 3_600 * 1_000_000;

/// One traffic event as the feature plane reads it. Built from the payload's `event_type`,
/// `ts_utc` and `amount` only: the truth fields `fraud_flag` and `campaign_id` are never read.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficEvent {
    /// `flow_id` (the key of the flow binding; not a feature key).
    pub flow_id: u64,
    /// `event_seq` within the flow.
    pub event_seq: u64,
    /// `AUTH_REQUEST`, `AUTH_RESPONSE`, ...
    pub event_type: String,
    /// Event time.
    pub ts_utc: TsUtc,
    /// Amount, major units.
    pub amount: f64,
    /// `(platform_run_id, scenario_run_id)` when built from an envelope.
    pub run: Option<(PlatformRunId, Hex32)>,
}

fn field<'a>(p: &'a Map<String, Value>, name: &str) -> Result<&'a Value, OfpError> {
    p.get(name)
        .ok_or_else(|| OfpError::InvalidEvent(format!("payload has no `{name}`")))
}

fn uint(p: &Map<String, Value>, name: &str) -> Result<u64, OfpError> {
    field(p, name)?.as_u64().ok_or_else(|| {
        OfpError::InvalidEvent(format!("payload `{name}` is not a non-negative integer"))
    })
}

impl TrafficEvent {
    /// Read a traffic payload (`s3_event_stream_with_fraud_6B` / `s2_event_stream_baseline_6B`
    /// row).
    pub fn from_payload(p: &Map<String, Value>) -> Result<Self, OfpError> {
        let event_type = field(p, "event_type")?
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                OfpError::InvalidEvent("payload `event_type` is not a non-empty string".into())
            })?
            .to_owned();
        let ts = field(p, "ts_utc")?
            .as_str()
            .ok_or_else(|| OfpError::InvalidEvent("payload `ts_utc` is not a string".into()))?;
        let ts_utc = TsUtc::parse(ts)
            .map_err(|e| OfpError::InvalidEvent(format!("payload `ts_utc`: {e}")))?;
        let amount = field(p, "amount")?
            .as_f64()
            .ok_or_else(|| OfpError::InvalidEvent("payload `amount` is not a number".into()))?;
        Ok(Self {
            flow_id: uint(p, "flow_id")?,
            event_seq: uint(p, "event_seq")?,
            event_type,
            ts_utc,
            amount,
            run: None,
        })
    }

    /// Read a traffic envelope: its payload, plus its run (checked against the store's).
    pub fn from_envelope(env: &CanonicalEnvelope) -> Result<Self, OfpError> {
        let payload = env
            .payload
            .as_ref()
            .ok_or_else(|| OfpError::InvalidEvent("envelope has no payload".into()))?;
        let mut e = Self::from_payload(payload)?;
        if e.ts_utc != env.ts_utc {
            return Err(OfpError::InvalidEvent(format!(
                "payload ts_utc {} differs from envelope ts_utc {}",
                e.ts_utc, env.ts_utc
            )));
        }
        let run = env
            .platform_run_id
            .clone()
            .zip(env.scenario_run_id.clone())
            .ok_or_else(|| {
                OfpError::InvalidEvent("envelope lacks platform_run_id or scenario_run_id".into())
            })?;
        e.run = Some(run);
        Ok(e)
    }
}

/// What applying one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplyOutcome {
    /// Applied in order.
    Applied,
    /// Behind the watermark by at most the allowed lateness: applied to its bucket.
    AppliedLate {
        /// How far behind (µs).
        lateness_us: i64,
    },
    /// Behind the watermark by more than the allowed lateness: recorded, not applied.
    Late {
        /// How far behind (µs).
        lateness_us: i64,
    },
    /// Event type not counted by the policy (e.g. `AUTH_RESPONSE`): no state change.
    NotCounted,
}

/// Counters of apply outcomes (exported with the state).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyCounters {
    /// In order.
    pub applied: u64,
    /// Late within the allowed lateness.
    pub applied_late: u64,
    /// Late beyond it (not applied).
    pub late_dropped: u64,
    /// Event type not counted.
    pub not_counted: u64,
}

/// One group's entity table.
type Table = IdMap<EntityState>;

/// The online feature state of one run.
#[derive(Debug, Clone)]
pub struct OnlineFeatures {
    policy: Arc<FeaturePolicy>,
    pins: ContextPins,
    pins_cj: String,
    policy_rev_cj: String,
    tables: Vec<Table>,
    watermark_us: Option<i64>,
    next_eviction_us: i64,
    counters: ApplyCounters,
}

/// Exported state: everything needed to continue exactly where the export was taken.
/// Entities are listed in id order so the same state exports to the same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureStateExport {
    /// Digest of the policy the state was built under (restore refuses another).
    pub policy_content_digest: Option<Hex64>,
    /// The run.
    pub pins: ContextPins,
    /// Largest applied `ts_utc` (µs).
    pub watermark_us: Option<i64>,
    /// Next eviction sweep (µs of event time).
    pub next_eviction_us: i64,
    /// Apply counters.
    pub counters: ApplyCounters,
    /// Group name → entity id → state.
    pub groups: BTreeMap<String, BTreeMap<u64, ExportedEntity>>,
}

/// One entity's exported state (distinct values in value order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedEntity {
    /// The state, without the distinct maps.
    pub state: EntityState,
    /// Per dimension: value → latest sighting.
    pub seen: Vec<BTreeMap<u64, i64>>,
}

impl OnlineFeatures {
    /// Empty state for a run.
    pub fn new(policy: Arc<FeaturePolicy>, pins: ContextPins) -> Self {
        let pins_cj = to_canonical(&pins, Style::Compact).unwrap_or_default();
        let policy_rev_cj = to_canonical(&policy.policy_rev, Style::Compact).unwrap_or_default();
        let tables = vec![Table::default(); policy.groups.len()];
        Self {
            policy,
            pins,
            pins_cj,
            policy_rev_cj,
            tables,
            watermark_us: None,
            next_eviction_us: i64::MIN,
            counters: ApplyCounters::default(),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &FeaturePolicy {
        &self.policy
    }

    /// Apply outcome counters.
    pub fn counters(&self) -> ApplyCounters {
        self.counters
    }

    /// Largest applied event time.
    pub fn watermark(&self) -> Option<TsUtc> {
        self.watermark_us
            .and_then(|w| TsUtc::from_unix_micros(w).ok())
    }

    /// Entities held per group (state is bounded: entities no window covers are evicted).
    pub fn entity_count(&self) -> usize {
        self.tables.iter().map(|t| t.len()).sum()
    }

    /// Apply one traffic event with the entity keys its flow binding resolved. Records must
    /// come in canonical order; the only disorder handled is lateness (decision 0012).
    pub fn apply(
        &mut self,
        event: &TrafficEvent,
        keys: &EntityKeys,
    ) -> Result<ApplyOutcome, OfpError> {
        if let Some((p, s)) = &event.run
            && (p != &self.pins.platform_run_id || s != &self.pins.scenario_run_id)
        {
            return Err(OfpError::RunScopeMismatch {
                platform_run_id: p.to_string(),
                scenario_run_id: s.to_string(),
            });
        }
        if !event.amount.is_finite() || event.amount.abs() > MAX_ABS_AMOUNT {
            return Err(OfpError::InvalidEvent(format!(
                "amount {} is not a finite number within ±{MAX_ABS_AMOUNT}",
                event.amount
            )));
        }
        if !self.policy.counts(&event.event_type) {
            self.counters.not_counted += 1;
            return Ok(ApplyOutcome::NotCounted);
        }
        let ts = event.ts_utc.unix_micros();
        let outcome = match self.watermark_us {
            Some(w) if ts < w => {
                let lateness_us = w - ts;
                if lateness_us > self.policy.allowed_lateness_us {
                    self.counters.late_dropped += 1;
                    return Ok(ApplyOutcome::Late { lateness_us });
                }
                self.counters.applied_late += 1;
                ApplyOutcome::AppliedLate { lateness_us }
            }
            _ => {
                self.counters.applied += 1;
                ApplyOutcome::Applied
            }
        };
        // Rounded once to micro-units; |amount| ≤ 1e12 keeps this far inside i64.
        let amount = (event.amount * AMOUNT_SCALE).round() as i64;
        let policy = Arc::clone(&self.policy);
        for (group, table) in policy.groups.iter().zip(self.tables.iter_mut()) {
            let mut dims = [0u64; MAX_DISTINCT];
            for (d, k) in group.distinct.iter().enumerate() {
                dims[d] = keys.get(*k);
            }
            table
                .entry(keys.get(group.key_type))
                .or_insert_with(|| EntityState::new(group, ts))
                .apply(group, ts, amount, &dims[..group.distinct.len()]);
        }
        let w = self.watermark_us.map_or(ts, |w| w.max(ts));
        self.watermark_us = Some(w);
        if w >= self.next_eviction_us {
            let earliest = self.evict(w);
            self.next_eviction_us = earliest.max(w + EVICTION_EVERY_US);
        }
        Ok(outcome)
    }

    /// Drop entities whose latest event no window covers at the earliest instant still
    /// answerable (watermark − allowed lateness): they read as "no history" either way.
    ///
    /// Returns the earliest watermark at which a surviving entity could be evicted: no sweep
    /// can drop anything before it (a later event only postpones an entity's expiry), so the
    /// next sweep waits for it instead of scanning every entity each hour of event time.
    fn evict(&mut self, watermark_us: i64) -> i64 {
        let lateness = self.policy.allowed_lateness_us;
        let horizon = watermark_us - lateness;
        let mut next = i64::MAX;
        for (group, table) in self.policy.groups.iter().zip(self.tables.iter_mut()) {
            table.retain(|_, e| {
                let keep = e.has_history(group, horizon);
                if keep {
                    next = next.min(e.expiry_us(group).saturating_add(lateness));
                }
                keep
            });
        }
        // With nothing held (a policy without groups) there is no expiry to wait for: sweep
        // again within one longest window, so the sweep never stops.
        let longest_us = self
            .policy
            .groups
            .iter()
            .flat_map(|g| g.windows.iter().map(|w| w.duration_us + w.bucket_us))
            .max()
            .unwrap_or(EVICTION_EVERY_US);
        next.min(watermark_us.saturating_add(longest_us + lateness))
    }

    /// Features as of `request.as_of_time_utc` for the requested keys and groups.
    pub fn get_features(
        &self,
        request: &FeatureRequest,
        basis: &InputBasis,
    ) -> Result<ServedSnapshot, OfpError> {
        if request.pins.platform_run_id != self.pins.platform_run_id
            || request.pins.scenario_run_id != self.pins.scenario_run_id
        {
            return Err(OfpError::NotFound {
                platform_run_id: request.pins.platform_run_id.to_string(),
                scenario_run_id: request.pins.scenario_run_id.to_string(),
            });
        }
        if request.pins != self.pins {
            return Err(OfpError::InvalidRequest(
                "`pins` name this run but differ from its pins in another field".into(),
            ));
        }
        let keys = request.checked_keys()?;
        let as_of = request.as_of_time_utc.unix_micros();
        if let Some(w) = self.watermark_us
            && as_of < w - self.policy.allowed_lateness_us
        {
            return Err(OfpError::AsOfBeyondLateness {
                as_of: request.as_of_time_utc.clone(),
                watermark: self
                    .watermark()
                    .unwrap_or_else(|| request.as_of_time_utc.clone()),
            });
        }
        let current = request
            .current_amount
            .map(|a| (a * AMOUNT_SCALE).round().clamp(-9e18, 9e18) as i64);

        // Requested groups: sorted, unique; the ones the policy defines, by key type.
        let requested: BTreeSet<GroupRef> = request.feature_groups.iter().cloned().collect();
        let mut available: Vec<Option<usize>> = vec![None; KeyType::ALL.len()];
        let mut missing_groups = Vec::new();
        for g in &requested {
            match self
                .policy
                .groups
                .iter()
                .position(|d| d.name == g.name && d.version == g.version)
            {
                Some(i) => available[key_slot(self.policy.groups[i].key_type)] = Some(i),
                None => missing_groups.push(format!("{}@{}", g.name, g.version)),
            }
        }

        // Keys in code-point order of their names (the canonical order of `features`), unique.
        let mut named: Vec<(String, KeyType, u64)> = keys
            .into_iter()
            .map(|(k, id)| (format!("{k}:{id}"), k, id))
            .collect();
        named.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        named.dedup_by(|a, b| a.0 == b.0);

        let mut features = String::with_capacity(1024 * named.len());
        features.push('{');
        let mut served_keys = 0usize;
        let mut missing_keys = Vec::new();
        let mut withheld = false;
        let mut no_history = false;
        let mut usable = 0usize;
        for (name, key_type, id) in named {
            let Some(gi) = available[key_slot(key_type)] else {
                missing_keys.push(name);
                continue;
            };
            let group = &self.policy.groups[gi];
            let entity = self.tables[gi].get(&id);
            if entity.is_some_and(|e| e.last_ts_us > as_of) {
                withheld = true;
                missing_keys.push(name);
                continue;
            }
            if entity.is_some_and(|e| e.has_history(group, as_of)) {
                usable += 1;
            } else {
                no_history = true;
                missing_keys.push(name.clone());
            }
            if served_keys > 0 {
                features.push(',');
            }
            served_keys += 1;
            write_str_to(&mut features, &name);
            features.push_str(":{");
            write_str_to(&mut features, &group.name);
            features.push(':');
            write_group(&mut features, group, entity, as_of, current);
            features.push('}');
        }
        features.push('}');

        let mut fl = Vec::new();
        if withheld {
            fl.push(flags::AS_OF_BEFORE_ENTITY_STATE.to_owned());
        }
        if basis.graph_version.is_none() {
            fl.push(flags::GRAPH_VERSION_UNAVAILABLE.to_owned());
        }
        if !missing_groups.is_empty() {
            fl.push(flags::MISSING_FEATURE_GROUP.to_owned());
        }
        if no_history {
            fl.push(flags::MISSING_FEATURE_STATE.to_owned());
        }
        fl.sort();
        // RED when nothing usable is served: no requested group defined, or every requested key
        // without history or withheld.
        let nothing_usable = missing_groups.len() == requested.len() || usable == 0;
        let state = if nothing_usable {
            FreshnessState::Red
        } else if fl.is_empty() {
            FreshnessState::Green
        } else {
            FreshnessState::Amber
        };
        let freshness = Freshness {
            state,
            flags: fl,
            stale_groups: Vec::new(),
            missing_groups,
            missing_feature_keys: missing_keys,
        };

        let basis_cj = to_canonical(&basis.eb_offset_basis, Style::Compact)
            .map_err(|e| OfpError::InvalidRequest(format!("eb_offset_basis: {e}")))?;
        let gv_cj = match &basis.graph_version {
            Some(g) => Some(
                to_canonical(g, Style::Compact)
                    .map_err(|e| OfpError::InvalidRequest(format!("graph_version: {e}")))?,
            ),
            None => None,
        };
        let groups: Vec<GroupRef> = requested.into_iter().collect();
        let (snapshot_hash, canonical_json) = Pieces {
            as_of: &request.as_of_time_utc,
            eb_offset_basis: &basis_cj,
            feature_def_policy_rev: &self.policy_rev_cj,
            feature_groups: &groups,
            features: &features,
            freshness: &freshness,
            graph_version: gv_cj.as_deref(),
            pins: &self.pins_cj,
            run_config_digest: basis.run_config_digest.as_ref(),
        }
        .finish();
        Ok(ServedSnapshot {
            snapshot_hash,
            canonical_json,
            freshness,
        })
    }

    /// Export the state (entities in id order: same state, same bytes).
    pub fn export(&self) -> FeatureStateExport {
        let mut groups = BTreeMap::new();
        for (group, table) in self.policy.groups.iter().zip(&self.tables) {
            let entities: BTreeMap<u64, ExportedEntity> = table
                .iter()
                .map(|(id, e)| {
                    let mut state = e.clone();
                    let seen = state
                        .seen
                        .iter_mut()
                        .map(|m| std::mem::take(m).into_iter().collect())
                        .collect();
                    (*id, ExportedEntity { state, seen })
                })
                .collect();
            groups.insert(group.name.clone(), entities);
        }
        FeatureStateExport {
            policy_content_digest: self.policy.policy_rev.content_digest.clone(),
            pins: self.pins.clone(),
            watermark_us: self.watermark_us,
            next_eviction_us: self.next_eviction_us,
            counters: self.counters,
            groups,
        }
    }

    /// Continue from an export taken under the same policy.
    pub fn restore(
        policy: Arc<FeaturePolicy>,
        export: FeatureStateExport,
    ) -> Result<Self, OfpError> {
        if export.policy_content_digest != policy.policy_rev.content_digest {
            return Err(OfpError::StateMismatch(
                "the export was taken under another feature policy (content digest differs)".into(),
            ));
        }
        let mut me = Self::new(policy, export.pins);
        me.watermark_us = export.watermark_us;
        me.next_eviction_us = export.next_eviction_us;
        me.counters = export.counters;
        let mut groups = export.groups;
        let policy = Arc::clone(&me.policy);
        for (group, table) in policy.groups.iter().zip(me.tables.iter_mut()) {
            for (id, ent) in groups.remove(&group.name).unwrap_or_default() {
                let mut state = ent.state;
                if state.rings.len() != group.windows.len()
                    || ent.seen.len() != group.distinct.len()
                {
                    return Err(OfpError::StateMismatch(format!(
                        "entity {id} of group {} has a layout other than the policy's",
                        group.name
                    )));
                }
                state.seen = ent
                    .seen
                    .into_iter()
                    .map(|m| m.into_iter().collect())
                    .collect();
                table.insert(id, state);
            }
        }
        if let Some(extra) = groups.keys().next() {
            return Err(OfpError::StateMismatch(format!(
                "the export holds group `{extra}` the policy does not define"
            )));
        }
        Ok(me)
    }
}

fn key_slot(k: KeyType) -> usize {
    KeyType::ALL.iter().position(|x| *x == k).unwrap_or(0)
}

/// Write one group's features for one entity (a zero history when the entity is unknown).
fn write_group(
    out: &mut String,
    group: &GroupDef,
    entity: Option<&EntityState>,
    as_of: i64,
    current: Option<i64>,
) {
    let aggs: Vec<WindowAgg> = (0..group.windows.len())
        .map(|w| entity.map_or_else(WindowAgg::default, |e| e.window(group, w, as_of)))
        .collect();
    out.push('{');
    for (i, (name, f)) in group.features.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str_to(out, name);
        out.push(':');
        write_num(out, feature_value(*f, &aggs, group, entity, as_of, current));
    }
    out.push('}');
}

/// The value of one feature: every float is computed from exact integers in one expression,
/// so a brute-force computation over the raw events reaches the same bits.
pub(crate) fn feature_value(
    f: FeatureRef,
    aggs: &[WindowAgg],
    group: &GroupDef,
    entity: Option<&EntityState>,
    as_of: i64,
    current: Option<i64>,
) -> Num {
    match f {
        FeatureRef::Count(w) => Num::Int(aggs[w].count),
        FeatureRef::AmountSum(w) => Num::Float(aggs[w].sum as f64 / AMOUNT_SCALE),
        FeatureRef::AmountMean(w) => match aggs[w].count {
            0 => Num::Null,
            n => Num::Float(aggs[w].sum as f64 / AMOUNT_SCALE / n as f64),
        },
        FeatureRef::AmountMax(w) => aggs[w]
            .max
            .map_or(Num::Null, |m| Num::Float(m as f64 / AMOUNT_SCALE)),
        FeatureRef::AmountToMeanRatio(w) => match (current, aggs[w].count, aggs[w].sum) {
            (Some(c), n, s) if n > 0 && s != 0 => Num::Float(c as f64 * n as f64 / s as f64),
            _ => Num::Null,
        },
        FeatureRef::Distinct(w, d) => Num::Int(aggs[w].distinct[d]),
        FeatureRef::TimeSinceLastEvent => match entity {
            Some(e) if e.last_event_in_window(group, group.longest, as_of) => {
                Num::Float((as_of - e.last_ts_us) as f64 / MICROS_PER_SECOND)
            }
            _ => Num::Null,
        },
    }
}

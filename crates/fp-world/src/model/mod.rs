//! The world model: a pure, deterministic function of (resolved config, identity).
//!
//! Order of construction: merchants and parties (per-entity streams) → injected campaign
//! arrivals (card testing, account takeover) → baseline arrivals per hour bucket (per-bucket
//! streams, counts apportioned by each merchant's local daily/weekly rhythm) → per-merchant
//! `arrival_seq` → flow ids → overlay campaigns → events → truth, bank view and cases
//! (per-flow streams).

pub mod arrivals;
pub mod campaigns;
pub mod entities;
pub mod truth;

use std::fmt::Write as _;

use crate::config::ResolvedConfig;
use crate::identity::WorldIdentity;
use crate::rng::{Domain, Stream, id63, world_root};
use crate::timefmt::{US_DAY, US_H, US_MIN};
use campaigns::{Campaign, Plan};
use entities::{Merchant, Party};
use truth::Outcome;

/// One arrival (= one flow).
#[derive(Debug, Clone)]
pub struct Arrival {
    /// Merchant index.
    pub merchant: u32,
    /// Arrival instant (micros since the epoch).
    pub ts_us: i64,
    /// Hour bucket since the horizon start.
    pub bucket: i64,
    /// Party.
    pub party_id: i64,
    /// Account of the party.
    pub account_id: i64,
    /// Instrument of the account.
    pub instrument_id: i64,
    /// Device (of the party, or an attacker's).
    pub device_id: i64,
    /// IP of the device.
    pub ip_id: i64,
    /// Site (physical) or edge (virtual) routed to.
    pub route: u64,
    /// Baseline amount (S2).
    pub base_amount: f64,
    /// Post-overlay amount (S3).
    pub amount: f64,
    /// Campaign index, if any.
    pub campaign: Option<u32>,
    /// Per-merchant 1-based sequence.
    pub arrival_seq: i64,
}

impl Arrival {
    #[allow(clippy::too_many_arguments)]
    fn injected(
        merchant: usize,
        ts_us: i64,
        start_us: i64,
        party: &Party,
        account_id: i64,
        instrument_id: i64,
        device_id: i64,
        ip_id: i64,
        route: u64,
        base_amount: f64,
        amount: f64,
        campaign: u32,
    ) -> Self {
        Arrival {
            merchant: merchant as u32,
            ts_us,
            bucket: (ts_us - start_us).div_euclid(US_H).max(0),
            party_id: party.id,
            account_id,
            instrument_id,
            device_id,
            ip_id,
            route,
            base_amount,
            amount,
            campaign: Some(campaign),
            arrival_seq: 0,
        }
    }
}

/// Events of one flow: `AUTH_REQUEST` at the flow ts; for some online flows a 3-D Secure
/// `STEP_UP_CHALLENGE` / `STEP_UP_COMPLETE` pair; `AUTH_RESPONSE` after a latency; `CLEARING`
/// a day or so later for most card-present and online flows; and, rarely, a `REFUND` days
/// after clearing. Decided on baseline facts only, so S2 and S3 share the event set.
#[derive(Debug, Clone, Copy)]
pub struct FlowEvents {
    /// Step-up challenge and completion offsets from the flow ts (micros), if challenged.
    pub step_up_us: Option<(i64, i64)>,
    /// Auth response offset from the flow ts (micros), after any step-up.
    pub response_us: i64,
    /// Clearing offset from the flow ts (micros), if cleared.
    pub clearing_us: Option<i64>,
    /// Refund offset from the flow ts (micros), if refunded (only cleared flows).
    pub refund_us: Option<i64>,
}

impl FlowEvents {
    /// Call `f(event_type, offset from the flow ts)` in `event_seq` order (no allocation).
    pub fn for_each(&self, mut f: impl FnMut(&'static str, i64)) {
        f("AUTH_REQUEST", 0);
        if let Some((c, d)) = self.step_up_us {
            f("STEP_UP_CHALLENGE", c);
            f("STEP_UP_COMPLETE", d);
        }
        f("AUTH_RESPONSE", self.response_us);
        if let Some(c) = self.clearing_us {
            f("CLEARING", c);
        }
        if let Some(r) = self.refund_us {
            f("REFUND", r);
        }
    }

    /// `(event_type, offset from the flow ts)` in `event_seq` order.
    pub fn sequence(&self) -> Vec<(&'static str, i64)> {
        let mut v = vec![("AUTH_REQUEST", 0)];
        if let Some((c, d)) = self.step_up_us {
            v.push(("STEP_UP_CHALLENGE", c));
            v.push(("STEP_UP_COMPLETE", d));
        }
        v.push(("AUTH_RESPONSE", self.response_us));
        if let Some(c) = self.clearing_us {
            v.push(("CLEARING", c));
        }
        if let Some(r) = self.refund_us {
            v.push(("REFUND", r));
        }
        v
    }
}

/// A generated world.
#[derive(Debug)]
pub struct World {
    /// Horizon start (micros).
    pub start_us: i64,
    /// Merchants.
    pub merchants: Vec<Merchant>,
    /// Number of parties.
    pub parties: usize,
    /// Arrivals sorted by (merchant, arrival_seq); index = flow index.
    pub arrivals: Vec<Arrival>,
    /// Flow id of each arrival.
    pub flow_ids: Vec<i64>,
    /// Session id of each arrival.
    pub session_ids: Vec<i64>,
    /// Events of each flow.
    pub events: Vec<FlowEvents>,
    /// Realised campaigns (only those that tagged at least one flow are published).
    pub campaigns: Vec<Campaign>,
    /// Truth/bank outcome of each flow.
    pub outcomes: Vec<Outcome>,
    /// Case id of each flow with a case.
    pub case_ids: Vec<Option<i64>>,
}

/// Session hard timeout: a party's device starts a new session every 30 minutes.
pub const SESSION_WINDOW_US: i64 = 30 * US_MIN;

/// Build the world.
pub fn build(cfg: &ResolvedConfig, id: &WorldIdentity) -> World {
    let root = world_root(&id.manifest_fingerprint, id.seed, &id.scenario_id);
    let start_us = cfg.start_day * US_DAY;
    let merchants = entities::merchants(root, cfg.merchants);
    let parties = entities::parties(root, cfg.parties);
    let plan = Plan {
        root,
        start_us,
        days: cfg.days,
        merchants: &merchants,
        parties: &parties,
        flows: cfg.flows,
        fraud_rate: cfg.fraud_rate,
        id_prefix: format!(
            "{}:{}:{}:{}",
            id.manifest_fingerprint, id.parameter_hash, id.seed, id.scenario_id
        ),
    };
    let mut campaigns: Vec<Campaign> = Vec::new();
    let mut injected: Vec<Arrival> = Vec::new();
    campaigns::injected(&plan, &mut campaigns, &mut injected);
    injected.truncate(cfg.flows as usize);
    let baseline = cfg.flows - injected.len() as u64;

    // Baseline arrivals per hour bucket.
    let n_buckets = cfg.days as i64 * 24;
    let mut bucket_cums = Vec::with_capacity(n_buckets as usize);
    let mut bucket_tot = Vec::with_capacity(n_buckets as usize);
    for b in 0..n_buckets {
        let (cum, tot) = arrivals::bucket_weights(&merchants, start_us + b * US_H);
        bucket_cums.push(cum);
        bucket_tot.push(tot);
    }
    let counts = arrivals::apportion(baseline, &bucket_tot);
    let mut pcum = Vec::with_capacity(parties.len());
    let mut acc = 0.0;
    for p in &parties {
        acc += p.activity;
        pcum.push(acc);
    }
    let mut all: Vec<Arrival> = Vec::with_capacity(cfg.flows as usize);
    for b in 0..n_buckets {
        arrivals::bucket_arrivals(
            root,
            b,
            start_us + b * US_H,
            counts[b as usize],
            &merchants,
            &bucket_cums[b as usize],
            &parties,
            &pcum,
            &mut all,
        );
    }
    drop(bucket_cums);
    all.extend(injected);

    // Per-merchant sequence: order by (merchant, ts, generation order).
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by_key(|&i| (all[i].merchant, all[i].ts_us, i));
    let mut arrivals: Vec<Arrival> = order.iter().map(|&i| all[i].clone()).collect();
    drop(all);
    let mut prev = u32::MAX;
    let mut seq = 0i64;
    for a in arrivals.iter_mut() {
        if a.merchant != prev {
            prev = a.merchant;
            seq = 0;
        }
        seq += 1;
        a.arrival_seq = seq;
    }

    // Flow and session ids: one sha256 each, computed in chunks on every core (a pure
    // function of each arrival, so the result does not depend on the split).
    let flow_prefix = format!(
        "{}|{}|{}|{}|",
        id.manifest_fingerprint, id.parameter_hash, id.seed, id.scenario_id
    );
    let session_prefix = format!(
        "session|{}|{}|{}|",
        id.manifest_fingerprint, id.seed, id.scenario_id
    );
    let (flow_ids, session_ids): (Vec<i64>, Vec<i64>) = par_chunks(&arrivals, |chunk| {
        let mut text = String::with_capacity(flow_prefix.len() + 64);
        chunk
            .iter()
            .map(|a| {
                text.clear();
                text.push_str(&flow_prefix);
                let _ = write!(
                    text,
                    "{}|{}",
                    merchants[a.merchant as usize].id, a.arrival_seq
                );
                let fid = id63(&text);
                text.clear();
                text.push_str(&session_prefix);
                let _ = write!(
                    text,
                    "{}|{}|{}",
                    a.party_id,
                    a.device_id,
                    a.ts_us.div_euclid(SESSION_WINDOW_US)
                );
                (fid, id63(&text))
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .unzip();

    campaigns::overlay(&plan, &mut campaigns, &mut arrivals, &flow_ids);
    for a in &arrivals {
        if let Some(c) = a.campaign {
            campaigns[c as usize].tagged += 1;
        }
    }

    let friendly_p = (cfg.fraud_rate / 20.0).min(0.0005);
    // Events, truth and cases: per-flow streams, so computed in chunks on every core.
    let pairs: Vec<(&Arrival, i64)> = arrivals.iter().zip(flow_ids.iter().copied()).collect();
    let per_flow = par_chunks(&pairs, |chunk| {
        chunk
            .iter()
            .map(|&(a, fid)| flow_details(root, id, &merchants, &campaigns, friendly_p, a, fid))
            .collect::<Vec<_>>()
    });
    drop(pairs);
    let mut events = Vec::with_capacity(arrivals.len());
    let mut outcomes = Vec::with_capacity(arrivals.len());
    let mut case_ids = Vec::with_capacity(arrivals.len());
    for (e, o, c) in per_flow {
        events.push(e);
        outcomes.push(o);
        case_ids.push(c);
    }
    World {
        start_us,
        merchants,
        parties: parties.len(),
        arrivals,
        flow_ids,
        session_ids,
        events,
        campaigns,
        outcomes,
        case_ids,
    }
}

/// `f` over chunks of `items` on up to two threads per core, results concatenated in order.
fn par_chunks<T: Sync, R: Send>(items: &[T], f: impl Fn(&[T]) -> Vec<R> + Sync) -> Vec<R> {
    let threads = crate::pool::threads();
    let size = items.len().div_ceil(threads * 4).max(4096);
    let chunks: Vec<&[T]> = items.chunks(size).collect();
    crate::pool::parallel(&chunks, |c| f(c))
        .into_iter()
        .flatten()
        .collect()
}

/// Events, outcome and case id of the flow `fid` (arrival `a`).
fn flow_details(
    root: u64,
    id: &WorldIdentity,
    merchants: &[Merchant],
    campaigns: &[Campaign],
    friendly_p: f64,
    a: &Arrival,
    fid: i64,
) -> (FlowEvents, Outcome, Option<i64>) {
    {
        let mut r = Stream::new(root, Domain::Amount, !(fid as u64));
        let channel = merchants[a.merchant as usize].channel;
        let online = matches!(channel, entities::Channel::Ecom | entities::Channel::Hybrid);
        // 3-D Secure: more likely for larger online amounts.
        let p_step = if online {
            (0.03 + a.base_amount / 2_000.0).min(0.5)
        } else {
            0.0
        };
        let step_up_us = r.chance(p_step).then(|| {
            let c = 150_000 + (r.exp(150.0) * 1000.0) as i64;
            (c, c + (r.range_f(8.0, 90.0) * 1e6) as i64)
        });
        let after = step_up_us.map_or(0, |s| s.1);
        let response_us = after + ((5.0 + 0.5 * r.normal()).exp() * 1000.0) as i64 + 20_000;
        let clearing_us = (channel != entities::Channel::Atm && r.chance(0.85))
            .then(|| (r.range_f(18.0, 40.0) * US_H as f64) as i64);
        let refund_us = clearing_us
            .filter(|_| r.chance(0.015))
            .map(|c| c + (r.range_f(1.0, 20.0) * US_DAY as f64) as i64);
        let events = FlowEvents {
            step_up_us,
            response_us,
            clearing_us,
            refund_us,
        };
        let template = a.campaign.map(|c| campaigns[c as usize].template);
        let o = truth::outcome(root, fid, a.ts_us, template, friendly_p);
        let case_id = (!o.case.is_empty()).then(|| {
            id63(&format!(
                "mlr:6B.case_id.v1|{}|{}|{}",
                id.manifest_fingerprint, id.seed, fid
            ))
        });
        (events, o, case_id)
    }
}

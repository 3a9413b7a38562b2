//! Fraud campaigns. Injected campaigns add arrivals (card-testing bursts, account takeover with
//! a new device and IP then high spend); overlay campaigns tag existing flows (compromised
//! cards for a window of days with inflated amounts, compromised merchants/terminals for a
//! window, one-off large amounts). A flow belongs to at most one campaign (first wins).

use super::Arrival;
use super::arrivals::{cents, habit_amount};
use super::entities::{ATTACKER_DEVICE_BASE, ATTACKER_IP_BASE, Channel, Merchant, Party};
use crate::fasthash::FastMap;
use crate::rng::{Domain, Stream, mix64};
use crate::timefmt::{US_DAY, US_H, US_MIN, US_S};

/// Campaign templates (the catalogue's `campaign_label`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Template {
    /// Many tiny authorisations on one stolen card at an online merchant within minutes.
    CardTesting,
    /// Account takeover: a new device and IP, then a run of high-value spend.
    AccountTakeover,
    /// Compromised cards: every use in a window of days, amounts inflated.
    CompromisedCard,
    /// Compromised merchant terminals: a share of the merchant's flows in a window.
    CompromisedMerchant,
    /// Isolated large-amount fraud.
    LargeAmount,
}

impl Template {
    /// `campaign_label`.
    pub fn label(self) -> &'static str {
        match self {
            Template::CardTesting => "T_CARD_TESTING_BURST",
            Template::AccountTakeover => "T_ATO_ACCOUNT_SWEEP",
            Template::CompromisedCard => "T_COMPROMISED_CARD",
            Template::CompromisedMerchant => "T_COMPROMISED_MERCHANT",
            Template::LargeAmount => "T_LARGE_AMOUNT",
        }
    }

    /// Key used in stream derivation.
    fn key(self) -> u64 {
        self as u64 + 1
    }
}

/// One realised campaign instance.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// Template.
    pub template: Template,
    /// Instance index within the template.
    pub instance: u32,
    /// hex64 id (`sha256("{mf}:{ph}:{seed}:{scenario_id}:{label}:{instance}")`).
    pub id: String,
    /// Overlay: targeted instruments (compromised card).
    pub instruments: Vec<i64>,
    /// Overlay: targeted merchant index (compromised merchant).
    pub merchant: Option<u32>,
    /// Overlay window `[start, end)` in micros.
    pub window: (i64, i64),
    /// Overlay: probability a flow in scope is tagged.
    pub p_tag: f64,
    /// Overlay: amount multiplier range.
    pub factor: (f64, f64),
    /// Number of flows tagged (filled after the overlay).
    pub tagged: u64,
}

/// Inputs of campaign planning.
pub struct Plan<'a> {
    /// RNG root.
    pub root: u64,
    /// Horizon start (micros).
    pub start_us: i64,
    /// Horizon length in days.
    pub days: u32,
    /// Merchants.
    pub merchants: &'a [Merchant],
    /// Parties.
    pub parties: &'a [Party],
    /// Total flows.
    pub flows: u64,
    /// Target fraud share.
    pub fraud_rate: f64,
    /// `{mf}:{ph}:{seed}:{scenario_id}` prefix of campaign ids.
    pub id_prefix: String,
}

fn campaign(plan: &Plan<'_>, template: Template, instance: u32) -> Campaign {
    let id = fp_rails::digest::sha256_hex(format!(
        "{}:{}:{}",
        plan.id_prefix,
        template.label(),
        instance
    ));
    Campaign {
        template,
        instance,
        id,
        instruments: Vec::new(),
        merchant: None,
        window: (0, 0),
        p_tag: 1.0,
        factor: (1.0, 1.0),
        tagged: 0,
    }
}

/// Share of the fraud budget per template.
const SHARES: [(Template, f64); 5] = [
    (Template::CardTesting, 0.20),
    (Template::AccountTakeover, 0.20),
    (Template::CompromisedCard, 0.25),
    (Template::CompromisedMerchant, 0.15),
    (Template::LargeAmount, 0.20),
];

fn budget(plan: &Plan<'_>, t: Template) -> u64 {
    let total = (plan.flows as f64 * plan.fraud_rate).round();
    let share = SHARES
        .iter()
        .find(|(x, _)| *x == t)
        .map_or(0.0, |(_, s)| *s);
    (total * share).round() as u64
}

/// Plan the injected campaigns and generate their arrivals (campaign index = position in the
/// returned campaign list, which callers append to).
pub fn injected(plan: &Plan<'_>, campaigns: &mut Vec<Campaign>, out: &mut Vec<Arrival>) {
    let horizon = plan.days as i64 * US_DAY;
    let online: Vec<usize> = (0..plan.merchants.len())
        .filter(|&i| matches!(plan.merchants[i].channel, Channel::Ecom | Channel::Hybrid))
        .collect();
    let any: Vec<usize> = (0..plan.merchants.len()).collect();
    let online = if online.is_empty() { any } else { online };
    let n_parties = plan.parties.len() as u64;

    // Card testing: bursts of 8..25 tiny authorisations within minutes.
    let mut left = budget(plan, Template::CardTesting);
    let mut inst = 0u32;
    while left > 0 {
        let mut r = Stream::new(
            plan.root,
            Domain::Campaign,
            Template::CardTesting.key() << 32 | inst as u64,
        );
        let n = (8 + r.below(18)).min(left);
        let c_idx = campaigns.len() as u32;
        let mut c = campaign(plan, Template::CardTesting, inst);
        let victim = &plan.parties[r.below(n_parties) as usize];
        let acc = &victim.accounts[r.below(victim.accounts.len() as u64) as usize];
        let card = acc.instruments[r.below(acc.instruments.len() as u64) as usize];
        let mi = online[r.below(online.len() as u64) as usize];
        let m = &plan.merchants[mi];
        let dev = ATTACKER_DEVICE_BASE + (c_idx as i64) * 4;
        let ip = ATTACKER_IP_BASE + (c_idx as i64) * 4;
        let mut t = plan.start_us + r.below((horizon - US_H).max(1) as u64) as i64;
        c.window = (t, t);
        for _ in 0..n {
            t += (r.exp(20.0) * US_S as f64) as i64 + 1;
            let amount = cents(r.range_f(0.5, 3.0));
            out.push(Arrival::injected(
                mi,
                t,
                plan.start_us,
                victim,
                acc.id,
                card,
                dev,
                ip,
                route(m, &mut r),
                amount,
                amount,
                c_idx,
            ));
        }
        c.window.1 = t;
        campaigns.push(c);
        left -= n;
        inst += 1;
    }

    // Account takeover: new device + IP, then 3..8 high-value flows over the next hours.
    let mut left = budget(plan, Template::AccountTakeover);
    let mut inst = 0u32;
    while left > 0 {
        let mut r = Stream::new(
            plan.root,
            Domain::Campaign,
            Template::AccountTakeover.key() << 32 | inst as u64,
        );
        let n = (3 + r.below(6)).min(left);
        let c_idx = campaigns.len() as u32;
        let mut c = campaign(plan, Template::AccountTakeover, inst);
        let victim = &plan.parties[r.below(n_parties) as usize];
        let acc = &victim.accounts[r.below(victim.accounts.len() as u64) as usize];
        let dev = ATTACKER_DEVICE_BASE + (c_idx as i64) * 4;
        let ip = ATTACKER_IP_BASE + (c_idx as i64) * 4;
        let mut t = plan.start_us + r.below((horizon - 6 * US_H).max(1) as u64) as i64;
        c.window = (t, t);
        for _ in 0..n {
            t += (r.exp(40.0) * US_MIN as f64) as i64 + US_MIN;
            let mi = online[r.below(online.len() as u64) as usize];
            let m = &plan.merchants[mi];
            let card = acc.instruments[r.below(acc.instruments.len() as u64) as usize];
            let base = habit_amount(&mut r, victim, m);
            let amount = cents(base * r.range_f(4.0, 12.0));
            out.push(Arrival::injected(
                mi,
                t,
                plan.start_us,
                victim,
                acc.id,
                card,
                dev,
                ip,
                route(m, &mut r),
                base,
                amount,
                c_idx,
            ));
        }
        c.window.1 = t;
        campaigns.push(c);
        left -= n;
        inst += 1;
    }
}

fn route(m: &Merchant, r: &mut Stream) -> u64 {
    let v = if m.is_virtual { &m.edges } else { &m.sites };
    v[r.below(v.len() as u64) as usize]
}

/// Plan the overlay campaigns (compromised cards, compromised merchants, large amounts) and
/// apply them to `arrivals` (sorted by merchant and sequence). Returns nothing; tags in place.
pub fn overlay(
    plan: &Plan<'_>,
    campaigns: &mut Vec<Campaign>,
    arrivals: &mut [Arrival],
    flow_ids: &[i64],
) {
    let horizon_days = plan.days as i64;
    let per_party_day = plan.flows as f64 / (plan.parties.len() as f64 * plan.days as f64);

    // Compromised cards: windows of 2..5 days; every use in the window is tagged.
    let mut left = budget(plan, Template::CompromisedCard) as f64;
    let mut inst = 0u32;
    let first_card = campaigns.len();
    let mut added_any = false;
    while left > 0.0 && inst < 10_000 {
        let mut r = Stream::new(
            plan.root,
            Domain::Campaign,
            Template::CompromisedCard.key() << 32 | inst as u64,
        );
        let mut c = campaign(plan, Template::CompromisedCard, inst);
        let w = (1 + r.below(3) as i64).min(horizon_days);
        let d0 = r.below((horizon_days - w + 1).max(1) as u64) as i64;
        c.window = (
            plan.start_us + d0 * US_DAY,
            plan.start_us + (d0 + w) * US_DAY,
        );
        // Up to 4 cards per campaign; a card whose expected use in the window would overshoot
        // the remaining budget is skipped (unless nothing was compromised yet).
        for _ in 0..8 {
            if c.instruments.len() >= 4 || left <= 0.0 {
                break;
            }
            let p = &plan.parties[r.below(plan.parties.len() as u64) as usize];
            let a = &p.accounts[r.below(p.accounts.len() as u64) as usize];
            let card = a.instruments[r.below(a.instruments.len() as u64) as usize];
            let expected = per_party_day * w as f64 * p.activity
                / 1.05
                / (p.accounts.len() * a.instruments.len()) as f64;
            if added_any && expected > left * 1.5 {
                continue;
            }
            added_any = true;
            c.instruments.push(card);
            left -= expected.max(0.5);
        }
        c.factor = (1.5, 4.0);
        campaigns.push(c);
        inst += 1;
    }
    let card_range = first_card..campaigns.len();

    // Compromised merchants: windows of 1..4 days, a share of the merchant's flows tagged.
    let mut left = budget(plan, Template::CompromisedMerchant) as f64;
    let mut inst = 0u32;
    let first_merchant = campaigns.len();
    let total_w: f64 = plan.merchants.iter().map(|m| m.weight).sum();
    while left > 0.0 && inst < 10_000 {
        let mut r = Stream::new(
            plan.root,
            Domain::Campaign,
            Template::CompromisedMerchant.key() << 32 | inst as u64,
        );
        let mut c = campaign(plan, Template::CompromisedMerchant, inst);
        let physical: Vec<usize> = (0..plan.merchants.len())
            .filter(|&i| !plan.merchants[i].is_virtual)
            .collect();
        let pool = if physical.is_empty() {
            (0..plan.merchants.len()).collect()
        } else {
            physical
        };
        let mi = pool[r.below(pool.len() as u64) as usize];
        let w = (1 + r.below(4) as i64).min(horizon_days);
        let d0 = r.below((horizon_days - w + 1).max(1) as u64) as i64;
        c.merchant = Some(mi as u32);
        c.window = (
            plan.start_us + d0 * US_DAY,
            plan.start_us + (d0 + w) * US_DAY,
        );
        let expected =
            plan.flows as f64 * plan.merchants[mi].weight / total_w * w as f64 / plan.days as f64;
        c.p_tag = (left / expected.max(1.0)).clamp(0.05, 0.6);
        left -= (expected * c.p_tag).max(1.0);
        c.factor = (1.0, 1.8);
        campaigns.push(c);
        inst += 1;
    }
    let merchant_range = first_merchant..campaigns.len();

    // Apply card and merchant campaigns. A flow can only match the card campaigns holding its
    // instrument and the merchant campaigns of its merchant, so both are indexed (campaign
    // indices ascending, the order the campaigns are tried in).
    let mut by_card: FastMap<i64, Vec<usize>> = FastMap::default();
    for ci in card_range {
        for &card in &campaigns[ci].instruments {
            let v = by_card.entry(card).or_default();
            if v.last() != Some(&ci) {
                v.push(ci);
            }
        }
    }
    let mut by_merchant: FastMap<u32, Vec<usize>> = FastMap::default();
    for ci in merchant_range {
        if let Some(m) = campaigns[ci].merchant {
            by_merchant.entry(m).or_default().push(ci);
        }
    }
    let none: Vec<usize> = Vec::new();
    for (i, a) in arrivals.iter_mut().enumerate() {
        if a.campaign.is_some() {
            continue;
        }
        let mut r = Stream::new(
            plan.root,
            Domain::Flow,
            mix64(flow_ids[i] as u64) ^ 0xC0FFEE,
        );
        for &ci in by_card.get(&a.instrument_id).unwrap_or(&none) {
            let c = &campaigns[ci];
            if a.ts_us >= c.window.0
                && a.ts_us < c.window.1
                && c.instruments.contains(&a.instrument_id)
            {
                a.campaign = Some(ci as u32);
                a.amount = cents(a.base_amount * r.range_f(c.factor.0, c.factor.1));
                break;
            }
        }
        if a.campaign.is_some() {
            continue;
        }
        for &ci in by_merchant.get(&a.merchant).unwrap_or(&none) {
            let c = &campaigns[ci];
            if c.merchant == Some(a.merchant)
                && a.ts_us >= c.window.0
                && a.ts_us < c.window.1
                && r.chance(c.p_tag)
            {
                a.campaign = Some(ci as u32);
                a.amount = cents(a.base_amount * r.range_f(c.factor.0, c.factor.1));
                break;
            }
        }
    }

    // Large amounts: the k untagged flows with the smallest keyed hash.
    let k = budget(plan, Template::LargeAmount) as usize;
    if k > 0 {
        let ci = campaigns.len() as u32;
        let mut c = campaign(plan, Template::LargeAmount, 0);
        c.window = (plan.start_us, plan.start_us + horizon_days * US_DAY);
        c.factor = (8.0, 25.0);
        campaigns.push(c);
        let salt = mix64(plan.root ^ 0x1a_2e);
        let mut cand: Vec<(u64, usize)> = arrivals
            .iter()
            .enumerate()
            .filter(|(_, a)| a.campaign.is_none())
            .map(|(i, _)| (mix64(flow_ids[i] as u64 ^ salt), i))
            .collect();
        cand.sort_unstable();
        for &(_, i) in cand.iter().take(k) {
            let mut r = Stream::new(plan.root, Domain::Amount, flow_ids[i] as u64);
            let a = &mut arrivals[i];
            a.campaign = Some(ci);
            a.amount =
                cents(a.base_amount * r.range_f(8.0, 25.0)).max(cents(r.range_f(900.0, 4000.0)));
        }
    }
}

//! Merchants (sites or virtual edges, channel, time zone, popularity, price level) and parties
//! (accounts with instruments, devices with IPs, spending habit).

use crate::rng::{Domain, Stream};
use crate::timefmt::ZONES;

/// Merchant channel group (policy vocabulary `ECOM, POS, ATM, BANK_RAIL, HYBRID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Card present at a physical terminal.
    Pos,
    /// Online; routed to a virtual edge.
    Ecom,
    /// Cash withdrawal.
    Atm,
    /// Physical shop that also sells online.
    Hybrid,
}

impl Channel {
    /// Vocabulary string.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Pos => "POS",
            Channel::Ecom => "ECOM",
            Channel::Atm => "ATM",
            Channel::Hybrid => "HYBRID",
        }
    }
}

/// A merchant.
#[derive(Debug, Clone)]
pub struct Merchant {
    /// id64 (<= 2^63-1).
    pub id: u64,
    /// Index into [`ZONES`] of the primary (site or settlement) zone.
    pub zone: usize,
    /// Operational zone of a virtual merchant (its edges' zone).
    pub op_zone: usize,
    /// Channel.
    pub channel: Channel,
    /// Virtual (edges) or physical (sites).
    pub is_virtual: bool,
    /// Physical sites (empty if virtual).
    pub sites: Vec<u64>,
    /// Virtual edges (empty if physical).
    pub edges: Vec<u64>,
    /// Popularity (Zipf-like).
    pub weight: f64,
    /// log of the price level multiplier.
    pub price_log: f64,
}

/// An account and its instruments.
#[derive(Debug, Clone)]
pub struct Account {
    /// Account id.
    pub id: i64,
    /// Instrument (card) ids.
    pub instruments: Vec<i64>,
}

/// A device and the IPs it is seen from.
#[derive(Debug, Clone)]
pub struct Device {
    /// Device id.
    pub id: i64,
    /// IP ids.
    pub ips: Vec<i64>,
}

/// A party (customer).
#[derive(Debug, Clone)]
pub struct Party {
    /// Party id.
    pub id: i64,
    /// Home zone index.
    pub zone: usize,
    /// Accounts.
    pub accounts: Vec<Account>,
    /// Devices.
    pub devices: Vec<Device>,
    /// Activity weight.
    pub activity: f64,
    /// Habit: log-mean of amounts.
    pub mu: f64,
    /// Habit: log-sd of amounts.
    pub sigma: f64,
}

/// Id bases (every id stays far below 2^63-1).
pub const PARTY_BASE: i64 = 1_000_000_000;
const ACCOUNT_BASE: i64 = 2_000_000_000;
const INSTRUMENT_BASE: i64 = 3_000_000_000;
const DEVICE_BASE: i64 = 4_000_000_000;
const IP_BASE: i64 = 5_000_000_000;
/// Attacker devices (card testing, account takeover) are minted from here.
pub const ATTACKER_DEVICE_BASE: i64 = 6_000_000_000;
/// Attacker IPs.
pub const ATTACKER_IP_BASE: i64 = 7_000_000_000;

/// Generate `n` merchants.
pub fn merchants(root: u64, n: u32) -> Vec<Merchant> {
    (0..n)
        .map(|m| {
            let mut r = Stream::new(root, Domain::Merchant, m as u64);
            let c = r.f64();
            let channel = if c < 0.50 {
                Channel::Pos
            } else if c < 0.80 {
                Channel::Ecom
            } else if c < 0.90 {
                Channel::Atm
            } else {
                Channel::Hybrid
            };
            let is_virtual = channel == Channel::Ecom;
            let zone = r.below(ZONES.len() as u64) as usize;
            let op_zone = if is_virtual {
                r.below(ZONES.len() as u64) as usize
            } else {
                zone
            };
            let id = 1_000_000 + m as u64;
            let k = 1 + r.below(4);
            let ids: Vec<u64> = (0..k).map(|s| 10_000_000 + m as u64 * 8 + s).collect();
            let (sites, edges) = if is_virtual {
                (Vec::new(), ids)
            } else {
                (ids, Vec::new())
            };
            // Zipf-like popularity with jitter; price level by channel.
            let weight = (1.0 / (1.0 + m as f64).powf(0.6)) * r.range_f(0.5, 1.5);
            let price_log = match channel {
                Channel::Pos => r.range_f(-0.4, 0.4),
                Channel::Ecom => r.range_f(0.0, 0.8),
                Channel::Atm => 0.9,
                Channel::Hybrid => r.range_f(-0.2, 0.6),
            };
            Merchant {
                id,
                zone,
                op_zone,
                channel,
                is_virtual,
                sites,
                edges,
                weight,
                price_log,
            }
        })
        .collect()
}

/// Generate `n` parties with their accounts, instruments, devices and IPs.
pub fn parties(root: u64, n: u32) -> Vec<Party> {
    (0..n)
        .map(|p| {
            let mut r = Stream::new(root, Domain::Party, p as u64);
            let pi = p as i64;
            let n_acc = 1 + (r.chance(0.3) as i64);
            let accounts = (0..n_acc)
                .map(|a| {
                    let n_ins = 1 + (r.chance(0.4) as i64);
                    Account {
                        id: ACCOUNT_BASE + pi * 4 + a,
                        instruments: (0..n_ins)
                            .map(|i| INSTRUMENT_BASE + pi * 16 + a * 4 + i)
                            .collect(),
                    }
                })
                .collect();
            let n_dev = 1 + r.below(3) as i64;
            let devices = (0..n_dev)
                .map(|d| {
                    let n_ip = 1 + r.below(2) as i64;
                    Device {
                        id: DEVICE_BASE + pi * 4 + d,
                        ips: (0..n_ip).map(|j| IP_BASE + pi * 16 + d * 4 + j).collect(),
                    }
                })
                .collect();
            Party {
                id: PARTY_BASE + pi,
                zone: r.below(ZONES.len() as u64) as usize,
                accounts,
                devices,
                activity: r.exp(1.0) + 0.05,
                mu: 3.0 + 0.6 * r.normal(),
                sigma: r.range_f(0.4, 0.9),
            }
        })
        .collect()
}

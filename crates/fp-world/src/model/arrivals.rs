//! Arrivals with a daily and weekly rhythm in each merchant's local time, one party per
//! arrival with its account, instrument, device and IP, and a base amount from the party's
//! habit and the merchant's price level.

use super::Arrival;
use super::entities::{Channel, Merchant, Party};
use crate::rng::{Domain, Stream};
use crate::timefmt::{US_H, US_MIN, ZONES};

/// Relative intensity of a local hour of day.
pub fn hour_profile(h: i64) -> f64 {
    const P: [f64; 24] = [
        0.20, 0.12, 0.08, 0.06, 0.06, 0.10, 0.25, 0.55, 0.85, 1.00, 1.05, 1.15, 1.30, 1.25, 1.05,
        1.00, 1.05, 1.20, 1.35, 1.40, 1.20, 0.90, 0.60, 0.35,
    ];
    P[h.rem_euclid(24) as usize]
}

/// Relative intensity of a weekday (0 = Monday).
pub fn weekday_profile(dow: i64) -> f64 {
    const W: [f64; 7] = [0.95, 0.95, 1.0, 1.0, 1.15, 1.25, 0.80];
    W[dow.rem_euclid(7) as usize]
}

/// Per-bucket (hour) cumulative merchant weights and the bucket's total intensity.
pub fn bucket_weights(merchants: &[Merchant], bucket_start_us: i64) -> (Vec<f64>, f64) {
    let mut cum = Vec::with_capacity(merchants.len());
    let mut total = 0.0;
    for m in merchants {
        let local = bucket_start_us + ZONES[m.zone].1 * US_MIN;
        let hour = local.div_euclid(US_H);
        let day = hour.div_euclid(24);
        // 1970-01-01 was a Thursday (dow 3 with Monday = 0).
        let w = m.weight * hour_profile(hour) * weekday_profile(day + 3);
        total += w;
        cum.push(total);
    }
    (cum, total)
}

/// Split `n` into integer counts proportional to `w` (largest remainder, ties to lower index).
pub fn apportion(n: u64, w: &[f64]) -> Vec<u64> {
    let total: f64 = w.iter().sum();
    if total <= 0.0 || w.is_empty() {
        return vec![0; w.len()];
    }
    let exact: Vec<f64> = w.iter().map(|x| x / total * n as f64).collect();
    let mut out: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let assigned: u64 = out.iter().sum();
    let mut order: Vec<usize> = (0..w.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().take(n.saturating_sub(assigned) as usize) {
        out[i] += 1;
    }
    out
}

/// Round to cents, at least 0.50.
pub fn cents(x: f64) -> f64 {
    ((x * 100.0).round() / 100.0).max(0.5)
}

/// A habitual amount of party `p` at merchant `m`.
pub fn habit_amount(r: &mut Stream, p: &Party, m: &Merchant) -> f64 {
    let raw = (p.mu + m.price_log + p.sigma * r.normal()).exp();
    if m.channel == Channel::Atm {
        ((raw / 20.0).round().max(1.0)) * 20.0
    } else {
        cents(raw)
    }
}

/// Generate the baseline arrivals of one hour bucket.
#[allow(clippy::too_many_arguments)]
pub fn bucket_arrivals(
    root: u64,
    bucket: i64,
    bucket_start_us: i64,
    count: u64,
    merchants: &[Merchant],
    mcum: &[f64],
    parties: &[Party],
    pcum: &[f64],
    out: &mut Vec<Arrival>,
) {
    let mut r = Stream::new(root, Domain::Bucket, bucket as u64);
    for _ in 0..count {
        let mi = r.pick_cum(mcum);
        let m = &merchants[mi];
        let pi = r.pick_cum(pcum);
        let p = &parties[pi];
        let acc = &p.accounts[r.below(p.accounts.len() as u64) as usize];
        let instrument = acc.instruments[r.below(acc.instruments.len() as u64) as usize];
        let dev = &p.devices[r.below(p.devices.len() as u64) as usize];
        let ip = dev.ips[r.below(dev.ips.len() as u64) as usize];
        let route = if m.is_virtual {
            m.edges[r.below(m.edges.len() as u64) as usize]
        } else {
            m.sites[r.below(m.sites.len() as u64) as usize]
        };
        let ts_us = bucket_start_us + r.below(US_H as u64) as i64;
        let amount = habit_amount(&mut r, p, m);
        out.push(Arrival {
            merchant: mi as u32,
            ts_us,
            bucket,
            party_id: p.id,
            account_id: acc.id,
            instrument_id: instrument,
            device_id: dev.id,
            ip_id: ip,
            route,
            base_amount: amount,
            amount,
            campaign: None,
            arrival_seq: 0,
        });
    }
}

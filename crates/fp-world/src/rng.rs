//! Derived random streams. Every entity, day bucket and campaign draws from its own stream,
//! keyed by `(world key, domain, key)`, so generation can be chunked or parallelised without
//! changing a byte. The generator is `rand_pcg::Pcg64Mcg`; the distributions are written here
//! (not taken from `rand`) so their values cannot change with a dependency upgrade.

use rand_core::Rng as _;
use rand_pcg::Pcg64Mcg;
use sha2::{Digest, Sha256};

/// SplitMix64 finaliser: a fast, well-mixed 64-bit hash.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The root of all streams of one world: `u64(sha256("fp-world.rng.v1|mf|seed|scenario")[..8])`.
pub fn world_root(mf: &str, seed: u64, scenario_id: &str) -> u64 {
    let d = Sha256::digest(format!("fp-world.rng.v1|{mf}|{seed}|{scenario_id}"));
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// Stream domains (fixed numbers: changing one changes the world).
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub enum Domain {
    /// Merchant attributes.
    Merchant = 1,
    /// Party attributes and its accounts/instruments/devices/IPs.
    Party = 2,
    /// Arrivals of one hour bucket.
    Bucket = 3,
    /// Campaign planning.
    Campaign = 4,
    /// Per-flow decisions (latency, clearing, bank view).
    Flow = 5,
    /// Flow amounts.
    Amount = 6,
}

/// A random stream.
pub struct Stream(Pcg64Mcg);

impl Stream {
    /// The stream `(root, domain, key)`.
    pub fn new(root: u64, domain: Domain, key: u64) -> Self {
        let a = mix64(root ^ mix64(domain as u64));
        let hi = mix64(a ^ key);
        let lo = mix64(hi ^ 0x5851_f42d_4c95_7f2d ^ key.rotate_left(17));
        Stream(Pcg64Mcg::new(((hi as u128) << 64) | lo as u128))
    }

    /// Next raw 64 bits.
    pub fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[0, 1)` with 53 bits.
    pub fn f64(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (`n > 0`; multiply-shift, bias < 2^-32 for the sizes used).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.u64() as u128 * n.max(1) as u128) >> 64) as u64
    }

    /// Uniform in `[lo, hi)`.
    pub fn range_f(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Box-Muller, one value per call).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f64();
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Exponential with the given mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.f64()).ln()
    }

    /// Index drawn from cumulative weights (`cum` ascending, last = total).
    pub fn pick_cum(&mut self, cum: &[f64]) -> usize {
        let total = cum.last().copied().unwrap_or(0.0);
        let x = self.f64() * total;
        cum.partition_point(|c| *c <= x)
            .min(cum.len().saturating_sub(1))
    }
}

/// `1 + (u64_be(sha256(text)[..8]) mod (2^63 - 1))`: an id in `1..=2^63-1`.
pub fn id63(text: &str) -> i64 {
    let d = Sha256::digest(text.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    (1 + u64::from_be_bytes(b) % (i64::MAX as u64)) as i64
}

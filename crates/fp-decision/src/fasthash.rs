//! A fixed, fast hasher for the integer entity ids the state tables are keyed by.
//!
//! std's SipHash costs ~20 ns per lookup and the feature plane does six to a dozen lookups per
//! event. Entity ids are engine-assigned integers admitted through the gate, not attacker
//! chosen, so hash flooding is not the threat SipHash's random keys defend against. Fixed
//! seeds also mean nothing depends on per-process randomness (no table is iterated into an
//! output anyway).

use std::hash::{BuildHasherDefault, Hasher};

/// Multiply-rotate hasher (FxHash's mixing step) with a final avalanche for `u64` keys.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

const K: u64 = 0x517c_c1b7_2722_0a95;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // splitmix64 finaliser: spreads sequential ids over the high bits hashbrown uses.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(buf));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(K);
    }
}

/// `HashMap` keyed by entity id.
pub type IdMap<V> = std::collections::HashMap<u64, V, BuildHasherDefault<IdHasher>>;

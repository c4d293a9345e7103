//! Two small hashes: a fast one for in-memory maps and a stable one for cluster ids.
//!
//! The standard library's SipHash is randomly seeded and comparatively slow; the maps here are
//! keyed by values that are either already random (cluster ids) or short token bytes, so FxHash
//! (the `rustc-hash` crate) is enough and keeps the per-line cost low. Cluster ids must be the same
//! in every process and every version of the crate, so they use FNV-1a with a fixed finaliser,
//! both of which are fully specified here rather than borrowed from a dependency that might
//! change its output.

use std::hash::Hasher;

/// An in-memory `HashMap` with FxHash (not stable across versions; never persisted).
pub(crate) type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// Hashes a byte string with FxHash, for in-memory keys only.
#[inline]
pub(crate) fn fast_hash(bytes: &[u8]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    // The length keeps `a` and `a\0` apart.
    h.write_usize(bytes.len());
    h.write(bytes);
    h.finish()
}

/// FNV-1a, 64 bit: stable by definition.
#[derive(Clone, Copy)]
pub(crate) struct Fnv64(u64);

impl Fnv64 {
    pub(crate) const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn byte(&mut self, b: u8) {
        self.0 ^= u64::from(b);
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }

    /// The hash passed through the SplitMix64 finaliser, so that ids of similar templates do not
    /// share their high bits (FNV-1a mixes the last bytes poorly).
    pub(crate) fn finish(self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_stable() {
        // Fixed expectations: a change here changes every persisted cluster id.
        let mut h = Fnv64::new();
        for b in b"hello" {
            h.byte(*b);
        }
        assert_eq!(h.0, 0xa430_d846_80aa_bd0b);
    }

    #[test]
    fn fast_hash_separates_lengths() {
        assert_ne!(fast_hash(b"a"), fast_hash(b"a\0"));
        assert_ne!(fast_hash(b""), fast_hash(b"\0"));
    }
}

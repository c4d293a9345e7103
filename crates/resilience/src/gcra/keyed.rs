//! [`KeyedLimiter`]: one GCRA state per client key, in process memory, with bounded size.
//!
//! Keys are spread over a power-of-two number of shards, each a `Mutex<HashMap<K, TAT>>`. The
//! shard is picked from the key's hash, so two requests contend only when their keys land in the
//! same shard, and the lock is held just for one hash lookup and a few arithmetic operations.
//! A lock per shard rather than an atomic per entry keeps inserts and evictions simple, and an
//! uncontended lock costs about as much as the compare-and-swap an atomic TAT would need anyway.
//!
//! # Bounded memory
//!
//! Each shard holds at most `max_keys_per_shard` keys. Inserting a new key into a full shard
//! first drops every entry whose TAT is not in the future: such a key is indistinguishable from
//! one never seen, so forgetting it changes no decision. If the shard is still full, the eighth
//! of its entries with the *earliest* TATs is dropped: those are the keys closest to being
//! forgotten anyway, so evicting them forgives the least accumulated debt. Evicting in batches
//! keeps a flood of new keys (say, spoofed client addresses) from paying a full scan per
//! request.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Mutex;

use super::{Decision, Gcra};
use crate::lock;

/// Most shards a limiter uses; more buys little on the machines a gateway runs on.
const MAX_SHARDS: usize = 64;
/// Shards used by [`KeyedLimiter::new`] when the key budget allows.
const DEFAULT_SHARDS: usize = 32;
/// [`KeyedLimiter::new`] gives each shard at least this many keys, so that an uneven spread
/// of keys over shards does not evict long before the total budget is reached.
const MIN_KEYS_PER_SHARD: usize = 256;

/// A local-mode, per-key GCRA limiter with bounded memory.
///
/// `K` is the owned key type: `String` for textual keys (checked with `&str`), `u64` for keys
/// the caller hashed itself, `IpAddr` for client addresses, and so on. The hasher is randomly
/// seeded (std's `RandomState`), so clients cannot choose keys that collide on purpose.
#[derive(Debug)]
pub struct KeyedLimiter<K = String> {
    gcra: Gcra,
    shards: Box<[Shard<K>]>,
    /// `shards.len() - 1`; the shard count is a power of two.
    mask: usize,
    max_keys_per_shard: usize,
    hasher: RandomState,
}

/// One shard, aligned to its own cache lines so that locking one does not slow its neighbours.
#[derive(Debug)]
#[repr(align(128))]
struct Shard<K> {
    map: Mutex<HashMap<K, u64, RandomState>>,
}

impl<K: Hash + Eq> KeyedLimiter<K> {
    /// A limiter applying `gcra` to each key, keeping at most about `max_keys` keys.
    ///
    /// The bound is `max_keys` rounded up to a multiple of the shard count, which is at most
    /// 32 and chosen so that each shard holds at least 256 keys (a `max_keys` of `0` acts as
    /// `1`). Memory is allocated as keys arrive, not up front.
    pub fn new(gcra: Gcra, max_keys: usize) -> Self {
        let max_keys = max_keys.max(1);
        let shards = (max_keys / MIN_KEYS_PER_SHARD)
            .clamp(1, DEFAULT_SHARDS)
            .next_power_of_two()
            .min(DEFAULT_SHARDS);
        Self::with_shards(gcra, shards, max_keys.div_ceil(shards))
    }

    /// A limiter with an explicit shard count (rounded up to a power of two, at most 64) and
    /// per-shard key bound (at least 1).
    pub fn with_shards(gcra: Gcra, shards: usize, max_keys_per_shard: usize) -> Self {
        let shards = shards.clamp(1, MAX_SHARDS).next_power_of_two();
        let hasher = RandomState::new();
        Self {
            gcra,
            shards: (0..shards)
                .map(|_| Shard {
                    map: Mutex::new(HashMap::with_hasher(hasher.clone())),
                })
                .collect(),
            mask: shards - 1,
            max_keys_per_shard: max_keys_per_shard.max(1),
            hasher,
        }
    }

    /// The algorithm parameters applied to every key.
    pub fn gcra(&self) -> &Gcra {
        &self.gcra
    }

    /// The most keys this limiter will hold at once.
    pub fn max_keys(&self) -> usize {
        self.shards.len() * self.max_keys_per_shard
    }

    /// Decides one request for `key` at `now` (nanoseconds, see the [crate docs](crate)).
    ///
    /// An unknown key starts fresh and is remembered; a known key is updated in place without
    /// allocating.
    pub fn check<Q>(&self, key: &Q, now: u64) -> Decision
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        // The map itself indexes buckets by the low bits and tags them with the top seven, so
        // take the shard from bits in between to keep the two choices independent.
        let shard = &self.shards[(hash >> 32) as usize & self.mask];
        let mut map = lock(&shard.map);
        if let Some(tat) = map.get_mut(key) {
            let evaluation = self.gcra.evaluate(*tat, now);
            if let Some(new_tat) = evaluation.new_tat {
                *tat = new_tat;
            }
            return evaluation.decision;
        }
        let evaluation = self.gcra.evaluate(0, now);
        // A fresh key is always allowed (its capacity is at least 1); remember the new TAT.
        if let Some(new_tat) = evaluation.new_tat {
            if map.len() >= self.max_keys_per_shard {
                evict(&mut map, now, self.max_keys_per_shard);
            }
            map.insert(key.to_owned(), new_tat);
        }
        evaluation.decision
    }

    /// Forgets every key whose TAT is not after `now`, returning how many were dropped.
    ///
    /// Optional: eviction on insert already bounds memory. Calling this periodically returns
    /// memory after a burst of one-off clients.
    pub fn purge(&self, now: u64) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let mut map = lock(&shard.map);
                let before = map.len();
                map.retain(|_, tat| *tat > now);
                before - map.len()
            })
            .sum()
    }

    /// Keys currently held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(&s.map).len()).sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Makes room for one more key in a shard holding `max` keys (see the module docs).
fn evict<K>(map: &mut HashMap<K, u64, RandomState>, now: u64, max: usize) {
    map.retain(|_, tat| *tat > now);
    if map.len() < max {
        return;
    }
    let batch = (max / 8).max(1);
    let mut tats: Vec<u64> = map.values().copied().collect();
    let (_, &mut cutoff, _) = tats.select_nth_unstable(batch - 1);
    // Ties at the cutoff may take a few more than `batch`; that only frees more room.
    map.retain(|_, tat| *tat > cutoff);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn shard_count_follows_budget() {
        let g = Gcra::new(1, Duration::from_secs(1), 0);
        assert_eq!(KeyedLimiter::<u64>::new(g, 0).max_keys(), 1);
        assert_eq!(KeyedLimiter::<u64>::new(g, 100).shards.len(), 1);
        assert_eq!(KeyedLimiter::<u64>::new(g, 1000).shards.len(), 4);
        let big = KeyedLimiter::<u64>::new(g, 100_000);
        assert_eq!(big.shards.len(), 32);
        assert_eq!(big.max_keys(), 100_000usize.div_ceil(32) * 32);
        assert_eq!(
            KeyedLimiter::<u64>::with_shards(g, 1000, 1).shards.len(),
            64
        );
        assert_eq!(KeyedLimiter::<u64>::with_shards(g, 3, 1).shards.len(), 4);
    }

    #[test]
    fn evict_prefers_expired_then_earliest() {
        let mut map: HashMap<u32, u64, RandomState> = HashMap::default();
        for i in 0..16u32 {
            map.insert(i, 100 + u64::from(i));
        }
        // Nothing expired at 50: the two earliest TATs go (16 / 8 = 2).
        evict(&mut map, 50, 16);
        assert_eq!(map.len(), 14);
        assert!(!map.contains_key(&0) && !map.contains_key(&1));
        // At 105 the TATs 102..=105 are in the past: they go and nothing else.
        evict(&mut map, 105, 14);
        assert_eq!(map.len(), 10);
        assert!(map.keys().all(|&k| k >= 6));
    }
}

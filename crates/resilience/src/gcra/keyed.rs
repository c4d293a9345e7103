//! [`KeyedLimiter`]: one GCRA state per client key, in process memory, with bounded size.
//!
//! Keys are spread over a power-of-two number of shards, each a mutex around a hash map from
//! key to TAT. The shard is picked from the key's hash, so two requests contend only when their
//! keys land in the same shard, and the lock is held just for one hash lookup and a few
//! arithmetic operations. A lock per shard rather than an atomic per entry keeps inserts and
//! evictions simple, and an uncontended lock costs about as much as the compare-and-swap an
//! atomic TAT would need anyway.
//!
//! The key is hashed once, with a randomly seeded SipHash (std's `RandomState`, so that clients
//! cannot choose keys that collide on purpose). That hash picks the shard and is also the key
//! of the shard's map, whose own hasher passes it through; hashing is the largest part of a
//! decision, so doing it once instead of twice matters. Keys whose 64-bit hashes collide share
//! a map slot holding a short list, so a collision never merges two clients' limits.
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
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
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
/// the caller hashed itself, `IpAddr` for client addresses, and so on.
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
    map: Mutex<ShardMap<K>>,
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
        Self {
            gcra,
            shards: (0..shards)
                .map(|_| Shard {
                    map: Mutex::new(ShardMap::default()),
                })
                .collect(),
            mask: shards - 1,
            max_keys_per_shard: max_keys_per_shard.max(1),
            hasher: RandomState::new(),
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
        // The map indexes buckets by the low bits of the hash and tags them with the top seven,
        // so take the shard from bits in between to keep the choices independent.
        let shard = &self.shards[(hash >> 32) as usize & self.mask];
        let mut map = lock(&shard.map);
        if let Some(tat) = map.get_mut(hash, key) {
            let evaluation = self.gcra.evaluate(*tat, now);
            if let Some(new_tat) = evaluation.new_tat {
                *tat = new_tat;
            }
            return evaluation.decision;
        }
        let evaluation = self.gcra.evaluate(0, now);
        // A fresh key is always allowed (its capacity is at least 1); remember the new TAT.
        if let Some(new_tat) = evaluation.new_tat {
            if map.keys >= self.max_keys_per_shard {
                map.evict(now, self.max_keys_per_shard);
            }
            map.insert(hash, key.to_owned(), new_tat);
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
                let before = map.keys;
                map.retain(|tat| tat > now);
                before - map.keys
            })
            .sum()
    }

    /// Keys currently held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(&s.map).keys).sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The keys of one shard, by their full hash.
#[derive(Debug)]
struct ShardMap<K> {
    slots: HashMap<u64, Slot<K>, BuildHasherDefault<PassThrough>>,
    /// Keys held, counting each key of a shared slot.
    keys: usize,
}

impl<K> Default for ShardMap<K> {
    fn default() -> Self {
        Self {
            slots: HashMap::default(),
            keys: 0,
        }
    }
}

/// The key or keys with one hash, with their TATs.
#[derive(Debug)]
enum Slot<K> {
    /// The usual case.
    One(K, u64),
    /// Keys whose 64-bit hashes collide; practically never more than two.
    Many(Vec<(K, u64)>),
}

impl<K: Eq> ShardMap<K> {
    fn get_mut<Q>(&mut self, hash: u64, key: &Q) -> Option<&mut u64>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        match self.slots.get_mut(&hash)? {
            Slot::One(k, tat) => (<K as Borrow<Q>>::borrow(k) == key).then_some(tat),
            Slot::Many(entries) => entries
                .iter_mut()
                .find(|(k, _)| <K as Borrow<Q>>::borrow(k) == key)
                .map(|(_, tat)| tat),
        }
    }

    /// Adds `key`, which must not be present.
    fn insert(&mut self, hash: u64, key: K, tat: u64) {
        match self.slots.entry(hash) {
            Entry::Vacant(vacant) => {
                vacant.insert(Slot::One(key, tat));
            }
            Entry::Occupied(mut occupied) => {
                let slot = occupied.get_mut();
                let mut entries = match std::mem::replace(slot, Slot::Many(Vec::new())) {
                    Slot::One(k, t) => vec![(k, t)],
                    Slot::Many(entries) => entries,
                };
                entries.push((key, tat));
                *slot = Slot::Many(entries);
            }
        }
        self.keys += 1;
    }

    /// Keeps the keys whose TAT satisfies `keep`.
    fn retain(&mut self, mut keep: impl FnMut(u64) -> bool) {
        let mut keys = 0;
        self.slots.retain(|_, slot| match slot {
            Slot::One(_, tat) => {
                let kept = keep(*tat);
                keys += usize::from(kept);
                kept
            }
            Slot::Many(entries) => {
                entries.retain(|&(_, tat)| keep(tat));
                keys += entries.len();
                !entries.is_empty()
            }
        });
        self.keys = keys;
    }

    /// Makes room for one more key in a shard holding `max` keys (see the module docs).
    fn evict(&mut self, now: u64, max: usize) {
        self.retain(|tat| tat > now);
        if self.keys < max {
            return;
        }
        let batch = (max / 8).max(1);
        let mut tats: Vec<u64> = Vec::with_capacity(self.keys);
        for slot in self.slots.values() {
            match slot {
                Slot::One(_, tat) => tats.push(*tat),
                Slot::Many(entries) => tats.extend(entries.iter().map(|&(_, tat)| tat)),
            }
        }
        let (_, &mut cutoff, _) = tats.select_nth_unstable(batch - 1);
        // Ties at the cutoff may take a few more than `batch`; that only frees more room.
        self.retain(|tat| tat > cutoff);
    }
}

/// The hasher of a shard's map, whose keys are already SipHash outputs: it passes them through.
#[derive(Debug, Default, Clone, Copy)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64`s are hashed here; folding arbitrary bytes keeps the type correct anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
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
        let mut map = ShardMap::default();
        for i in 0..16u32 {
            map.insert(u64::from(i), i, 100 + u64::from(i));
        }
        // Nothing expired at 50: the two earliest TATs go (16 / 8 = 2).
        map.evict(50, 16);
        assert_eq!(map.keys, 14);
        assert!(map.get_mut(0, &0).is_none() && map.get_mut(1, &1).is_none());
        // At 105 the TATs 102..=105 are in the past: they go and nothing else.
        map.evict(105, 14);
        assert_eq!(map.keys, 10);
        assert!((6..16).all(|i| map.get_mut(u64::from(i), &i).is_some()));
    }

    #[test]
    fn colliding_hashes_keep_keys_apart() {
        let mut map = ShardMap::<String>::default();
        map.insert(7, "a".into(), 10);
        map.insert(7, "b".into(), 20);
        map.insert(7, "c".into(), 30);
        map.insert(8, "d".into(), 40);
        assert_eq!(map.keys, 4);
        assert_eq!(map.slots.len(), 2);
        assert_eq!(map.get_mut(7, "b").copied(), Some(20));
        assert_eq!(map.get_mut(7, "d"), None);
        if let Some(tat) = map.get_mut(7, "c") {
            *tat = 35;
        }
        assert_eq!(map.get_mut(7, "c").copied(), Some(35));
        map.retain(|tat| tat > 15);
        assert_eq!(map.keys, 3);
        assert_eq!(map.get_mut(7, "a"), None);
        map.retain(|tat| tat > 36);
        assert_eq!((map.keys, map.slots.len()), (1, 1));
    }
}

//! The keyed limiter: independent keys, key types, and the memory bound with its eviction
//! order.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use flexgate_resilience::gcra::{Gcra, KeyedLimiter};

use crate::{MS, SEC};

#[test]
fn keys_are_limited_independently() {
    let limiter = KeyedLimiter::<String>::new(Gcra::new(1, Duration::from_secs(1), 1), 100);
    for key in ["a", "b", "c"] {
        assert!(limiter.check(key, 0).is_allowed());
        assert!(limiter.check(key, 0).is_allowed());
        assert!(!limiter.check(key, 0).is_allowed(), "{key}");
    }
    assert_eq!(limiter.len(), 3);
    assert!(limiter.check("a", SEC).is_allowed());
    assert!(!limiter.check("a", SEC).is_allowed());
    assert!(!limiter.check("b", SEC - 1).is_allowed());
}

#[test]
fn other_key_types() {
    let limiter = KeyedLimiter::<IpAddr>::new(Gcra::new(1, Duration::from_secs(1), 0), 10);
    let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    assert!(limiter.check(&a, 0).is_allowed());
    assert!(!limiter.check(&a, 0).is_allowed());
    assert!(limiter.check(&b, 0).is_allowed());
    let hashed = KeyedLimiter::<u64>::new(Gcra::new(1, Duration::from_secs(1), 0), 10);
    assert!(hashed.check(&42, 0).is_allowed());
    assert!(!hashed.check(&42, 0).is_allowed());
    assert!(!hashed.is_empty());
}

#[test]
fn memory_stays_bounded_under_a_flood_of_keys() {
    // TATs an hour ahead: nothing expires, so eviction must drop live keys.
    let g = Gcra::new(1, Duration::from_secs(3600), 0);
    let limiter = KeyedLimiter::<u64>::with_shards(g, 4, 64);
    assert_eq!(limiter.max_keys(), 256);
    for key in 0..100_000u64 {
        assert!(limiter.check(&key, key * MS).is_allowed());
        assert!(limiter.len() <= 256);
    }
    // Every shard filled up and was trimmed by batches of 8: between 7/8 full and full.
    assert!(limiter.len() > 256 - 4 * 8, "{}", limiter.len());
    // Also through `new`.
    let limiter = KeyedLimiter::<u64>::new(g, 1000);
    for key in 0..50_000u64 {
        let _ = limiter.check(&key, 0);
    }
    assert!(limiter.len() <= limiter.max_keys());
    assert!(limiter.max_keys() < 1000 + 32);
}

#[test]
fn eviction_drops_the_earliest_tats_first() {
    // One shard of 8 keys: each eviction batch is one key.
    let g = Gcra::new(1, Duration::from_secs(100), 5);
    let limiter = KeyedLimiter::<u64>::with_shards(g, 1, 8);
    // Key 0 gets a TAT far ahead (6 requests, 600 s); keys 1..8 one request each at
    // increasing times, TATs 100 s after.
    for _ in 0..6 {
        assert!(limiter.check(&0, 0).is_allowed());
    }
    for key in 1..8u64 {
        assert!(limiter.check(&key, key * SEC).is_allowed());
    }
    assert_eq!(limiter.len(), 8);
    // A new key evicts key 1 (TAT 101 s, the earliest), not key 0 (TAT 600 s).
    assert!(limiter.check(&100, 10 * SEC).is_allowed());
    assert_eq!(limiter.len(), 8);
    assert!(
        !limiter.check(&0, 10 * SEC).is_allowed(),
        "key 0 kept its debt"
    );
    // Key 1 was forgotten: it starts over with a full burst of 6.
    for _ in 0..6 {
        assert!(limiter.check(&1, 10 * SEC).is_allowed());
    }
}

#[test]
fn expired_keys_go_before_live_ones() {
    let g = Gcra::new(1, Duration::from_secs(10), 0);
    let limiter = KeyedLimiter::<u64>::with_shards(g, 1, 16);
    // Keys 0..8 at t = 0 (TAT 10 s), keys 8..16 at t = 5 s (TAT 15 s).
    for key in 0..8u64 {
        let _ = limiter.check(&key, 0);
    }
    for key in 8..16u64 {
        let _ = limiter.check(&key, 5 * SEC);
    }
    // At 12 s keys 0..8 are expired: all of them go, none of the live ones.
    let _ = limiter.check(&99, 12 * SEC);
    assert_eq!(limiter.len(), 9);
    for key in 8..16u64 {
        assert!(!limiter.check(&key, 12 * SEC).is_allowed(), "{key} kept");
    }
}

#[test]
fn purge_forgets_only_expired_keys() {
    let g = Gcra::new(1, Duration::from_secs(10), 0);
    let limiter = KeyedLimiter::<String>::new(g, 1000);
    let _ = limiter.check("old", 0);
    let _ = limiter.check("new", 5 * SEC);
    assert_eq!(limiter.purge(10 * SEC), 1);
    assert_eq!(limiter.len(), 1);
    assert!(!limiter.check("new", 10 * SEC).is_allowed());
    assert_eq!(limiter.purge(15 * SEC), 1);
    assert!(limiter.is_empty());
}

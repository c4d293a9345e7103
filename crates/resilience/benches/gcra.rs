//! Cost of one rate-limit decision, single-threaded.
//!
//! The budget for a local decision on an existing key is 100 ns. Measured:
//!
//! - `atomic`: [`Gcra::check`] on one `AtomicU64`, the lock-free core;
//! - `keyed_str` / `keyed_u64`: [`KeyedLimiter::check`] for a key already present among
//!   10 000, by `&str` (a client address as text) and by `u64`; this is the figure the budget
//!   applies to;
//! - `keyed_new_key_full`: a stream of never-seen keys into a full limiter, the eviction path
//!   under a flood of spoofed addresses.
//!
//! Time advances by 1 µs per decision, so the keys stay within their limit and the allowed
//! path, which writes, is the one measured.

use std::hint::black_box;

use criterion::{criterion_main, Criterion};
use flexgate_resilience::gcra::{Gcra, KeyedLimiter};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

const KEYS: usize = 10_000;

fn gcra() -> Gcra {
    Gcra::new(1_000_000, Duration::from_secs(1), 100)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("gcra");

    let g = gcra();
    let tat = AtomicU64::new(0);
    let mut now = 0u64;
    group.bench_function("atomic", |b| {
        b.iter(|| {
            now += 1_000;
            black_box(g.check(black_box(&tat), now))
        })
    });

    let limiter = KeyedLimiter::<String>::new(gcra(), 2 * KEYS);
    let names: Vec<String> = (0..KEYS)
        .map(|i| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255))
        .collect();
    for name in &names {
        let _ = limiter.check(name.as_str(), 0);
    }
    let key = names[KEYS / 2].as_str();
    let mut now = 0u64;
    group.bench_function("keyed_str", |b| {
        b.iter(|| {
            now += 1_000;
            black_box(limiter.check(black_box(key), now))
        })
    });

    let limiter = KeyedLimiter::<u64>::new(gcra(), 2 * KEYS);
    for i in 0..KEYS as u64 {
        let _ = limiter.check(&i, 0);
    }
    let mut now = 0u64;
    group.bench_function("keyed_u64", |b| {
        b.iter(|| {
            now += 1_000;
            black_box(limiter.check(black_box(&4242u64), now))
        })
    });

    // TATs far in the future, so that nothing expires and eviction has to pick victims.
    let strict = Gcra::new(1, Duration::from_secs(3600), 0);
    let limiter = KeyedLimiter::<u64>::new(strict, KEYS);
    let mut next = 0u64;
    let mut now = 0u64;
    group.bench_function("keyed_new_key_full", |b| {
        b.iter(|| {
            next += 1;
            now += 1_000;
            black_box(limiter.check(&next, now))
        })
    });

    group.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

criterion_main!(benches);

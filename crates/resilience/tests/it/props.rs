//! Property tests of GCRA: over any request schedule, no window of length `W` admits more than
//! `limit × W / period + burst + 1` requests, and the keyed and atomic forms agree.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use flexgate_resilience::gcra::{Gcra, KeyedLimiter};
use proptest::prelude::*;

/// Allowed request times for a schedule given as gaps between requests.
fn allowed_times(g: &Gcra, gaps: &[u64]) -> Vec<u64> {
    let tat = AtomicU64::new(0);
    let mut now = 0;
    let mut allowed = Vec::new();
    for gap in gaps {
        now += gap;
        if g.check(&tat, now).is_allowed() {
            allowed.push(now);
        }
    }
    allowed
}

/// The most allowed requests in any closed window `[t, t + w]`.
fn max_in_window(times: &[u64], w: u64) -> u64 {
    let mut best = 0;
    let mut start = 0;
    for (end, &t) in times.iter().enumerate() {
        while times[start] + w < t {
            start += 1;
        }
        best = best.max((end - start + 1) as u64);
    }
    best
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_window_exceeds_rate_plus_burst(
        limit in 1u32..50,
        period_ms in 1u64..5_000,
        burst in 0u32..20,
        // Gaps in microseconds, often zero so that bursts happen.
        gaps in prop::collection::vec(prop_oneof![Just(0u64), 0u64..200_000], 1..400),
        window_ms in 1u64..20_000,
    ) {
        let period = period_ms * 1_000_000;
        let g = Gcra::new(limit, Duration::from_nanos(period), burst);
        let gaps: Vec<u64> = gaps.iter().map(|us| us * 1_000).collect();
        let times = allowed_times(&g, &gaps);
        let w = window_ms * 1_000_000;
        // limit × W / period + burst + 1, in integers: floor is exact enough since counts are
        // integers.
        let bound = u128::from(limit) * u128::from(w) / u128::from(period) + u128::from(burst) + 1;
        prop_assert!(u128::from(max_in_window(&times, w)) <= bound,
            "{} allowed in {w} ns, bound {bound}", max_in_window(&times, w));
        // A burst at one instant never exceeds the capacity.
        prop_assert!(max_in_window(&times, 0) <= u64::from(g.capacity()));
    }

    #[test]
    fn idle_keys_get_their_full_capacity(
        limit in 1u32..100,
        burst in 0u32..50,
        idle_ms in 0u64..3_000,
    ) {
        let g = Gcra::new(limit, Duration::from_secs(1), burst);
        let tat = AtomicU64::new(0);
        for _ in 0..(burst + 1) {
            prop_assert!(g.check(&tat, 0).is_allowed());
        }
        let now = idle_ms * 1_000_000;
        let drained = now / (1_000_000_000u64.div_ceil(u64::from(limit)));
        let expected = drained.min(u64::from(burst) + 1);
        let got = (0..=burst + 1).filter(|_| g.check(&tat, now).is_allowed()).count() as u64;
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn keyed_limiter_agrees_with_atomic_form(
        ops in prop::collection::vec((0u8..4, 0u64..50_000), 1..300),
    ) {
        let g = Gcra::new(7, Duration::from_millis(700), 3);
        let keyed = KeyedLimiter::<u64>::new(g, 100);
        let tats: Vec<AtomicU64> = (0..4).map(|_| AtomicU64::new(0)).collect();
        let mut now = 0;
        for (key, gap_us) in ops {
            now += gap_us * 1_000;
            let a = keyed.check(&u64::from(key), now);
            let b = g.check(&tats[usize::from(key)], now);
            prop_assert_eq!(a, b);
        }
    }
}

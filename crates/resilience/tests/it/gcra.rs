//! GCRA exactness: burst at t = 0, one per emission interval after, the values behind the
//! rate-limit headers, and agreement between the atomic and the pure forms.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flexgate_resilience::gcra::{Decision, Evaluation, Gcra, GcraParams};
use flexgate_resilience::{ceil_secs, nanos};

use crate::{MS, SEC};

/// Allowed requests among `n` made at the same instant.
fn burst_at(g: &Gcra, tat: &AtomicU64, now: u64, n: u32) -> u32 {
    (0..n).filter(|_| g.check(tat, now).is_allowed()).count() as u32
}

#[test]
fn burst_plus_one_at_start_then_one_per_interval() {
    // 10 per second: T = 100 ms; burst 4: τ = 400 ms.
    let g = Gcra::new(10, Duration::from_secs(1), 4);
    assert_eq!(g.emission_interval(), Duration::from_millis(100));
    assert_eq!(g.tolerance(), Duration::from_millis(400));
    assert_eq!(g.capacity(), 5);
    let tat = AtomicU64::new(0);
    assert_eq!(burst_at(&g, &tat, 0, 100), 5);
    // From then on exactly one request per 100 ms, none in between.
    for k in 1..=50u64 {
        assert!(
            !g.check(&tat, k * 100 * MS - 1).is_allowed(),
            "just before slot {k}"
        );
        assert!(g.check(&tat, k * 100 * MS).is_allowed(), "at slot {k}");
        assert!(
            !g.check(&tat, k * 100 * MS).is_allowed(),
            "twice in slot {k}"
        );
    }
}

#[test]
fn per_window_allows_the_whole_window_at_once() {
    // "100 per minute": all 100 at once, then one per 600 ms.
    let g = Gcra::per_window(100, Duration::from_secs(60));
    assert_eq!((g.limit(), g.burst(), g.capacity()), (100, 99, 100));
    let tat = AtomicU64::new(0);
    assert_eq!(burst_at(&g, &tat, 0, 1000), 100);
    assert!(!g.check(&tat, 599 * MS).is_allowed());
    assert!(g.check(&tat, 600 * MS).is_allowed());
    // A full window later the key is fresh again.
    assert_eq!(burst_at(&g, &tat, 61 * SEC, 1000), 100);
}

#[test]
fn remaining_and_reset_count_down() {
    let g = Gcra::new(10, Duration::from_secs(1), 4);
    let tat = AtomicU64::new(0);
    let expected = [(4, 100), (3, 200), (2, 300), (1, 400), (0, 500)];
    for (remaining, reset_ms) in expected {
        assert_eq!(
            g.check(&tat, 0),
            Decision::Allowed {
                remaining,
                reset_after: Duration::from_millis(reset_ms)
            }
        );
    }
    // Limited: the next slot opens when TAT - τ = 100 ms; full reset at 500 ms.
    assert_eq!(
        g.check(&tat, 0),
        Decision::Limited {
            retry_after: Duration::from_millis(100),
            reset_after: Duration::from_millis(500)
        }
    );
    assert_eq!(
        g.check(&tat, 30 * MS),
        Decision::Limited {
            retry_after: Duration::from_millis(70),
            reset_after: Duration::from_millis(470)
        }
    );
    // At 250 ms, 2.5 intervals have drained: two more requests fit (the half interval does not
    // count), so the first of them reports one remaining.
    assert_eq!(
        g.check(&tat, 250 * MS),
        Decision::Allowed {
            remaining: 1,
            reset_after: Duration::from_millis(350)
        }
    );
    assert!(g.check(&tat, 250 * MS).is_allowed());
    assert!(!g.check(&tat, 250 * MS).is_allowed());
    // Idle for longer than the reset time: back to full capacity.
    assert_eq!(g.check(&tat, 10 * SEC).remaining(), 4);
}

#[test]
fn header_values_round_up() {
    let g = Gcra::new(1, Duration::from_millis(1500), 0);
    let tat = AtomicU64::new(0);
    let d = g.check(&tat, 0);
    assert_eq!(ceil_secs(d.reset_after()), 2);
    let d = g.check(&tat, 0);
    assert_eq!(d.retry_after(), Some(Duration::from_millis(1500)));
    assert_eq!(d.retry_after().map(ceil_secs), Some(2));
    assert_eq!(d.remaining(), 0);
}

#[test]
fn limit_is_never_exceeded_when_period_is_not_a_multiple() {
    // 3 per second: T rounds up to 333 333 334 ns, so 3 requests need slightly more than 1 s.
    let g = Gcra::new(3, Duration::from_secs(1), 0);
    let tat = AtomicU64::new(0);
    let allowed = (0..=1000u64)
        .filter(|ms| g.check(&tat, ms * MS).is_allowed())
        .count();
    assert_eq!(allowed, 3);
}

#[test]
fn pure_form_matches_formula() {
    let g = Gcra::from_params(&GcraParams {
        limit: 5,
        period: Duration::from_secs(1),
        burst: 2,
    });
    let t = 200 * MS;
    let tau = 400 * MS;
    // Unknown key.
    assert_eq!(
        g.evaluate(0, 7 * SEC),
        Evaluation {
            decision: Decision::Allowed {
                remaining: 2,
                reset_after: Duration::from_nanos(t)
            },
            new_tat: Some(7 * SEC + t)
        }
    );
    // TAT in the past acts as none.
    assert_eq!(g.evaluate(SEC, 7 * SEC), g.evaluate(0, 7 * SEC));
    // TAT exactly τ ahead: still allowed, nothing remaining.
    let now = 3 * SEC;
    let e = g.evaluate(now + tau, now);
    assert_eq!(e.new_tat, Some(now + tau + t));
    assert_eq!(e.decision.remaining(), 0);
    // One nanosecond further: limited, retry after that nanosecond.
    let e = g.evaluate(now + tau + 1, now);
    assert_eq!(e.new_tat, None);
    assert_eq!(e.decision.retry_after(), Some(Duration::from_nanos(1)));
    assert_eq!(e.decision.reset_after(), Duration::from_nanos(tau + 1));
    assert_eq!(nanos(g.emission_interval()), t);
}

#[test]
fn concurrent_checks_admit_exactly_capacity() {
    let g = Gcra::new(1, Duration::from_secs(3600), 99);
    let tat = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let tat = Arc::clone(&tat);
            std::thread::spawn(move || {
                (0..1000)
                    .filter(|_| g.check(&tat, 5 * SEC).is_allowed())
                    .count()
            })
        })
        .collect();
    let allowed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(allowed, 100);
    assert_eq!(tat.load(Ordering::Relaxed), 5 * SEC + 100 * 3600 * SEC);
}

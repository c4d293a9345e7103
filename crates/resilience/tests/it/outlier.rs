//! Outlier ejection: thresholds, durations, decay and the share of targets ejected at once.

use std::time::Duration;

use flexgate_resilience::outlier::{Ejection, OutlierDetector, OutlierParams};

use crate::SEC;

/// 3 consecutive failures; 10 s base, 35 s at most; at most 50 %.
fn params() -> OutlierParams {
    OutlierParams {
        consecutive_failures: 3,
        base_ejection_time: Duration::from_secs(10),
        max_ejection_time: Duration::from_secs(35),
        max_ejection_percent: 50,
    }
}

/// Fails `target` `n` times at `now`, returning the last result.
fn fail(d: &OutlierDetector, target: usize, n: u32, now: u64) -> Option<Ejection> {
    (0..n).map(|_| d.record(target, true, now)).last().flatten()
}

#[test]
fn consecutive_failures_eject_and_successes_reset() {
    let d = OutlierDetector::new(params(), 4);
    assert_eq!(fail(&d, 0, 2, 0), None);
    assert_eq!(d.record(0, false, 0), None);
    assert_eq!(fail(&d, 0, 2, 0), None);
    assert!(!d.is_ejected(0, 0));
    assert_eq!(
        d.record(0, true, SEC),
        Some(Ejection {
            target: 0,
            duration: Duration::from_secs(10),
            ejection_count: 1
        })
    );
    assert!(d.is_ejected(0, SEC));
    assert!(d.is_ejected(0, 11 * SEC - 1));
    assert!(!d.is_ejected(0, 11 * SEC));
    assert_eq!(d.ejected_count(SEC), 1);
    assert!(!d.is_ejected(1, SEC));
}

#[test]
fn outcomes_while_ejected_are_ignored() {
    let d = OutlierDetector::new(params(), 2);
    assert!(fail(&d, 0, 3, 0).is_some());
    // In-flight requests failing during the ejection neither extend it nor count later.
    assert_eq!(fail(&d, 0, 10, 5 * SEC), None);
    assert!(!d.is_ejected(0, 10 * SEC));
    assert_eq!(fail(&d, 0, 2, 10 * SEC), None);
    assert!(fail(&d, 0, 1, 10 * SEC).is_some());
}

#[test]
fn repeated_ejections_grow_linearly_up_to_the_cap() {
    let d = OutlierDetector::new(params(), 2);
    let mut now = 0;
    for (count, secs) in [(1, 10), (2, 20), (3, 30), (4, 35), (5, 35)] {
        let e = fail(&d, 1, 3, now);
        assert_eq!(
            e,
            Some(Ejection {
                target: 1,
                duration: Duration::from_secs(secs),
                ejection_count: count
            })
        );
        // Fail again the moment the ejection ends: no healthy time, no decay.
        now += secs * SEC;
    }
}

#[test]
fn ejection_count_decays_while_healthy() {
    let d = OutlierDetector::new(params(), 2);
    assert_eq!(fail(&d, 0, 3, 0).map(|e| e.ejection_count), Some(1));
    assert_eq!(fail(&d, 0, 3, 10 * SEC).map(|e| e.ejection_count), Some(2));
    assert_eq!(fail(&d, 0, 3, 30 * SEC).map(|e| e.ejection_count), Some(3));
    // Ejected until 60 s; healthy for 20 s (two base periods): 3 - 2 + 1 = 2.
    let e = fail(&d, 0, 3, 80 * SEC);
    assert_eq!(
        e.map(|e| (e.ejection_count, e.duration.as_secs())),
        Some((2, 20))
    );
    // Until 100 s; healthy for an hour: back to a first ejection.
    let e = fail(&d, 0, 3, 3700 * SEC);
    assert_eq!(
        e.map(|e| (e.ejection_count, e.duration.as_secs())),
        Some((1, 10))
    );
}

#[test]
fn never_more_than_the_percentage_at_once() {
    // 50 % of 5 targets: at most 2.
    let d = OutlierDetector::new(params(), 5);
    assert_eq!(d.max_ejected(), 2);
    assert!(fail(&d, 0, 3, 0).is_some());
    assert!(fail(&d, 1, 3, SEC).is_some());
    assert_eq!(fail(&d, 2, 3, SEC), None);
    assert_eq!(fail(&d, 2, 5, SEC), None);
    assert_eq!(d.ejected_count(SEC), 2);
    assert!(!d.is_ejected(2, SEC));
    // Once target 0 returns (10 s), the next failure of target 2 ejects it straight away:
    // its failure count kept growing while it could not be ejected.
    assert!(d.record(2, true, 10 * SEC).is_some());
    assert_eq!(d.ejected_count(10 * SEC), 2);
    assert!(d.is_ejected(1, 10 * SEC) && d.is_ejected(2, 10 * SEC));
}

#[test]
fn percentage_table() {
    // (targets, percent) → most ejected, checked by failing every target.
    for (targets, percent, expected) in [
        // Rounded down, but at least one.
        (1, 50, 1),
        (1, 100, 1),
        (2, 50, 1),
        (3, 50, 1),
        (4, 50, 2),
        (5, 50, 2),
        (9, 10, 1),
        (10, 10, 1),
        (10, 25, 2),
        (19, 10, 1),
        (20, 10, 2),
        (20, 100, 20),
        // Zero disables ejection.
        (10, 0, 0),
    ] {
        let d = OutlierDetector::new(
            OutlierParams {
                max_ejection_percent: percent,
                ..params()
            },
            targets,
        );
        for t in 0..targets {
            let _ = fail(&d, t, 3, 0);
        }
        assert_eq!(
            d.ejected_count(0),
            expected,
            "{targets} targets at {percent} %"
        );
        assert_eq!(d.max_ejected(), expected);
    }
}

#[test]
fn concurrent_failures_respect_the_cap() {
    let d = std::sync::Arc::new(OutlierDetector::new(params(), 10));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let d = std::sync::Arc::clone(&d);
            std::thread::spawn(move || {
                for round in 0..100 {
                    let _ = d.record((i + round) % 10, true, 0);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(d.ejected_count(0), 5);
}

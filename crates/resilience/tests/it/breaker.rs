//! Circuit breaker transitions with exact counts and times.

use std::time::Duration;

use flexgate_resilience::breaker::{
    Breaker, BreakerParams, Outcome, Rejected, State, Transition, HALF_OPEN_RETRY_AFTER,
};

use crate::{MS, SEC};

/// 50 % of at least 10 over 10 s, open 5 s doubling up to 40 s, backoff forgotten after 60 s
/// closed, 2 concurrent probes, 3 successes to close.
fn params() -> BreakerParams {
    BreakerParams {
        failure_rate_threshold: 50,
        minimum_requests: 10,
        window: Duration::from_secs(10),
        buckets: 10,
        consecutive_failures: None,
        open_duration: Duration::from_secs(5),
        max_open_duration: Duration::from_secs(40),
        backoff_reset: Duration::from_secs(60),
        half_open_requests: 2,
        success_threshold: 3,
    }
}

/// Runs one request through `b` at `now`; panics if it is rejected.
fn run(b: &Breaker, outcome: Outcome, now: u64) -> Option<Transition> {
    match b.try_acquire(now) {
        Ok(permit) => b.record(permit, outcome, now),
        Err(rejected) => panic!("rejected at {now}: {rejected:?}"),
    }
}

fn opened(secs: u64) -> Option<Transition> {
    Some(Transition {
        from: State::Closed,
        to: State::Open,
        open_for: Duration::from_secs(secs),
    })
}

/// Trips a closed breaker at `now` with 10 failures.
fn trip(b: &Breaker, now: u64) -> Transition {
    for _ in 0..9 {
        assert_eq!(run(b, Outcome::Failure, now), None);
    }
    let t = run(b, Outcome::Failure, now);
    assert_eq!(
        t.map(|t| (t.from, t.to)),
        Some((State::Closed, State::Open))
    );
    let Some(t) = t else { unreachable!() };
    t
}

/// Takes an open breaker whose time ran out at `now` through half-open to closed.
fn close(b: &Breaker, now: u64) {
    let Ok(first) = b.try_acquire(now) else {
        panic!("still open at {now}");
    };
    assert_eq!(
        first.transition().map(|t| (t.from, t.to)),
        Some((State::Open, State::HalfOpen))
    );
    assert_eq!(b.record(first, Outcome::Success, now), None);
    assert_eq!(run(b, Outcome::Success, now), None);
    let t = run(b, Outcome::Success, now);
    assert_eq!(
        t.map(|t| (t.from, t.to)),
        Some((State::HalfOpen, State::Closed))
    );
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn opens_only_at_minimum_volume_and_threshold_rate() {
    let b = Breaker::new(params());
    // 9 failures: 100 % but below the minimum volume.
    for i in 0..9 {
        assert_eq!(run(&b, Outcome::Failure, i * MS), None);
    }
    assert_eq!(b.state(), State::Closed);
    // Tenth outcome, a success: 9 of 10 failed.
    assert_eq!(run(&b, Outcome::Success, 10 * MS), opened(5));
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.state().as_u8(), 2);

    // Just under the threshold stays closed; reaching it exactly opens.
    let b = Breaker::new(params());
    for _ in 0..6 {
        assert_eq!(run(&b, Outcome::Success, 0), None);
    }
    for _ in 0..4 {
        assert_eq!(run(&b, Outcome::Failure, 0), None);
    }
    // 5 of 11 = 45 %.
    assert_eq!(run(&b, Outcome::Failure, 0), None);
    // 6 of 12 = 50 %.
    assert_eq!(run(&b, Outcome::Failure, 0), opened(5));
}

#[test]
fn old_outcomes_leave_the_window() {
    let b = Breaker::new(params());
    for _ in 0..9 {
        assert_eq!(run(&b, Outcome::Failure, 0), None);
    }
    // At 10 s the bucket of t = 0 has left the 10 s window: one failure of one request.
    assert_eq!(run(&b, Outcome::Failure, 10 * SEC), None);
    // At 9.999 s it would still have counted.
    let b = Breaker::new(params());
    for _ in 0..9 {
        assert_eq!(run(&b, Outcome::Failure, 0), None);
    }
    assert_eq!(run(&b, Outcome::Failure, 10 * SEC - 1), opened(5));
}

#[test]
fn rejects_while_open_with_remaining_time() {
    let b = Breaker::new(params());
    trip(&b, SEC);
    assert_eq!(
        b.try_acquire(SEC),
        Err(Rejected {
            retry_after: Duration::from_secs(5),
            state: State::Open
        })
    );
    assert_eq!(
        b.try_acquire(3 * SEC + 250 * MS).map_err(|r| r.retry_after),
        Err(Duration::from_millis(2750))
    );
    assert_eq!(
        b.try_acquire(6 * SEC - 1).map_err(|r| r.retry_after),
        Err(Duration::from_nanos(1))
    );
    // Still reads as open until a request arrives after the open time.
    assert_eq!(b.state(), State::Open);
    let probe = b.try_acquire(6 * SEC).unwrap();
    assert!(probe.is_probe());
    assert_eq!(
        probe.transition(),
        Some(Transition {
            from: State::Open,
            to: State::HalfOpen,
            open_for: Duration::ZERO
        })
    );
    assert_eq!(
        probe.transition().map(|t| t.event()),
        Some("circuit_breaker.half_open")
    );
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.state().as_u8(), 1);
    b.cancel(probe);
}

#[test]
fn half_open_limits_probes_and_closes_after_successes() {
    let b = Breaker::new(params());
    trip(&b, 0);
    let now = 5 * SEC;
    let p1 = b.try_acquire(now).unwrap();
    let p2 = b.try_acquire(now).unwrap();
    assert!(p2.is_probe() && p2.transition().is_none());
    assert_eq!(
        b.try_acquire(now),
        Err(Rejected {
            retry_after: HALF_OPEN_RETRY_AFTER,
            state: State::HalfOpen
        })
    );
    // A success frees a slot and counts 1 of 3.
    assert_eq!(b.record(p1, Outcome::Success, now), None);
    let p3 = b.try_acquire(now).unwrap();
    assert!(b.try_acquire(now).is_err());
    // A cancelled probe frees its slot and counts nothing.
    b.cancel(p3);
    let p4 = b.try_acquire(now).unwrap();
    assert_eq!(b.record(p2, Outcome::Success, now), None);
    let closed = b.record(p4, Outcome::Success, now + MS);
    assert_eq!(
        closed,
        Some(Transition {
            from: State::HalfOpen,
            to: State::Closed,
            open_for: Duration::ZERO
        })
    );
    assert_eq!(closed.map(|t| t.event()), Some("circuit_breaker.closed"));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.state().as_u8(), 0);
    // The window starts empty after closing: 9 failures do not reopen it.
    for _ in 0..9 {
        assert_eq!(run(&b, Outcome::Failure, now + 2 * MS), None);
    }
}

#[test]
fn probe_failure_reopens_for_twice_as_long_up_to_the_cap() {
    let b = Breaker::new(params());
    let first = trip(&b, 0);
    assert_eq!(first.open_for, Duration::from_secs(5));
    assert_eq!(first.event(), "circuit_breaker.opened");
    let mut now = 5 * SEC;
    for expected in [10, 20, 40, 40, 40] {
        let probe = b.try_acquire(now).unwrap();
        let other = b.try_acquire(now).unwrap();
        let t = b.record(probe, Outcome::Failure, now);
        assert_eq!(
            t,
            Some(Transition {
                from: State::HalfOpen,
                to: State::Open,
                open_for: Duration::from_secs(expected)
            })
        );
        // The other probe belongs to the half-open period that just ended: ignored.
        assert_eq!(b.record(other, Outcome::Success, now), None);
        assert_eq!(
            b.try_acquire(now + expected * SEC - 1)
                .map_err(|r| r.retry_after),
            Err(Duration::from_nanos(1))
        );
        now += expected * SEC;
    }
}

#[test]
fn backoff_resets_after_staying_closed() {
    let b = Breaker::new(params());
    // Open 5 s, probe fails: open 10 s, then close at 15 s.
    trip(&b, 0);
    let probe = b.try_acquire(5 * SEC).unwrap();
    let _ = b.record(probe, Outcome::Failure, 5 * SEC);
    close(&b, 15 * SEC);
    // Tripping again 59.999 s after closing continues the series: 20 s.
    assert_eq!(trip(&b, 75 * SEC - 1).open_for, Duration::from_secs(20));
    close(&b, 95 * SEC);
    // Closed for a full 60 s: back to 5 s.
    assert_eq!(trip(&b, 155 * SEC).open_for, Duration::from_secs(5));
}

#[test]
fn consecutive_failures_trip_regardless_of_rate() {
    let b = Breaker::new(BreakerParams {
        consecutive_failures: Some(3),
        minimum_requests: 1000,
        ..params()
    });
    for _ in 0..2 {
        assert_eq!(run(&b, Outcome::Failure, 0), None);
    }
    assert_eq!(run(&b, Outcome::Success, 0), None);
    for _ in 0..2 {
        assert_eq!(run(&b, Outcome::Failure, 0), None);
    }
    assert_eq!(run(&b, Outcome::Failure, 0), opened(5));
}

#[test]
fn permits_from_before_a_transition_are_ignored() {
    let b = Breaker::new(params());
    let slow = b.try_acquire(0).unwrap();
    trip(&b, 0);
    // Half-open at 5 s; the slow request admitted while closed finishes now.
    let probe = b.try_acquire(5 * SEC).unwrap();
    assert_eq!(b.record(slow, Outcome::Success, 5 * SEC), None);
    assert_eq!(b.record(probe, Outcome::Success, 5 * SEC), None);
    // Two more successes are needed: the slow one did not count.
    assert_eq!(run(&b, Outcome::Success, 5 * SEC), None);
    assert!(run(&b, Outcome::Success, 5 * SEC).is_some());
}

#[test]
fn out_of_range_params_are_clamped() {
    let b = Breaker::new(BreakerParams {
        failure_rate_threshold: 0,
        minimum_requests: 0,
        buckets: 0,
        consecutive_failures: Some(0),
        half_open_requests: 0,
        success_threshold: 0,
        ..params()
    });
    let p = b.params();
    assert_eq!(
        (
            p.failure_rate_threshold,
            p.minimum_requests,
            p.buckets,
            p.consecutive_failures,
            p.half_open_requests,
            p.success_threshold
        ),
        (1, 1, 1, None, 1, 1)
    );
    // A single success never trips, even at the lowest threshold.
    assert_eq!(run(&b, Outcome::Success, 0), None);
}

#[test]
fn concurrent_use_keeps_counts_consistent() {
    let b = std::sync::Arc::new(Breaker::new(BreakerParams {
        minimum_requests: 1_000_000,
        ..params()
    }));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let b = std::sync::Arc::clone(&b);
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    let permit = b.try_acquire(0).unwrap();
                    let _ = b.record(permit, Outcome::Success, 0);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(b.state(), State::Closed);
}

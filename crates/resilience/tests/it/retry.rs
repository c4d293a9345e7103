//! Retry budget floor and ratio, backoff bounds, and the retry policy table.

use std::time::Duration;

use flexgate_resilience::retry::{
    is_idempotent_method, Attempt, AttemptOutcome, Backoff, RequestInfo, RetryBudget,
    RetryBudgetParams, RetryDecision, RetryOn, RetryPolicy, StopReason,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::{MS, SEC};

fn budget(ratio: f64, min_retries_per_sec: u32) -> RetryBudget {
    RetryBudget::new(RetryBudgetParams {
        ratio,
        min_retries_per_sec,
        ttl: Duration::from_secs(10),
    })
}

/// Successful withdrawals out of `n` tries at `now`.
fn withdraw(b: &RetryBudget, n: u32, now: u64) -> u32 {
    (0..n).filter(|_| b.try_withdraw(now)).count() as u32
}

#[test]
fn floor_allows_min_retries_per_sec_times_ttl_without_traffic() {
    let b = budget(0.2, 3);
    assert_eq!(b.available(0), 30);
    assert_eq!(withdraw(&b, 100, 0), 30);
    assert_eq!(b.available(0), 0);
    // Defaults: the same numbers.
    let b = RetryBudget::new(RetryBudgetParams::default());
    assert_eq!(withdraw(&b, 100, 0), 30);
    // A sub-second window floors the product: 3/s over 0.5 s is one retry.
    let b = RetryBudget::new(RetryBudgetParams {
        ratio: 0.0,
        min_retries_per_sec: 3,
        ttl: Duration::from_millis(500),
    });
    assert_eq!(withdraw(&b, 10, 0), 1);
}

#[test]
fn ratio_of_requests_on_top_of_the_floor() {
    let b = budget(0.2, 0);
    assert_eq!(withdraw(&b, 10, 0), 0);
    for _ in 0..100 {
        b.deposit(0);
    }
    assert_eq!(b.available(0), 20);
    assert_eq!(withdraw(&b, 100, SEC), 20);
    // 104 requests allow 20.8, so still 20 retries; 105 allow 21.
    for _ in 0..4 {
        b.deposit(SEC);
    }
    assert!(!b.try_withdraw(SEC));
    b.deposit(SEC);
    assert!(b.try_withdraw(SEC));
    assert!(!b.try_withdraw(SEC));

    let b = budget(0.2, 3);
    for _ in 0..100 {
        b.deposit(0);
    }
    assert_eq!(withdraw(&b, 100, 0), 50);
}

#[test]
fn requests_and_retries_leave_the_window() {
    let b = budget(0.5, 0);
    for _ in 0..10 {
        b.deposit(0);
    }
    assert_eq!(withdraw(&b, 3, 0), 3);
    // The window is ten 1 s buckets: at 9.999 s everything still counts.
    assert_eq!(b.available(10 * SEC - 1), 2);
    // At 10 s the first bucket is gone, with its requests and its retries.
    assert_eq!(b.available(10 * SEC), 0);
    for _ in 0..4 {
        b.deposit(10 * SEC);
    }
    assert_eq!(withdraw(&b, 10, 10 * SEC + 500 * MS), 2);
}

#[test]
fn concurrent_withdrawals_stay_near_the_budget() {
    let b = std::sync::Arc::new(budget(0.1, 0));
    for _ in 0..10_000 {
        b.deposit(0);
    }
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let b = std::sync::Arc::clone(&b);
            std::thread::spawn(move || (0..1000).filter(|_| b.try_withdraw(0)).count())
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    // 1000 allowed; racing threads may each get one more at the boundary.
    assert!((1000..=1004).contains(&total), "{total}");
}

#[test]
fn backoff_ceiling_doubles_to_max() {
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let ceilings: Vec<u128> = (0..6).map(|n| backoff.ceiling(n).as_millis()).collect();
    assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
    assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(1));
    let zero = Backoff::new(Duration::ZERO, Duration::from_secs(1));
    assert_eq!(zero.ceiling(70), Duration::ZERO);
    assert_eq!(Backoff::default().base(), Duration::from_millis(25));
    assert_eq!(Backoff::default().max(), Duration::from_millis(250));
}

#[test]
fn backoff_delay_is_full_jitter_within_bounds() {
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let mut rng = fastrand::Rng::with_seed(7);
    for attempt in 0..8 {
        let ceiling = backoff.ceiling(attempt);
        let delays: Vec<Duration> = (0..2000)
            .map(|_| backoff.delay(attempt, &mut rng))
            .collect();
        assert!(delays.iter().all(|d| *d <= ceiling));
        // Full jitter: the draws span the whole range, not just its top.
        let min = delays.iter().min().copied().unwrap_or_default();
        let max = delays.iter().max().copied().unwrap_or_default();
        assert!(min < ceiling / 50, "attempt {attempt}: min {min:?}");
        assert!(max > ceiling * 49 / 50, "attempt {attempt}: max {max:?}");
    }
    // Same seed, same delays.
    let a: Vec<_> = {
        let mut rng = fastrand::Rng::with_seed(1);
        (0..5).map(|n| backoff.delay(n, &mut rng)).collect()
    };
    let b: Vec<_> = {
        let mut rng = fastrand::Rng::with_seed(1);
        (0..5).map(|n| backoff.delay(n, &mut rng)).collect()
    };
    assert_eq!(a, b);
}

#[test]
fn idempotent_methods() {
    for m in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"] {
        assert!(
            is_idempotent_method(&Method::from_bytes(m.as_bytes()).unwrap()),
            "{m}"
        );
    }
    for m in ["POST", "PATCH", "CONNECT", "PURGE"] {
        assert!(
            !is_idempotent_method(&Method::from_bytes(m.as_bytes()).unwrap()),
            "{m}"
        );
    }
}

#[test]
fn policy_table() {
    use AttemptOutcome::{ConnectFailed, PerTryTimeout, Status, UpstreamError};
    use RetryDecision::{Retry, Stop};
    use StopReason::*;

    let policy = RetryPolicy::new(2);
    let s = |code: u16| Status(StatusCode::from_u16(code).unwrap());
    // (method, has Idempotency-Key, body replayable, outcome, response started, retries so far)
    let cases = [
        // Connect failures: always, even for POST and unreplayable bodies.
        ("POST", false, false, ConnectFailed, false, 0, Retry),
        ("GET", false, true, ConnectFailed, false, 1, Retry),
        (
            "GET",
            false,
            true,
            ConnectFailed,
            false,
            2,
            Stop(RetriesExhausted),
        ),
        // Gateway statuses, per-try timeouts and upstream errors: idempotent only.
        ("GET", false, true, s(502), false, 0, Retry),
        ("HEAD", false, true, s(503), false, 0, Retry),
        ("OPTIONS", false, true, s(504), false, 0, Retry),
        ("PUT", false, true, PerTryTimeout, false, 0, Retry),
        ("DELETE", false, true, UpstreamError, false, 0, Retry),
        ("TRACE", false, true, s(503), false, 1, Retry),
        ("POST", false, true, s(502), false, 0, Stop(NotIdempotent)),
        (
            "PATCH",
            false,
            true,
            PerTryTimeout,
            false,
            0,
            Stop(NotIdempotent),
        ),
        (
            "POST",
            false,
            true,
            UpstreamError,
            false,
            0,
            Stop(NotIdempotent),
        ),
        // An Idempotency-Key makes any method retryable.
        ("POST", true, true, s(503), false, 0, Retry),
        ("PATCH", true, true, PerTryTimeout, false, 1, Retry),
        // The body must be replayable for these.
        (
            "PUT",
            false,
            false,
            s(503),
            false,
            0,
            Stop(BodyNotReplayable),
        ),
        (
            "POST",
            true,
            false,
            PerTryTimeout,
            false,
            0,
            Stop(BodyNotReplayable),
        ),
        // Other statuses: never.
        ("GET", false, true, s(200), false, 0, Stop(NotRetryable)),
        ("GET", false, true, s(500), false, 0, Stop(NotRetryable)),
        ("GET", false, true, s(501), false, 0, Stop(NotRetryable)),
        ("GET", false, true, s(505), false, 0, Stop(NotRetryable)),
        ("GET", false, true, s(429), false, 0, Stop(NotRetryable)),
        ("GET", false, true, s(404), false, 0, Stop(NotRetryable)),
        // Once response bytes went downstream: never.
        ("GET", false, true, s(502), true, 0, Stop(ResponseStarted)),
        (
            "GET",
            false,
            true,
            PerTryTimeout,
            true,
            0,
            Stop(ResponseStarted),
        ),
        (
            "POST",
            false,
            false,
            ConnectFailed,
            true,
            0,
            Stop(ResponseStarted),
        ),
        // Retries exhausted.
        ("GET", false, true, s(503), false, 2, Stop(RetriesExhausted)),
        (
            "GET",
            false,
            true,
            PerTryTimeout,
            false,
            9,
            Stop(RetriesExhausted),
        ),
    ];
    for (i, (method, key, replayable, outcome, started, retries, expected)) in
        cases.into_iter().enumerate()
    {
        let mut headers = HeaderMap::new();
        if key {
            headers.insert("Idempotency-Key", HeaderValue::from_static("abc-123"));
        }
        let request = RequestInfo::new(
            &Method::from_bytes(method.as_bytes()).unwrap(),
            &headers,
            replayable,
        );
        let attempt = Attempt {
            outcome,
            retries_so_far: retries,
            response_started: started,
        };
        assert_eq!(
            policy.decide(&request, &attempt),
            expected,
            "case {i}: {method} {outcome:?}"
        );
    }
    assert_eq!(RetryPolicy::default().max_retries, 2);
    assert_eq!(StopReason::ResponseStarted.as_str(), "response_started");
}

#[test]
fn retry_on_disables_classes() {
    let get = RequestInfo::new(&Method::GET, &HeaderMap::new(), true);
    let attempt = |outcome| Attempt {
        outcome,
        retries_so_far: 0,
        response_started: false,
    };
    let gateway = attempt(AttemptOutcome::Status(StatusCode::BAD_GATEWAY));
    let reset = attempt(AttemptOutcome::UpstreamError);
    let timeout = attempt(AttemptOutcome::PerTryTimeout);
    let connect = attempt(AttemptOutcome::ConnectFailed);
    let not_retryable = RetryDecision::Stop(StopReason::NotRetryable);

    let only_connect = RetryPolicy::with_attempts(
        3,
        RetryOn {
            connect_failure: true,
            ..RetryOn::NONE
        },
    );
    assert_eq!(only_connect.max_retries, 2);
    assert_eq!(only_connect.decide(&get, &connect), RetryDecision::Retry);
    for a in [gateway, reset, timeout] {
        assert_eq!(only_connect.decide(&get, &a), not_retryable, "{a:?}");
    }

    let no_timeouts = RetryPolicy {
        retry_on: RetryOn {
            timeout: false,
            ..RetryOn::ALL
        },
        ..RetryPolicy::default()
    };
    assert_eq!(no_timeouts.decide(&get, &timeout), not_retryable);
    assert_eq!(no_timeouts.decide(&get, &gateway), RetryDecision::Retry);
    assert_eq!(no_timeouts.decide(&get, &reset), RetryDecision::Retry);

    // One attempt in total: nothing is retried.
    let single = RetryPolicy::with_attempts(1, RetryOn::ALL);
    assert_eq!(
        single.decide(&get, &connect),
        RetryDecision::Stop(StopReason::RetriesExhausted)
    );
    assert_eq!(RetryPolicy::with_attempts(0, RetryOn::ALL).max_retries, 0);
    assert_eq!(RetryPolicy::default().retry_on, RetryOn::ALL);
}

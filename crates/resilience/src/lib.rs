//! Resilience algorithms for the FlexGate data plane.
//!
//! Everything here is a pure, runtime-free building block that the proxy wires into its request
//! path:
//!
//! - [`gcra`]: the Generic Cell Rate Algorithm rate limiter, as a lock-free decision on one
//!   atomic, a pure function (the same math a Redis script can run), and a bounded, sharded
//!   [`KeyedLimiter`] for per-client limits in local mode.
//! - [`breaker`]: a circuit breaker (closed → open → half-open) with a sliding failure-rate
//!   window, a consecutive-failure trip, exponential open durations and bounded half-open probes.
//! - [`outlier`]: passive outlier ejection of individual upstream targets on consecutive
//!   gateway errors, never ejecting more than a set share of the targets.
//! - [`retry`]: a retry budget, exponential backoff with full jitter, and the policy that says
//!   which failed attempts may be retried.
//! - [`concurrency`]: in-flight limiting with a short bounded queue, as accounting only; the
//!   proxy does the waiting with its own async primitive.
//!
//! # Time
//!
//! Nothing in this crate reads a clock. Every function that depends on time takes `now: u64`,
//! nanoseconds on a monotonic clock with an arbitrary origin chosen by the caller. [`Clock`] is
//! the usual source: it turns [`std::time::Instant`] into such nanoseconds. Tests pass literal
//! numbers and so control time exactly without sleeping. The only requirement is that all calls
//! on one object use the same origin; times that go slightly backwards between threads (one
//! thread read the clock a little before another) are tolerated everywhere.
//!
//! Durations are returned as [`Duration`] so that callers can format
//! headers and logs directly.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use flexgate_resilience::breaker::{Breaker, BreakerParams, Outcome};
//! use flexgate_resilience::{ceil_secs, Clock, Gcra, KeyedLimiter};
//!
//! let clock = Clock::new();
//! // 100 requests per minute per client, 20 of them at once.
//! let limiter = KeyedLimiter::<String>::new(Gcra::new(100, Duration::from_secs(60), 19), 100_000);
//! let breaker = Breaker::new(BreakerParams::default());
//!
//! let decision = limiter.check("192.0.2.7", clock.now());
//! if let Some(retry_after) = decision.retry_after() {
//!     // 429 with `Retry-After: {ceil_secs(retry_after)}`.
//!     let _ = ceil_secs(retry_after);
//! } else {
//!     match breaker.try_acquire(clock.now()) {
//!         Ok(permit) => {
//!             // ... forward the request, then:
//!             if let Some(t) = breaker.record(permit, Outcome::Success, clock.now()) {
//!                 println!("{}", t.event());
//!             }
//!         }
//!         Err(rejected) => {
//!             // 503 with `Retry-After: {ceil_secs(rejected.retry_after)}`.
//!             let _ = rejected;
//!         }
//!     }
//! }
//! ```

pub mod breaker;
pub mod concurrency;
pub mod gcra;
pub mod outlier;
pub mod retry;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub use breaker::{Breaker, BreakerParams};
pub use concurrency::ConcurrencyLimiter;
pub use gcra::{Decision, Gcra, KeyedLimiter};
pub use outlier::{OutlierDetector, OutlierParams};
pub use retry::{Backoff, RetryBudget, RetryPolicy};

/// Converts [`Instant`]s into the `u64` nanosecond timestamps the rest of the crate takes.
///
/// The origin is the instant the clock was created, so timestamps start near zero and a `u64`
/// lasts for more than 500 years. Share one `Clock` (it is `Copy`) between everything that
/// works on the same limiter, breaker or detector.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }

    /// A clock with an explicit origin.
    pub fn with_origin(origin: Instant) -> Self {
        Self { origin }
    }

    /// Nanoseconds since the origin, now.
    pub fn now(&self) -> u64 {
        self.at(Instant::now())
    }

    /// Nanoseconds from the origin to `instant`; `0` for instants before the origin.
    pub fn at(&self, instant: Instant) -> u64 {
        nanos(instant.saturating_duration_since(self.origin))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// `d` in whole nanoseconds, saturating at `u64::MAX` (about 584 years).
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `d` rounded up to whole seconds, the resolution of `Retry-After` and `RateLimit-Reset`.
///
/// Rounding up matters: a client told to come back after `0` seconds while it is still limited
/// would retry immediately and be rejected again.
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Locks `m`, ignoring poisoning.
///
/// Every mutex in this crate guards plain counters and timestamps that are consistent after each
/// individual assignment, so state left by a panicking holder is still valid; refusing to work
/// afterwards would turn one bug into an outage of the whole request path.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_secs_rounds_up() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_nanos(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn clock_is_monotonic_from_origin() {
        let origin = Instant::now();
        let clock = Clock::with_origin(origin);
        assert_eq!(clock.at(origin), 0);
        assert_eq!(clock.at(origin + Duration::from_micros(5)), 5_000);
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
    }

    #[test]
    fn nanos_saturates() {
        assert_eq!(nanos(Duration::MAX), u64::MAX);
        assert_eq!(nanos(Duration::from_millis(3)), 3_000_000);
    }
}

//! Generic Cell Rate Algorithm (GCRA) rate limiting.
//!
//! GCRA is a leaky bucket without a timer: the whole state of one limited key is a single
//! number, the *theoretical arrival time* (TAT), the instant at which the key's bucket would be
//! empty again if no further request arrived. A request is allowed when admitting it keeps the
//! TAT within a tolerance of now, and admitting it pushes the TAT one emission interval further.
//!
//! # Parameters
//!
//! [`Gcra::new`]`(limit, period, burst)` derives:
//!
//! - the **emission interval** `T = ceil(period / limit)`: the steady rate is one request per `T`.
//!   Rounding up means the steady rate never exceeds `limit` per `period`, even when `period`
//!   is not a whole multiple of `limit` nanoseconds.
//! - the **tolerance** `τ = T × burst`: how far ahead of now the TAT may run.
//!
//! `burst` is the number of requests a client may send *beyond the steady rate*: a fresh (or
//! long idle) key may send `burst + 1` requests at once (the one the steady rate allows plus
//! `burst` extra), after which it gets one request per `T`. In any interval of length `W` a key
//! gets at most `W / T + burst + 1` requests, so never more than
//! `limit × W / period + burst + 1`. [`Gcra::capacity`] is that `burst + 1`.
//!
//! A policy of the form "`n` requests per `window`, all of which may come at once" is
//! [`Gcra::per_window`]`(n, window)`, which is `Gcra::new(n, window, n - 1)`.
//!
//! # The decision, as a formula
//!
//! With `tat` the stored TAT (`0` for an unknown key) and `now` the current time, in any one
//! unit (nanoseconds here; microseconds from Redis `TIME` in a Lua script, where they stay exact
//! in a double for centuries):
//!
//! ```text
//! tat := max(tat, now)
//! if tat - now > τ:                         -- limited; the stored TAT is left unchanged
//!     retry_after := tat - τ - now          -- when the next request will be allowed
//!     reset_after := tat - now              -- when the key is back to a full burst
//! else:                                     -- allowed
//!     new_tat     := tat + T                -- store it; it may expire after reset_after
//!     remaining   := floor((τ - (tat - now)) / T)
//!     reset_after := new_tat - now
//! ```
//!
//! `remaining` is how many more requests would be allowed at this same instant. A stored TAT in
//! the past is equivalent to no TAT at all, which is why a Redis key can be given a time to live
//! of `reset_after` and why [`KeyedLimiter`] may forget such keys.
//!
//! For response headers: `RateLimit-Limit` is [`Gcra::capacity`], `RateLimit-Remaining` is
//! `remaining` (`0` when limited), `RateLimit-Reset` and `Retry-After` are `reset_after` and
//! `retry_after` rounded up to whole seconds with [`ceil_secs`](crate::ceil_secs).

mod keyed;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use keyed::KeyedLimiter;

use crate::nanos;

/// Rate-limit parameters in the form the proxy maps its configuration to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraParams {
    /// Requests allowed per `period` at the steady rate.
    pub limit: u32,
    /// The period over which `limit` applies.
    pub period: Duration,
    /// Requests allowed at once beyond the steady rate (see the [module docs](self)).
    pub burst: u32,
}

/// A GCRA rate limiter: the parameters of the algorithm, applied to TATs kept by the caller.
///
/// `Gcra` itself holds no per-key state; it is `Copy` and can be shared freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// `T`, in nanoseconds; at least 1.
    interval: u64,
    /// `τ`, in nanoseconds.
    tolerance: u64,
    limit: u32,
    burst: u32,
}

/// The outcome of one rate-limit check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request may proceed.
    Allowed {
        /// Further requests that would be allowed at the same instant.
        remaining: u32,
        /// Time until the key is back to its full [capacity](Gcra::capacity).
        reset_after: Duration,
    },
    /// The request exceeds the limit.
    Limited {
        /// Time until a request will be allowed again.
        retry_after: Duration,
        /// Time until the key is back to its full [capacity](Gcra::capacity).
        reset_after: Duration,
    },
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }

    /// Further requests allowed now; `0` when limited.
    pub fn remaining(&self) -> u32 {
        match *self {
            Decision::Allowed { remaining, .. } => remaining,
            Decision::Limited { .. } => 0,
        }
    }

    /// Time until the key is back to its full capacity.
    pub fn reset_after(&self) -> Duration {
        match *self {
            Decision::Allowed { reset_after, .. } | Decision::Limited { reset_after, .. } => {
                reset_after
            }
        }
    }

    /// Time until a request will be allowed again; `None` when this one was allowed.
    pub fn retry_after(&self) -> Option<Duration> {
        match *self {
            Decision::Allowed { .. } => None,
            Decision::Limited { retry_after, .. } => Some(retry_after),
        }
    }
}

/// A [`Decision`] together with the TAT to store, the result of the pure [`Gcra::evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// The decision.
    pub decision: Decision,
    /// The TAT to store when the request is allowed; `None` (store nothing) when limited.
    pub new_tat: Option<u64>,
}

impl Gcra {
    /// A limiter allowing `limit` requests per `period` at the steady rate, plus `burst` extra
    /// requests at once (see the [module docs](self) for the exact meaning).
    ///
    /// Values that configuration validation rejects are clamped rather than refused, so that
    /// this never fails: a `limit` of `0` acts as `1` and a zero `period` as one nanosecond.
    pub fn new(limit: u32, period: Duration, burst: u32) -> Self {
        let limit = limit.max(1);
        let period = nanos(period).max(1);
        let interval = period.div_ceil(u64::from(limit)).max(1);
        Self {
            interval,
            tolerance: interval.saturating_mul(u64::from(burst)),
            limit,
            burst,
        }
    }

    /// `Gcra::new(params.limit, params.period, params.burst)`.
    pub fn from_params(params: &GcraParams) -> Self {
        Self::new(params.limit, params.period, params.burst)
    }

    /// "`requests` per `window`", with all `requests` available at once to an idle key: the
    /// steady rate is `requests / window` and the burst `requests - 1`.
    pub fn per_window(requests: u32, window: Duration) -> Self {
        let requests = requests.max(1);
        Self::new(requests, window, requests - 1)
    }

    /// The steady-rate limit per period, as given (after clamping).
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The extra requests allowed at once beyond the steady rate.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Requests an idle key may send at once: `burst + 1`. Suitable for `RateLimit-Limit`.
    pub fn capacity(&self) -> u32 {
        self.burst.saturating_add(1)
    }

    /// The emission interval `T`.
    pub fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.interval)
    }

    /// The tolerance `τ = T × burst`.
    pub fn tolerance(&self) -> Duration {
        Duration::from_nanos(self.tolerance)
    }

    /// The pure decision for a key whose stored TAT is `tat` (`0` if none) at `now`.
    ///
    /// This is the formula of the [module docs](self) and has no side effects: the caller
    /// stores [`Evaluation::new_tat`] if it is `Some`. Use it where the TAT lives somewhere
    /// other than an [`AtomicU64`], and as the reference for a Redis script.
    #[inline]
    pub fn evaluate(&self, tat: u64, now: u64) -> Evaluation {
        let tat = tat.max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            Evaluation {
                decision: Decision::Limited {
                    retry_after: Duration::from_nanos(ahead - self.tolerance),
                    reset_after: Duration::from_nanos(ahead),
                },
                new_tat: None,
            }
        } else {
            let new_tat = tat.saturating_add(self.interval);
            // `(τ - ahead) / T <= burst`, so the conversion cannot fail.
            let remaining = u32::try_from((self.tolerance - ahead) / self.interval).unwrap_or(0);
            Evaluation {
                decision: Decision::Allowed {
                    remaining,
                    reset_after: Duration::from_nanos(new_tat - now),
                },
                new_tat: Some(new_tat),
            }
        }
    }

    /// Decides one request for the key whose TAT is `tat`, updating it when allowed.
    ///
    /// Lock-free: the new TAT is installed with a compare-and-swap, and a lost race is simply
    /// re-evaluated against the winner's TAT, so concurrent callers never admit more than the
    /// algorithm allows. A limited request does not write at all, which keeps a flood of
    /// rejected requests from bouncing the cache line between cores.
    #[inline]
    pub fn check(&self, tat: &AtomicU64, now: u64) -> Decision {
        // Relaxed is enough: the TAT is the only data, and compare-and-swap on a single
        // location is totally ordered regardless of the memory ordering.
        let mut current = tat.load(Ordering::Relaxed);
        loop {
            let evaluation = self.evaluate(current, now);
            let Some(new_tat) = evaluation.new_tat else {
                return evaluation.decision;
            };
            match tat.compare_exchange_weak(current, new_tat, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return evaluation.decision,
                Err(actual) => current = actual,
            }
        }
    }
}

impl From<GcraParams> for Gcra {
    fn from(params: GcraParams) -> Self {
        Self::from_params(&params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn interval_rounds_up() {
        let g = Gcra::new(3, Duration::from_secs(1), 0);
        assert_eq!(g.emission_interval(), Duration::from_nanos(333_333_334));
        let g = Gcra::new(0, Duration::ZERO, 2);
        assert_eq!(g.limit(), 1);
        assert_eq!(g.emission_interval(), Duration::from_nanos(1));
        assert_eq!(g.tolerance(), Duration::from_nanos(2));
    }

    #[test]
    fn evaluate_is_pure_and_matches_check() {
        let g = Gcra::new(10, Duration::from_secs(1), 2);
        let e = g.evaluate(0, 5 * MS);
        assert_eq!(e.new_tat, Some(105 * MS));
        assert_eq!(
            e.decision,
            Decision::Allowed {
                remaining: 2,
                reset_after: Duration::from_millis(100)
            }
        );
        let tat = AtomicU64::new(0);
        assert_eq!(g.check(&tat, 5 * MS), e.decision);
        assert_eq!(tat.load(Ordering::Relaxed), 105 * MS);
    }

    #[test]
    fn limited_leaves_tat_alone() {
        let g = Gcra::new(1, Duration::from_secs(1), 0);
        let tat = AtomicU64::new(0);
        assert!(g.check(&tat, 0).is_allowed());
        let d = g.check(&tat, 400 * MS);
        assert_eq!(
            d,
            Decision::Limited {
                retry_after: Duration::from_millis(600),
                reset_after: Duration::from_millis(600)
            }
        );
        assert_eq!(tat.load(Ordering::Relaxed), 1000 * MS);
        assert_eq!(d.remaining(), 0);
        assert_eq!(d.retry_after(), Some(Duration::from_millis(600)));
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        let g = Gcra::new(1, Duration::MAX, u32::MAX);
        let e = g.evaluate(u64::MAX - 1, u64::MAX - 1);
        assert!(e.decision.is_allowed());
        assert_eq!(e.new_tat, Some(u64::MAX));
    }
}

//! Exponential backoff with full jitter.
//!
//! Retry `n` (counting from `0` for the first retry) waits a uniformly random time in
//! `[0, min(max, base × 2^n)]`. Drawing from the whole range rather than adding a little jitter
//! to a fixed delay spreads the retries of many clients that failed together, which is what
//! keeps them from hitting a recovering upstream in synchronised waves.

use std::time::Duration;

use crate::nanos;

/// Exponential backoff with full jitter; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
}

impl Backoff {
    /// Backoff starting at `base` and never exceeding `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The base delay.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The largest delay.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The upper bound of the delay before retry `attempt`: `min(max, base × 2^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let max = nanos(self.max);
        // `base << attempt` in 128 bits cannot overflow for shifts up to 64, and any larger
        // shift of a non-zero base exceeds every u64 cap.
        let scaled = u128::from(nanos(self.base)) << attempt.min(64);
        Duration::from_nanos(u64::try_from(scaled.min(u128::from(max))).unwrap_or(max))
    }

    /// A random delay before retry `attempt`, uniform in `[0, ceiling(attempt)]`.
    ///
    /// The generator is passed in so that tests can seed it and the proxy can keep one per
    /// thread.
    pub fn delay(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        Duration::from_nanos(rng.u64(0..=nanos(self.ceiling(attempt))))
    }
}

impl Default for Backoff {
    /// 25 ms base, 250 ms at most (the configuration defaults).
    fn default() -> Self {
        Self::new(Duration::from_millis(25), Duration::from_millis(250))
    }
}

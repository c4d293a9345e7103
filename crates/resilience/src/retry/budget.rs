//! Retry budget: retries limited to a share of recent traffic, plus a small floor.
//!
//! # Definition
//!
//! Over a sliding window of `ttl`, the budget allows
//!
//! ```text
//! allowed = floor(requests × ratio) + floor(min_retries_per_sec × ttl in seconds)
//! ```
//!
//! retries, where `requests` counts [`RetryBudget::deposit`] calls (one per client request,
//! *not* per attempt) and retries count successful [`RetryBudget::try_withdraw`] calls, both
//! within the window. A retry is allowed while fewer than `allowed` retries were made in the
//! window. With the defaults (ratio 0.2, 3 per second, 10 s) an upstream sees at most 20 %
//! extra load from retries once traffic is steady, and a quiet route still gets 30 retries per
//! 10 s, so a single client's occasional failure is not left unretried for lack of traffic.
//!
//! The window is a ring of 10 time buckets of `ttl / 10`, covering the current bucket and the
//! 9 before it; its effective length therefore varies between `0.9 × ttl` and `ttl`.
//!
//! This is the same idea as the Finagle and Linkerd retry budgets (deposits per request,
//! withdrawals per retry, a per-second floor) expressed as sliding counts, so the share is exact
//! rather than dependent on token expiry.
//!
//! # Concurrency
//!
//! Lock-free: each bucket is one atomic word holding its epoch and count, updated with
//! compare-and-swap. [`RetryBudget::try_withdraw`] checks and then counts, so callers racing for
//! the last retry can each get it: the budget may be exceeded by at most the number of threads
//! withdrawing at the same instant, which is negligible for a limit on aggregate load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::nanos;

/// Buckets the window is split into.
const BUCKETS: u64 = 10;
/// Fixed-point scale of `ratio`.
const PPM: u128 = 1_000_000;

/// Retry budget parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudgetParams {
    /// Retries allowed per request, e.g. `0.2` for one retry per five requests. Negative and
    /// non-finite values act as `0`.
    pub ratio: f64,
    /// Retries per second allowed regardless of traffic.
    pub min_retries_per_sec: u32,
    /// The window over which requests and retries are counted.
    pub ttl: Duration,
}

impl Default for RetryBudgetParams {
    /// Ratio 0.2, 3 retries per second floor, 10 s window.
    fn default() -> Self {
        Self {
            ratio: 0.2,
            min_retries_per_sec: 3,
            ttl: Duration::from_secs(10),
        }
    }
}

/// A thread-safe retry budget; see the [module docs](self).
#[derive(Debug)]
pub struct RetryBudget {
    /// Bucket width in nanoseconds, at least 1.
    width: u64,
    /// `ratio` in millionths.
    ratio_ppm: u128,
    /// Retries allowed per window regardless of traffic.
    reserve: u64,
    requests: Ring,
    retries: Ring,
}

impl RetryBudget {
    /// A budget with no requests or retries counted yet.
    pub fn new(params: RetryBudgetParams) -> Self {
        let ratio = if params.ratio.is_finite() && params.ratio > 0.0 {
            params.ratio
        } else {
            0.0
        };
        // Float-to-int `as` saturates, so absurd ratios are capped rather than wrapped.
        let ratio_ppm = (ratio * PPM as f64).round() as u128;
        let ttl = nanos(params.ttl);
        let reserve = u128::from(params.min_retries_per_sec) * u128::from(ttl) / 1_000_000_000;
        Self {
            width: (ttl / BUCKETS).max(1),
            ratio_ppm,
            reserve: u64::try_from(reserve).unwrap_or(u64::MAX),
            requests: Ring::new(),
            retries: Ring::new(),
        }
    }

    /// Counts one client request at `now`. Call it once per request, before any attempt.
    pub fn deposit(&self, now: u64) {
        self.requests.add(now / self.width);
    }

    /// Takes one retry from the budget at `now` if there is one left; `false` means do not
    /// retry.
    pub fn try_withdraw(&self, now: u64) -> bool {
        let epoch = now / self.width;
        if self.retries.sum(epoch) >= self.allowed(epoch) {
            return false;
        }
        self.retries.add(epoch);
        true
    }

    /// Retries still allowed at `now`, for metrics and tests.
    pub fn available(&self, now: u64) -> u64 {
        let epoch = now / self.width;
        self.allowed(epoch).saturating_sub(self.retries.sum(epoch))
    }

    fn allowed(&self, epoch: u64) -> u64 {
        let share = u128::from(self.requests.sum(epoch)) * self.ratio_ppm / PPM;
        u64::try_from(share)
            .unwrap_or(u64::MAX)
            .saturating_add(self.reserve)
    }
}

/// Counts per time bucket, each bucket one atomic `epoch << 32 | count` word.
///
/// Only the low 32 bits of the epoch are kept. Ages are differences modulo 2^32, which are
/// exact for the ages that matter (less than the ring length); a slot last written exactly a
/// multiple of 2^32 buckets ago would be miscounted, which at the shortest sensible bucket of a
/// millisecond takes 50 days of silence on that slot and then a coincidence to the bucket.
#[derive(Debug)]
struct Ring {
    slots: [AtomicU64; BUCKETS as usize],
}

fn pack(epoch: u32, count: u32) -> u64 {
    u64::from(epoch) << 32 | u64::from(count)
}

fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

impl Ring {
    fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn add(&self, epoch: u64) {
        let slot = &self.slots[(epoch % BUCKETS) as usize];
        let epoch = epoch as u32;
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            let (slot_epoch, count) = unpack(current);
            // A slot only ever holds epochs congruent modulo the ring length, so a different
            // epoch is one a full window old (or, for a caller whose clock read is a whole
            // window stale, which does not happen, newer): start the bucket afresh.
            let new = if slot_epoch == epoch {
                pack(epoch, count.saturating_add(1))
            } else {
                pack(epoch, 1)
            };
            match slot.compare_exchange_weak(current, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    fn sum(&self, epoch: u64) -> u64 {
        let epoch = epoch as u32;
        self.slots
            .iter()
            .map(|slot| unpack(slot.load(Ordering::Relaxed)))
            .filter(|&(slot_epoch, _)| u64::from(epoch.wrapping_sub(slot_epoch)) < BUCKETS)
            .map(|(_, count)| u64::from(count))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_rotates_and_tolerates_late_readers() {
        let ring = Ring::new();
        ring.add(3);
        ring.add(3);
        ring.add(12);
        assert_eq!(ring.sum(12), 3);
        assert_eq!(ring.sum(13), 1);
        // Epoch 13 shares a slot with 3 and replaces it.
        ring.add(13);
        assert_eq!(ring.sum(13), 2);
        // A reader whose clock is one bucket behind still counts within the window.
        ring.add(12);
        assert_eq!(ring.sum(13), 3);
        assert_eq!(ring.sum(30), 0);
    }

    #[test]
    fn ring_survives_epoch_wrap() {
        let ring = Ring::new();
        let base = u64::from(u32::MAX) - 2;
        for e in base..base + 6 {
            ring.add(e);
        }
        assert_eq!(ring.sum(base + 5), 6);
        assert_eq!(ring.sum(base + 14), 1);
    }

    #[test]
    fn bad_ratios_act_as_zero() {
        for ratio in [-1.0, f64::NAN, f64::NEG_INFINITY, f64::INFINITY] {
            let b = RetryBudget::new(RetryBudgetParams {
                ratio,
                min_retries_per_sec: 0,
                ttl: Duration::from_secs(1),
            });
            b.deposit(0);
            assert_eq!(b.available(0), 0, "{ratio}");
        }
    }
}

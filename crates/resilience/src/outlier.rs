//! Passive outlier ejection: taking individual upstream targets out of rotation after
//! consecutive gateway errors.
//!
//! Unlike active health checks this watches real traffic. The proxy reports every response
//! from a target as a failure (5xx, connect error, timeout: whatever it treats as a gateway
//! error) or not, and asks before picking a target whether it is ejected.
//!
//! - `consecutive_failures` failures in a row eject a target.
//! - The `k`-th ejection of a target lasts `base_ejection_time × k`, capped at
//!   `max_ejection_time`. `k` decays by one for every `base_ejection_time` that passes between
//!   the end of one ejection and the start of the next, so a target that misbehaves once a day
//!   is not punished as a repeat offender.
//! - At most `max(1, floor(targets × max_ejection_percent / 100))` targets are ejected at once
//!   (none if the percentage is `0`). A target that crosses the threshold while that many are
//!   out stays in rotation, and is ejected on its next failure if room has been made by then.
//!   The "at least one" is what makes ejection useful in small pools, where any percentage
//!   below `100 / targets` would otherwise round down to never ejecting; it also means that the
//!   single target of a one-target pool can be ejected, and the proxy decides what to do when
//!   no target is left.
//! - Outcomes reported for a target while it is ejected (requests that were already in
//!   flight) are ignored, and its failure count starts from zero when it returns.
//!
//! Ejections end by themselves: `is_ejected` compares the stored end time with `now`, so there
//! is no timer and no "un-eject" call.
//!
//! # Concurrency
//!
//! Per-target counters are atomics, so recording a success or a failure short of the threshold
//! is lock-free (a success on a target with no failures does not even write). The ejection
//! itself takes a mutex, because the cap needs a consistent count of ejected targets; it is
//! the rare path.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::{lock, nanos};

/// Outlier detection parameters; the proxy maps its configuration to these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierParams {
    /// Failures in a row that eject a target (at least 1).
    pub consecutive_failures: u32,
    /// Length of a first ejection, and the unit of later ones.
    pub base_ejection_time: Duration,
    /// Longest ejection.
    pub max_ejection_time: Duration,
    /// Highest share of the targets ejected at once, in percent (`0..=100`, clamped), rounded
    /// down but at least one target; `0` disables ejection.
    pub max_ejection_percent: u32,
}

impl Default for OutlierParams {
    /// 5 consecutive failures, 30 s base ejection, 5 minutes at most, at most half the targets.
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 50,
        }
    }
}

/// An ejection that [`OutlierDetector::record`] just made, for logging and counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ejection {
    /// The ejected target.
    pub target: usize,
    /// How long it stays out.
    pub duration: Duration,
    /// Which ejection of this target it is, after decay (`1` for a first one).
    pub ejection_count: u32,
}

/// Outlier ejection state for the targets of one upstream, indexed `0..targets`.
#[derive(Debug)]
pub struct OutlierDetector {
    params: OutlierParams,
    max_ejected: usize,
    targets: Box<[Target]>,
    /// Serialises ejections so that the cap holds.
    ejecting: Mutex<()>,
}

#[derive(Debug, Default)]
struct Target {
    consecutive: AtomicU32,
    /// End of the current or last ejection; `0` if never ejected.
    ejected_until: AtomicU64,
    /// Ejections so far, before decay.
    ejections: AtomicU32,
}

impl OutlierDetector {
    /// A detector for `targets` targets, none ejected.
    pub fn new(params: OutlierParams, targets: usize) -> Self {
        let params = OutlierParams {
            consecutive_failures: params.consecutive_failures.max(1),
            max_ejection_percent: params.max_ejection_percent.min(100),
            ..params
        };
        // In 128 bits so that no target count can overflow the product.
        let share = (targets as u128 * u128::from(params.max_ejection_percent) / 100) as usize;
        let max_ejected = if params.max_ejection_percent == 0 {
            0
        } else {
            share.max(1).min(targets)
        };
        Self {
            params,
            max_ejected,
            targets: (0..targets).map(|_| Target::default()).collect(),
            ejecting: Mutex::new(()),
        }
    }

    /// The parameters in effect, after clamping.
    pub fn params(&self) -> &OutlierParams {
        &self.params
    }

    /// Number of targets.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no targets.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The most targets that may be ejected at once.
    pub fn max_ejected(&self) -> usize {
        self.max_ejected
    }

    /// Whether `target` is ejected at `now`. Unknown targets are not.
    pub fn is_ejected(&self, target: usize, now: u64) -> bool {
        self.targets
            .get(target)
            .is_some_and(|t| t.ejected_until.load(Ordering::Relaxed) > now)
    }

    /// Targets ejected at `now`, for a gauge.
    pub fn ejected_count(&self, now: u64) -> usize {
        self.targets
            .iter()
            .filter(|t| t.ejected_until.load(Ordering::Relaxed) > now)
            .count()
    }

    /// Records one outcome of `target` at `now`; returns the ejection it caused, if any.
    /// Unknown targets are ignored.
    pub fn record(&self, target: usize, is_failure: bool, now: u64) -> Option<Ejection> {
        let t = self.targets.get(target)?;
        if t.ejected_until.load(Ordering::Relaxed) > now {
            return None;
        }
        if !is_failure {
            // Skipping the store when already zero keeps the common case read-only.
            if t.consecutive.load(Ordering::Relaxed) != 0 {
                t.consecutive.store(0, Ordering::Relaxed);
            }
            return None;
        }
        let failures = t
            .consecutive
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if failures < self.params.consecutive_failures {
            return None;
        }
        self.eject(target, t, now)
    }

    fn eject(&self, index: usize, t: &Target, now: u64) -> Option<Ejection> {
        let _serial = lock(&self.ejecting);
        // Another thread may have ejected this target, or reset its count, since we looked.
        let last_end = t.ejected_until.load(Ordering::Relaxed);
        if last_end > now
            || t.consecutive.load(Ordering::Relaxed) < self.params.consecutive_failures
        {
            return None;
        }
        if self.ejected_count(now) >= self.max_ejected {
            return None;
        }
        let base = nanos(self.params.base_ejection_time);
        let mut count = t.ejections.load(Ordering::Relaxed);
        if last_end > 0 && base > 0 {
            let healthy_periods = (now - last_end) / base;
            count = count.saturating_sub(u32::try_from(healthy_periods).unwrap_or(u32::MAX));
        }
        count = count.saturating_add(1);
        let duration = self
            .params
            .base_ejection_time
            .saturating_mul(count)
            .min(self.params.max_ejection_time);
        t.ejections.store(count, Ordering::Relaxed);
        t.consecutive.store(0, Ordering::Relaxed);
        // An ejection of zero length would store `now`, which still reads as "not ejected"; keep
        // the end time non-zero so that decay can tell that an ejection happened.
        t.ejected_until.store(
            now.saturating_add(nanos(duration)).max(1),
            Ordering::Relaxed,
        );
        Some(Ejection {
            target: index,
            duration,
            ejection_count: count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_is_floor_of_percentage() {
        let p = |pct| OutlierParams {
            max_ejection_percent: pct,
            ..OutlierParams::default()
        };
        assert_eq!(OutlierDetector::new(p(50), 3).max_ejected(), 1);
        assert_eq!(OutlierDetector::new(p(10), 9).max_ejected(), 1);
        assert_eq!(OutlierDetector::new(p(10), 30).max_ejected(), 3);
        assert_eq!(OutlierDetector::new(p(250), 4).max_ejected(), 4);
        assert_eq!(OutlierDetector::new(p(100), 0).max_ejected(), 0);
        assert_eq!(OutlierDetector::new(p(0), 10).max_ejected(), 0);
    }

    #[test]
    fn unknown_targets_are_ignored() {
        let d = OutlierDetector::new(OutlierParams::default(), 2);
        assert_eq!(d.record(7, true, 0), None);
        assert!(!d.is_ejected(7, 0));
    }
}

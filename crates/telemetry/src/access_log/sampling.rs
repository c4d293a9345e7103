//! [`Sampler`]: which requests get an access-log line. Client errors, server errors, gateway
//! errors and slow requests are always logged; fast successes are sampled at `success_rate`.
//!
//! Production sampling draws from fastrand's thread-local generator, so deciding takes no lock.
//! A seeded sampler (for tests) shares one generator behind a mutex to stay reproducible.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use flexgate_config::Sampling;

/// Decides per request whether it is logged, and at which rate.
#[derive(Debug)]
pub struct Sampler {
    success_rate: f64,
    slow_threshold: Duration,
    seeded: Option<Mutex<fastrand::Rng>>,
}

impl Sampler {
    /// A sampler for these settings. A rate outside 0.0–1.0 is clamped (NaN counts as 0.0).
    pub fn new(sampling: &Sampling) -> Sampler {
        let rate = if sampling.success_rate.is_nan() {
            0.0
        } else {
            sampling.success_rate.clamp(0.0, 1.0)
        };
        Sampler {
            success_rate: rate,
            slow_threshold: sampling.slow_threshold.get(),
            seeded: None,
        }
    }

    /// A sampler whose random draws are reproducible, for tests.
    pub fn with_seed(sampling: &Sampling, seed: u64) -> Sampler {
        Sampler {
            seeded: Some(Mutex::new(fastrand::Rng::with_seed(seed))),
            ..Sampler::new(sampling)
        }
    }

    /// The rate at which fast successful requests are logged.
    pub fn success_rate(&self) -> f64 {
        self.success_rate
    }

    /// Whether to log a request, and the sampling rate to record on its line.
    ///
    /// Statuses of 400 and above, requests with an error (`error_kind` set), and requests that
    /// took at least `slow_threshold` are always logged: `Some(1.0)`. Other requests are logged
    /// with probability `success_rate`: `Some(success_rate)`, otherwise `None`.
    pub fn decide(&self, status: u16, duration: Duration, error: bool) -> Option<f64> {
        if status >= 400 || error || duration >= self.slow_threshold {
            return Some(1.0);
        }
        // The extremes need no random draw.
        if self.success_rate >= 1.0 {
            return Some(1.0);
        }
        if self.success_rate <= 0.0 {
            return None;
        }
        let draw = match &self.seeded {
            Some(rng) => rng.lock().unwrap_or_else(PoisonError::into_inner).f64(),
            None => fastrand::f64(),
        };
        (draw < self.success_rate).then_some(self.success_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampling(rate: f64, slow_ms: u64) -> Sampling {
        Sampling {
            success_rate: rate,
            slow_threshold: flexgate_config::Duration::from_millis(slow_ms),
        }
    }

    #[test]
    fn extremes_and_clamping() {
        let fast = Duration::from_millis(1);
        assert_eq!(
            Sampler::new(&sampling(1.0, 1000)).decide(200, fast, false),
            Some(1.0)
        );
        assert_eq!(
            Sampler::new(&sampling(7.0, 1000)).decide(200, fast, false),
            Some(1.0)
        );
        assert_eq!(
            Sampler::new(&sampling(0.0, 1000)).decide(200, fast, false),
            None
        );
        assert_eq!(
            Sampler::new(&sampling(-1.0, 1000)).decide(200, fast, false),
            None
        );
        assert_eq!(Sampler::new(&sampling(f64::NAN, 1000)).success_rate(), 0.0);
    }

    #[test]
    fn seeded_samplers_repeat() {
        let a = Sampler::with_seed(&sampling(0.5, 1000), 42);
        let b = Sampler::with_seed(&sampling(0.5, 1000), 42);
        let fast = Duration::from_millis(1);
        let da: Vec<_> = (0..100).map(|_| a.decide(200, fast, false)).collect();
        let db: Vec<_> = (0..100).map(|_| b.decide(200, fast, false)).collect();
        assert_eq!(da, db);
    }
}

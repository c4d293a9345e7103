//! Circuit breaker: closed → open → half-open → closed.
//!
//! - **Closed**: every request is admitted and its outcome recorded in a sliding window of
//!   time buckets. The breaker opens when, within the window, at least `minimum_requests`
//!   outcomes were recorded and at least `failure_rate_threshold` percent of them failed, or
//!   when `consecutive_failures` (if set) failures happened in a row.
//! - **Open**: every request is rejected, with the remaining open time as `retry_after`. The
//!   `n`-th consecutive opening lasts `open_duration × 2^(n-1)`, capped at `max_open_duration`;
//!   `n` goes back to 1 once the breaker has stayed closed for `backoff_reset`.
//! - **Half-open**: reached lazily, by the first [`Breaker::try_acquire`] after the open time
//!   ran out. At most `half_open_requests` probes are in flight at once; `success_threshold`
//!   successful probes close the breaker, and any failed probe opens it again (for twice as
//!   long).
//!
//! Every change of state gets a new *generation*, and each [`Permit`] remembers the generation it
//! was issued in. Outcomes of permits from an earlier generation are ignored: a slow request
//! admitted while closed must not count as a successful probe after the breaker re-opened and
//! went half-open, and the window starts empty every time the breaker closes.
//!
//! # Concurrency
//!
//! The state lives behind a `Mutex`, and [`Breaker::record`] always takes it: rotating window
//! buckets, the consecutive-failure count and the trip decision must change together, and the
//! critical section is a few dozen instructions without allocation. [`Breaker::try_acquire`]
//! while closed, the hot path, does not lock: the state and generation are mirrored in one
//! atomic word that is read without locking.
//!
//! # Permits must be settled
//!
//! Pass every [`Permit`] to [`Breaker::record`] or [`Breaker::cancel`]. A half-open probe permit
//! that is dropped instead keeps its probe slot until the next change of state, and with every
//! slot lost that change never comes. The proxy should hold the permit in a guard whose `Drop`
//! cancels it, so that a request abandoned by its client does not leak a slot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::{lock, nanos};

/// `retry_after` while half-open with every probe slot taken. The probes' fate is unknown, so
/// this is the smallest value `Retry-After` can express.
pub const HALF_OPEN_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Circuit breaker parameters; the proxy maps its configuration to these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerParams {
    /// Failure percentage within `window` that opens the breaker, `1..=100` (clamped).
    pub failure_rate_threshold: u32,
    /// Outcomes needed within `window` before the failure rate is considered (at least 1).
    pub minimum_requests: u32,
    /// Length of the sliding failure-rate window.
    pub window: Duration,
    /// Number of time buckets the window is split into (at least 1). The window covers the
    /// current bucket and the `buckets - 1` before it, so its effective length varies between
    /// `window × (buckets - 1) / buckets` and `window`.
    pub buckets: u32,
    /// Failures in a row that open the breaker regardless of the rate; `None` (or `Some(0)`)
    /// disables this.
    pub consecutive_failures: Option<u32>,
    /// How long the first opening lasts.
    pub open_duration: Duration,
    /// Longest an opening may last as it doubles on repeated openings.
    pub max_open_duration: Duration,
    /// Time the breaker must stay closed before the next opening lasts `open_duration` again.
    pub backoff_reset: Duration,
    /// Probes admitted concurrently while half-open (at least 1).
    pub half_open_requests: u32,
    /// Successful probes that close the breaker (at least 1).
    pub success_threshold: u32,
}

impl Default for BreakerParams {
    /// The configuration defaults: 50 % of at least 20 requests over 30 s or 5 failures in a
    /// row, open 30 s doubling up to 5 minutes, 3 probes and 3 successes to close; plus 10
    /// buckets and the backoff forgotten after 5 minutes closed.
    fn default() -> Self {
        Self {
            failure_rate_threshold: 50,
            minimum_requests: 20,
            window: Duration::from_secs(30),
            buckets: 10,
            consecutive_failures: Some(5),
            open_duration: Duration::from_secs(30),
            max_open_duration: Duration::from_secs(300),
            backoff_reset: Duration::from_secs(300),
            half_open_requests: 3,
            success_threshold: 3,
        }
    }
}

/// The state of a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum State {
    /// Requests flow; outcomes are counted.
    Closed = 0,
    /// A limited number of probe requests test the upstream.
    HalfOpen = 1,
    /// Requests are rejected.
    Open = 2,
}

impl State {
    /// The numeric value for a metrics gauge: closed `0`, half-open `1`, open `2`.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// `closed`, `half_open` or `open`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::HalfOpen => "half_open",
            State::Open => "open",
        }
    }

    fn from_bits(bits: u64) -> State {
        match bits & 0b11 {
            0 => State::Closed,
            1 => State::HalfOpen,
            _ => State::Open,
        }
    }
}

/// A change of state, reported so that the caller can log and count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: State,
    /// The state after.
    pub to: State,
    /// For a transition to [`State::Open`], how long the breaker stays open; zero otherwise.
    pub open_for: Duration,
}

impl Transition {
    /// The event name for logs and counters: `circuit_breaker.opened`,
    /// `circuit_breaker.half_open` or `circuit_breaker.closed`.
    pub fn event(&self) -> &'static str {
        match self.to {
            State::Open => "circuit_breaker.opened",
            State::HalfOpen => "circuit_breaker.half_open",
            State::Closed => "circuit_breaker.closed",
        }
    }
}

/// Admission of one request; settle it with [`Breaker::record`] or [`Breaker::cancel`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a permit must be passed to `record` or `cancel`"]
pub struct Permit {
    generation: u64,
    probe: bool,
    transition: Option<Transition>,
}

impl Permit {
    /// Whether this request is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The transition that issuing this permit caused: open → half-open for the first probe.
    pub fn transition(&self) -> Option<Transition> {
        self.transition
    }
}

/// A request refused because the breaker is open, or half-open with every probe slot taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// When to try again: the remaining open time, or [`HALF_OPEN_RETRY_AFTER`].
    pub retry_after: Duration,
    /// The state that rejected the request.
    pub state: State,
}

/// How a request admitted by the breaker went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream answered acceptably.
    Success,
    /// The upstream failed (as the proxy defines failure: connect error, timeout, 5xx).
    Failure,
}

/// A thread-safe circuit breaker; see the [module docs](self).
#[derive(Debug)]
pub struct Breaker {
    params: BreakerParams,
    /// `generation << 2 | state`, written under the lock, read without it.
    mirror: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: State,
    generation: u64,
    window: Window,
    consecutive: u32,
    /// Openings since the backoff was last reset; the current opening is the `opens`-th.
    opens: u32,
    open_until: u64,
    closed_since: u64,
    probes_in_flight: u32,
    probe_successes: u32,
}

impl Breaker {
    /// A closed breaker. Parameters out of range are clamped as documented on
    /// [`BreakerParams`].
    pub fn new(params: BreakerParams) -> Self {
        let params = BreakerParams {
            failure_rate_threshold: params.failure_rate_threshold.clamp(1, 100),
            minimum_requests: params.minimum_requests.max(1),
            buckets: params.buckets.max(1),
            half_open_requests: params.half_open_requests.max(1),
            success_threshold: params.success_threshold.max(1),
            consecutive_failures: params.consecutive_failures.filter(|&n| n > 0),
            ..params
        };
        Self {
            mirror: AtomicU64::new(State::Closed as u64),
            inner: Mutex::new(Inner {
                state: State::Closed,
                generation: 0,
                window: Window::new(params.window, params.buckets),
                consecutive: 0,
                opens: 0,
                open_until: 0,
                closed_since: 0,
                probes_in_flight: 0,
                probe_successes: 0,
            }),
            params,
        }
    }

    /// The parameters in effect, after clamping.
    pub fn params(&self) -> &BreakerParams {
        &self.params
    }

    /// The current state, without locking.
    ///
    /// The open → half-open change happens on the first `try_acquire` after the open time, so
    /// an open breaker whose time ran out reads as open until a request comes.
    pub fn state(&self) -> State {
        State::from_bits(self.mirror.load(Ordering::Acquire))
    }

    /// Asks to send one request at `now`.
    ///
    /// Lock-free while closed. When the open time is over, the caller becomes the first
    /// half-open probe and the permit carries the open → half-open [`Transition`].
    pub fn try_acquire(&self, now: u64) -> Result<Permit, Rejected> {
        let mirror = self.mirror.load(Ordering::Acquire);
        if State::from_bits(mirror) == State::Closed {
            return Ok(Permit {
                generation: mirror >> 2,
                probe: false,
                transition: None,
            });
        }
        let mut inner = lock(&self.inner);
        match inner.state {
            // Closed again since the mirror was read.
            State::Closed => Ok(Permit {
                generation: inner.generation,
                probe: false,
                transition: None,
            }),
            State::Open if now < inner.open_until => Err(Rejected {
                retry_after: Duration::from_nanos(inner.open_until - now),
                state: State::Open,
            }),
            State::Open => {
                let transition = self.set_state(&mut inner, State::HalfOpen, Duration::ZERO);
                inner.probes_in_flight = 1;
                inner.probe_successes = 0;
                Ok(Permit {
                    generation: inner.generation,
                    probe: true,
                    transition: Some(transition),
                })
            }
            State::HalfOpen if inner.probes_in_flight < self.params.half_open_requests => {
                inner.probes_in_flight += 1;
                Ok(Permit {
                    generation: inner.generation,
                    probe: true,
                    transition: None,
                })
            }
            State::HalfOpen => Err(Rejected {
                retry_after: HALF_OPEN_RETRY_AFTER,
                state: State::HalfOpen,
            }),
        }
    }

    /// Records how the request admitted by `permit` went, at `now`; returns the transition it
    /// caused, if any (closed → open, half-open → open or half-open → closed).
    pub fn record(&self, permit: Permit, outcome: Outcome, now: u64) -> Option<Transition> {
        let mut inner = lock(&self.inner);
        if permit.generation != inner.generation {
            return None;
        }
        let failed = outcome == Outcome::Failure;
        match inner.state {
            State::Closed => {
                inner.window.record(now, failed);
                inner.consecutive = if failed {
                    inner.consecutive.saturating_add(1)
                } else {
                    0
                };
                self.should_trip(&inner, now)
                    .then(|| self.open(&mut inner, now))
            }
            State::HalfOpen if failed => Some(self.open(&mut inner, now)),
            State::HalfOpen => {
                inner.probes_in_flight = inner.probes_in_flight.saturating_sub(1);
                inner.probe_successes += 1;
                (inner.probe_successes >= self.params.success_threshold).then(|| {
                    inner.closed_since = now;
                    inner.window.clear();
                    inner.consecutive = 0;
                    self.set_state(&mut inner, State::Closed, Duration::ZERO)
                })
            }
            // No permit is issued while open, so a permit of the current generation cannot be
            // for an open breaker; nothing to do either way.
            State::Open => None,
        }
    }

    /// Settles `permit` without an outcome, e.g. when the client went away before the upstream
    /// answered. Frees its probe slot if it was a probe; counts nothing.
    pub fn cancel(&self, permit: Permit) {
        if !permit.probe {
            return;
        }
        let mut inner = lock(&self.inner);
        if permit.generation == inner.generation && inner.state == State::HalfOpen {
            inner.probes_in_flight = inner.probes_in_flight.saturating_sub(1);
        }
    }

    /// How long the `n`-th consecutive opening lasts (`n >= 1`).
    pub fn open_duration(&self, n: u32) -> Duration {
        let base = nanos(self.params.open_duration);
        let max = nanos(self.params.max_open_duration).max(base);
        // `base << (n - 1)` in 128 bits cannot overflow for shifts up to 64, and any shift of
        // 64 or more exceeds every u64 cap unless the base is zero.
        let shift = n.saturating_sub(1).min(64);
        let scaled = u128::from(base) << shift;
        Duration::from_nanos(u64::try_from(scaled.min(u128::from(max))).unwrap_or(max))
    }

    fn should_trip(&self, inner: &Inner, now: u64) -> bool {
        if let Some(n) = self.params.consecutive_failures {
            if inner.consecutive >= n {
                return true;
            }
        }
        let (total, failures) = inner.window.totals(now);
        total >= u64::from(self.params.minimum_requests)
            && failures * 100 >= u64::from(self.params.failure_rate_threshold) * total
    }

    fn open(&self, inner: &mut Inner, now: u64) -> Transition {
        if inner.state == State::Closed
            && now.saturating_sub(inner.closed_since) >= nanos(self.params.backoff_reset)
        {
            inner.opens = 0;
        }
        inner.opens = inner.opens.saturating_add(1);
        let open_for = self.open_duration(inner.opens);
        inner.open_until = now.saturating_add(nanos(open_for));
        inner.window.clear();
        inner.consecutive = 0;
        inner.probes_in_flight = 0;
        inner.probe_successes = 0;
        self.set_state(inner, State::Open, open_for)
    }

    fn set_state(&self, inner: &mut Inner, to: State, open_for: Duration) -> Transition {
        let from = inner.state;
        inner.state = to;
        inner.generation += 1;
        self.mirror
            .store(inner.generation << 2 | to as u64, Ordering::Release);
        Transition { from, to, open_for }
    }
}

/// Outcome counts in a ring of time buckets.
#[derive(Debug)]
struct Window {
    /// Bucket width in nanoseconds, at least 1.
    width: u64,
    buckets: Box<[Bucket]>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// `now / width` when the bucket was last reset; `u64::MAX` when unused.
    epoch: u64,
    total: u64,
    failures: u64,
}

const UNUSED: Bucket = Bucket {
    epoch: u64::MAX,
    total: 0,
    failures: 0,
};

impl Window {
    fn new(window: Duration, buckets: u32) -> Self {
        let n = u64::from(buckets.max(1));
        Self {
            width: (nanos(window) / n).max(1),
            buckets: vec![UNUSED; buckets.max(1) as usize].into_boxed_slice(),
        }
    }

    fn record(&mut self, now: u64, failed: bool) {
        let epoch = now / self.width;
        let len = self.buckets.len() as u64;
        let bucket = &mut self.buckets[(epoch % len) as usize];
        // Reset a slot left by an earlier lap of the ring. A caller whose clock read is older
        // than the slot's epoch counts into the newer bucket rather than wiping newer data.
        if bucket.epoch == u64::MAX || bucket.epoch < epoch {
            *bucket = Bucket {
                epoch,
                total: 0,
                failures: 0,
            };
        }
        bucket.total += 1;
        bucket.failures += u64::from(failed);
    }

    /// `(total, failures)` over the buckets of the last `buckets` epochs.
    fn totals(&self, now: u64) -> (u64, u64) {
        let epoch = now / self.width;
        let len = self.buckets.len() as u64;
        self.buckets
            .iter()
            .filter(|b| b.epoch != u64::MAX && epoch.saturating_sub(b.epoch) < len)
            .fold((0, 0), |(t, f), b| (t + b.total, f + b.failures))
    }

    fn clear(&mut self) {
        self.buckets.fill(UNUSED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn window_slides() {
        let mut w = Window::new(Duration::from_secs(10), 10);
        w.record(0, true);
        w.record(S / 2, false);
        w.record(5 * S, true);
        assert_eq!(w.totals(5 * S), (3, 2));
        assert_eq!(w.totals(9 * S + S / 2), (3, 2));
        // At 10 s the first bucket (epoch 0) leaves the window.
        assert_eq!(w.totals(10 * S), (1, 1));
        // Recording at 10 s reuses the slot of epoch 0.
        w.record(10 * S, false);
        assert_eq!(w.totals(10 * S), (2, 1));
        assert_eq!(w.totals(15 * S), (1, 0));
        assert_eq!(w.totals(100 * S), (0, 0));
        w.clear();
        assert_eq!(w.totals(10 * S), (0, 0));
    }

    #[test]
    fn window_tolerates_older_clock_reads() {
        let mut w = Window::new(Duration::from_secs(10), 10);
        w.record(11 * S, true);
        // Epoch 1 maps to the same slot as epoch 11 and must not wipe it.
        w.record(S, false);
        assert_eq!(w.totals(11 * S), (2, 1));
    }

    #[test]
    fn open_duration_doubles_and_caps() {
        let b = Breaker::new(BreakerParams {
            open_duration: Duration::from_secs(10),
            max_open_duration: Duration::from_secs(60),
            ..BreakerParams::default()
        });
        let secs: Vec<u64> = (1..=5).map(|n| b.open_duration(n).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 60, 60]);
        assert_eq!(b.open_duration(u32::MAX), Duration::from_secs(60));
        assert_eq!(b.open_duration(0), Duration::from_secs(10));
    }

    #[test]
    fn state_numbers() {
        assert_eq!(State::Closed.as_u8(), 0);
        assert_eq!(State::HalfOpen.as_u8(), 1);
        assert_eq!(State::Open.as_u8(), 2);
        assert_eq!(State::HalfOpen.as_str(), "half_open");
    }
}

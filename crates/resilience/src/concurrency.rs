//! Concurrency limiting with a short bounded queue, for load shedding.
//!
//! At most `max_in_flight` requests run at once; up to `max_queue` more may wait for a slot;
//! anything beyond is rejected at once (typically with `503`), which is the point: a gateway
//! that queues without bound turns overload into latency for everyone.
//!
//! # The split between this crate and the proxy
//!
//! This type is only the accounting: one atomic word holding the in-flight and queued counts,
//! and the decisions on it. Waiting needs an async runtime, so the proxy does it with its own
//! primitive. The protocol:
//!
//! 1. [`ConcurrencyLimiter::try_acquire`] returns [`Admission::Admitted`] (run now),
//!    [`Admission::Queued`] (wait) or [`Admission::Rejected`] (shed).
//! 2. A queued request waits for a wake-up, then calls [`ConcurrencyLimiter::try_promote`]:
//!    `true` means it now holds a slot; `false` means another request took the slot first, and
//!    it waits again. If it gives up (queue timeout, client gone) it calls
//!    [`ConcurrencyLimiter::leave_queue`].
//! 3. Whoever holds a slot calls [`ConcurrencyLimiter::release`] exactly once when done. It
//!    returns `true` when a waiter should be woken.
//!
//! Wake-ups must not be lost when no waiter is parked yet, and there may be several pending at
//! once. With tokio that is a `Semaphore::new(0)` used as a wake counter: `add_permits(1)` when
//! `release` or `leave_queue` returns `true`; a waiter loops on
//! `semaphore.acquire().await` (forgetting the permit) followed by `try_promote()`. A wake-up
//! left over by a waiter that gave up only causes one spurious `try_promote` later.
//!
//! Every slot freed while requests are queued produces a wake-up, so a queued request is never
//! stranded next to a free slot. New arrivals queue behind waiters instead of taking a freed slot
//! first (so waiters are served roughly in order), except when the queue is full, where taking
//! a free slot beats rejecting.

use std::sync::atomic::{AtomicU64, Ordering};

/// The decision of [`ConcurrencyLimiter::try_acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "an admitted request must be released; a queued one promoted or removed"]
pub enum Admission {
    /// The request holds a slot; call [`ConcurrencyLimiter::release`] when done.
    Admitted,
    /// The request is queued; wait for a wake-up and call [`ConcurrencyLimiter::try_promote`],
    /// or [`ConcurrencyLimiter::leave_queue`] to give up.
    Queued,
    /// In-flight and queue limits are both reached: shed the request.
    Rejected,
}

/// In-flight and queue accounting; see the [module docs](self).
#[derive(Debug)]
pub struct ConcurrencyLimiter {
    max_in_flight: u32,
    max_queue: u32,
    /// `in_flight << 32 | queued`, so that both change in one atomic step.
    state: AtomicU64,
}

fn pack(in_flight: u32, queued: u32) -> u64 {
    u64::from(in_flight) << 32 | u64::from(queued)
}

fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

impl ConcurrencyLimiter {
    /// A limiter running at most `max_in_flight` requests (at least 1) with at most
    /// `max_queue` waiting (`0`: no queue, reject as soon as all slots are taken).
    pub fn new(max_in_flight: u32, max_queue: u32) -> Self {
        Self {
            max_in_flight: max_in_flight.max(1),
            max_queue,
            state: AtomicU64::new(0),
        }
    }

    /// The in-flight limit.
    pub fn max_in_flight(&self) -> u32 {
        self.max_in_flight
    }

    /// The queue limit.
    pub fn max_queue(&self) -> u32 {
        self.max_queue
    }

    /// Requests holding a slot, for a gauge.
    pub fn in_flight(&self) -> u32 {
        unpack(self.state.load(Ordering::Relaxed)).0
    }

    /// Requests waiting, for a gauge.
    pub fn queued(&self) -> u32 {
        unpack(self.state.load(Ordering::Relaxed)).1
    }

    /// Admits, queues or rejects one new request.
    pub fn try_acquire(&self) -> Admission {
        let mut admission = Admission::Rejected;
        let _ = self.update(|in_flight, queued| {
            let free = in_flight < self.max_in_flight;
            if free && queued == 0 {
                admission = Admission::Admitted;
                Some((in_flight + 1, queued))
            } else if queued < self.max_queue {
                admission = Admission::Queued;
                Some((in_flight, queued + 1))
            } else if free {
                admission = Admission::Admitted;
                Some((in_flight + 1, queued))
            } else {
                admission = Admission::Rejected;
                None
            }
        });
        admission
    }

    /// Moves one queued request into a free slot; `false` if no slot is free (wait again).
    pub fn try_promote(&self) -> bool {
        self.update(|in_flight, queued| {
            (in_flight < self.max_in_flight && queued > 0).then(|| (in_flight + 1, queued - 1))
        })
        .is_some()
    }

    /// Removes one queued request that gives up waiting. Returns `true` when another waiter
    /// should be woken: the leaver may have consumed the wake-up meant for a free slot.
    pub fn leave_queue(&self) -> bool {
        self.update(|in_flight, queued| (queued > 0).then(|| (in_flight, queued - 1)))
            .is_some_and(|(in_flight, queued)| in_flight < self.max_in_flight && queued > 0)
    }

    /// Frees one slot. Returns `true` when a queued request should be woken.
    pub fn release(&self) -> bool {
        self.update(|in_flight, queued| (in_flight > 0).then(|| (in_flight - 1, queued)))
            .is_some_and(|(_, queued)| queued > 0)
    }

    /// Applies `f` to `(in_flight, queued)` atomically; `None` from `f` leaves the state alone.
    /// Returns the new counts if they were changed.
    fn update(&self, mut f: impl FnMut(u32, u32) -> Option<(u32, u32)>) -> Option<(u32, u32)> {
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            let (in_flight, queued) = unpack(current);
            let (new_in_flight, new_queued) = f(in_flight, queued)?;
            // AcqRel: a promoted or admitted request should see what the releaser did before
            // giving up its slot, as with any lock.
            match self.state.compare_exchange_weak(
                current,
                pack(new_in_flight, new_queued),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some((new_in_flight, new_queued)),
                Err(actual) => current = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_both_counts() {
        assert_eq!(unpack(pack(7, 9)), (7, 9));
        assert_eq!(unpack(pack(u32::MAX, 0)), (u32::MAX, 0));
    }

    #[test]
    fn misuse_does_not_underflow() {
        let l = ConcurrencyLimiter::new(1, 1);
        assert!(!l.release());
        assert!(!l.leave_queue());
        assert!(!l.try_promote());
        assert_eq!((l.in_flight(), l.queued()), (0, 0));
    }
}

//! Concurrency limiter accounting, including a simulation of the wake-up protocol the proxy
//! runs on top of it.

use std::collections::VecDeque;

use flexgate_resilience::concurrency::{Admission, ConcurrencyLimiter};

#[test]
fn admits_then_queues_then_rejects() {
    let l = ConcurrencyLimiter::new(2, 1);
    assert_eq!(l.try_acquire(), Admission::Admitted);
    assert_eq!(l.try_acquire(), Admission::Admitted);
    assert_eq!(l.try_acquire(), Admission::Queued);
    assert_eq!(l.try_acquire(), Admission::Rejected);
    assert_eq!((l.in_flight(), l.queued()), (2, 1));
    // Queued waiter cannot promote while full.
    assert!(!l.try_promote());
    // Release with a waiter: wake it; it promotes.
    assert!(l.release());
    assert!(l.try_promote());
    assert_eq!((l.in_flight(), l.queued()), (2, 0));
    // Release with nobody waiting: no wake-up.
    assert!(!l.release());
    assert!(!l.release());
    assert_eq!((l.in_flight(), l.queued()), (0, 0));
}

#[test]
fn no_queue_rejects_at_capacity() {
    let l = ConcurrencyLimiter::new(1, 0);
    assert_eq!(l.try_acquire(), Admission::Admitted);
    assert_eq!(l.try_acquire(), Admission::Rejected);
    assert!(!l.release());
    assert_eq!(l.try_acquire(), Admission::Admitted);
    assert_eq!(ConcurrencyLimiter::new(0, 0).max_in_flight(), 1);
}

#[test]
fn arrivals_queue_behind_waiters_for_a_freed_slot() {
    let l = ConcurrencyLimiter::new(1, 2);
    assert_eq!(l.try_acquire(), Admission::Admitted);
    assert_eq!(l.try_acquire(), Admission::Queued);
    assert!(l.release());
    // The slot is free but promised to the waiter: a newcomer queues.
    assert_eq!(l.try_acquire(), Admission::Queued);
    assert!(l.try_promote());
    assert_eq!((l.in_flight(), l.queued()), (1, 1));
}

#[test]
fn a_full_queue_does_not_hide_a_free_slot() {
    let l = ConcurrencyLimiter::new(1, 1);
    assert_eq!(l.try_acquire(), Admission::Admitted);
    assert_eq!(l.try_acquire(), Admission::Queued);
    assert!(l.release());
    // Queue full, slot free: better to run the newcomer than to shed it.
    assert_eq!(l.try_acquire(), Admission::Admitted);
    // The woken waiter finds no slot and waits again; the next release wakes it again.
    assert!(!l.try_promote());
    assert!(l.release());
    assert!(l.try_promote());
}

#[test]
fn leaving_the_queue_passes_a_wake_up_on() {
    let l = ConcurrencyLimiter::new(1, 2);
    assert_eq!(l.try_acquire(), Admission::Admitted);
    assert_eq!(l.try_acquire(), Admission::Queued);
    assert_eq!(l.try_acquire(), Admission::Queued);
    // A release wakes one waiter, which gives up instead of promoting: the other must be
    // woken in its place.
    assert!(l.release());
    assert!(l.leave_queue());
    assert!(l.try_promote());
    // Leaving while all slots are taken needs no wake-up.
    assert_eq!(l.try_acquire(), Admission::Queued);
    assert!(!l.leave_queue());
    assert_eq!((l.in_flight(), l.queued()), (1, 0));
}

/// Drives the protocol of the module docs with a wake-up counter standing in for the proxy's
/// semaphore, with random arrivals, completions and give-ups, and checks the invariants: the
/// limits hold, and no request waits while a slot is free and no wake-up is pending.
#[test]
fn simulated_protocol_never_strands_a_waiter() {
    let mut rng = fastrand::Rng::with_seed(42);
    let l = ConcurrencyLimiter::new(3, 4);
    let mut running = 0u32;
    let mut waiting: VecDeque<()> = VecDeque::new();
    let mut wakes = 0u32;
    let mut rejected = 0;
    for _ in 0..100_000 {
        match rng.u8(0..4) {
            0 => match l.try_acquire() {
                Admission::Admitted => running += 1,
                Admission::Queued => waiting.push_back(()),
                Admission::Rejected => rejected += 1,
            },
            1 if running > 0 => {
                running -= 1;
                if l.release() {
                    wakes += 1;
                }
            }
            2 if wakes > 0 && !waiting.is_empty() => {
                wakes -= 1;
                if l.try_promote() {
                    waiting.pop_front();
                    running += 1;
                }
            }
            3 if !waiting.is_empty() && rng.u8(0..8) == 0 => {
                waiting.pop_back();
                if l.leave_queue() {
                    wakes += 1;
                }
            }
            _ => {}
        }
        assert!(running <= 3 && waiting.len() <= 4);
        assert_eq!(
            (l.in_flight(), l.queued() as usize),
            (running, waiting.len())
        );
        if running < 3 && !waiting.is_empty() {
            assert!(wakes > 0, "a waiter is stranded next to a free slot");
        }
    }
    assert!(rejected > 0);
}

//! Load balancing: choosing one target of an upstream for each request.
//!
//! A [`Balancer`] is built per upstream and per config version and shared by all requests. It
//! holds only the policy, precomputed schedules and an atomic counter, so picking is lock-free.
//! Health, outlier ejection and in-flight counts belong to the proxy, which passes them in as
//! closures; the balancer only decides.
//!
//! Target weights are honoured by the `weighted` policy only, as the config documents; the other
//! policies treat every target alike.

use std::sync::atomic::{AtomicUsize, Ordering};

use flexgate_config::LoadBalancing;

/// Longest precomputed weighted schedule. Larger weight sums are scaled down to about this many
/// slots, keeping the ratios, so memory stays bounded whatever operators write.
const MAX_SCHEDULE: u64 = 4096;

/// Picks targets of one upstream by its load-balancing policy.
#[derive(Debug)]
pub struct Balancer {
    strategy: Strategy,
    targets: usize,
    /// Requests picked so far; positions round robin and the weighted schedule.
    counter: AtomicUsize,
    /// Picks whose scheduled target was ineligible; spreads those picks over the eligible
    /// targets (see [`Balancer::spill`]).
    spill: AtomicUsize,
}

#[derive(Debug)]
enum Strategy {
    RoundRobin,
    Weighted {
        /// One cycle of smooth weighted round robin, as target indices.
        schedule: Vec<usize>,
        /// The weights the schedule was built from (reduced), for spilled picks.
        weights: Vec<u32>,
    },
    LeastRequest,
}

impl Balancer {
    /// A balancer for an upstream with `weights.len()` targets (`weights[i]` is the weight of
    /// target `i`; only the `weighted` policy reads the values).
    pub fn new(policy: LoadBalancing, weights: &[u32]) -> Balancer {
        let strategy = match policy {
            LoadBalancing::RoundRobin => Strategy::RoundRobin,
            LoadBalancing::Weighted => {
                let weights = reduce_weights(weights);
                Strategy::Weighted {
                    schedule: smooth_schedule(&weights),
                    weights,
                }
            }
            LoadBalancing::LeastRequest => Strategy::LeastRequest,
        };
        Balancer {
            strategy,
            targets: weights.len(),
            counter: AtomicUsize::new(0),
            spill: AtomicUsize::new(0),
        }
    }

    /// Picks a target index. `eligible(i)` says whether target i may be used (healthy, not
    /// ejected); `in_flight(i)` gives its current in-flight requests (used by `least_request`).
    /// Returns `None` if no target is eligible.
    pub fn pick(
        &self,
        eligible: impl Fn(usize) -> bool,
        in_flight: impl Fn(usize) -> u64,
    ) -> Option<usize> {
        if self.targets == 0 {
            return None;
        }
        let mut eligible = Memo::new(eligible);
        match &self.strategy {
            Strategy::RoundRobin => self.round_robin(&mut eligible),
            Strategy::Weighted { schedule, weights } => {
                self.weighted(schedule, weights, &mut eligible)
            }
            Strategy::LeastRequest => least_request(self.targets, &mut eligible, in_flight),
        }
    }

    fn next_tick(&self) -> usize {
        // Relaxed is enough: the counter only spreads load, it orders nothing else.
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// The next value of the spill counter.
    ///
    /// When the scheduled target is ineligible, handing its turn to the next target in line would
    /// give that one all of the extra load (with four targets and one down, its neighbour would
    /// get twice the traffic of the others). Spilled turns instead go round the eligible targets
    /// on a counter of their own, so each gets its fair share of them.
    fn spill(&self) -> usize {
        self.spill.fetch_add(1, Ordering::Relaxed)
    }

    fn round_robin<F: Fn(usize) -> bool>(&self, eligible: &mut Memo<F>) -> Option<usize> {
        let n = self.targets;
        let primary = self.next_tick() % n;
        if eligible.get(primary) {
            return Some(primary);
        }
        let count = (0..n).filter(|&i| eligible.get(i)).count();
        if count == 0 {
            return None;
        }
        nth_eligible(n, eligible, self.spill() % count)
    }

    fn weighted<F: Fn(usize) -> bool>(
        &self,
        schedule: &[usize],
        weights: &[u32],
        eligible: &mut Memo<F>,
    ) -> Option<usize> {
        if schedule.is_empty() {
            return None;
        }
        let primary = schedule[self.next_tick() % schedule.len()];
        if eligible.get(primary) {
            return Some(primary);
        }
        // Spilled turns are shared in proportion to the eligible targets' weights.
        let live = |(i, &w): (usize, &u32)| (w > 0).then_some((i, u64::from(w)));
        let total: u64 = weights
            .iter()
            .enumerate()
            .filter_map(live)
            .filter(|&(i, _)| eligible.get(i))
            .map(|(_, w)| w)
            .sum();
        if total == 0 {
            return None;
        }
        let mut k = u64::try_from(self.spill()).unwrap_or(0) % total;
        for (i, w) in weights.iter().enumerate().filter_map(live) {
            if !eligible.get(i) {
                continue;
            }
            if k < w {
                return Some(i);
            }
            k -= w;
        }
        // Only reachable if eligibility changed under us for targets past the memo; any
        // eligible target is still a valid answer.
        weights
            .iter()
            .enumerate()
            .filter_map(live)
            .map(|(i, _)| i)
            .find(|&i| eligible.get(i))
    }
}

/// Power of two choices: two distinct random eligible targets, the less loaded one wins.
fn least_request<F: Fn(usize) -> bool>(
    n: usize,
    eligible: &mut Memo<F>,
    in_flight: impl Fn(usize) -> u64,
) -> Option<usize> {
    let count = (0..n).filter(|&i| eligible.get(i)).count();
    match count {
        0 => None,
        1 => nth_eligible(n, eligible, 0),
        _ => {
            let a = fastrand::usize(..count);
            // Draw from the others so the two choices are distinct.
            let mut b = fastrand::usize(..count - 1);
            if b >= a {
                b += 1;
            }
            let a = nth_eligible(n, eligible, a)?;
            let b = nth_eligible(n, eligible, b)?;
            Some(if in_flight(b) < in_flight(a) { b } else { a })
        }
    }
}

/// The `k`-th (from 0) eligible target.
fn nth_eligible<F: Fn(usize) -> bool>(n: usize, eligible: &mut Memo<F>, k: usize) -> Option<usize> {
    (0..n).filter(|&i| eligible.get(i)).nth(k)
}

/// Remembers the eligibility of the first 64 targets during one pick, so each is asked at most
/// once (the closure may read shared health state, and a consistent view within one pick keeps
/// counting and selecting in agreement). Larger upstreams ask again for the rest.
struct Memo<F> {
    f: F,
    known: u64,
    value: u64,
}

impl<F: Fn(usize) -> bool> Memo<F> {
    fn new(f: F) -> Memo<F> {
        Memo {
            f,
            known: 0,
            value: 0,
        }
    }

    fn get(&mut self, i: usize) -> bool {
        if i >= 64 {
            return (self.f)(i);
        }
        let bit = 1u64 << i;
        if self.known & bit == 0 {
            self.known |= bit;
            if (self.f)(i) {
                self.value |= bit;
            }
        }
        self.value & bit != 0
    }
}

/// One cycle of smooth weighted round robin over (already reduced) `weights`: every step each target gains its
/// weight, the richest is chosen and pays the total. This interleaves targets (5,1,1 gives
/// `a a b a c a a`) instead of sending bursts to one. Zero weights never appear.
fn smooth_schedule(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut current = vec![0i64; weights.len()];
    let mut schedule = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        let mut best: Option<usize> = None;
        for (i, &w) in weights.iter().enumerate() {
            if w == 0 {
                continue;
            }
            current[i] += i64::from(w);
            if best.is_none_or(|b| current[i] > current[b]) {
                best = Some(i);
            }
        }
        let Some(best) = best else {
            break;
        };
        current[best] -= total;
        schedule.push(best);
    }
    schedule
}

/// Divides weights by their common divisor (1,1 and 100,100 give the same short schedule) and
/// scales large sums down towards [`MAX_SCHEDULE`], keeping every non-zero weight at least 1.
fn reduce_weights(weights: &[u32]) -> Vec<u32> {
    let sum: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let mut reduced: Vec<u32> = if sum > MAX_SCHEDULE {
        weights
            .iter()
            .map(|&w| {
                if w == 0 {
                    0
                } else {
                    // Rounded share of MAX_SCHEDULE; fits u32 since it is at most MAX_SCHEDULE.
                    let scaled = (u64::from(w) * MAX_SCHEDULE + sum / 2) / sum;
                    u32::try_from(scaled.max(1)).unwrap_or(u32::MAX)
                }
            })
            .collect()
    } else {
        weights.to_vec()
    };
    let g = reduced.iter().fold(0, |g, &w| gcd(g, w));
    if g > 1 {
        for w in &mut reduced {
            *w /= g;
        }
    }
    reduced
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balancer_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Balancer>();
    }

    #[test]
    fn smooth_schedule_interleaves() {
        assert_eq!(smooth_schedule(&[5, 1, 1]), vec![0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(smooth_schedule(&[1, 1, 1]), vec![0, 1, 2]);
        assert_eq!(smooth_schedule(&reduce_weights(&[200, 100])), vec![0, 1, 0]);
        assert_eq!(smooth_schedule(&reduce_weights(&[0, 3])), vec![1]);
        assert_eq!(smooth_schedule(&[0, 0]), Vec::<usize>::new());
        assert_eq!(smooth_schedule(&[]), Vec::<usize>::new());
    }

    #[test]
    fn large_weights_are_scaled_down_keeping_ratios() {
        let reduced = reduce_weights(&[1_000_000, 3_000_000, 7]);
        let sched = smooth_schedule(&reduced);
        assert!(sched.len() as u64 <= MAX_SCHEDULE + 3);
        assert_eq!(reduced[1], reduced[0] * 3);
        // A tiny weight still gets a slot rather than vanishing.
        assert_eq!(reduced[2], 1);
        assert_eq!(reduce_weights(&[u32::MAX, u32::MAX]), vec![1, 1]);
    }

    #[test]
    fn memo_asks_each_target_once() {
        let calls = std::cell::Cell::new(0);
        let mut m = Memo::new(|i| {
            calls.set(calls.get() + 1);
            i % 2 == 0
        });
        assert!(m.get(0));
        assert!(!m.get(1));
        assert!(m.get(0));
        assert_eq!(calls.get(), 2);
        assert!(m.get(100));
        assert!(m.get(100));
        assert_eq!(calls.get(), 4);
    }
}

//! Distribution tests of the load-balancing policies.

use std::sync::Arc;

use flexgate_config::LoadBalancing;
use flexgate_router::Balancer;

fn all(_: usize) -> bool {
    true
}

fn idle(_: usize) -> u64 {
    0
}

/// `n` picks with fixed eligibility and load.
fn picks(
    b: &Balancer,
    n: usize,
    eligible: impl Fn(usize) -> bool + Copy,
    in_flight: impl Fn(usize) -> u64 + Copy,
) -> Vec<usize> {
    (0..n)
        .map(|_| b.pick(eligible, in_flight).expect("a target is eligible"))
        .collect()
}

fn counts(picks: &[usize], targets: usize) -> Vec<usize> {
    let mut c = vec![0; targets];
    for &p in picks {
        c[p] += 1;
    }
    c
}

#[test]
fn round_robin_cycles_exactly() {
    let b = Balancer::new(LoadBalancing::RoundRobin, &[1, 1, 1]);
    assert_eq!(picks(&b, 7, all, idle), vec![0, 1, 2, 0, 1, 2, 0]);
}

#[test]
fn round_robin_ignores_weights() {
    let b = Balancer::new(LoadBalancing::RoundRobin, &[5, 0, 1]);
    assert_eq!(picks(&b, 6, all, idle), vec![0, 1, 2, 0, 1, 2]);
}

#[test]
fn round_robin_skips_ineligible_and_spreads_their_turns() {
    let b = Balancer::new(LoadBalancing::RoundRobin, &[1, 1, 1, 1]);
    let eligible = |i| i != 1;
    let p = picks(&b, 12 * 30, eligible, idle);
    assert!(!p.contains(&1));
    // The down target's turns go round the others, so they stay exactly even.
    assert_eq!(counts(&p, 4), vec![120, 0, 120, 120]);
}

#[test]
fn weighted_exact_counts_and_interleaving() {
    let b = Balancer::new(LoadBalancing::Weighted, &[5, 1, 1]);
    let p = picks(&b, 7, all, idle);
    assert_eq!(p, vec![0, 0, 1, 0, 2, 0, 0]);
    let p = picks(&b, 7 * 100, all, idle);
    assert_eq!(counts(&p, 3), vec![500, 100, 100]);

    // Common factors do not change the pattern.
    let b = Balancer::new(LoadBalancing::Weighted, &[50, 10, 10]);
    assert_eq!(picks(&b, 7, all, idle), vec![0, 0, 1, 0, 2, 0, 0]);

    let b = Balancer::new(LoadBalancing::Weighted, &[3, 2]);
    let p = picks(&b, 5 * 40, all, idle);
    assert_eq!(counts(&p, 2), vec![120, 80]);
    // Never more than two of the heavier target in a row.
    assert!(p.windows(3).all(|w| w != [0, 0, 0]));
}

#[test]
fn weighted_zero_weight_never_chosen() {
    let b = Balancer::new(LoadBalancing::Weighted, &[0, 2, 1]);
    let p = picks(&b, 300, all, idle);
    assert_eq!(counts(&p, 3), vec![0, 200, 100]);

    let only_zero_left = Balancer::new(LoadBalancing::Weighted, &[0, 1]);
    assert_eq!(only_zero_left.pick(|i| i == 0, idle), None);
    let drained = Balancer::new(LoadBalancing::Weighted, &[0, 0]);
    assert_eq!(drained.pick(all, idle), None);
}

#[test]
fn weighted_skips_ineligible_keeping_other_ratios() {
    let b = Balancer::new(LoadBalancing::Weighted, &[2, 4, 2]);
    // 99 cycles of 4: the down target's 99 turns are shared 2:1 like the others' own turns.
    let p = picks(&b, 4 * 99, |i| i != 0, idle);
    assert_eq!(counts(&p, 3), vec![0, 264, 132]);

    // Spilled turns are interleaved too, not handed out in bursts.
    let b = Balancer::new(LoadBalancing::Weighted, &[5, 1, 1]);
    let p = picks(&b, 7 * 10, |i| i != 0, idle);
    assert_eq!(counts(&p, 3), vec![0, 35, 35]);
    assert!(p.windows(3).all(|w| w[0] != w[1] || w[1] != w[2]), "{p:?}");
}

#[test]
fn large_weights_keep_their_ratio() {
    let b = Balancer::new(LoadBalancing::Weighted, &[1_000_000, 3_000_000]);
    let p = picks(&b, 4000, all, idle);
    assert_eq!(counts(&p, 2), vec![1000, 3000]);
}

#[test]
fn least_request_prefers_lightly_loaded_target() {
    let b = Balancer::new(LoadBalancing::LeastRequest, &[1, 1, 1, 1]);
    let load = |i: usize| if i == 2 { 0 } else { 100 };
    let p = picks(&b, 4000, all, load);
    let c = counts(&p, 4);
    // Target 2 wins whenever it is one of the two choices: 1 - C(3,2)/C(4,2) = 1/2 of picks.
    assert!(c[2] > 1700 && c[2] < 2300, "{c:?}");
    for (i, &n) in c.iter().enumerate() {
        if i != 2 {
            assert!(n < c[2], "{c:?}");
        }
    }
}

#[test]
fn least_request_with_two_targets_always_takes_the_idle_one() {
    let b = Balancer::new(LoadBalancing::LeastRequest, &[1, 1]);
    let p = picks(&b, 200, all, |i| if i == 1 { 0 } else { 5 });
    assert!(p.iter().all(|&i| i == 1));
}

#[test]
fn least_request_eligibility() {
    let b = Balancer::new(LoadBalancing::LeastRequest, &[1, 1, 1]);
    // The only eligible target is taken even when busy.
    let p = picks(&b, 50, |i| i == 1, |i| if i == 1 { 1000 } else { 0 });
    assert!(p.iter().all(|&i| i == 1));
    let p = picks(&b, 500, |i| i != 0, idle);
    let c = counts(&p, 3);
    assert_eq!(c[0], 0);
    assert!(c[1] > 150 && c[2] > 150, "{c:?}");
}

#[test]
fn no_eligible_target_gives_none() {
    for policy in [
        LoadBalancing::RoundRobin,
        LoadBalancing::Weighted,
        LoadBalancing::LeastRequest,
    ] {
        let b = Balancer::new(policy, &[1, 1, 1]);
        assert_eq!(b.pick(|_| false, idle), None, "{policy:?}");
        let empty = Balancer::new(policy, &[]);
        assert_eq!(empty.pick(all, idle), None, "{policy:?}");
    }
}

#[test]
fn many_targets_beyond_the_eligibility_memo() {
    let b = Balancer::new(LoadBalancing::RoundRobin, &[1; 100]);
    let p = picks(&b, 1000, |i| i >= 90, idle);
    let c = counts(&p, 100);
    assert!(c[..90].iter().all(|&n| n == 0));
    assert_eq!(c[90..].iter().sum::<usize>(), 1000);
    let b = Balancer::new(LoadBalancing::LeastRequest, &[1; 100]);
    let p = picks(
        &b,
        100,
        |i| i == 99 || i == 3,
        |i| if i == 99 { 0 } else { 9 },
    );
    assert!(p.iter().all(|&i| i == 99));
}

#[test]
fn concurrent_round_robin_stays_even() {
    let b = Arc::new(Balancer::new(LoadBalancing::RoundRobin, &[1, 1, 1, 1]));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let b = Arc::clone(&b);
            std::thread::spawn(move || picks(&b, 1000, all, idle))
        })
        .collect();
    let mut p = Vec::new();
    for h in handles {
        p.extend(h.join().expect("thread"));
    }
    assert_eq!(counts(&p, 4), vec![1000; 4]);
}

//! Metrics of the protection layers: circuit breakers, outlier ejection, retries and load
//! shedding. Handles are resolved per upstream and per route when a config version is built.

use std::sync::Arc;

use super::family::Family;
use super::primitives::{Counter, Gauge};
use super::registry::Registry;

/// The `attempt` label values; attempts beyond the third share `4+` to keep the label bounded.
const ATTEMPT_LABELS: [&str; 4] = ["1", "2", "3", "4+"];

/// The families, registered once.
#[derive(Debug)]
pub struct ResilienceMetrics {
    breaker_state: Arc<Family<Gauge>>,
    breaker_transitions: Arc<Family<Counter>>,
    breaker_rejections: Arc<Family<Counter>>,
    ejections: Arc<Family<Counter>>,
    upstream_limit_rejections: Arc<Family<Counter>>,
    attempts: Arc<Family<Counter>>,
    retries_skipped: Arc<Family<Counter>>,
    load_shed: Arc<Family<Counter>>,
}

impl ResilienceMetrics {
    /// Registers the families in `r`.
    pub fn new(r: &Registry) -> ResilienceMetrics {
        ResilienceMetrics {
            breaker_state: r.gauge_family(
                "flexgate_circuit_breaker_state",
                "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open.",
                &["upstream"],
            ),
            breaker_transitions: r.counter_family(
                "flexgate_circuit_breaker_transitions_total",
                "Circuit breaker state changes, by upstream and new state.",
                &["upstream", "to"],
            ),
            breaker_rejections: r.counter_family(
                "flexgate_circuit_breaker_rejections_total",
                "Requests refused because the upstream's circuit breaker was open.",
                &["upstream"],
            ),
            ejections: r.counter_family(
                "flexgate_outlier_ejections_total",
                "Targets ejected by outlier detection, by upstream.",
                &["upstream"],
            ),
            upstream_limit_rejections: r.counter_family(
                "flexgate_upstream_limit_rejections_total",
                "Requests refused because the upstream's concurrency limit was reached.",
                &["upstream"],
            ),
            attempts: r.counter_family(
                "flexgate_upstream_attempts_total",
                "Attempts sent upstream, by route and attempt number (1 is the first try).",
                &["route", "attempt"],
            ),
            retries_skipped: r.counter_family(
                "flexgate_retries_skipped_total",
                "Failed attempts not retried although retries are configured, by route and reason.",
                &["route", "reason"],
            ),
            load_shed: r.counter_family(
                "flexgate_load_shed_total",
                "Requests refused with 503 overloaded, by scope (global or route) and route.",
                &["scope", "route"],
            ),
        }
    }

    /// Handles for one upstream.
    pub fn upstream(&self, upstream: &str) -> UpstreamResilience {
        let state = self.breaker_state.get_or_create(&[upstream]);
        UpstreamResilience {
            upstream: upstream.to_owned(),
            state,
            transitions: self.breaker_transitions.clone(),
            rejections: self.breaker_rejections.get_or_create(&[upstream]),
            ejections: self.ejections.get_or_create(&[upstream]),
            limit_rejections: self.upstream_limit_rejections.get_or_create(&[upstream]),
        }
    }

    /// Handles for one route.
    pub fn route(&self, route: &str) -> RouteResilience {
        RouteResilience {
            route: route.to_owned(),
            attempts: ATTEMPT_LABELS.map(|a| self.attempts.get_or_create(&[route, a])),
            skipped: self.retries_skipped.clone(),
            shed: self.load_shed.get_or_create(&["route", route]),
        }
    }

    /// Counts a request refused by the global concurrency cap.
    pub fn shed_global(&self) {
        self.load_shed.get_or_create(&["global", "none"]).inc();
    }
}

/// Per-upstream protection metrics.
#[derive(Debug, Clone)]
pub struct UpstreamResilience {
    upstream: String,
    state: Arc<Gauge>,
    transitions: Arc<Family<Counter>>,
    rejections: Arc<Counter>,
    ejections: Arc<Counter>,
    limit_rejections: Arc<Counter>,
}

impl UpstreamResilience {
    /// Records a breaker transition to `to` (`closed`, `half_open`, `open`) with its gauge value.
    pub fn breaker_transition(&self, to: &str, state_value: i64) {
        self.state.set(state_value);
        self.transitions.get_or_create(&[&self.upstream, to]).inc();
    }

    /// Sets the state gauge without counting a transition (a breaker that starts closed).
    pub fn breaker_state(&self, state_value: i64) {
        self.state.set(state_value);
    }

    /// Counts a request refused by the open breaker.
    pub fn breaker_rejected(&self) {
        self.rejections.inc();
    }

    /// Counts an outlier ejection.
    pub fn ejected(&self) {
        self.ejections.inc();
    }

    /// Counts a request refused by the upstream's concurrency limit.
    pub fn limit_rejected(&self) {
        self.limit_rejections.inc();
    }
}

/// Per-route protection metrics.
#[derive(Debug, Clone)]
pub struct RouteResilience {
    route: String,
    attempts: [Arc<Counter>; 4],
    skipped: Arc<Family<Counter>>,
    shed: Arc<Counter>,
}

impl RouteResilience {
    /// Counts attempt number `n` (1-based).
    pub fn attempt(&self, n: u32) {
        let index = (n.max(1) as usize - 1).min(ATTEMPT_LABELS.len() - 1);
        self.attempts[index].inc();
    }

    /// Counts a failed attempt that was not retried, with the reason.
    pub fn retry_skipped(&self, reason: &str) {
        self.skipped.get_or_create(&[&self.route, reason]).inc();
    }

    /// Counts a request refused by the route's concurrency cap.
    pub fn shed(&self) {
        self.shed.inc();
    }
}

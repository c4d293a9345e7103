//! Metrics of the rate-limit policies: decisions by route and policy, and the state of the shared
//! Redis that `mode: redis` limits use. Handles are resolved when a policy is built.

use std::sync::Arc;

use super::family::Family;
use super::primitives::{Counter, Gauge};
use super::registry::Registry;

/// The families, registered once. Cloning is cheap (reference counts).
#[derive(Debug, Clone)]
pub struct RateLimitMetrics {
    decisions: Arc<Family<Counter>>,
    redis_unavailable: Arc<Counter>,
    /// A family without labels, so that the series exists only once a Redis-mode limit is
    /// configured: a plain gauge would report "down" on every gateway that never uses Redis.
    redis_up: Arc<Family<Gauge>>,
}

impl RateLimitMetrics {
    /// Registers the families in `r`.
    pub fn new(r: &Registry) -> RateLimitMetrics {
        RateLimitMetrics {
            decisions: r.counter_family(
                "flexgate_rate_limit_decisions_total",
                "Rate-limit decisions, by route, policy and result (allowed or limited).",
                &["route", "policy", "result"],
            ),
            redis_unavailable: r.counter(
                "flexgate_rate_limit_redis_unavailable_total",
                "Rate-limit decisions that could not be made in Redis (unreachable, error or timeout).",
            ),
            redis_up: r.gauge_family(
                "flexgate_rate_limit_redis_up",
                "Whether the Redis of mode: redis rate limits answers (1) or not (0).",
                &[],
            ),
        }
    }

    /// Handles for the decisions of `policy` on `route`, both series created at zero. Resolve
    /// once per configuration version and keep the result.
    pub fn decisions(&self, route: &str, policy: &str) -> RateLimitDecisions {
        RateLimitDecisions {
            allowed: self.decisions.get_or_create(&[route, policy, "allowed"]),
            limited: self.decisions.get_or_create(&[route, policy, "limited"]),
        }
    }

    /// The counter behind `flexgate_rate_limit_redis_unavailable_total`.
    pub fn redis_unavailable(&self) -> Arc<Counter> {
        self.redis_unavailable.clone()
    }

    /// The gauge behind `flexgate_rate_limit_redis_up`; the series appears (at 0) with the
    /// first call.
    pub fn redis_up(&self) -> Arc<Gauge> {
        self.redis_up.get_or_create(&[])
    }
}

/// The `allowed` and `limited` series of one route and policy. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct RateLimitDecisions {
    allowed: Arc<Counter>,
    limited: Arc<Counter>,
}

impl RateLimitDecisions {
    /// Counts one decision.
    #[inline]
    pub fn record(&self, allowed: bool) {
        if allowed {
            self.allowed.inc();
        } else {
            self.limited.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_and_redis_state() {
        let r = Registry::new();
        let m = RateLimitMetrics::new(&r);
        let out = r.encode();
        assert!(out.contains("# TYPE flexgate_rate_limit_redis_up gauge\n"));
        assert!(!out.contains("flexgate_rate_limit_redis_up 0"));
        let d = m.decisions("users", "per-client");
        d.record(true);
        d.record(true);
        d.record(false);
        m.redis_unavailable().inc();
        m.redis_up().set(1);
        let out = r.encode();
        assert!(out.contains(
            "flexgate_rate_limit_decisions_total{route=\"users\",policy=\"per-client\",result=\"allowed\"} 2\n"
        ));
        assert!(out.contains(
            "flexgate_rate_limit_decisions_total{route=\"users\",policy=\"per-client\",result=\"limited\"} 1\n"
        ));
        assert!(out.contains("flexgate_rate_limit_redis_unavailable_total 1\n"));
        assert!(out.contains("flexgate_rate_limit_redis_up 1\n"));
    }
}

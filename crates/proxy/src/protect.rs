//! Protection state at run time: the circuit breaker, outlier detector and concurrency limit of
//! each upstream, the retry settings of each route, and the load shedders.
//!
//! The algorithms live in `flexgate-resilience` (no runtime, injected time); this module maps the
//! config onto them, owns the clocks, and does the waiting with tokio. Guards are built with the
//! upstream runtime they protect and reused with it across reloads, so breaker and ejection state
//! survive a config change that does not touch the upstream.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{info, warn};

use flexgate_config::{FailureKind, FallbackResponse, LoadShedding, Retries, RetryOn, Upstream};
use flexgate_resilience::breaker::{Outcome, Transition};
use flexgate_resilience::outlier::OutlierParams;
use flexgate_resilience::retry::{RetryBudgetParams, RetryOn as RetryClasses};
use flexgate_resilience::{
    Backoff, Breaker, BreakerParams, Clock, OutlierDetector, RetryBudget, RetryPolicy,
};
use flexgate_telemetry::metrics::{RouteResilience, UpstreamResilience};

/// A concurrency cap with a short bounded queue: beyond `max` in flight, up to `queue` requests
/// wait at most `timeout` for a slot; the rest are refused at once. This bounds both memory and
/// latency under overload instead of letting queues grow.
#[derive(Debug)]
pub struct Shedder {
    slots: Arc<Semaphore>,
    waiting: AtomicU32,
    queue: u32,
    timeout: Duration,
}

impl Shedder {
    /// A shedder with `max` slots (at least 1).
    pub fn new(max: u32, queue: u32, timeout: Duration) -> Shedder {
        Shedder {
            slots: Arc::new(Semaphore::new(max.max(1) as usize)),
            waiting: AtomicU32::new(0),
            queue,
            timeout,
        }
    }

    /// A slot, held until the permit is dropped; `None` when the request must be refused.
    pub async fn admit(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Some(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let permit = tokio::time::timeout(self.timeout, self.slots.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match permit {
            Ok(Ok(permit)) => Some(permit),
            _ => None,
        }
    }
}

/// The global shedder of a config version.
pub fn global_shedder(settings: &LoadShedding) -> Option<Arc<Shedder>> {
    (settings.max_concurrent_requests > 0).then(|| {
        Arc::new(Shedder::new(
            settings.max_concurrent_requests,
            settings.queue_size,
            settings.queue_timeout.get(),
        ))
    })
}

/// How the breaker judges an attempt.
#[derive(Debug, Clone, Copy)]
pub enum AttemptResult {
    /// No connection could be made.
    ConnectError,
    /// No response head in time.
    Timeout,
    /// The upstream failed after the request was sent (reset, protocol error).
    UpstreamError,
    /// A response head with this status.
    Status(u16),
}

/// Protection state of one upstream.
pub struct UpstreamGuards {
    clock: Clock,
    breaker: Option<Breaker>,
    failure_on: Vec<FailureKind>,
    /// Answer while the breaker is open, instead of `503 circuit_open`.
    pub fallback: Option<FallbackResponse>,
    outlier: Option<OutlierDetector>,
    /// The upstream's concurrency limit (`limits.max_requests` / `max_pending`).
    pub limit: Option<Shedder>,
    /// Metric handles.
    pub metrics: UpstreamResilience,
    name: String,
}

/// A breaker admission; settle it with [`UpstreamGuards::settle`].
pub struct BreakerTicket(Option<flexgate_resilience::breaker::Permit>);

/// The breaker refused the request.
#[derive(Debug, Clone, Copy)]
pub struct Open {
    /// When to try again.
    pub retry_after: Duration,
}

impl UpstreamGuards {
    /// Builds the guards configured on `spec`.
    pub fn new(spec: &Upstream, metrics: UpstreamResilience) -> UpstreamGuards {
        let breaker = spec.circuit_breaker.as_ref().map(|cb| {
            Breaker::new(BreakerParams {
                failure_rate_threshold: cb.failure_rate_threshold,
                minimum_requests: cb.minimum_requests,
                window: cb.window.get(),
                consecutive_failures: (cb.consecutive_failures > 0)
                    .then_some(cb.consecutive_failures),
                open_duration: cb.open_duration.get(),
                max_open_duration: cb.max_open_duration.get(),
                half_open_requests: cb.half_open_requests,
                success_threshold: cb.half_open_requests,
                ..BreakerParams::default()
            })
        });
        if breaker.is_some() {
            metrics.breaker_state(0);
        }
        let outlier = spec.outlier_detection.as_ref().map(|od| {
            OutlierDetector::new(
                OutlierParams {
                    consecutive_failures: od.consecutive_errors,
                    base_ejection_time: od.base_ejection_time.get(),
                    max_ejection_time: od.max_ejection_time.get(),
                    max_ejection_percent: od.max_ejection_percent,
                },
                spec.targets.len(),
            )
        });
        let limit = (spec.limits.max_requests > 0).then(|| {
            Shedder::new(
                spec.limits.max_requests,
                spec.limits.max_pending,
                spec.timeouts.connect.get(),
            )
        });
        UpstreamGuards {
            clock: Clock::new(),
            failure_on: spec
                .circuit_breaker
                .as_ref()
                .map(|cb| cb.failure_on.clone())
                .unwrap_or_default(),
            fallback: spec
                .circuit_breaker
                .as_ref()
                .and_then(|cb| cb.fallback.clone()),
            breaker,
            outlier,
            limit,
            metrics,
            name: spec.name.clone(),
        }
    }

    /// Whether outlier detection currently keeps target `index` out.
    pub fn is_ejected(&self, index: usize) -> bool {
        self.outlier
            .as_ref()
            .is_some_and(|o| o.is_ejected(index, self.clock.now()))
    }

    /// Asks the breaker for admission.
    pub fn admit(&self) -> Result<BreakerTicket, Open> {
        let Some(breaker) = &self.breaker else {
            return Ok(BreakerTicket(None));
        };
        match breaker.try_acquire(self.clock.now()) {
            Ok(permit) => {
                if let Some(t) = permit.transition() {
                    self.report(t);
                }
                Ok(BreakerTicket(Some(permit)))
            }
            Err(rejected) => {
                self.metrics.breaker_rejected();
                Err(Open {
                    retry_after: rejected.retry_after,
                })
            }
        }
    }

    /// Returns an unused admission (the request never reached the upstream).
    pub fn cancel(&self, ticket: BreakerTicket) {
        if let (Some(breaker), Some(permit)) = (&self.breaker, ticket.0) {
            breaker.cancel(permit);
        }
    }

    /// Records how an attempt on target `index` went, in the breaker and the outlier detector.
    pub fn settle(&self, ticket: BreakerTicket, index: usize, result: AttemptResult) {
        let now = self.clock.now();
        if let (Some(breaker), Some(permit)) = (&self.breaker, ticket.0) {
            let outcome = if self.is_breaker_failure(result) {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            if let Some(t) = breaker.record(permit, outcome, now) {
                self.report(t);
            }
        }
        if let Some(outlier) = &self.outlier {
            // Outlier detection looks at gateway-class failures of one target: 5xx answers and
            // failures to get an answer at all.
            let failed = match result {
                AttemptResult::Status(s) => s >= 500,
                _ => true,
            };
            if let Some(ejection) = outlier.record(index, failed, now) {
                self.metrics.ejected();
                warn!(
                    message = "Upstream target ejected by outlier detection.",
                    event = "outlier.ejected",
                    upstream = %self.name,
                    target = ejection.target,
                    seconds = ejection.duration.as_secs_f64(),
                );
            }
        }
    }

    fn is_breaker_failure(&self, result: AttemptResult) -> bool {
        self.failure_on.iter().any(|kind| match (kind, result) {
            (FailureKind::ConnectError, AttemptResult::ConnectError) => true,
            (FailureKind::Timeout, AttemptResult::Timeout) => true,
            (FailureKind::ServerError, AttemptResult::Status(s)) => s >= 500,
            (
                FailureKind::ServerError | FailureKind::GatewayError,
                AttemptResult::UpstreamError,
            ) => true,
            (FailureKind::GatewayError, AttemptResult::Status(s)) => matches!(s, 502..=504),
            _ => false,
        })
    }

    fn report(&self, t: Transition) {
        self.metrics
            .breaker_transition(t.to.as_str(), i64::from(t.to.as_u8()));
        info!(
            message = "Circuit breaker changed state.",
            event = t.event(),
            upstream = %self.name,
            from = t.from.as_str(),
            to = t.to.as_str(),
        );
    }
}

/// Retry settings of one route.
pub struct RouteRetry {
    /// What is retried and how often.
    pub policy: RetryPolicy,
    /// The retry budget.
    pub budget: RetryBudget,
    /// Backoff between attempts.
    pub backoff: Backoff,
    /// Time each attempt may wait for the response head.
    pub per_try_timeout: Option<Duration>,
    /// Largest body buffered so it can be sent again.
    pub max_replay_body: u64,
    /// Clock of the budget.
    pub clock: Clock,
}

impl RouteRetry {
    /// From the route's `retries`.
    pub fn new(spec: &Retries) -> RouteRetry {
        let classes = RetryClasses {
            connect_failure: spec.retry_on.contains(&RetryOn::ConnectFailure),
            gateway_error: spec.retry_on.contains(&RetryOn::GatewayError),
            timeout: spec.retry_on.contains(&RetryOn::Timeout),
        };
        RouteRetry {
            policy: RetryPolicy::with_attempts(spec.attempts, classes),
            budget: RetryBudget::new(RetryBudgetParams {
                ratio: spec.budget_ratio,
                min_retries_per_sec: spec.budget_min_per_second,
                ..RetryBudgetParams::default()
            }),
            backoff: Backoff::new(spec.backoff_base.get(), spec.backoff_max.get()),
            per_try_timeout: spec.per_try_timeout.map(|d| d.get()),
            max_replay_body: spec.max_replay_body.get(),
            clock: Clock::new(),
        }
    }
}

/// Protection of one route, resolved per config version.
pub struct RouteGuards {
    /// Retries, when configured.
    pub retry: Option<RouteRetry>,
    /// The route's concurrency cap, when configured.
    pub shedder: Option<Arc<Shedder>>,
    /// Total time for the request, all attempts included.
    pub total_timeout: Option<Duration>,
    /// Metric handles.
    pub metrics: RouteResilience,
}

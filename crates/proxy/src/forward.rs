//! The forward phase: send a prepared request to the route's upstream, with the circuit breaker,
//! outlier ejection, per-try and total timeouts, and retries with backoff and a budget.
//!
//! Every attempt goes through the same steps: breaker admission → target choice (healthy, not
//! ejected, preferably not tried yet) → send with the attempt's timeout → classify → record in the
//! breaker and outlier detector → retry or return. Retries re-enter target selection, so a retry
//! goes to another target when there is one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::uri::Uri;
use http::{Method, Request, Response, Version};
use hyper::body::Incoming;
use tracing::warn;

use flexgate_resilience::retry::{Attempt, AttemptOutcome, RequestInfo, RetryDecision, StopReason};

use crate::body::{empty, full, Meter, ProxyBody};
use crate::error::GatewayError;
use crate::protect::{AttemptResult, Open, UpstreamGuards};
use crate::snapshot::RouteRuntime;
use crate::upstream::{ConnectError, InFlight, UpstreamRuntime};

/// The request body of the forward phase.
pub enum OutgoingBody {
    /// Held in memory (empty, or buffered because retries are configured): can be sent again.
    Replay(Bytes),
    /// Streamed from the client: can be sent once.
    Stream(Option<ProxyBody>),
}

/// A request ready to go upstream, minus the target-specific parts (URI authority, `Host`).
pub struct Outgoing {
    /// Method.
    pub method: Method,
    /// Rewritten path and query.
    pub path_and_query: String,
    /// Version spoken to the upstream.
    pub version: Version,
    /// Headers, cleaned and with the forwarding headers added; `Host` is set per target.
    pub headers: HeaderMap,
    /// `Some`: send this `Host` (preserve_host); `None`: the target's authority.
    pub preserved_host: Option<HeaderValue>,
    /// The body.
    pub body: OutgoingBody,
}

/// How the forward phase ended.
pub enum Forwarded {
    /// The upstream answered (possibly with an error status that was not retried).
    Response {
        /// The response.
        response: Response<Incoming>,
        /// The target that answered.
        target: InFlight,
        /// Time the last attempt waited for the response head.
        upstream_ms: f64,
    },
    /// No usable answer.
    Failed {
        /// Why.
        error: GatewayError,
        /// The last target tried.
        target: Option<InFlight>,
        /// Time the last attempt took.
        upstream_ms: Option<f64>,
    },
    /// The circuit breaker is open.
    Open(Open),
}

/// Sends `out` upstream; see the module docs for the attempt loop.
pub async fn forward(
    upstream: &Arc<UpstreamRuntime>,
    guards: &UpstreamGuards,
    route: &RouteRuntime,
    mut out: Outgoing,
    bytes_in: &Meter,
    body_limit: u64,
) -> Forwarded {
    let retry = route.guards.retry.as_ref();
    let info = RequestInfo::new(
        &out.method,
        &out.headers,
        matches!(out.body, OutgoingBody::Replay(_)),
    );
    if let Some(r) = retry {
        r.budget.deposit(r.clock.now());
    }
    let deadline = route.guards.total_timeout.map(|t| Instant::now() + t);
    let mut tried: Vec<usize> = Vec::new();
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        route.guards.metrics.attempt(attempt);
        let ticket = match guards.admit() {
            Ok(ticket) => ticket,
            Err(open) => return Forwarded::Open(open),
        };
        let picked = upstream
            .pick_where(|i| !guards.is_ejected(i) && !tried.contains(&i))
            .or_else(|| upstream.pick_where(|i| !guards.is_ejected(i)));
        let Some(target) = picked else {
            guards.cancel(ticket);
            upstream.metrics.error("no_healthy_target");
            return Forwarded::Failed {
                error: GatewayError::NoHealthyTarget,
                target: None,
                upstream_ms: None,
            };
        };
        let index = target.index();
        let last_chance = retry.is_none_or(|r| attempt > r.policy.max_retries);
        let request = match build_request(&mut out, &target, last_chance) {
            Ok(request) => request,
            Err(error) => {
                guards.cancel(ticket);
                return Forwarded::Failed {
                    error,
                    target: Some(target),
                    upstream_ms: None,
                };
            }
        };
        let per_try = retry
            .and_then(|r| r.per_try_timeout)
            .unwrap_or(route.timeout);
        let wait = match deadline {
            Some(d) => per_try.min(d.saturating_duration_since(Instant::now())),
            None => per_try,
        };
        let sent = Instant::now();
        let result = tokio::time::timeout(wait, upstream.client.request(request)).await;
        let upstream_ms = sent.elapsed().as_secs_f64() * 1000.0;

        // Classify the attempt once, for the breaker, the outlier detector, metrics and retries.
        let (judged, outcome, ended) = match result {
            Ok(Ok(response)) => {
                let status = response.status();
                upstream.metrics.record(Some(status.as_u16()), upstream_ms);
                (
                    AttemptResult::Status(status.as_u16()),
                    AttemptOutcome::Status(status),
                    Forwarded::Response {
                        response,
                        target,
                        upstream_ms,
                    },
                )
            }
            Ok(Err(error)) => {
                upstream.metrics.record(None, upstream_ms);
                let failure = crate::limits::client_body_failure(bytes_in, body_limit)
                    .unwrap_or_else(|| classify_client_error(&error));
                if let Some(kind) = failure.upstream_error_kind() {
                    upstream.metrics.error(kind);
                }
                warn!(
                    message = "Upstream attempt failed.",
                    route = %route.name,
                    upstream = %upstream.spec.name,
                    target = %target.target().url,
                    attempt,
                    error = %error_chain(&error),
                );
                let (judged, outcome) = match &failure {
                    // Refused by the SSRF guard: nothing was sent, another target may pass.
                    GatewayError::UpstreamConnect(_)
                    | GatewayError::UpstreamTls(_)
                    | GatewayError::UpstreamBlocked(_) => {
                        (AttemptResult::ConnectError, AttemptOutcome::ConnectFailed)
                    }
                    GatewayError::UpstreamTimeout => {
                        (AttemptResult::Timeout, AttemptOutcome::ConnectFailed)
                    }
                    // The client's body was cut: not the upstream's fault, never retried.
                    GatewayError::PayloadTooLarge { .. } => (
                        AttemptResult::Status(200),
                        AttemptOutcome::Status(http::StatusCode::PAYLOAD_TOO_LARGE),
                    ),
                    GatewayError::RequestTimeout => (
                        AttemptResult::Status(200),
                        AttemptOutcome::Status(http::StatusCode::REQUEST_TIMEOUT),
                    ),
                    _ => (AttemptResult::UpstreamError, AttemptOutcome::UpstreamError),
                };
                (
                    judged,
                    outcome,
                    Forwarded::Failed {
                        error: failure,
                        target: Some(target),
                        upstream_ms: Some(upstream_ms),
                    },
                )
            }
            Err(_) => {
                upstream.metrics.error("timeout");
                upstream.metrics.record(None, upstream_ms);
                (
                    AttemptResult::Timeout,
                    AttemptOutcome::PerTryTimeout,
                    Forwarded::Failed {
                        error: GatewayError::UpstreamTimeout,
                        target: Some(target),
                        upstream_ms: Some(upstream_ms),
                    },
                )
            }
        };
        guards.settle(ticket, index, judged);

        let Some(retry) = retry else {
            return ended;
        };
        let decision = retry.policy.decide(
            &info,
            &Attempt {
                outcome,
                retries_so_far: attempt - 1,
                response_started: false,
            },
        );
        match decision {
            RetryDecision::Retry => {}
            RetryDecision::Stop(StopReason::NotRetryable) => return ended,
            RetryDecision::Stop(reason) => {
                route.guards.metrics.retry_skipped(reason.as_str());
                return ended;
            }
        }
        if !retry.budget.try_withdraw(retry.clock.now()) {
            route.guards.metrics.retry_skipped("budget_exhausted");
            return ended;
        }
        let delay = retry.backoff.delay(attempt - 1, &mut fastrand::Rng::new());
        if let Some(d) = deadline {
            if Instant::now() + delay >= d {
                route.guards.metrics.retry_skipped("deadline");
                return ended;
            }
        }
        // The failed attempt's response (if any) is dropped here, returning its connection.
        drop(ended);
        tried.push(index);
        tokio::time::sleep(delay).await;
    }
}

/// Builds one attempt's request for `target`. The last possible attempt takes the headers instead
/// of copying them.
fn build_request(
    out: &mut Outgoing,
    target: &InFlight,
    last_chance: bool,
) -> Result<Request<ProxyBody>, GatewayError> {
    let target_rt = target.target();
    let uri = Uri::builder()
        .scheme(target_rt.scheme.clone())
        .authority(target_rt.authority.clone())
        .path_and_query(out.path_and_query.as_str())
        .build()
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    let mut headers = if last_chance {
        std::mem::take(&mut out.headers)
    } else {
        out.headers.clone()
    };
    if out.version != Version::HTTP_2 {
        let host = match &out.preserved_host {
            Some(host) => Some(host.clone()),
            None => HeaderValue::from_str(target_rt.authority.as_str()).ok(),
        };
        if let Some(host) = host {
            headers.insert(header::HOST, host);
        }
    }
    let body = match &mut out.body {
        OutgoingBody::Replay(bytes) if bytes.is_empty() => empty(),
        OutgoingBody::Replay(bytes) => full(bytes.clone()),
        OutgoingBody::Stream(body) => body.take().unwrap_or_else(empty),
    };
    let mut request = Request::new(body);
    *request.method_mut() = out.method.clone();
    *request.uri_mut() = uri;
    *request.version_mut() = out.version;
    *request.headers_mut() = headers;
    Ok(request)
}

/// Classifies a pooled-client failure by the cause our connector left in the error chain.
pub fn classify_client_error(error: &hyper_util::client::legacy::Error) -> GatewayError {
    let detail = error_chain(error);
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(connect) = cause.downcast_ref::<ConnectError>() {
            return match connect {
                ConnectError::Timeout(_) => GatewayError::UpstreamTimeout,
                ConnectError::Tls(..) => GatewayError::UpstreamTls(detail),
                ConnectError::Blocked(_) => GatewayError::UpstreamBlocked(detail),
                _ => GatewayError::UpstreamConnect(detail),
            };
        }
        source = cause.source();
    }
    if error.is_connect() {
        GatewayError::UpstreamConnect(detail)
    } else {
        GatewayError::UpstreamProtocol(detail)
    }
}

/// An error and its causes on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether a `Retry-After` for `d` should round up to at least one second.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

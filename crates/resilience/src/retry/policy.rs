//! Which failed attempts may be retried.
//!
//! | attempt outcome                    | class ([`RetryOn`]) | retried when                    |
//! |------------------------------------|---------------------|---------------------------------|
//! | connect failure                    | `connect_failure`   | always                          |
//! | `502`, `503`, `504`                | `gateway_error`     | idempotent, body replayable     |
//! | other upstream error after sending | `gateway_error`     | idempotent, body replayable     |
//! | per-try timeout                    | `timeout`           | idempotent, body replayable     |
//! | any other status                   | none                | never                           |
//!
//! and in every case only when the outcome's class is enabled in [`RetryPolicy::retry_on`],
//! while no byte of the response has been sent downstream (after that the client has a partial
//! answer that a second attempt cannot replace), and while retries are left.
//!
//! A request is idempotent when its method is (`GET`, `HEAD`, `OPTIONS`, `PUT`, `DELETE`,
//! `TRACE`, per RFC 9110 §9.2.2) or when it carries an `Idempotency-Key` header, by which the
//! client declares that the upstream deduplicates it. A connect failure is retried regardless,
//! because the upstream never saw the request: nothing can have happened twice and the body has
//! not been read yet.

use http::{HeaderMap, Method, StatusCode};

/// The header by which a client marks a non-idempotent request as safe to repeat.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Whether `method` is idempotent by definition (RFC 9110 §9.2.2).
pub fn is_idempotent_method(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// What the retry decision needs to know about the request, fixed for all its attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestInfo {
    /// Repeating the request is safe: idempotent method or `Idempotency-Key`.
    pub idempotent: bool,
    /// The request body can be sent again: it is empty or was buffered. A streamed body that
    /// the failed attempt started to consume is gone.
    pub body_replayable: bool,
}

impl RequestInfo {
    /// Facts from the method and headers, with `body_replayable` as given.
    pub fn new(method: &Method, headers: &HeaderMap, body_replayable: bool) -> Self {
        Self {
            idempotent: is_idempotent_method(method) || headers.contains_key(IDEMPOTENCY_KEY),
            body_replayable,
        }
    }
}

/// How one attempt ended, from the point of view of retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// No connection to the upstream could be made (refused, unreachable, TLS handshake
    /// failure, connect timeout): the request was not sent.
    ConnectFailed,
    /// The upstream's response headers arrived with this status.
    Status(StatusCode),
    /// The per-try timeout expired before the response headers arrived.
    PerTryTimeout,
    /// The request was (possibly partly) sent and then the upstream failed without a usable
    /// response: connection reset, protocol error. Treated like a `502`.
    UpstreamError,
}

/// One attempt as the retry decision sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// Retries already made for this request (`0` after the first attempt).
    pub retries_so_far: u32,
    /// Whether any byte of the response (status line included) has been sent downstream.
    pub response_started: bool,
}

/// The verdict on one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Retry (subject to the retry budget and after a backoff).
    Retry,
    /// Do not retry, for this reason.
    Stop(StopReason),
}

/// Why an attempt is not retried; suitable as a metric label via [`StopReason::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The outcome is not a retryable failure (a success, or a status that retrying would not
    /// change), or its class is not enabled in [`RetryPolicy::retry_on`].
    NotRetryable,
    /// Repeating the request might apply it twice.
    NotIdempotent,
    /// The request body cannot be sent again.
    BodyNotReplayable,
    /// Part of the response already went downstream.
    ResponseStarted,
    /// `max_retries` retries were made already.
    RetriesExhausted,
}

impl StopReason {
    /// `not_retryable`, `not_idempotent`, `body_not_replayable`, `response_started` or
    /// `retries_exhausted`.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::NotRetryable => "not_retryable",
            StopReason::NotIdempotent => "not_idempotent",
            StopReason::BodyNotReplayable => "body_not_replayable",
            StopReason::ResponseStarted => "response_started",
            StopReason::RetriesExhausted => "retries_exhausted",
        }
    }
}

/// Which classes of failed attempts may be retried at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOn {
    /// Connect failures.
    pub connect_failure: bool,
    /// `502`, `503`, `504` and upstream errors after the request was sent.
    pub gateway_error: bool,
    /// Per-try timeouts.
    pub timeout: bool,
}

impl RetryOn {
    /// Every class.
    pub const ALL: RetryOn = RetryOn {
        connect_failure: true,
        gateway_error: true,
        timeout: true,
    };

    /// No class: never retry.
    pub const NONE: RetryOn = RetryOn {
        connect_failure: false,
        gateway_error: false,
        timeout: false,
    };
}

impl Default for RetryOn {
    /// [`RetryOn::ALL`].
    fn default() -> Self {
        RetryOn::ALL
    }
}

/// Decides whether a failed attempt is retried; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries allowed per request, on top of the first attempt.
    pub max_retries: u32,
    /// The classes of failures that are retried.
    pub retry_on: RetryOn,
}

impl Default for RetryPolicy {
    /// Two retries (three attempts) on every class.
    fn default() -> Self {
        Self::new(2)
    }
}

impl RetryPolicy {
    /// A policy allowing `max_retries` retries per request, on every class.
    pub fn new(max_retries: u32) -> Self {
        Self {
            max_retries,
            retry_on: RetryOn::ALL,
        }
    }

    /// A policy allowing `attempts` attempts in total, the first included (so `attempts - 1`
    /// retries; `0` and `1` mean no retry), on the classes in `retry_on`.
    pub fn with_attempts(attempts: u32, retry_on: RetryOn) -> Self {
        Self {
            max_retries: attempts.saturating_sub(1),
            retry_on,
        }
    }

    /// The verdict on `attempt` of `request`.
    ///
    /// Reasons are checked in the order response started, outcome, idempotency, body, retries
    /// left, so the reason given is the most fundamental one.
    pub fn decide(&self, request: &RequestInfo, attempt: &Attempt) -> RetryDecision {
        use RetryDecision::{Retry, Stop};
        if attempt.response_started {
            return Stop(StopReason::ResponseStarted);
        }
        let (enabled, needs_idempotency) = match attempt.outcome {
            AttemptOutcome::ConnectFailed => (self.retry_on.connect_failure, false),
            AttemptOutcome::Status(
                StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT,
            )
            | AttemptOutcome::UpstreamError => (self.retry_on.gateway_error, true),
            AttemptOutcome::PerTryTimeout => (self.retry_on.timeout, true),
            AttemptOutcome::Status(_) => (false, false),
        };
        if !enabled {
            return Stop(StopReason::NotRetryable);
        }
        if needs_idempotency {
            if !request.idempotent {
                return Stop(StopReason::NotIdempotent);
            }
            if !request.body_replayable {
                return Stop(StopReason::BodyNotReplayable);
            }
        }
        if attempt.retries_so_far >= self.max_retries {
            return Stop(StopReason::RetriesExhausted);
        }
        Retry
    }
}

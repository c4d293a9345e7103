//! Config types for failure handling and protection: circuit breakers, outlier detection,
//! upstream concurrency limits, retries, load shedding, request limits and the SSRF guard.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::units::{ByteSize, Duration};

/// Circuit breaker for an upstream: closed → open → half-open → closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    /// Failure rate, in percent of the requests in `window`, that opens the breaker.
    #[serde(default = "default_failure_rate")]
    pub failure_rate_threshold: u32,
    /// Requests needed in `window` before the failure rate is considered.
    #[serde(default = "default_minimum_requests")]
    pub minimum_requests: u32,
    /// Sliding window over which the failure rate is computed.
    #[serde(default = "default_breaker_window")]
    pub window: Duration,
    /// Consecutive failures that open the breaker regardless of the rate (`0`: off).
    #[serde(default = "default_consecutive_failures")]
    pub consecutive_failures: u32,
    /// How long the breaker stays open the first time; doubled on each re-opening.
    #[serde(default = "default_open_duration")]
    pub open_duration: Duration,
    /// Upper bound of the doubled open duration.
    #[serde(default = "default_max_open_duration")]
    pub max_open_duration: Duration,
    /// Probe requests admitted at once while half-open; this many successes close the breaker.
    #[serde(default = "default_half_open_requests")]
    pub half_open_requests: u32,
    /// Outcomes that count as failures.
    #[serde(default = "default_failure_on")]
    pub failure_on: Vec<FailureKind>,
    /// Answer given while open instead of `503 circuit_open`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackResponse>,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker {
            failure_rate_threshold: default_failure_rate(),
            minimum_requests: default_minimum_requests(),
            window: default_breaker_window(),
            consecutive_failures: default_consecutive_failures(),
            open_duration: default_open_duration(),
            max_open_duration: default_max_open_duration(),
            half_open_requests: default_half_open_requests(),
            failure_on: default_failure_on(),
            fallback: None,
        }
    }
}

fn default_failure_rate() -> u32 {
    50
}
fn default_minimum_requests() -> u32 {
    20
}
fn default_breaker_window() -> Duration {
    Duration::from_secs(30)
}
fn default_consecutive_failures() -> u32 {
    5
}
fn default_open_duration() -> Duration {
    Duration::from_secs(30)
}
fn default_max_open_duration() -> Duration {
    Duration::from_secs(300)
}
fn default_half_open_requests() -> u32 {
    3
}
fn default_failure_on() -> Vec<FailureKind> {
    vec![
        FailureKind::ConnectError,
        FailureKind::Timeout,
        FailureKind::ServerError,
    ]
}

/// An outcome that can count as an upstream failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The connection (or TLS handshake) could not be established.
    ConnectError,
    /// The upstream did not answer in time.
    Timeout,
    /// Any `5xx` response from the upstream.
    ServerError,
    /// Only `502`, `503` and `504` responses from the upstream.
    GatewayError,
}

/// A fixed answer served instead of contacting the upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FallbackResponse {
    /// Status code.
    #[serde(default = "default_fallback_status")]
    pub status: u16,
    /// Body.
    #[serde(default)]
    pub body: String,
    /// `Content-Type` of the body.
    #[serde(default = "default_fallback_content_type")]
    pub content_type: String,
}

fn default_fallback_status() -> u16 {
    503
}
fn default_fallback_content_type() -> String {
    "application/json".into()
}

/// Passive outlier detection (ejection of targets that keep failing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutlierDetection {
    /// Consecutive `5xx` or gateway errors that eject a target.
    #[serde(default = "default_consecutive_errors")]
    pub consecutive_errors: u32,
    /// Ejection time; multiplied by the number of times the target was ejected.
    #[serde(default = "default_base_ejection_time")]
    pub base_ejection_time: Duration,
    /// Upper bound of one ejection.
    #[serde(default = "default_max_ejection_time")]
    pub max_ejection_time: Duration,
    /// Most targets (percent, rounded down, at least one) ejected at the same time.
    #[serde(default = "default_max_ejection_percent")]
    pub max_ejection_percent: u32,
}

fn default_consecutive_errors() -> u32 {
    5
}
fn default_base_ejection_time() -> Duration {
    Duration::from_secs(30)
}
fn default_max_ejection_time() -> Duration {
    Duration::from_secs(300)
}
fn default_max_ejection_percent() -> u32 {
    50
}

/// Concurrency limits towards one upstream (`0`: unlimited).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamLimits {
    /// Most open connections to all targets together.
    #[serde(default)]
    pub max_connections: u32,
    /// Most requests waiting for a connection.
    #[serde(default)]
    pub max_pending: u32,
    /// Most requests in flight to the upstream.
    #[serde(default)]
    pub max_requests: u32,
}

impl UpstreamLimits {
    /// Whether no limit is set.
    pub fn is_unlimited(&self) -> bool {
        *self == UpstreamLimits::default()
    }
}

/// Retries of failed attempts on a route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    /// Most attempts in total, the first included (`1`: no retry).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Time each attempt may wait for the response head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<Duration>,
    /// First backoff; attempt n waits a random time up to `backoff_base × 2^n` (full jitter).
    #[serde(default = "default_backoff_base")]
    pub backoff_base: Duration,
    /// Upper bound of one backoff.
    #[serde(default = "default_backoff_max")]
    pub backoff_max: Duration,
    /// What is retried. Connect failures are always retried; the others only for idempotent
    /// methods or requests with an `Idempotency-Key`, and never once response bytes were sent.
    #[serde(default = "default_retry_on")]
    pub retry_on: Vec<RetryOn>,
    /// Retries allowed as a fraction of recent requests (the retry budget).
    #[serde(default = "default_budget_ratio")]
    pub budget_ratio: f64,
    /// Retries per second always allowed, whatever the ratio.
    #[serde(default = "default_budget_min_per_second")]
    pub budget_min_per_second: u32,
    /// Largest request body kept in memory so it can be sent again; larger bodies are streamed
    /// and their requests are not retried.
    #[serde(default = "default_replay_buffer")]
    pub max_replay_body: ByteSize,
}

impl Default for Retries {
    fn default() -> Self {
        Retries {
            attempts: default_attempts(),
            per_try_timeout: None,
            backoff_base: default_backoff_base(),
            backoff_max: default_backoff_max(),
            retry_on: default_retry_on(),
            budget_ratio: default_budget_ratio(),
            budget_min_per_second: default_budget_min_per_second(),
            max_replay_body: default_replay_buffer(),
        }
    }
}

fn default_attempts() -> u32 {
    3
}
fn default_backoff_base() -> Duration {
    Duration::from_millis(25)
}
fn default_backoff_max() -> Duration {
    Duration::from_millis(250)
}
fn default_retry_on() -> Vec<RetryOn> {
    vec![
        RetryOn::ConnectFailure,
        RetryOn::GatewayError,
        RetryOn::Timeout,
    ]
}
fn default_budget_ratio() -> f64 {
    0.2
}
fn default_budget_min_per_second() -> u32 {
    3
}
fn default_replay_buffer() -> ByteSize {
    ByteSize::kib(64)
}

/// A retryable outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryOn {
    /// The connection could not be established (always safe: nothing was sent).
    ConnectFailure,
    /// `502`, `503` or `504` from the upstream.
    GatewayError,
    /// The attempt's `per_try_timeout` (or the upstream's `timeouts.request`) expired.
    Timeout,
}

/// Global load shedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadShedding {
    /// Most requests in flight in the whole proxy (`0`: unlimited).
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent_requests: u32,
    /// Requests allowed to wait for a slot (globally and per route) before `503 overloaded`.
    #[serde(default = "default_queue_size")]
    pub queue_size: u32,
    /// Longest wait in the queue.
    #[serde(default = "default_queue_timeout")]
    pub queue_timeout: Duration,
}

impl Default for LoadShedding {
    fn default() -> Self {
        LoadShedding {
            max_concurrent_requests: default_max_concurrent(),
            queue_size: default_queue_size(),
            queue_timeout: default_queue_timeout(),
        }
    }
}

fn default_max_concurrent() -> u32 {
    10_000
}
fn default_queue_size() -> u32 {
    256
}
fn default_queue_timeout() -> Duration {
    Duration::from_millis(100)
}

/// Limits on requests and responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestLimits {
    /// Longest request URI (`414` beyond).
    #[serde(default = "default_max_uri")]
    pub max_uri_length: ByteSize,
    /// Most request headers (`431` beyond).
    #[serde(default = "default_max_headers")]
    pub max_headers: u32,
    /// Longest pause while reading the request body (`408` after it).
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout: Duration,
    /// Largest response body passed to the client (`0`: unlimited); a larger one is cut and the
    /// exchange logged as `response_too_large`.
    #[serde(default)]
    pub max_response_body: ByteSize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_uri_length: default_max_uri(),
            max_headers: default_max_headers(),
            body_read_timeout: default_body_read_timeout(),
            max_response_body: ByteSize::bytes(0),
        }
    }
}

fn default_max_uri() -> ByteSize {
    ByteSize::kib(8)
}
fn default_max_headers() -> u32 {
    100
}
fn default_body_read_timeout() -> Duration {
    Duration::from_secs(30)
}

/// Client-address trust and the SSRF guard.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Security {
    /// Proxies (CIDR) whose `X-Forwarded-For` is believed when finding the client address (for
    /// rate limits, IP rules and logs). Empty: the peer address is the client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    /// The SSRF guard on upstream connections.
    #[serde(default)]
    pub ssrf: SsrfGuard,
}

/// The SSRF guard: upstream connections to internal networks are refused unless allowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SsrfGuard {
    /// Check every resolved upstream address against the blocked networks.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Networks (CIDR) allowed for every upstream (see also `upstreams[].allow_networks`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_networks: Vec<String>,
    /// Networks (CIDR) blocked in addition to the built-in list (cloud metadata, loopback,
    /// RFC 1918, CGNAT, link-local, ULA, multicast, unspecified).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_blocked_networks: Vec<String>,
}

impl Default for SsrfGuard {
    fn default() -> Self {
        SsrfGuard {
            enabled: true,
            allow_networks: Vec::new(),
            extra_blocked_networks: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

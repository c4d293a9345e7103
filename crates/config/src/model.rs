//! The `flexgate/v1` document: every type an operator writes in a config file.
//!
//! Doc comments on fields are the descriptions in the generated JSON Schema and in
//! `docs/config-reference.md`, so write them for operators. Every struct denies unknown fields:
//! a typo is an error with a path and a "did you mean", never a silently ignored setting.
//! Defaults live next to the field (`default_*` functions) so the schema shows them.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::policy::{Policy, RedisSettings};
use crate::resilience::{
    CircuitBreaker, LoadShedding, OutlierDetection, RequestLimits, Retries, Security,
    UpstreamLimits,
};
use crate::units::{ByteSize, Duration};

/// A complete FlexGate data-plane configuration (schema `flexgate/v1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Schema version of this document. Must be `1`; files without a `version` key are read as the
    /// original FlexGate `proxy.yml` format (version 0) and migrated.
    pub version: u32,
    /// Where the proxy accepts client traffic. Defaults to one plain-HTTP listener on `0.0.0.0:8000`.
    #[serde(default = "default_listeners")]
    pub listeners: Vec<Listener>,
    /// The status listener: health, readiness and Prometheus metrics.
    #[serde(default)]
    pub status: StatusListener,
    /// Downstream (client-facing) connection settings shared by all listeners.
    #[serde(default)]
    pub server: Server,
    /// Named groups of backend targets that routes send traffic to.
    #[serde(default)]
    pub upstreams: Vec<Upstream>,
    /// Routing rules, tried by descending `priority`, then in the order written; the first match wins.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Reusable policies (rate limits, authentication, CORS, headers, IP rules) that routes attach
    /// by name.
    #[serde(default)]
    pub policies: Vec<Policy>,
    /// Client-address trust and the SSRF guard.
    #[serde(default)]
    pub security: Security,
    /// Shared Redis for `mode: redis` rate limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisSettings>,
    /// Logging, access log, redaction, sampling and metrics.
    #[serde(default)]
    pub observability: Observability,
}

fn default_listeners() -> Vec<Listener> {
    vec![Listener::default()]
}

/// A downstream listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// Unique name of the listener, used in logs and metrics.
    #[serde(default = "default_listener_name")]
    pub name: String,
    /// Socket address to bind, such as `0.0.0.0:8000` or `[::]:8443`. Port `0` picks a free port.
    #[serde(default = "default_proxy_bind")]
    pub bind: String,
    /// Serve HTTPS with these certificates. Without it the listener speaks plain HTTP/1.1 and
    /// HTTP/2 with prior knowledge (h2c).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ListenerTls>,
    /// Accept HTTP/2 (h2c on plain listeners, ALPN `h2` on TLS listeners).
    #[serde(default = "yes")]
    pub http2: bool,
}

impl Default for Listener {
    fn default() -> Self {
        Listener {
            name: default_listener_name(),
            bind: default_proxy_bind(),
            tls: None,
            http2: true,
        }
    }
}

fn default_listener_name() -> String {
    "default".into()
}
fn default_proxy_bind() -> String {
    "0.0.0.0:8000".into()
}
fn yes() -> bool {
    true
}

/// TLS settings of an HTTPS listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// Certificates offered to clients, chosen by SNI. A certificate without `server_names` is
    /// matched against the names in the certificate itself; the first certificate is the fallback
    /// for clients that send no SNI or an unknown name.
    pub certificates: Vec<CertificateFiles>,
}

/// A certificate chain and its private key, read from PEM files (reloaded with the config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateFiles {
    /// PEM file with the certificate chain, leaf first. Relative paths are relative to the config file.
    pub cert_file: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// SNI names this certificate answers for (`api.example.com`, `*.example.com`). Empty: the DNS
    /// names in the certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_names: Vec<String>,
}

/// The status listener (health, readiness, metrics); keep it off the public network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusListener {
    /// Socket address of the status listener.
    #[serde(default = "default_status_bind")]
    pub bind: String,
}

impl Default for StatusListener {
    fn default() -> Self {
        StatusListener {
            bind: default_status_bind(),
        }
    }
}

fn default_status_bind() -> String {
    "127.0.0.1:8100".into()
}

/// Downstream connection settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Largest request body accepted; larger bodies get `413 payload_too_large`. `0` disables the limit.
    #[serde(default = "default_max_request_body")]
    pub max_request_body: ByteSize,
    /// Largest request head (request line and headers) accepted.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: ByteSize,
    /// Time a client has to send the complete request head (slowloris protection).
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout: Duration,
    /// How long an idle keep-alive client connection is kept open.
    #[serde(default = "default_keepalive_timeout")]
    pub keepalive_timeout: Duration,
    /// On shutdown, how long in-flight requests may take to finish before connections are closed.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout: Duration,
    /// Value of the `Via` header added to requests and responses (`1.1 <via_name>`).
    #[serde(default = "default_via_name")]
    pub via_name: String,
    /// Limits on what clients may send, and on response bodies.
    #[serde(default)]
    pub limits: RequestLimits,
    /// Global cap on concurrent requests with a short bounded queue.
    #[serde(default)]
    pub load_shedding: LoadShedding,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            max_request_body: default_max_request_body(),
            max_header_bytes: default_max_header_bytes(),
            header_read_timeout: default_header_read_timeout(),
            keepalive_timeout: default_keepalive_timeout(),
            drain_timeout: default_drain_timeout(),
            via_name: default_via_name(),
            limits: RequestLimits::default(),
            load_shedding: LoadShedding::default(),
        }
    }
}

fn default_max_request_body() -> ByteSize {
    ByteSize::mib(10)
}
fn default_max_header_bytes() -> ByteSize {
    ByteSize::kib(64)
}
fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_keepalive_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_drain_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_via_name() -> String {
    "flexgate".into()
}

/// A named group of backend targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// Unique name, referenced by routes and used as the `upstream` metric label.
    pub name: String,
    /// Backend servers. All targets of an upstream use the same scheme.
    pub targets: Vec<Target>,
    /// How a target is chosen for each request.
    #[serde(default)]
    pub load_balancing: LoadBalancing,
    /// Protocol spoken to the targets.
    #[serde(default)]
    pub protocol: UpstreamProtocol,
    /// Send the client's `Host` header to the target instead of the target's own host and port.
    #[serde(default)]
    pub preserve_host: bool,
    /// Upstream timeouts.
    #[serde(default)]
    pub timeouts: UpstreamTimeouts,
    /// Connection pool to the targets.
    #[serde(default)]
    pub pool: Pool,
    /// Active health checking: unhealthy targets get no traffic until they recover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// TLS settings for `https://` targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<UpstreamTls>,
    /// Circuit breaker for this upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Passive outlier detection: targets that keep failing are ejected for a while.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    /// Concurrency limits towards this upstream.
    #[serde(default, skip_serializing_if = "UpstreamLimits::is_unlimited")]
    pub limits: UpstreamLimits,
    /// Networks (CIDR) this upstream may connect to although the SSRF guard blocks them, such as
    /// `127.0.0.0/8` for a sidecar or `10.0.0.0/8` for a private backend.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_networks: Vec<String>,
}

/// One backend server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Base URL: `http://host:port` or `https://host:port`. No path, query or credentials.
    pub url: String,
    /// Relative share of traffic under `weighted` balancing (`0` drains the target).
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

/// Load-balancing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalancing {
    /// Each healthy target in turn.
    #[default]
    RoundRobin,
    /// Smooth weighted round robin by `weight`.
    Weighted,
    /// Power of two choices: pick two random healthy targets, send to the one with fewer requests in flight.
    LeastRequest,
}

/// Protocol to targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamProtocol {
    /// HTTP/1.1 with keep-alive.
    #[default]
    Http1,
    /// HTTP/2 (prior knowledge on `http://`, ALPN on `https://`); required for gRPC and trailers.
    Http2,
}

/// Upstream timeouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTimeouts {
    /// Time to establish a TCP (and TLS) connection to a target.
    #[serde(default = "default_connect_timeout")]
    pub connect: Duration,
    /// Time from sending the request to receiving the response head (`504 upstream_timeout` after it).
    #[serde(default = "default_request_timeout")]
    pub request: Duration,
}

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        UpstreamTimeouts {
            connect: default_connect_timeout(),
            request: default_request_timeout(),
        }
    }
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}

/// Upstream connection pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// Idle keep-alive connections kept per target.
    #[serde(default = "default_max_idle")]
    pub max_idle_per_target: u32,
    /// How long an idle pooled connection is kept before it is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: Duration,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            max_idle_per_target: default_max_idle(),
            idle_timeout: default_idle_timeout(),
        }
    }
}

fn default_max_idle() -> u32 {
    256
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(90)
}

/// Active health check: a periodic `GET` to each target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// Path requested on each target.
    #[serde(default = "default_health_path")]
    pub path: String,
    /// Time between two checks of a target.
    #[serde(default = "default_health_interval")]
    pub interval: Duration,
    /// Time a check may take before it counts as failed.
    #[serde(default = "default_health_timeout")]
    pub timeout: Duration,
    /// Consecutive successes that mark an unhealthy target healthy again.
    #[serde(default = "default_healthy_threshold")]
    pub healthy_threshold: u32,
    /// Consecutive failures that mark a healthy target unhealthy.
    #[serde(default = "default_unhealthy_threshold")]
    pub unhealthy_threshold: u32,
    /// Response statuses that count as healthy, as an inclusive range `min-max` or one code.
    #[serde(default = "default_expected_status")]
    pub expected_status: String,
}

fn default_health_path() -> String {
    "/health".into()
}
fn default_health_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_health_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_healthy_threshold() -> u32 {
    2
}
fn default_unhealthy_threshold() -> u32 {
    3
}
fn default_expected_status() -> String {
    "200-399".into()
}

/// TLS to `https://` targets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTls {
    /// PEM bundle of CAs trusted for the targets' certificates. Without it the system's roots are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Name sent as SNI and verified in the certificate. Default: the host of the target URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Client certificate chain (PEM) presented to targets that require mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_file: Option<PathBuf>,
    /// Private key (PEM) of `client_cert_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_file: Option<PathBuf>,
}

/// A routing rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Unique name, used as the `route` metric label and in logs.
    pub name: String,
    /// What requests this route takes.
    #[serde(rename = "match")]
    pub matcher: RouteMatch,
    /// Routes with a higher priority are tried first; equal priorities keep the order written.
    #[serde(default)]
    pub priority: i32,
    /// Name of the upstream that serves this route.
    pub upstream: String,
    /// Remove the literal prefix of the path pattern before forwarding (`/api/*` turns
    /// `/api/users` into `/users`).
    #[serde(default)]
    pub strip_prefix: bool,
    /// Replace the literal prefix of the path pattern with this prefix before forwarding
    /// (`/api/*` with `/v2` turns `/api/users` into `/v2/users`). Excludes `strip_prefix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite_prefix: Option<String>,
    /// Total time for the request on this route, all attempts included; the upstream's
    /// `timeouts.request` still bounds each attempt's wait for the response head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Retries of failed attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
    /// Most requests in flight on this route; beyond it requests wait in the short queue of
    /// `server.load_shedding`, then get `503 overloaded`. Absent: no per-route cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_requests: Option<u32>,
    /// Names of policies applied to this route, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
}

/// Request matching. All given conditions must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// Path pattern. `/users` matches exactly; `/api/*` matches `/api` and everything below it
    /// (segment-wise prefix); `*` inside a segment list (`/v1/*/items`) matches exactly one segment.
    pub path: String,
    /// HTTP methods accepted (upper case). Empty: any method. A path match with the wrong method gets `405`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Host names accepted (`api.example.com`, `*.example.com`). Empty: any host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Request headers that must be present (and equal to `value` when given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderMatch>,
}

/// A header condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name (case-insensitive).
    pub name: String,
    /// Exact value required. Absent: the header only needs to be present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Logging, access log and metrics.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Observability {
    /// Level of FlexGate's own log (`error`, `warn`, `info`, `debug`, `trace`). The `RUST_LOG`
    /// environment variable overrides it.
    #[serde(default)]
    pub log_level: LogLevel,
    /// The structured JSON access log.
    #[serde(default)]
    pub access_log: AccessLog,
}

/// Log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Normal operation.
    #[default]
    Info,
    /// Diagnostics.
    Debug,
    /// Everything.
    Trace,
}

/// The access log: one JSON line per request (schema in `docs/access-log.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessLog {
    /// Write the access log.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Where lines go: `stdout`, `stderr` or a file path (appended to).
    #[serde(default = "default_access_log_output")]
    pub output: String,
    /// Which requests are logged.
    #[serde(default)]
    pub sampling: Sampling,
    /// Request headers copied into the `request_headers` field of each line (after redaction).
    #[serde(default = "default_logged_headers")]
    pub include_headers: Vec<String>,
    /// What is masked before a line is written.
    #[serde(default)]
    pub redaction: Redaction,
}

impl Default for AccessLog {
    fn default() -> Self {
        AccessLog {
            enabled: true,
            output: default_access_log_output(),
            sampling: Sampling::default(),
            include_headers: default_logged_headers(),
            redaction: Redaction::default(),
        }
    }
}

fn default_access_log_output() -> String {
    "stdout".into()
}
fn default_logged_headers() -> Vec<String> {
    vec!["user-agent".into()]
}

/// Access-log sampling: errors and slow requests are always logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    /// Fraction (0.0–1.0) of successful, fast requests that are logged.
    #[serde(default = "default_success_rate")]
    pub success_rate: f64,
    /// Requests slower than this are always logged.
    #[serde(default = "default_slow_threshold")]
    pub slow_threshold: Duration,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            success_rate: default_success_rate(),
            slow_threshold: default_slow_threshold(),
        }
    }
}

fn default_success_rate() -> f64 {
    0.1
}
fn default_slow_threshold() -> Duration {
    Duration::from_secs(1)
}

/// Redaction rules. `Authorization`, `Cookie`, `Set-Cookie`, `Proxy-Authorization` and the query
/// parameters `token`, `access_token`, `api_key`, `apikey`, `password`, `secret` are always
/// redacted; these lists add to them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Redaction {
    /// Extra header names whose values are replaced by `[REDACTED]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// Extra query parameter names whose values are replaced by `[REDACTED]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_params: Vec<String>,
}

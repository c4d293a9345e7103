//! The original FlexGate `proxy.yml` format (version 0) and its migration to `flexgate/v1`.
//!
//! Version 0 was the Node.js gateway's format: camelCase keys, times as numbers of milliseconds,
//! one URL per upstream, rate limits inline on routes. Files in that format keep loading (with a
//! deprecation warning) so that upgrades are not a flag day; `flexgate config migrate` writes the
//! v1 equivalent once.
//!
//! The reader is tolerant: unknown keys are warnings, not errors, because v0 files in the wild
//! carry settings for features that never existed in this data plane (Redis, CORS, ...). Every
//! setting that cannot be carried over is reported with its v0 path, so nothing is dropped
//! silently.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

use crate::diagnostics::{did_you_mean, Diagnostic};
use crate::load::ConfigError;
use crate::pattern::PathPattern;
use crate::units::{ByteSize, Duration};
use crate::{
    AccessLog, CircuitBreaker, Config, HealthCheck, Listener, LogLevel, Observability, Policy,
    RateLimitKey, RateLimitPolicy, Redaction, Route, RouteMatch, Sampling, Server, StatusListener,
    Target, Upstream, UpstreamTimeouts,
};

/// A version 0 document (`proxy.yml`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V0Config {
    /// The original schema version string, such as `"1.0.0"`; absent in older files.
    #[serde(default)]
    pub version: Option<Value>,
    /// Listener settings.
    #[serde(default)]
    pub proxy: Option<V0Proxy>,
    /// Global timeouts in milliseconds.
    #[serde(default)]
    pub timeouts: Option<V0Timeouts>,
    /// Logging settings.
    #[serde(default)]
    pub logging: Option<V0Logging>,
    /// Backends, one URL each.
    #[serde(default)]
    pub upstreams: Vec<V0Upstream>,
    /// Routes, tried in order.
    #[serde(default)]
    pub routes: Vec<V0Route>,
    /// Prometheus endpoint settings.
    #[serde(default)]
    pub metrics: Option<V0Metrics>,
    /// CORS and a global rate limit.
    #[serde(default)]
    pub security: Option<V0Security>,
    /// Redis for distributed rate limiting (no v1 equivalent).
    #[serde(default)]
    pub redis: Option<Value>,
    /// Node.js HTTP agent tuning (no v1 equivalent).
    #[serde(default)]
    pub http: Option<Value>,
    /// Request queueing (no v1 equivalent).
    #[serde(default)]
    pub backpressure: Option<Value>,
    /// Free-form metadata (no v1 equivalent).
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// The `proxy` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V0Proxy {
    /// Address to listen on.
    #[serde(default)]
    pub host: Option<String>,
    /// Port to listen on (default 3000).
    #[serde(default)]
    pub port: Option<V0Port>,
    /// Largest request body, such as `"10mb"` or a number of bytes.
    #[serde(default)]
    pub max_body_size: Option<V0Size>,
    /// Trust `X-Forwarded-*` from clients (no v1 equivalent).
    #[serde(default)]
    pub trust_proxy: Option<Value>,
    /// CORS settings (no v1 equivalent).
    #[serde(default)]
    pub cors: Option<Value>,
    /// Timeouts, an older place for the `timeouts` section.
    #[serde(default)]
    pub timeout: Option<V0Timeouts>,
}

/// Timeouts in milliseconds.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct V0Timeouts {
    /// Time for the whole upstream request.
    #[serde(default)]
    pub request: Option<Millis>,
    /// Time to connect to an upstream.
    #[serde(default)]
    pub connect: Option<Millis>,
    /// Idle client connection timeout.
    #[serde(default)]
    pub idle: Option<Millis>,
}

/// The `logging` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V0Logging {
    /// winston level: `error`, `warn`, `info`, `http`, `verbose`, `debug` or `silly`.
    #[serde(default)]
    pub level: Option<String>,
    /// `json` or `text`.
    #[serde(default)]
    pub format: Option<String>,
    /// Request log sampling.
    #[serde(default)]
    pub sampling: Option<V0Sampling>,
    /// Field redaction.
    #[serde(default)]
    pub redaction: Option<V0Redaction>,
}

/// Request log sampling.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V0Sampling {
    /// Whether sampling is on; when off every request was logged.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Fraction of successful requests logged.
    #[serde(default)]
    pub success_rate: Option<f64>,
    /// Fraction of failed requests logged.
    #[serde(default)]
    pub error_rate: Option<f64>,
}

/// Field redaction.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct V0Redaction {
    /// Whether redaction is on.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Names of fields whose values are masked.
    #[serde(default)]
    pub fields: Vec<String>,
}

/// A backend.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V0Upstream {
    /// Unique name.
    pub name: String,
    /// Base URL, possibly with a path that is prepended to forwarded requests.
    pub url: String,
    /// Request timeout in milliseconds.
    #[serde(default)]
    pub timeout: Option<Millis>,
    /// Active health check.
    #[serde(default)]
    pub health_check: Option<V0HealthCheck>,
    /// Circuit breaker.
    #[serde(default)]
    pub circuit_breaker: Option<V0CircuitBreaker>,
    /// Free-form metadata (no v1 equivalent).
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// Active health check.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V0HealthCheck {
    /// Whether checks run.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Path requested.
    #[serde(default)]
    pub path: Option<String>,
    /// Milliseconds between checks.
    #[serde(default)]
    pub interval: Option<Millis>,
    /// Milliseconds a check may take.
    #[serde(default)]
    pub timeout: Option<Millis>,
    /// Failures before a target is unhealthy.
    #[serde(default)]
    pub unhealthy_threshold: Option<u32>,
    /// Successes before a target is healthy again.
    #[serde(default)]
    pub healthy_threshold: Option<u32>,
}

/// Circuit breaker.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V0CircuitBreaker {
    /// Whether the breaker is on.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Consecutive failures that open the breaker.
    #[serde(default)]
    pub failure_threshold: Option<u32>,
    /// Successes in half-open state that close it.
    #[serde(default)]
    pub success_threshold: Option<u32>,
    /// Milliseconds the breaker stays open.
    #[serde(default)]
    pub timeout: Option<Millis>,
    /// Older name of `timeout`.
    #[serde(default)]
    pub reset_timeout: Option<Millis>,
    /// Probes admitted while half-open.
    #[serde(default)]
    pub half_open_requests: Option<u32>,
}

/// A route.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V0Route {
    /// Path pattern (`/api/*`), the same glob syntax as v1.
    pub path: String,
    /// Upstream name.
    pub upstream: String,
    /// Methods accepted.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Prefix removed before forwarding: `true` for the route's own prefix, or the prefix itself.
    #[serde(default)]
    pub strip_path: Option<V0StripPath>,
    /// Per-route rate limit.
    #[serde(default)]
    pub rate_limit: Option<V0RateLimit>,
    /// Request timeout in milliseconds.
    #[serde(default)]
    pub timeout: Option<Millis>,
    /// Free-form metadata (no v1 equivalent).
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// `stripPath`: a flag or the literal prefix to remove.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum V0StripPath {
    /// Remove the route's literal prefix.
    Flag(bool),
    /// Remove this prefix.
    Prefix(String),
}

/// A rate limit (express-rate-limit settings).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V0RateLimit {
    /// Whether the limit applies.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Requests allowed per window (default 100).
    #[serde(default)]
    pub max: Option<u32>,
    /// Window length in milliseconds (default 60000).
    #[serde(default)]
    pub window_ms: Option<Millis>,
    /// Body of the `429` response.
    #[serde(default)]
    pub message: Option<String>,
}

/// The `metrics` section.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct V0Metrics {
    /// Whether `/metrics` is served.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Separate port for metrics.
    #[serde(default)]
    pub port: Option<V0Port>,
    /// Path of the endpoint.
    #[serde(default)]
    pub path: Option<String>,
}

/// The `security` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V0Security {
    /// CORS settings (no v1 equivalent).
    #[serde(default)]
    pub cors: Option<Value>,
    /// A rate limit applied to every route.
    #[serde(default)]
    pub rate_limiting: Option<V0RateLimit>,
}

/// A number of milliseconds, written as a number or a numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis(pub u64);

impl Millis {
    fn duration(self) -> Duration {
        Duration::from_millis(self.0)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::Number(n) => {
                if let Some(ms) = n.as_u64() {
                    Ok(Millis(ms))
                } else if let Some(f) = n.as_f64().filter(|f| f.is_finite() && *f >= 0.0) {
                    // Whole milliseconds are the finest unit either format can express.
                    Ok(Millis(f.round() as u64))
                } else {
                    Err(D::Error::custom(format!(
                        "expected a number of milliseconds, found `{n}`"
                    )))
                }
            }
            Value::String(s)
                if !s.trim().is_empty() && s.trim().bytes().all(|b| b.is_ascii_digit()) =>
            {
                s.trim()
                    .parse()
                    .map(Millis)
                    .map_err(|_| D::Error::custom(format!("`{s}` is too large")))
            }
            other => Err(D::Error::custom(format!(
                "expected a number of milliseconds, found {other}"
            ))),
        }
    }
}

/// A port, written as a number or a numeric string (environment substitution produced strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V0Port(pub u16);

impl<'de> Deserialize<'de> for V0Port {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = Value::deserialize(d)?;
        let parsed = match &value {
            Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        parsed
            .map(V0Port)
            .ok_or_else(|| D::Error::custom(format!("expected a port number, found {value}")))
    }
}

/// A body size in the `bytes` package's notation (`"10mb"`, `"512kb"`, 1024-based) or a number of
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V0Size(pub u64);

impl V0Size {
    /// Parses `10mb`, `1.5gb`, `512 kb` or `1024` (units are powers of 1024, case-insensitive).
    pub fn parse(s: &str) -> Result<V0Size, String> {
        let t = s.trim().to_ascii_lowercase();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let number: f64 = number
            .parse()
            .map_err(|_| format!("`{s}` is not a size such as `10mb`"))?;
        let factor: u64 = match unit.trim() {
            "" | "b" => 1,
            "kb" => 1 << 10,
            "mb" => 1 << 20,
            "gb" => 1 << 30,
            "tb" => 1 << 40,
            "pb" => 1 << 50,
            other => return Err(format!("`{s}` has the unknown unit `{other}`")),
        };
        let bytes = (number * factor as f64).floor();
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
            return Err(format!("`{s}` is too large"));
        }
        Ok(V0Size(bytes as u64))
    }
}

impl<'de> Deserialize<'de> for V0Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_u64()
                .map(V0Size)
                .ok_or_else(|| D::Error::custom(format!("expected a size, found `{n}`"))),
            Value::String(s) => V0Size::parse(&s).map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "expected a size such as \"10mb\", found {other}"
            ))),
        }
    }
}

/// The keys each v0 object knows, for reporting unknown keys with a "did you mean".
enum Shape {
    Leaf,
    Object(&'static [(&'static str, Shape)]),
    List(&'static [(&'static str, Shape)]),
}

const TIMEOUT_KEYS: &[(&str, Shape)] = &[
    ("request", Shape::Leaf),
    ("connect", Shape::Leaf),
    ("idle", Shape::Leaf),
];
const RATE_LIMIT_KEYS: &[(&str, Shape)] = &[
    ("enabled", Shape::Leaf),
    ("max", Shape::Leaf),
    ("windowMs", Shape::Leaf),
    ("message", Shape::Leaf),
];
const TOP_KEYS: &[(&str, Shape)] = &[
    ("version", Shape::Leaf),
    (
        "proxy",
        Shape::Object(&[
            ("host", Shape::Leaf),
            ("port", Shape::Leaf),
            ("maxBodySize", Shape::Leaf),
            ("trustProxy", Shape::Leaf),
            ("cors", Shape::Leaf),
            ("timeout", Shape::Object(TIMEOUT_KEYS)),
        ]),
    ),
    ("timeouts", Shape::Object(TIMEOUT_KEYS)),
    (
        "logging",
        Shape::Object(&[
            ("level", Shape::Leaf),
            ("format", Shape::Leaf),
            (
                "sampling",
                Shape::Object(&[
                    ("enabled", Shape::Leaf),
                    ("successRate", Shape::Leaf),
                    ("errorRate", Shape::Leaf),
                ]),
            ),
            (
                "redaction",
                Shape::Object(&[("enabled", Shape::Leaf), ("fields", Shape::Leaf)]),
            ),
        ]),
    ),
    (
        "upstreams",
        Shape::List(&[
            ("name", Shape::Leaf),
            ("url", Shape::Leaf),
            ("timeout", Shape::Leaf),
            (
                "healthCheck",
                Shape::Object(&[
                    ("enabled", Shape::Leaf),
                    ("path", Shape::Leaf),
                    ("interval", Shape::Leaf),
                    ("timeout", Shape::Leaf),
                    ("unhealthyThreshold", Shape::Leaf),
                    ("healthyThreshold", Shape::Leaf),
                ]),
            ),
            (
                "circuitBreaker",
                Shape::Object(&[
                    ("enabled", Shape::Leaf),
                    ("failureThreshold", Shape::Leaf),
                    ("successThreshold", Shape::Leaf),
                    ("timeout", Shape::Leaf),
                    ("resetTimeout", Shape::Leaf),
                    ("halfOpenRequests", Shape::Leaf),
                ]),
            ),
            ("metadata", Shape::Leaf),
        ]),
    ),
    (
        "routes",
        Shape::List(&[
            ("path", Shape::Leaf),
            ("upstream", Shape::Leaf),
            ("methods", Shape::Leaf),
            ("stripPath", Shape::Leaf),
            ("rateLimit", Shape::Object(RATE_LIMIT_KEYS)),
            ("timeout", Shape::Leaf),
            ("metadata", Shape::Leaf),
        ]),
    ),
    (
        "metrics",
        Shape::Object(&[
            ("enabled", Shape::Leaf),
            ("port", Shape::Leaf),
            ("path", Shape::Leaf),
        ]),
    ),
    (
        "security",
        Shape::Object(&[
            ("cors", Shape::Leaf),
            ("rateLimiting", Shape::Object(RATE_LIMIT_KEYS)),
        ]),
    ),
    ("redis", Shape::Leaf),
    ("http", Shape::Leaf),
    ("backpressure", Shape::Leaf),
    ("metadata", Shape::Leaf),
];

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn report_unknown_keys(
    value: &Value,
    path: &str,
    keys: &'static [(&'static str, Shape)],
    out: &mut Vec<Diagnostic>,
) {
    let Value::Object(map) = value else {
        return;
    };
    for (key, child) in map {
        let child_path = join(path, key);
        match keys.iter().find(|(k, _)| k == key) {
            None => out.push(
                Diagnostic::warning(
                    child_path,
                    format!("unknown key `{key}` in a version 0 config; ignored"),
                )
                .with_hint_opt(did_you_mean(key, keys.iter().map(|(k, _)| *k))),
            ),
            Some((_, Shape::Leaf)) => {}
            Some((_, Shape::Object(inner))) => report_unknown_keys(child, &child_path, inner, out),
            Some((_, Shape::List(inner))) => {
                if let Value::Array(items) = child {
                    for (i, item) in items.iter().enumerate() {
                        report_unknown_keys(item, &format!("{child_path}[{i}]"), inner, out);
                    }
                }
            }
        }
    }
}

fn no_equivalent(path: &str, what: &str) -> Diagnostic {
    Diagnostic::warning(
        path,
        format!("{what} has no flexgate/v1 equivalent; dropped"),
    )
}

const BUILTIN_REDACTED_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "set-cookie",
    "proxy-authorization",
];
const BUILTIN_REDACTED_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "api_key",
    "apikey",
    "password",
    "secret",
];

/// Default port of the version 0 gateway.
const V0_DEFAULT_PORT: u16 = 3000;

/// Migrates a version 0 document (as a JSON value) to `flexgate/v1`.
///
/// Returns the config and warnings for every setting that was dropped or changed meaning, each
/// with its v0 path. Fails only when the document cannot be read as version 0 at all (wrong
/// types, missing `name`/`url`/`path`/`upstream`). The result is not validated; loading does that.
pub fn migrate_v0(value: Value) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
    let mut warnings = Vec::new();
    report_unknown_keys(&value, "", TOP_KEYS, &mut warnings);
    let v0: V0Config = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ConfigError::invalid(vec![Diagnostic::error(
            if path == "." { String::new() } else { path },
            format!("cannot read this version 0 config: {}", e.inner()),
        )])
    })?;
    let config = Migration {
        v0: &v0,
        warnings: &mut warnings,
    }
    .run();
    Ok((config, warnings))
}

struct Migration<'a> {
    v0: &'a V0Config,
    warnings: &'a mut Vec<Diagnostic>,
}

/// How a v0 upstream URL splits into a v1 target and a path prefix.
struct SplitUrl {
    base: String,
    path: String,
}

fn split_url(url: &str) -> (SplitUrl, bool) {
    let url = url.trim();
    let Some(scheme_end) = url.find("://") else {
        return (
            SplitUrl {
                base: url.to_owned(),
                path: String::new(),
            },
            false,
        );
    };
    let after = &url[scheme_end + 3..];
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let base = url[..scheme_end + 3 + authority_end].to_owned();
    let rest = &after[authority_end..];
    let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
    let path = rest[..path_end].trim_end_matches('/').to_owned();
    (SplitUrl { base, path }, path_end < rest.len())
}

/// A route name derived from its path: `/api/users/*` → `api-users`.
fn route_name_from_path(path: &str) -> String {
    let mut name = String::new();
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "root".to_owned()
    } else {
        name.to_owned()
    }
}

fn unique_name(base: String, taken: &mut BTreeSet<String>) -> String {
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    taken.insert(name.clone());
    name
}

impl Migration<'_> {
    fn warn(&mut self, d: Diagnostic) {
        self.warnings.push(d);
    }

    fn run(mut self) -> Config {
        let v0 = self.v0;
        for (key, value) in [
            ("redis", &v0.redis),
            ("http", &v0.http),
            ("backpressure", &v0.backpressure),
            ("metadata", &v0.metadata),
        ] {
            if value.is_some() {
                let what = match key {
                    "redis" => "`redis` (shared rate-limit state)",
                    "http" => "`http` (Node.js agent tuning; see `upstreams[].pool`)",
                    "backpressure" => "`backpressure` (request queueing)",
                    _ => "`metadata`",
                };
                self.warn(no_equivalent(key, what));
            }
        }
        let (listeners, server) = self.listeners_and_server();
        let status = self.status();
        let timeouts = self.timeouts();
        let (upstreams, base_paths) = self.upstreams(&timeouts);
        let (routes, policies) = self.routes(&base_paths);
        let observability = self.observability();
        Config {
            version: 1,
            listeners,
            status,
            server,
            upstreams,
            routes,
            policies,
            observability,
            security: Default::default(),
            redis: None,
        }
    }

    fn listeners_and_server(&mut self) -> (Vec<Listener>, Server) {
        let proxy = self.v0.proxy.clone().unwrap_or_default();
        let host = match proxy.host.as_deref().map(str::trim) {
            None | Some("") => "0.0.0.0".to_owned(),
            // v1 binds IP addresses only; `localhost` is the one name worth translating.
            Some("localhost") => "127.0.0.1".to_owned(),
            Some(h) if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
            Some(h) => h.to_owned(),
        };
        let port = proxy.port.map_or(V0_DEFAULT_PORT, |p| p.0);
        let listener = Listener {
            bind: format!("{host}:{port}"),
            ..Listener::default()
        };
        let mut server = Server::default();
        if let Some(size) = proxy.max_body_size {
            server.max_request_body = ByteSize::bytes(size.0);
        }
        if proxy.trust_proxy.is_some() {
            self.warn(no_equivalent("proxy.trustProxy", "`trustProxy`"));
        }
        if proxy.cors.is_some() {
            self.warn(no_equivalent("proxy.cors", "CORS handling"));
        }
        if let Some(idle) = self.merged_timeouts().idle {
            server.keepalive_timeout = idle.duration();
        }
        self.warn(Diagnostic::warning(
            "",
            "version 0 served `/health` and `/metrics` on the proxy port; flexgate/v1 serves health, readiness and metrics on the status listener (`status.bind`) only",
        ));
        (vec![listener], server)
    }

    /// `timeouts`, with `proxy.timeout` (an older location) filling the gaps.
    fn merged_timeouts(&self) -> V0Timeouts {
        let top = self.v0.timeouts.clone().unwrap_or_default();
        let nested = self
            .v0
            .proxy
            .as_ref()
            .and_then(|p| p.timeout.clone())
            .unwrap_or_default();
        V0Timeouts {
            request: top.request.or(nested.request),
            connect: top.connect.or(nested.connect),
            idle: top.idle.or(nested.idle),
        }
    }

    fn status(&mut self) -> StatusListener {
        let mut status = StatusListener::default();
        if let Some(metrics) = &self.v0.metrics {
            if let Some(port) = metrics.port {
                status.bind = format!("127.0.0.1:{}", port.0);
            }
            self.warn(Diagnostic::warning(
                "metrics",
                format!(
                    "metrics are always served at `/metrics` on the status listener ({}); it binds to loopback, so change `status.bind` if Prometheus scrapes from another host",
                    status.bind
                ),
            ));
            if metrics.enabled == Some(false) {
                self.warn(no_equivalent(
                    "metrics.enabled",
                    "turning metrics off (they are always on the status listener)",
                ));
            }
            if metrics.path.as_deref().is_some_and(|p| p != "/metrics") {
                self.warn(no_equivalent(
                    "metrics.path",
                    "a custom metrics path (it is always `/metrics`)",
                ));
            }
        }
        status
    }

    fn timeouts(&self) -> UpstreamTimeouts {
        let merged = self.merged_timeouts();
        let mut timeouts = UpstreamTimeouts::default();
        if let Some(request) = merged.request {
            timeouts.request = request.duration();
        }
        if let Some(connect) = merged.connect {
            timeouts.connect = connect.duration();
        }
        timeouts
    }

    /// The v1 upstreams, and for each the path of its v0 URL (to be prepended by routes).
    fn upstreams(&mut self, timeouts: &UpstreamTimeouts) -> (Vec<Upstream>, Vec<String>) {
        let mut upstreams = Vec::new();
        let mut base_paths = Vec::new();
        let mut named_hosts = Vec::new();
        for (i, u) in self.v0.upstreams.iter().enumerate() {
            let path = format!("upstreams[{i}]");
            let (split, had_query) = split_url(&u.url);
            if had_query {
                self.warn(no_equivalent(
                    &format!("{path}.url"),
                    "the query string or fragment of an upstream URL",
                ));
            }
            let mut upstream_timeouts = timeouts.clone();
            if let Some(t) = u.timeout {
                upstream_timeouts.request = t.duration();
            }
            let health_check = u
                .health_check
                .as_ref()
                .filter(|hc| hc.enabled != Some(false))
                .map(|hc| HealthCheck {
                    path: hc.path.clone().unwrap_or_else(|| "/health".into()),
                    // The v0 defaults, which differ from v1's.
                    interval: hc.interval.unwrap_or(Millis(30_000)).duration(),
                    timeout: hc.timeout.unwrap_or(Millis(5_000)).duration(),
                    healthy_threshold: hc.healthy_threshold.unwrap_or(2),
                    unhealthy_threshold: hc.unhealthy_threshold.unwrap_or(3),
                    expected_status: "200-399".into(),
                });
            let allow_networks = self.allow_networks(&path, &split.base, &mut named_hosts);
            let circuit_breaker = self.circuit_breaker(&path, u);
            if u.metadata.is_some() {
                self.warn(no_equivalent(&format!("{path}.metadata"), "`metadata`"));
            }
            upstreams.push(Upstream {
                name: u.name.clone(),
                targets: vec![Target {
                    url: split.base,
                    weight: 1,
                }],
                load_balancing: Default::default(),
                protocol: Default::default(),
                preserve_host: false,
                timeouts: upstream_timeouts,
                pool: Default::default(),
                health_check,
                tls: None,
                circuit_breaker,
                outlier_detection: None,
                limits: Default::default(),
                allow_networks,
            });
            base_paths.push(split.path);
        }
        if !named_hosts.is_empty() {
            self.warn(Diagnostic::warning(
                "upstreams",
                format!(
                    "flexgate/v1 refuses upstream connections to loopback, private, link-local and metadata addresses (the SSRF guard); if {} resolve to such addresses, list their networks in the upstream's `allow_networks`",
                    named_hosts.join(", ")
                ),
            ));
        }
        (upstreams, base_paths)
    }

    /// `allow_networks` for a v0 upstream URL whose host is an address (or `localhost`) that the
    /// SSRF guard blocks: version 0 had no guard, so the migration allows exactly that address
    /// and says so. Host names are collected in `named_hosts` for one note about resolution.
    fn allow_networks(
        &mut self,
        path: &str,
        base: &str,
        named_hosts: &mut Vec<String>,
    ) -> Vec<String> {
        let Some(host) = crate::ssrf::url_host(base) else {
            return Vec::new();
        };
        let Some(addresses) = crate::ssrf::literal_addresses(host) else {
            let name = format!("`{host}`");
            if !named_hosts.contains(&name) {
                named_hosts.push(name);
            }
            return Vec::new();
        };
        let mut allow = Vec::new();
        let mut reason = None;
        for address in addresses {
            if let Some(blocked) = crate::ssrf::builtin_blocked_range(address) {
                reason.get_or_insert(blocked.what);
                let bits = if address.is_ipv4() { 32 } else { 128 };
                allow.push(format!("{address}/{bits}"));
            }
        }
        if let Some(what) = reason {
            self.warn(Diagnostic::warning(
                format!("{path}.url"),
                format!(
                    "`{host}` is in {what}, which flexgate/v1's SSRF guard blocks by default; `allow_networks: [{}]` was added so that this upstream stays reachable",
                    allow.join(", ")
                ),
            ));
        }
        allow
    }

    fn circuit_breaker(&mut self, path: &str, u: &V0Upstream) -> Option<CircuitBreaker> {
        let cb = u.circuit_breaker.as_ref()?;
        if cb.enabled == Some(false) {
            return None;
        }
        let cpath = format!("{path}.circuitBreaker");
        if cb.failure_threshold.is_some() {
            self.warn(Diagnostic::warning(
                format!("{cpath}.failureThreshold"),
                "version 0 opened the breaker after a number of consecutive failures; flexgate/v1 opens it on a failure rate (`failure_rate_threshold` percent over `window`), so the default 50% is used",
            ));
        }
        if cb.success_threshold.is_some() {
            self.warn(no_equivalent(
                &format!("{cpath}.successThreshold"),
                "`successThreshold`",
            ));
        }
        let open = cb.timeout.or(cb.reset_timeout).unwrap_or(Millis(60_000));
        Some(CircuitBreaker {
            open_duration: open.duration(),
            half_open_requests: cb.half_open_requests.unwrap_or(3),
            ..circuit_breaker_defaults()
        })
    }

    fn rate_limit_policy(&mut self, name: String, rl: &V0RateLimit) -> Policy {
        Policy::RateLimit(RateLimitPolicy {
            name,
            // express-rate-limit's defaults, which v0 inherited.
            requests: rl.max.unwrap_or(100),
            window: rl.window_ms.unwrap_or(Millis(60_000)).duration(),
            key: vec![RateLimitKey::ClientIp],
            burst: 0,
            mode: Default::default(),
            message: rl.message.clone(),
        })
    }

    fn routes(&mut self, base_paths: &[String]) -> (Vec<Route>, Vec<Policy>) {
        let mut policies = Vec::new();
        let mut taken = BTreeSet::new();
        let mut global_policy = None;
        if let Some(rl) = self
            .v0
            .security
            .as_ref()
            .and_then(|s| s.rate_limiting.as_ref())
            .filter(|rl| rl.enabled != Some(false))
        {
            let name = unique_name("global-rate-limit".into(), &mut taken);
            policies.push(self.rate_limit_policy(name.clone(), rl));
            global_policy = Some(name);
        }
        if self.v0.security.as_ref().is_some_and(|s| s.cors.is_some()) {
            self.warn(no_equivalent("security.cors", "CORS handling"));
        }
        let mut route_names = BTreeSet::new();
        let mut routes = Vec::new();
        for (i, r) in self.v0.routes.iter().enumerate() {
            let path = format!("routes[{i}]");
            let pattern = self.route_pattern(&path, &r.path);
            let name = unique_name(route_name_from_path(&pattern), &mut route_names);
            let mut route = Route {
                name: name.clone(),
                matcher: RouteMatch {
                    path: pattern,
                    methods: r
                        .methods
                        .iter()
                        .map(|m| m.trim().to_ascii_uppercase())
                        .collect(),
                    hosts: Vec::new(),
                    headers: Vec::new(),
                },
                priority: 0,
                upstream: r.upstream.clone(),
                strip_prefix: false,
                rewrite_prefix: None,
                timeout: r.timeout.map(Millis::duration),
                policies: global_policy.iter().cloned().collect(),
                retries: None,
                max_concurrent_requests: None,
            };
            let base_path = self
                .v0
                .upstreams
                .iter()
                .position(|u| u.name == r.upstream)
                .and_then(|u| base_paths.get(u))
                .map(String::as_str)
                .unwrap_or("");
            self.path_rewrite(&path, r, base_path, &mut route);
            if let Some(rl) = r.rate_limit.as_ref().filter(|rl| rl.enabled != Some(false)) {
                let policy_name = unique_name(format!("{name}-rate-limit"), &mut taken);
                policies.push(self.rate_limit_policy(policy_name.clone(), rl));
                route.policies.push(policy_name);
            }
            if r.metadata.is_some() {
                self.warn(no_equivalent(&format!("{path}.metadata"), "`metadata`"));
            }
            routes.push(route);
        }
        (routes, policies)
    }

    /// The v1 pattern for a v0 path; v0 also allowed `*` glued to a segment (`/api*`).
    fn route_pattern(&mut self, path: &str, pattern: &str) -> String {
        let pattern = pattern.trim();
        if let Some(stem) = pattern.strip_suffix('*') {
            if !stem.ends_with('/') && !stem.contains('*') && !stem.is_empty() {
                let v1 = format!("{stem}/*");
                self.warn(Diagnostic::warning(
                    format!("{path}.path"),
                    format!(
                        "`{pattern}` also matched paths such as `{stem}x`; flexgate/v1 matches whole segments, so it becomes `{v1}`"
                    ),
                ));
                return v1;
            }
        }
        pattern.to_owned()
    }

    /// Translates `stripPath` and the path of the upstream URL into `strip_prefix` or
    /// `rewrite_prefix`: the forwarded path is `<url path><request path minus stripped prefix>`.
    fn path_rewrite(&mut self, path: &str, r: &V0Route, base_path: &str, route: &mut Route) {
        let Ok(pattern) = PathPattern::parse(&route.matcher.path) else {
            // Validation reports the pattern; nothing sensible to rewrite.
            return;
        };
        let literal = pattern.literal_prefix();
        // How much of the literal prefix is removed before forwarding.
        let stripped: &str = match &r.strip_path {
            None | Some(V0StripPath::Flag(false)) => "",
            Some(V0StripPath::Flag(true)) => &literal,
            Some(V0StripPath::Prefix(s)) => {
                let s = s.trim_end_matches('/');
                if s.is_empty() {
                    ""
                } else if literal == s
                    || literal
                        .strip_prefix(s)
                        .is_some_and(|rest| rest.starts_with('/'))
                {
                    s
                } else {
                    self.warn(Diagnostic::warning(
                        format!("{path}.stripPath"),
                        format!(
                            "`{s}` is not a leading part of the route's literal prefix `{literal}`; flexgate/v1 can only strip or replace that prefix, so nothing is stripped"
                        ),
                    ));
                    ""
                }
            }
        };
        if stripped.is_empty() && base_path.is_empty() {
            return;
        }
        if pattern.is_exact() {
            let what = if stripped.is_empty() {
                format!("the upstream URL path `{base_path}`")
            } else {
                "`stripPath`".to_owned()
            };
            self.warn(Diagnostic::warning(
                format!("{path}.path"),
                format!(
                    "{what} cannot be applied to the exact path `{}`: flexgate/v1 rewrites prefixes of `*` patterns only; requests are forwarded unchanged",
                    route.matcher.path
                ),
            ));
            return;
        }
        let kept = &literal[stripped.len()..];
        let replacement = format!("{base_path}{kept}");
        if replacement.is_empty() {
            route.strip_prefix = true;
        } else if replacement != literal {
            route.rewrite_prefix = Some(replacement);
        }
    }

    fn observability(&mut self) -> Observability {
        let logging = self.v0.logging.clone().unwrap_or_default();
        let log_level = match logging.level.as_deref().map(str::trim) {
            None => LogLevel::Info,
            Some("error") => LogLevel::Error,
            Some("warn") => LogLevel::Warn,
            Some("info") => LogLevel::Info,
            Some("debug") => LogLevel::Debug,
            Some("silly") => LogLevel::Trace,
            Some(level @ ("http" | "verbose")) => {
                let mapped = if level == "http" {
                    LogLevel::Info
                } else {
                    LogLevel::Debug
                };
                self.warn(Diagnostic::warning(
                    "logging.level",
                    format!(
                        "winston level `{level}` does not exist in flexgate/v1; using `{}`",
                        if mapped == LogLevel::Info {
                            "info"
                        } else {
                            "debug"
                        }
                    ),
                ));
                mapped
            }
            Some(other) => {
                self.warn(Diagnostic::warning(
                    "logging.level",
                    format!("unknown log level `{other}`; using `info`"),
                ));
                LogLevel::Info
            }
        };
        if logging.format.as_deref().is_some_and(|f| f != "json") {
            self.warn(no_equivalent(
                "logging.format",
                "a non-JSON log format (the access log is always JSON lines)",
            ));
        }
        // With sampling off, version 0 logged every request; keep that rather than v1's default.
        let mut sampling = Sampling {
            success_rate: 1.0,
            ..Sampling::default()
        };
        if let Some(s) = logging
            .sampling
            .as_ref()
            .filter(|s| s.enabled == Some(true))
        {
            sampling.success_rate = s.success_rate.unwrap_or(1.0);
            if s.error_rate.is_some_and(|r| r < 1.0) {
                self.warn(no_equivalent(
                    "logging.sampling.errorRate",
                    "sampling of failed requests (errors are always logged)",
                ));
            }
        }
        let mut redaction = Redaction::default();
        if let Some(r) = &logging.redaction {
            if r.enabled == Some(false) {
                self.warn(no_equivalent(
                    "logging.redaction.enabled",
                    "turning redaction off (credentials are always redacted)",
                ));
            } else {
                for field in &r.fields {
                    let header = field.trim().to_ascii_lowercase();
                    if !BUILTIN_REDACTED_HEADERS.contains(&header.as_str())
                        && !redaction.headers.contains(&header)
                    {
                        redaction.headers.push(header);
                    }
                    let param = field.trim().to_owned();
                    if !BUILTIN_REDACTED_PARAMS.contains(&param.as_str())
                        && !redaction.query_params.contains(&param)
                    {
                        redaction.query_params.push(param);
                    }
                }
            }
        }
        Observability {
            log_level,
            access_log: AccessLog {
                sampling,
                redaction,
                ..AccessLog::default()
            },
        }
    }
}

fn circuit_breaker_defaults() -> CircuitBreaker {
    CircuitBreaker::default()
}

/// Renders a migrated config as a YAML document whose header comments list the migration notes.
pub fn render_migrated(config: &Config, notes: &[Diagnostic]) -> Result<String, serde_yaml::Error> {
    let mut out = String::from(
        "# flexgate/v1 configuration migrated from the version 0 (proxy.yml) format.\n",
    );
    if !notes.is_empty() {
        out.push_str("# Review these migration notes:\n");
        for note in notes {
            out.push_str("#   ");
            out.push_str(&note.to_string().replace('\n', "\n#   "));
            out.push('\n');
        }
    }
    out.push_str(&serde_yaml::to_string(config)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_in_bytes_package_notation() {
        assert_eq!(V0Size::parse("10mb"), Ok(V0Size(10 << 20)));
        assert_eq!(V0Size::parse("512KB"), Ok(V0Size(512 << 10)));
        assert_eq!(V0Size::parse("1.5kb"), Ok(V0Size(1536)));
        assert_eq!(V0Size::parse("100"), Ok(V0Size(100)));
        assert!(V0Size::parse("10 parsecs").is_err());
        assert!(V0Size::parse("mb").is_err());
    }

    #[test]
    fn route_names_from_paths() {
        assert_eq!(route_name_from_path("/api/users/*"), "api-users");
        assert_eq!(route_name_from_path("/*"), "root");
        assert_eq!(route_name_from_path("/"), "root");
        assert_eq!(route_name_from_path("/v1/*/Items"), "v1-items");
        let mut taken = BTreeSet::new();
        assert_eq!(unique_name("a".into(), &mut taken), "a");
        assert_eq!(unique_name("a".into(), &mut taken), "a-2");
        assert_eq!(unique_name("a".into(), &mut taken), "a-3");
    }

    #[test]
    fn blocked_literal_targets_are_allowed_exactly() {
        let (config, notes) = migrate_v0(json!({
            "upstreams": [
                {"name": "a", "url": "http://localhost:3001"},
                {"name": "b", "url": "http://10.1.2.3:80"},
                {"name": "c", "url": "http://[::1]:80"},
                {"name": "d", "url": "http://203.0.113.5:80"},
                {"name": "e", "url": "http://api.internal:80"}
            ],
            "routes": [{"path": "/a/*", "upstream": "a"}]
        }))
        .unwrap();
        let allowed: Vec<&[String]> = config
            .upstreams
            .iter()
            .map(|u| u.allow_networks.as_slice())
            .collect();
        assert_eq!(allowed[0], ["127.0.0.1/32", "::1/128"]);
        assert_eq!(allowed[1], ["10.1.2.3/32"]);
        assert_eq!(allowed[2], ["::1/128"]);
        assert!(allowed[3].is_empty() && allowed[4].is_empty());
        let paths: Vec<&str> = notes.iter().map(|n| n.path.as_str()).collect();
        for expected in ["upstreams[0].url", "upstreams[1].url", "upstreams[2].url"] {
            assert!(paths.contains(&expected), "{expected} not in {paths:?}");
        }
        assert!(!paths.contains(&"upstreams[3].url"));
        assert!(notes
            .iter()
            .any(|n| n.path == "upstreams" && n.message.contains("`api.internal`")));
        // The migrated document loads without SSRF warnings.
        let diagnostics = crate::validate(&config);
        assert!(
            diagnostics.iter().all(|d| !d.message.contains("SSRF")),
            "{diagnostics:?}"
        );
    }

    #[test]
    fn url_paths_become_rewrites() {
        let (config, _) = migrate_v0(json!({
            "upstreams": [{"name": "a", "url": "http://a:8080/base/"}],
            "routes": [
                {"path": "/api/*", "upstream": "a", "stripPath": "/api"},
                {"path": "/svc/*", "upstream": "a"},
                {"path": "/x/y/*", "upstream": "a", "stripPath": "/x"}
            ]
        }))
        .unwrap();
        assert_eq!(config.upstreams[0].targets[0].url, "http://a:8080");
        assert_eq!(config.routes[0].rewrite_prefix.as_deref(), Some("/base"));
        assert_eq!(
            config.routes[1].rewrite_prefix.as_deref(),
            Some("/base/svc")
        );
        assert_eq!(config.routes[2].rewrite_prefix.as_deref(), Some("/base/y"));
    }

    #[test]
    fn strip_path_forms() {
        let (config, warnings) = migrate_v0(json!({
            "upstreams": [{"name": "a", "url": "http://a:8080"}],
            "routes": [
                {"path": "/api/*", "upstream": "a", "stripPath": true},
                {"path": "/b/*", "upstream": "a", "stripPath": "/b/"},
                {"path": "/c/d/*", "upstream": "a", "stripPath": "/c"},
                {"path": "/e/*", "upstream": "a", "stripPath": "/zzz"},
                {"path": "/f*", "upstream": "a"}
            ]
        }))
        .unwrap();
        assert!(config.routes[0].strip_prefix);
        assert!(config.routes[1].strip_prefix);
        assert_eq!(config.routes[2].rewrite_prefix.as_deref(), Some("/d"));
        assert!(!config.routes[3].strip_prefix && config.routes[3].rewrite_prefix.is_none());
        assert!(warnings.iter().any(|w| w.path == "routes[3].stripPath"));
        assert_eq!(config.routes[4].matcher.path, "/f/*");
        assert!(warnings.iter().any(|w| w.path == "routes[4].path"));
    }

    #[test]
    fn unknown_keys_are_warnings_with_hints() {
        let (_, warnings) = migrate_v0(json!({
            "upstreams": [{"name": "a", "url": "http://a:1", "healthCheck": {"intervall": 5}}],
            "routes": [],
            "tracing": true
        }))
        .unwrap();
        let w = warnings
            .iter()
            .find(|w| w.path == "upstreams[0].healthCheck.intervall")
            .expect("warning for intervall");
        assert_eq!(w.hint.as_deref(), Some("did you mean `interval`?"));
        assert!(warnings.iter().any(|w| w.path == "tracing"));
    }

    #[test]
    fn type_errors_have_v0_paths() {
        let err = migrate_v0(json!({
            "upstreams": [{"name": "a", "url": "http://a:1", "timeout": "soon"}]
        }))
        .unwrap_err();
        assert_eq!(err.diagnostics()[0].path, "upstreams[0].timeout");
    }

    #[test]
    fn circuit_breaker_defaults_match_the_model() {
        let d = circuit_breaker_defaults();
        assert_eq!(d.failure_rate_threshold, 50);
        assert_eq!(d.window, Duration::from_secs(30));
    }
}

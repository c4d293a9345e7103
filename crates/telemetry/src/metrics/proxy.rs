//! [`ProxyMetrics`]: the data plane's metric families, and the pre-resolved handles
//! ([`RouteMetrics`], [`UpstreamMetrics`]) the request path records into.
//!
//! Label values are bounded by construction: route and upstream names come from the
//! configuration, statuses are reduced to their class, error kinds and codes are fixed strings.
//! Raw paths and client addresses never become labels. Handles are resolved when a configuration
//! version is built, so recording a request is only atomic operations.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use super::family::Family;
use super::primitives::{
    Counter, FloatGauge, Gauge, Histogram, DURATION_SECONDS_BUCKETS, SIZE_BYTES_BUCKETS,
};
use super::process::ProcessCollector;
use super::registry::Registry;

/// Label value used when there is no route or upstream (the request matched no route).
pub const NONE_LABEL: &str = "none";

/// The `status_class` label values, indexed by [`status_class_index`].
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Upstream error kinds whose series exist from the start (at zero), so alerts on their rate
/// work before the first failure. Other kinds are accepted and created on first use.
pub const UPSTREAM_ERROR_KINDS: [&str; 5] =
    ["connect", "timeout", "tls", "protocol", "no_healthy_target"];

/// Gateway error codes whose series exist from the start (at zero). Other codes are accepted and
/// created on first use.
pub const GATEWAY_ERROR_CODES: [&str; 10] = [
    "route_not_found",
    "method_not_allowed",
    "payload_too_large",
    "bad_request",
    "no_healthy_upstream",
    "upstream_connect_failed",
    "upstream_timeout",
    "upstream_protocol_error",
    "upstream_tls_error",
    "not_ready",
];

/// Index into [`STATUS_CLASSES`] for an HTTP status. Statuses below 200 count as `1xx` and
/// statuses of 500 and above (including invalid ones above 599) as `5xx`, so the label stays
/// within five values whatever the input.
#[inline]
pub fn status_class_index(status: u16) -> usize {
    usize::from(status / 100).clamp(1, 5) - 1
}

/// The `status_class` label value for an HTTP status (see [`status_class_index`]).
pub fn status_class(status: u16) -> &'static str {
    STATUS_CLASSES[status_class_index(status)]
}

fn label_or_none(value: &str) -> &str {
    if value.is_empty() {
        NONE_LABEL
    } else {
        value
    }
}

/// Converts milliseconds (what the proxy measures) to seconds (the metric's base unit).
#[inline]
fn ms_to_seconds(ms: f64) -> f64 {
    ms / 1000.0
}

/// The data plane's metrics, with their own [`Registry`] (which also exposes process metrics).
#[derive(Debug)]
pub struct ProxyMetrics {
    registry: Registry,
    requests: Arc<Family<Counter>>,
    request_duration: Arc<Family<Histogram>>,
    in_flight: Arc<Gauge>,
    request_size: Arc<Family<Histogram>>,
    response_size: Arc<Family<Histogram>>,
    upstream_requests: Arc<Family<Counter>>,
    upstream_errors: Arc<Family<Counter>>,
    upstream_duration: Arc<Family<Histogram>>,
    target_healthy: Arc<Family<Gauge>>,
    reloads_success: Arc<Counter>,
    reloads_failure: Arc<Counter>,
    last_reload_timestamp: Arc<FloatGauge>,
    last_reload_success: Arc<Gauge>,
    config_info: Arc<Family<Gauge>>,
    /// Serialises [`ProxyMetrics::config_info`] so two publishers cannot both leave a series.
    config_info_lock: Mutex<()>,
    gateway_errors: Arc<Family<Counter>>,
    known_gateway_errors: Box<[(&'static str, Arc<Counter>)]>,
    access_log_dropped: Arc<Counter>,
    unrouted: RouteMetrics,
    /// Circuit breaker, outlier, retry and load-shedding families.
    pub resilience: super::resilience::ResilienceMetrics,
    /// Rate-limit decision and Redis families.
    pub rate_limit: super::rate_limit::RateLimitMetrics,
}

impl Default for ProxyMetrics {
    fn default() -> Self {
        ProxyMetrics::new()
    }
}

impl ProxyMetrics {
    /// Registers every data-plane family in a new registry. `flexgate_build_info` carries this
    /// crate's version, which is the workspace (and so the binary's) version.
    pub fn new() -> ProxyMetrics {
        let r = Registry::new();
        let requests = r.counter_family(
            "flexgate_http_requests_total",
            "Requests answered, by route, upstream and status class.",
            &["route", "upstream", "status_class"],
        );
        let request_duration = r.histogram_family(
            "flexgate_http_request_duration_seconds",
            "Time from receiving the request head to sending the end of the response, in seconds.",
            &["route", "upstream"],
            DURATION_SECONDS_BUCKETS,
        );
        let in_flight = r.gauge(
            "flexgate_http_requests_in_flight",
            "Requests received and not yet completely answered.",
        );
        let request_size = r.histogram_family(
            "flexgate_http_request_size_bytes",
            "Request body size in bytes, by route.",
            &["route"],
            SIZE_BYTES_BUCKETS,
        );
        let response_size = r.histogram_family(
            "flexgate_http_response_size_bytes",
            "Response body size in bytes, by route.",
            &["route"],
            SIZE_BYTES_BUCKETS,
        );
        let upstream_requests = r.counter_family(
            "flexgate_upstream_requests_total",
            "Responses received from upstream targets, by upstream and status class.",
            &["upstream", "status_class"],
        );
        let upstream_errors = r.counter_family(
            "flexgate_upstream_errors_total",
            "Upstream requests that failed without a usable response, by upstream and kind.",
            &["upstream", "kind"],
        );
        let upstream_duration = r.histogram_family(
            "flexgate_upstream_request_duration_seconds",
            "Time from sending the request upstream to receiving the response head, in seconds.",
            &["upstream"],
            DURATION_SECONDS_BUCKETS,
        );
        let target_healthy = r.gauge_family(
            "flexgate_upstream_target_healthy",
            "Whether an upstream target passes its health checks (1) or not (0).",
            &["upstream", "target"],
        );
        let reloads = r.counter_family(
            "flexgate_config_reloads_total",
            "Configuration load attempts, by result (success or failure).",
            &["result"],
        );
        let last_reload_timestamp = r.float_gauge(
            "flexgate_config_last_reload_timestamp_seconds",
            "Unix time of the last configuration load attempt, in seconds.",
        );
        let last_reload_success = r.gauge(
            "flexgate_config_last_reload_success",
            "Whether the last configuration load attempt succeeded (1) or not (0).",
        );
        let config_info = r.gauge_family(
            "flexgate_config_info",
            "The configuration version in force (always 1; the labels carry the information).",
            &["version", "hash"],
        );
        let build_info = r.gauge_family(
            "flexgate_build_info",
            "FlexGate build information (always 1; the labels carry the information).",
            &["version"],
        );
        let gateway_errors = r.counter_family(
            "flexgate_gateway_errors_total",
            "Error responses produced by the gateway itself, by stable error code.",
            &["code"],
        );
        let access_log_dropped = r.counter(
            "flexgate_access_log_dropped_total",
            "Access log lines dropped because the writer could not keep up.",
        );
        r.register_collector(ProcessCollector);

        build_info
            .get_or_create(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let known_gateway_errors = GATEWAY_ERROR_CODES
            .iter()
            .map(|code| (*code, gateway_errors.get_or_create(&[code])))
            .collect();
        let unrouted = RouteMetrics::resolve(
            &requests,
            &request_duration,
            &request_size,
            &response_size,
            NONE_LABEL,
            NONE_LABEL,
        );

        ProxyMetrics {
            resilience: super::resilience::ResilienceMetrics::new(&r),
            rate_limit: super::rate_limit::RateLimitMetrics::new(&r),
            reloads_success: reloads.get_or_create(&["success"]),
            reloads_failure: reloads.get_or_create(&["failure"]),
            registry: r,
            requests,
            request_duration,
            in_flight,
            request_size,
            response_size,
            upstream_requests,
            upstream_errors,
            upstream_duration,
            target_healthy,
            last_reload_timestamp,
            last_reload_success,
            config_info,
            config_info_lock: Mutex::new(()),
            gateway_errors,
            known_gateway_errors,
            access_log_dropped,
            unrouted,
        }
    }

    /// The underlying registry, to register further metrics exposed alongside these.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// All metrics in the Prometheus text format 0.0.4 (serve with [`super::CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        self.registry.encode()
    }

    /// Handles for requests on `route` served by `upstream`. Resolve once per configuration
    /// version and keep the result; an empty name is recorded as `none`.
    pub fn route(&self, route: &str, upstream: &str) -> RouteMetrics {
        RouteMetrics::resolve(
            &self.requests,
            &self.request_duration,
            &self.request_size,
            &self.response_size,
            label_or_none(route),
            label_or_none(upstream),
        )
    }

    /// Handles for requests that matched no route (`route="none"`, `upstream="none"`).
    pub fn unrouted(&self) -> &RouteMetrics {
        &self.unrouted
    }

    /// Handles for the upstream named `upstream`. Resolve once per configuration version.
    pub fn upstream(&self, upstream: &str) -> UpstreamMetrics {
        let name = label_or_none(upstream);
        let requests =
            STATUS_CLASSES.map(|class| self.upstream_requests.get_or_create(&[name, class]));
        let known_errors = UPSTREAM_ERROR_KINDS
            .iter()
            .map(|kind| (*kind, self.upstream_errors.get_or_create(&[name, kind])))
            .collect();
        UpstreamMetrics {
            name: name.into(),
            requests,
            duration: self.upstream_duration.get_or_create(&[name]),
            known_errors,
            errors: self.upstream_errors.clone(),
            target_healthy: self.target_healthy.clone(),
        }
    }

    /// Forgets the series of an upstream that is no longer configured: its target health
    /// gauges would otherwise keep reporting a state nobody checks any more. Counters and
    /// histograms are kept, since their history stays meaningful.
    pub fn remove_upstream(&self, upstream: &str) {
        let name = label_or_none(upstream);
        self.target_healthy.retain(|values| values[0] != name);
    }

    /// A request was received (call [`ProxyMetrics::in_flight_dec`] when it is fully answered).
    #[inline]
    pub fn in_flight_inc(&self) {
        self.in_flight.inc();
    }

    /// A request was fully answered (or abandoned).
    #[inline]
    pub fn in_flight_dec(&self) {
        self.in_flight.dec();
    }

    /// Requests currently in flight.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    /// Counts an error response produced by the gateway, by its stable code. Codes in
    /// [`GATEWAY_ERROR_CODES`] are found without locking; pass only fixed codes, never free text.
    pub fn gateway_error(&self, code: &str) {
        match self
            .known_gateway_errors
            .iter()
            .find(|(known, _)| *known == code)
        {
            Some((_, counter)) => counter.inc(),
            None => self.gateway_errors.get_or_create(&[code]).inc(),
        }
    }

    /// Publishes the configuration version now in force: `flexgate_config_info{version,hash}`
    /// is set to 1 and the previous version's series removed.
    pub fn config_info(&self, version: &str, hash: &str) {
        let _serialised = self
            .config_info_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Create the new series before removing the old one, so a scrape in between sees
        // both rather than neither.
        self.config_info.get_or_create(&[version, hash]).set(1);
        self.config_info
            .retain(|values| values[0] == version && values[1] == hash);
    }

    /// Records a configuration load attempt (the initial load or a reload) made at `at`.
    pub fn config_reload(&self, success: bool, at: SystemTime) {
        if success {
            self.reloads_success.inc();
        } else {
            self.reloads_failure.inc();
        }
        self.last_reload_success.set(i64::from(success));
        let seconds = at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.last_reload_timestamp.set(seconds);
    }

    /// The counter behind `flexgate_access_log_dropped_total`, to wire into the access logger.
    pub fn access_log_dropped(&self) -> Arc<Counter> {
        self.access_log_dropped.clone()
    }
}

/// Pre-resolved handles for one route and its upstream. Cloning is cheap (reference counts).
#[derive(Debug, Clone)]
pub struct RouteMetrics {
    requests: [Arc<Counter>; 5],
    duration: Arc<Histogram>,
    request_size: Arc<Histogram>,
    response_size: Arc<Histogram>,
}

impl RouteMetrics {
    fn resolve(
        requests: &Family<Counter>,
        duration: &Family<Histogram>,
        request_size: &Family<Histogram>,
        response_size: &Family<Histogram>,
        route: &str,
        upstream: &str,
    ) -> RouteMetrics {
        RouteMetrics {
            requests: STATUS_CLASSES.map(|class| requests.get_or_create(&[route, upstream, class])),
            duration: duration.get_or_create(&[route, upstream]),
            request_size: request_size.get_or_create(&[route]),
            response_size: response_size.get_or_create(&[route]),
        }
    }

    /// Records a completed request: its final status, total duration in milliseconds, and
    /// request and response body sizes in bytes. Atomic operations only.
    #[inline]
    pub fn record_response(&self, status: u16, duration_ms: f64, req_bytes: u64, resp_bytes: u64) {
        self.requests[status_class_index(status)].inc();
        self.duration.observe(ms_to_seconds(duration_ms));
        self.request_size.observe(req_bytes as f64);
        self.response_size.observe(resp_bytes as f64);
    }
}

/// Pre-resolved handles for one upstream. Cloning is cheap (reference counts).
#[derive(Debug, Clone)]
pub struct UpstreamMetrics {
    name: Arc<str>,
    requests: [Arc<Counter>; 5],
    duration: Arc<Histogram>,
    known_errors: Box<[(&'static str, Arc<Counter>)]>,
    errors: Arc<Family<Counter>>,
    target_healthy: Arc<Family<Gauge>>,
}

impl UpstreamMetrics {
    /// The upstream's label value.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Records one upstream exchange: the response status (`None` when no response head
    /// arrived) and the time to the response head (or to the failure) in milliseconds.
    #[inline]
    pub fn record(&self, status: Option<u16>, duration_ms: f64) {
        if let Some(status) = status {
            self.requests[status_class_index(status)].inc();
        }
        self.duration.observe(ms_to_seconds(duration_ms));
    }

    /// Counts a failed upstream exchange by kind (`connect`, `timeout`, `tls`, `protocol`,
    /// `no_healthy_target`, ...). Kinds in [`UPSTREAM_ERROR_KINDS`] are found without locking;
    /// pass only fixed kinds, never free text.
    pub fn error(&self, kind: &str) {
        match self.known_errors.iter().find(|(known, _)| *known == kind) {
            Some((_, counter)) => counter.inc(),
            None => self.errors.get_or_create(&[&self.name, kind]).inc(),
        }
    }

    /// Sets `flexgate_upstream_target_healthy` for a target (by its URL).
    pub fn target_health(&self, target: &str, healthy: bool) {
        self.target_healthy
            .get_or_create(&[&self.name, target])
            .set(i64::from(healthy));
    }

    /// Removes a target's health series (the target left the configuration).
    pub fn remove_target(&self, target: &str) {
        self.target_healthy.remove(&[&self.name, target]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        let cases = [
            (0, "1xx"),
            (100, "1xx"),
            (199, "1xx"),
            (200, "2xx"),
            (304, "3xx"),
            (404, "4xx"),
            (499, "4xx"),
            (500, "5xx"),
            (599, "5xx"),
            (999, "5xx"),
            (u16::MAX, "5xx"),
        ];
        for (status, class) in cases {
            assert_eq!(status_class(status), class, "{status}");
        }
    }

    #[test]
    fn route_handles_record_into_families() {
        let m = ProxyMetrics::new();
        let r = m.route("users", "users-svc");
        r.record_response(201, 12.0, 10, 2000);
        r.record_response(503, 1500.0, 0, 100);
        let again = m.route("users", "users-svc");
        again.record_response(200, 1.0, 0, 0);
        let out = m.encode();
        assert!(out.contains(
            "flexgate_http_requests_total{route=\"users\",upstream=\"users-svc\",status_class=\"2xx\"} 2\n"
        ));
        assert!(out.contains(
            "flexgate_http_requests_total{route=\"users\",upstream=\"users-svc\",status_class=\"5xx\"} 1\n"
        ));
        assert!(out.contains(
            "flexgate_http_request_duration_seconds_bucket{route=\"users\",upstream=\"users-svc\",le=\"0.025\"} 2\n"
        ));
        assert!(out.contains(
            "flexgate_http_request_duration_seconds_sum{route=\"users\",upstream=\"users-svc\"} 1.513\n"
        ));
        assert!(out.contains("flexgate_http_response_size_bytes_count{route=\"users\"} 3\n"));
    }

    #[test]
    fn empty_names_become_none() {
        let m = ProxyMetrics::new();
        m.route("", "").record_response(404, 0.5, 0, 0);
        m.unrouted().record_response(404, 0.5, 0, 0);
        assert!(m.encode().contains(
            "flexgate_http_requests_total{route=\"none\",upstream=\"none\",status_class=\"4xx\"} 2\n"
        ));
    }

    #[test]
    fn upstream_handles() {
        let m = ProxyMetrics::new();
        let u = m.upstream("billing");
        u.record(Some(200), 5.0);
        u.record(None, 30_000.0);
        u.error("timeout");
        u.error("reset");
        u.target_health("http://10.0.0.1:80", true);
        u.target_health("http://10.0.0.2:80", false);
        let out = m.encode();
        assert!(out.contains(
            "flexgate_upstream_requests_total{upstream=\"billing\",status_class=\"2xx\"} 1\n"
        ));
        assert!(out.contains(
            "flexgate_upstream_request_duration_seconds_count{upstream=\"billing\"} 2\n"
        ));
        assert!(out
            .contains("flexgate_upstream_errors_total{upstream=\"billing\",kind=\"timeout\"} 1\n"));
        assert!(
            out.contains("flexgate_upstream_errors_total{upstream=\"billing\",kind=\"reset\"} 1\n")
        );
        assert!(out
            .contains("flexgate_upstream_errors_total{upstream=\"billing\",kind=\"connect\"} 0\n"));
        assert!(out.contains(
            "flexgate_upstream_target_healthy{upstream=\"billing\",target=\"http://10.0.0.2:80\"} 0\n"
        ));
        u.remove_target("http://10.0.0.2:80");
        assert!(!m.encode().contains("10.0.0.2"));
        m.remove_upstream("billing");
        assert!(!m.encode().contains("flexgate_upstream_target_healthy{"));
    }

    #[test]
    fn config_info_keeps_only_the_current_version() {
        let m = ProxyMetrics::new();
        m.config_info("v1", "aaaa");
        m.config_info("v2", "bbbb");
        let out = m.encode();
        assert!(!out.contains("aaaa"));
        assert!(out.contains("flexgate_config_info{version=\"v2\",hash=\"bbbb\"} 1\n"));
    }

    #[test]
    fn reloads() {
        let m = ProxyMetrics::new();
        let at = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_500);
        m.config_reload(true, at);
        m.config_reload(false, at);
        let out = m.encode();
        assert!(out.contains("flexgate_config_reloads_total{result=\"success\"} 1\n"));
        assert!(out.contains("flexgate_config_reloads_total{result=\"failure\"} 1\n"));
        assert!(out.contains("flexgate_config_last_reload_success 0\n"));
        assert!(out.contains("flexgate_config_last_reload_timestamp_seconds 1700000000.5\n"));
    }

    #[test]
    fn gateway_errors_and_in_flight() {
        let m = ProxyMetrics::new();
        m.gateway_error("route_not_found");
        m.gateway_error("route_not_found");
        m.gateway_error("something_new");
        m.in_flight_inc();
        m.in_flight_inc();
        m.in_flight_dec();
        m.access_log_dropped().add(3);
        let out = m.encode();
        assert!(out.contains("flexgate_gateway_errors_total{code=\"route_not_found\"} 2\n"));
        assert!(out.contains("flexgate_gateway_errors_total{code=\"something_new\"} 1\n"));
        assert!(out.contains("flexgate_gateway_errors_total{code=\"not_ready\"} 0\n"));
        assert!(out.contains("flexgate_http_requests_in_flight 1\n"));
        assert!(out.contains("flexgate_access_log_dropped_total 3\n"));
        assert!(out.contains(&format!(
            "flexgate_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
        assert_eq!(m.in_flight(), 1);
    }
}

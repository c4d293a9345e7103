//! Terse builders for configs, routes and requests shared by the integration tests.

use flexgate_config::{
    Config, HeaderMatch, LoadBalancing, Observability, Pool, Route, RouteMatch, Server,
    StatusListener, Target, Upstream, UpstreamProtocol, UpstreamTimeouts,
};
use flexgate_router::{Lookup, RequestFacts, RouteTable};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// Name of the single upstream every test route points at.
pub const UPSTREAM: &str = "backend";

/// A route on `path` with no other conditions.
pub fn route(name: &str, path: &str) -> Route {
    Route {
        name: name.into(),
        matcher: RouteMatch {
            path: path.into(),
            methods: vec![],
            hosts: vec![],
            headers: vec![],
        },
        priority: 0,
        upstream: UPSTREAM.into(),
        strip_prefix: false,
        rewrite_prefix: None,
        timeout: None,
        policies: vec![],
        retries: None,
        max_concurrent_requests: None,
    }
}

/// Chainable tweaks on a [`Route`].
pub trait RouteExt {
    fn priority(self, p: i32) -> Self;
    fn methods(self, m: &[&str]) -> Self;
    fn hosts(self, h: &[&str]) -> Self;
    fn header(self, name: &str, value: Option<&str>) -> Self;
    fn strip(self) -> Self;
    fn rewrite(self, prefix: &str) -> Self;
}

impl RouteExt for Route {
    fn priority(mut self, p: i32) -> Self {
        self.priority = p;
        self
    }
    fn methods(mut self, m: &[&str]) -> Self {
        self.matcher.methods = m.iter().map(|s| s.to_string()).collect();
        self
    }
    fn hosts(mut self, h: &[&str]) -> Self {
        self.matcher.hosts = h.iter().map(|s| s.to_string()).collect();
        self
    }
    fn header(mut self, name: &str, value: Option<&str>) -> Self {
        self.matcher.headers.push(HeaderMatch {
            name: name.into(),
            value: value.map(str::to_string),
        });
        self
    }
    fn strip(mut self) -> Self {
        self.strip_prefix = true;
        self
    }
    fn rewrite(mut self, prefix: &str) -> Self {
        self.rewrite_prefix = Some(prefix.into());
        self
    }
}

/// An upstream named `name` with one target.
pub fn upstream(name: &str) -> Upstream {
    Upstream {
        name: name.into(),
        targets: vec![Target {
            url: "http://127.0.0.1:9".into(),
            weight: 1,
        }],
        load_balancing: LoadBalancing::RoundRobin,
        protocol: UpstreamProtocol::Http1,
        preserve_host: false,
        timeouts: UpstreamTimeouts::default(),
        pool: Pool::default(),
        health_check: None,
        tls: None,
        circuit_breaker: None,
        outlier_detection: None,
        limits: Default::default(),
        allow_networks: Vec::new(),
    }
}

/// A config with [`UPSTREAM`] and the given routes.
pub fn config(routes: Vec<Route>) -> Config {
    Config {
        version: 1,
        listeners: vec![],
        status: StatusListener::default(),
        server: Server::default(),
        upstreams: vec![upstream(UPSTREAM)],
        routes,
        policies: vec![],
        security: Default::default(),
        redis: None,
        observability: Observability::default(),
    }
}

/// Compiles routes, failing the test on error.
pub fn table(routes: Vec<Route>) -> RouteTable {
    RouteTable::compile(&config(routes)).expect("config compiles")
}

/// An owned request description, turned into [`RequestFacts`] on demand.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    pub host: Option<String>,
    pub path: String,
    pub headers: HeaderMap,
}

impl Req {
    pub fn facts(&self) -> RequestFacts<'_> {
        RequestFacts {
            method: &self.method,
            host: self.host.as_deref(),
            path: &self.path,
            headers: &self.headers,
        }
    }

    pub fn host(mut self, host: &str) -> Self {
        self.host = Some(host.into());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
        self
    }
}

/// A request with `method` (e.g. `"GET"`) on `path`, no host, no headers.
pub fn req(method: &str, path: &str) -> Req {
    Req {
        method: Method::from_bytes(method.as_bytes()).expect("method"),
        host: None,
        path: path.into(),
        headers: HeaderMap::new(),
    }
}

/// The name of the matched route, or `None` for anything but a match.
pub fn matched_name(table: &RouteTable, request: &Req) -> Option<String> {
    match table.lookup(&request.facts()) {
        Lookup::Matched(r) => Some(r.name.to_string()),
        _ => None,
    }
}

/// Asserts that `request` is routed to `expected` (`None`: not found).
#[track_caller]
pub fn check(routes: &[Route], request: Req, expected: Option<&str>) {
    let table = table(routes.to_vec());
    match (table.lookup(&request.facts()), expected) {
        (Lookup::Matched(r), Some(want)) => assert_eq!(
            &*r.name, want,
            "{} {} (host {:?})",
            request.method, request.path, request.host
        ),
        (Lookup::NotFound, None) => {}
        (got, want) => panic!(
            "{} {} (host {:?}): expected {want:?}, got {got:?}",
            request.method, request.path, request.host
        ),
    }
}

/// Asserts that `request` gets a `405` listing exactly `allowed`.
#[track_caller]
pub fn check_405(routes: &[Route], request: Req, allowed: &[&str]) {
    let table = table(routes.to_vec());
    match table.lookup(&request.facts()) {
        Lookup::MethodNotAllowed { allowed: got } => {
            let got: Vec<&str> = got.iter().map(Method::as_str).collect();
            assert_eq!(got, allowed, "{} {}", request.method, request.path);
        }
        other => panic!(
            "{} {}: expected 405 {allowed:?}, got {other:?}",
            request.method, request.path
        ),
    }
}

//! The compiled route table: built from a config once, then shared read-only by every request.
//!
//! This module owns the public routing API (ids, [`RouteTable`], [`RequestFacts`], [`Lookup`],
//! [`CompiledRoute`], [`CompileError`]) and the selection rule on top of the path trie: among the
//! routes whose path matches, the best-ranked one whose host, headers and method also match wins;
//! if only the method is wrong for all of them, the answer is `405` with the methods that would
//! have been accepted.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, Method};

use flexgate_config::Config;

use crate::conditions::{parse_method, Conditions, HeaderCondition, HostPattern, Verdict};
use crate::pattern::{request_segments, PathPattern, Rewrite};
use crate::rank::route_rank;
use crate::trie::{Rank, Trie, TrieBuilder};

/// Index of a route in `config.routes` (and in [`RouteTable::routes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteId(pub usize);

/// Index of an upstream in `config.upstreams`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UpstreamId(pub usize);

/// Why a config could not be compiled into a route table.
///
/// Validation in the config crate rejects all of these first; the router checks again so that a
/// config that skipped validation fails cleanly instead of routing wrongly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// A route names an upstream that does not exist.
    #[error("route `{route}` references unknown upstream `{upstream}`")]
    UnknownUpstream {
        /// The route's name.
        route: String,
        /// The upstream name it references.
        upstream: String,
    },
    /// Two upstreams share a name, so a reference to it is ambiguous.
    #[error("upstream name `{name}` is used more than once")]
    DuplicateUpstream {
        /// The repeated name.
        name: String,
    },
    /// A route's path pattern is malformed.
    #[error("route `{route}` has an invalid path pattern `{path}`: {reason}")]
    InvalidPath {
        /// The route's name.
        route: String,
        /// The pattern as written.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A route's host condition is neither a host name nor `*.` followed by a domain.
    #[error("route `{route}` has an invalid host `{host}`")]
    InvalidHost {
        /// The route's name.
        route: String,
        /// The host as written.
        host: String,
    },
    /// A route lists something that is not an HTTP method token.
    #[error("route `{route}` has an invalid method `{method}`")]
    InvalidMethod {
        /// The route's name.
        route: String,
        /// The method as written.
        method: String,
    },
    /// A route's header condition names something that is not a valid header name.
    #[error("route `{route}` has an invalid header name `{header}`")]
    InvalidHeaderName {
        /// The route's name.
        route: String,
        /// The header name as written.
        header: String,
    },
    /// A route sets both `strip_prefix` and `rewrite_prefix`.
    #[error("route `{route}` sets both `strip_prefix` and `rewrite_prefix`")]
    ConflictingRewrite {
        /// The route's name.
        route: String,
    },
}

/// What the router needs to know about a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The authority's host without port, in any case; a trailing dot is ignored. `None` when the
    /// request carries no host, which only matches routes without host conditions.
    pub host: Option<&'a str>,
    /// The path without query string, as received (not percent-decoded).
    pub path: &'a str,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

/// The outcome of [`RouteTable::lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// This route serves the request.
    Matched(&'a CompiledRoute),
    /// Some route matches path, host and headers, but none of them accepts the method: answer
    /// `405` with an `Allow` header listing `allowed`.
    MethodNotAllowed {
        /// Methods accepted by those routes, deduplicated and sorted by name.
        allowed: Vec<Method>,
    },
    /// No route matches: answer `404`.
    NotFound,
}

/// A route ready for matching, with what the proxy needs once it has been chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledRoute {
    /// Index of the route in the config.
    pub id: RouteId,
    /// The route's name (the `route` metric label).
    pub name: Arc<str>,
    /// The upstream that serves the route.
    pub upstream: UpstreamId,
    conditions: Conditions,
    rewrite: Rewrite,
}

impl CompiledRoute {
    /// The path to forward upstream for a request `path` (without query) that this route matched,
    /// after `strip_prefix` / `rewrite_prefix`. Without a rewrite the path is returned as is.
    pub fn rewrite_path<'p>(&self, path: &'p str) -> Cow<'p, str> {
        self.rewrite.apply(path)
    }
}

/// An immutable table of compiled routes; cheap to share between threads behind an `Arc`.
#[derive(Debug, Clone)]
pub struct RouteTable {
    /// Indexed by `RouteId.0`.
    routes: Vec<CompiledRoute>,
    /// `by_rank[rank]` is the index of the route tried at that position.
    by_rank: Vec<usize>,
    trie: Trie,
}

impl RouteTable {
    /// Compiles the routes of a (validated) config.
    pub fn compile(config: &Config) -> Result<RouteTable, CompileError> {
        let mut upstreams: HashMap<&str, UpstreamId> = HashMap::new();
        for (i, u) in config.upstreams.iter().enumerate() {
            if upstreams.insert(u.name.as_str(), UpstreamId(i)).is_some() {
                return Err(CompileError::DuplicateUpstream {
                    name: u.name.clone(),
                });
            }
        }

        let mut routes = Vec::with_capacity(config.routes.len());
        let mut patterns = Vec::with_capacity(config.routes.len());
        for (i, route) in config.routes.iter().enumerate() {
            let err_route = || route.name.clone();
            let upstream = *upstreams.get(route.upstream.as_str()).ok_or_else(|| {
                CompileError::UnknownUpstream {
                    route: err_route(),
                    upstream: route.upstream.clone(),
                }
            })?;
            let m = &route.matcher;
            let pattern = PathPattern::parse(&m.path).map_err(|e| CompileError::InvalidPath {
                route: err_route(),
                path: m.path.clone(),
                reason: e.reason(),
            })?;
            if route.strip_prefix && route.rewrite_prefix.is_some() {
                return Err(CompileError::ConflictingRewrite { route: err_route() });
            }
            let hosts = m
                .hosts
                .iter()
                .map(|h| {
                    HostPattern::parse(h).ok_or_else(|| CompileError::InvalidHost {
                        route: err_route(),
                        host: h.clone(),
                    })
                })
                .collect::<Result<_, _>>()?;
            let headers = m
                .headers
                .iter()
                .map(|h| {
                    HeaderCondition::parse(h).ok_or_else(|| CompileError::InvalidHeaderName {
                        route: err_route(),
                        header: h.name.clone(),
                    })
                })
                .collect::<Result<_, _>>()?;
            let mut methods = Vec::with_capacity(m.methods.len());
            for method in &m.methods {
                let parsed = parse_method(method).ok_or_else(|| CompileError::InvalidMethod {
                    route: err_route(),
                    method: method.clone(),
                })?;
                if !methods.contains(&parsed) {
                    methods.push(parsed);
                }
            }
            routes.push(CompiledRoute {
                id: RouteId(i),
                name: Arc::from(route.name.as_str()),
                upstream,
                conditions: Conditions {
                    hosts,
                    headers,
                    methods,
                },
                rewrite: Rewrite::new(
                    &pattern,
                    route.strip_prefix,
                    route.rewrite_prefix.as_deref(),
                ),
            });
            patterns.push(pattern);
        }

        let by_rank = route_rank(config);
        let mut trie = TrieBuilder::new();
        for (rank, &route) in by_rank.iter().enumerate() {
            trie.insert(&patterns[route], rank);
        }
        Ok(RouteTable {
            routes,
            by_rank,
            trie: trie.finish(),
        })
    }

    /// Finds the route for a request.
    pub fn lookup<'a>(&'a self, req: &RequestFacts<'_>) -> Lookup<'a> {
        let Some(rest) = request_segments(req.path) else {
            return Lookup::NotFound;
        };
        let host = req.host.map(|h| h.strip_suffix('.').unwrap_or(h));

        let mut best: Option<Rank> = None;
        let mut wrong_method = false;
        self.trie
            .for_each_candidate_list(rest, &mut |ranks: &[Rank]| {
                for &rank in ranks {
                    // Lists are in rank order: nothing further down can beat what we have.
                    if best.is_some_and(|b| rank >= b) {
                        break;
                    }
                    match self.check(rank, req.method, host, req.headers) {
                        Verdict::Match => {
                            best = Some(rank);
                            break;
                        }
                        Verdict::WrongMethod => wrong_method = true,
                        Verdict::NoMatch => {}
                    }
                }
            });

        if let Some(route) = best.and_then(|rank| self.route_at(rank)) {
            return Lookup::Matched(route);
        }
        if !wrong_method {
            return Lookup::NotFound;
        }
        // Only a `405` pays for collecting the allowed methods, in a second walk.
        let mut allowed: Vec<Method> = Vec::new();
        self.trie
            .for_each_candidate_list(rest, &mut |ranks: &[Rank]| {
                for &rank in ranks {
                    if self.check(rank, req.method, host, req.headers) == Verdict::WrongMethod {
                        if let Some(route) = self.route_at(rank) {
                            allowed.extend(route.conditions.methods.iter().cloned());
                        }
                    }
                }
            });
        allowed.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        allowed.dedup();
        Lookup::MethodNotAllowed { allowed }
    }

    #[inline]
    fn route_at(&self, rank: Rank) -> Option<&CompiledRoute> {
        self.by_rank.get(rank).and_then(|&i| self.routes.get(i))
    }

    #[inline]
    fn check(
        &self,
        rank: Rank,
        method: &Method,
        host: Option<&str>,
        headers: &HeaderMap,
    ) -> Verdict {
        match self.route_at(rank) {
            Some(route) => route.conditions.check(method, host, headers),
            None => Verdict::NoMatch,
        }
    }

    /// All routes, indexed by `RouteId.0` (declaration order, not rank order).
    pub fn routes(&self) -> &[CompiledRoute] {
        &self.routes
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether the table has no routes (every lookup is `NotFound`).
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flexgate_config::{
        HeaderMatch, LoadBalancing, Observability, Pool, Route, RouteMatch, Server, StatusListener,
        Target, Upstream, UpstreamProtocol, UpstreamTimeouts,
    };

    fn upstream(name: &str) -> Upstream {
        Upstream {
            name: name.into(),
            targets: vec![Target {
                url: "http://127.0.0.1:1".into(),
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

    fn route(name: &str, path: &str) -> Route {
        Route {
            name: name.into(),
            matcher: RouteMatch {
                path: path.into(),
                methods: vec![],
                hosts: vec![],
                headers: vec![],
            },
            priority: 0,
            upstream: "u".into(),
            strip_prefix: false,
            rewrite_prefix: None,
            timeout: None,
            policies: vec![],
            retries: None,
            max_concurrent_requests: None,
        }
    }

    fn config(routes: Vec<Route>) -> Config {
        Config {
            version: 1,
            listeners: vec![],
            status: StatusListener::default(),
            server: Server::default(),
            upstreams: vec![upstream("other"), upstream("u")],
            routes,
            policies: vec![],
            security: Default::default(),
            redis: None,
            observability: Observability::default(),
        }
    }

    fn facts<'a>(method: &'a Method, path: &'a str, headers: &'a HeaderMap) -> RequestFacts<'a> {
        RequestFacts {
            method,
            host: None,
            path,
            headers,
        }
    }

    #[test]
    fn table_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RouteTable>();
    }

    #[test]
    fn resolves_upstreams_and_ids() {
        let table = RouteTable::compile(&config(vec![route("a", "/a"), route("b", "/b")]))
            .expect("compiles");
        assert_eq!(table.len(), 2);
        assert!(!table.is_empty());
        assert_eq!(table.routes()[1].id, RouteId(1));
        assert_eq!(&*table.routes()[1].name, "b");
        assert_eq!(table.routes()[1].upstream, UpstreamId(1));
    }

    #[test]
    fn compile_errors() {
        let mut r = route("r", "/a");
        r.upstream = "missing".into();
        assert_eq!(
            RouteTable::compile(&config(vec![r])).err(),
            Some(CompileError::UnknownUpstream {
                route: "r".into(),
                upstream: "missing".into()
            })
        );

        let err = RouteTable::compile(&config(vec![route("r", "api/*")])).err();
        assert!(matches!(err, Some(CompileError::InvalidPath { .. })));

        let mut r = route("r", "/a");
        r.matcher.methods = vec!["GE T".into()];
        let err = RouteTable::compile(&config(vec![r])).err();
        assert!(matches!(err, Some(CompileError::InvalidMethod { .. })));

        let mut r = route("r", "/a");
        r.matcher.headers = vec![HeaderMatch {
            name: "x y".into(),
            value: None,
        }];
        let err = RouteTable::compile(&config(vec![r])).err();
        assert!(matches!(err, Some(CompileError::InvalidHeaderName { .. })));

        let mut r = route("r", "/a");
        r.matcher.hosts = vec!["a.*.com".into()];
        let err = RouteTable::compile(&config(vec![r])).err();
        assert!(matches!(err, Some(CompileError::InvalidHost { .. })));

        let mut r = route("r", "/a");
        r.strip_prefix = true;
        r.rewrite_prefix = Some("/v2".into());
        let err = RouteTable::compile(&config(vec![r])).err();
        assert!(matches!(err, Some(CompileError::ConflictingRewrite { .. })));

        let mut c = config(vec![]);
        c.upstreams.push(upstream("u"));
        assert_eq!(
            RouteTable::compile(&c).err(),
            Some(CompileError::DuplicateUpstream { name: "u".into() })
        );
    }

    #[test]
    fn lower_ranked_route_with_right_method_beats_higher_ranked_with_wrong_one() {
        let mut post = route("post", "/a");
        post.matcher.methods = vec!["POST".into()];
        post.priority = 10;
        let any = route("any", "/*");
        let table = RouteTable::compile(&config(vec![post, any])).expect("compiles");
        let h = HeaderMap::new();
        let Lookup::Matched(r) = table.lookup(&facts(&Method::GET, "/a", &h)) else {
            panic!("expected a match");
        };
        assert_eq!(&*r.name, "any");
    }

    #[test]
    fn non_origin_form_paths_match_nothing() {
        let table = RouteTable::compile(&config(vec![route("all", "/*")])).expect("compiles");
        let h = HeaderMap::new();
        assert_eq!(
            table.lookup(&facts(&Method::OPTIONS, "*", &h)),
            Lookup::NotFound
        );
        assert!(matches!(
            table.lookup(&facts(&Method::GET, "", &h)),
            Lookup::Matched(_)
        ));
    }

    #[test]
    fn empty_table_finds_nothing() {
        let table = RouteTable::compile(&config(vec![])).expect("compiles");
        assert!(table.is_empty());
        let h = HeaderMap::new();
        assert_eq!(
            table.lookup(&facts(&Method::GET, "/", &h)),
            Lookup::NotFound
        );
    }
}

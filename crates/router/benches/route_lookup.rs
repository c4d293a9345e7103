//! Route lookup and table compilation on a 10 000-route config.
//!
//! The routes mix exact paths, prefixes, inner globs and host/method conditions. Lookups are
//! measured for a route declared first, one declared last, a glob, a host-conditioned route and a
//! miss: with the segment trie all of them should cost about the same, whatever the position.

use std::hint::black_box;

use criterion::{criterion_main, Criterion};
use flexgate_config::{
    Config, HeaderMatch, LoadBalancing, Observability, Pool, Route, RouteMatch, Server,
    StatusListener, Target, Upstream, UpstreamProtocol, UpstreamTimeouts,
};
use flexgate_router::{Lookup, RequestFacts, RouteTable};
use http::{HeaderMap, Method};

const ROUTES: usize = 10_000;

fn route(i: usize) -> Route {
    let (path, methods, hosts, headers) = match i % 5 {
        0 => (format!("/svc{i}/items"), vec![], vec![], vec![]),
        1 => (format!("/api{i}/*"), vec![], vec![], vec![]),
        2 => (format!("/t{i}/*/orders"), vec![], vec![], vec![]),
        3 => (
            format!("/h{i}/x"),
            vec!["GET".to_string()],
            vec![format!("h{i}.example.com")],
            vec![],
        ),
        _ => (
            format!("/shared/{i}/*"),
            vec!["GET".to_string(), "POST".to_string()],
            vec!["*.example.com".to_string()],
            vec![HeaderMatch {
                name: "x-tenant".into(),
                value: None,
            }],
        ),
    };
    Route {
        name: format!("route-{i}"),
        matcher: RouteMatch {
            path,
            methods,
            hosts,
            headers,
        },
        priority: 0,
        upstream: "backend".into(),
        strip_prefix: false,
        rewrite_prefix: None,
        timeout: None,
        policies: vec![],
        retries: None,
        max_concurrent_requests: None,
    }
}

fn config() -> Config {
    Config {
        version: 1,
        listeners: vec![],
        status: StatusListener::default(),
        server: Server::default(),
        upstreams: vec![Upstream {
            name: "backend".into(),
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
        }],
        routes: (0..ROUTES).map(route).collect(),
        policies: vec![],
        security: Default::default(),
        redis: None,
        observability: Observability::default(),
    }
}

fn lookups(c: &mut Criterion) {
    let table = RouteTable::compile(&config()).expect("bench config compiles");
    let headers = HeaderMap::new();
    let cases: [(&str, Option<&str>, &str, Option<&str>); 5] = [
        ("hit_first_declared", None, "/svc0/items", Some("route-0")),
        (
            "hit_last_declared",
            None,
            "/svc9995/items",
            Some("route-9995"),
        ),
        ("glob_hit", None, "/t9997/abc/orders", Some("route-9997")),
        (
            "host_hit",
            Some("h9998.example.com"),
            "/h9998/x",
            Some("route-9998"),
        ),
        ("miss", None, "/nope/x/y", None),
    ];
    let mut group = c.benchmark_group("lookup_10k_routes");
    for (label, host, path, expected) in cases {
        let facts = RequestFacts {
            method: &Method::GET,
            host,
            path,
            headers: &headers,
        };
        // Make sure each case measures what its label says.
        match (table.lookup(&facts), expected) {
            (Lookup::Matched(r), Some(name)) => assert_eq!(&*r.name, name),
            (Lookup::NotFound, None) => {}
            (other, _) => panic!("{label}: unexpected {other:?}"),
        }
        group.bench_function(label, |b| {
            b.iter(|| black_box(table.lookup(black_box(&facts))))
        });
    }
    group.finish();
}

fn compile(c: &mut Criterion) {
    let config = config();
    c.bench_function("compile_10k_routes", |b| {
        b.iter(|| RouteTable::compile(black_box(&config)).expect("compiles"))
    });
}

// A private module keeps the macro-generated (undocumented) `pub fn` out of the crate's public
// surface, where `missing_docs` would flag it.
mod groups {
    criterion::criterion_group!(benches, super::lookups, super::compile);
}
criterion_main!(groups::benches);

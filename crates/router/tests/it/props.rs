//! Property tests: the trie-based lookup agrees with a naive reference on random route sets.
//!
//! Segments come from tiny alphabets so that patterns overlap, collide and shadow each other
//! often; the reference is a linear scan in rank order with a matcher written straight from the
//! documented rules, sharing no code with the router.

use flexgate_config::Route;
use flexgate_router::{Lookup, RouteTable};
use http::Method;
use proptest::prelude::*;

use crate::support::{config, req, route, Req, RouteExt};

const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];

/// Expected outcome, in a form comparable with [`Lookup`].
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Route(usize),
    NotAllowed(Vec<String>),
    NotFound,
}

fn path_matches(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern[1..].split('/').collect();
    let Some(body) = path.strip_prefix('/') else {
        return false;
    };
    let got: Vec<&str> = body.split('/').collect();
    let seg_ok = |p: &str, s: &str| if p == "*" { !s.is_empty() } else { p == s };
    if pat.last() == Some(&"*") {
        let lit = &pat[..pat.len() - 1];
        got.len() >= lit.len() && lit.iter().zip(&got).all(|(p, s)| seg_ok(p, s))
    } else {
        pat.len() == got.len() && pat.iter().zip(&got).all(|(p, s)| seg_ok(p, s))
    }
}

fn host_matches(patterns: &[String], host: Option<&str>) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let Some(host) = host else {
        return false;
    };
    let host = host.to_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host);
    patterns.iter().any(|p| {
        let p = p.to_lowercase();
        match p.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => host == p,
        }
    })
}

fn headers_match(route: &Route, request: &Req) -> bool {
    route.matcher.headers.iter().all(|h| {
        let mut values = request.headers.get_all(h.name.as_str()).iter();
        match &h.value {
            None => values.next().is_some(),
            Some(v) => values.any(|got| got.as_bytes() == v.as_bytes()),
        }
    })
}

fn reference(routes: &[Route], request: &Req) -> Outcome {
    let mut order: Vec<usize> = (0..routes.len()).collect();
    order.sort_by_key(|&i| -i64::from(routes[i].priority));
    let mut allowed: Vec<String> = Vec::new();
    for i in order {
        let r = &routes[i];
        if !path_matches(&r.matcher.path, &request.path)
            || !host_matches(&r.matcher.hosts, request.host.as_deref())
            || !headers_match(r, request)
        {
            continue;
        }
        if r.matcher.methods.is_empty()
            || r.matcher
                .methods
                .iter()
                .any(|m| m == request.method.as_str())
        {
            return Outcome::Route(i);
        }
        allowed.extend(r.matcher.methods.iter().cloned());
    }
    if allowed.is_empty() {
        Outcome::NotFound
    } else {
        allowed.sort();
        allowed.dedup();
        Outcome::NotAllowed(allowed)
    }
}

fn actual(table: &RouteTable, request: &Req) -> Outcome {
    match table.lookup(&request.facts()) {
        Lookup::Matched(r) => Outcome::Route(r.id.0),
        Lookup::MethodNotAllowed { allowed } => {
            Outcome::NotAllowed(allowed.iter().map(|m| m.as_str().to_string()).collect())
        }
        Lookup::NotFound => Outcome::NotFound,
    }
}

fn pattern() -> impl Strategy<Value = String> {
    let segment = prop::sample::select(vec!["a", "b", "*", ""]);
    (
        prop::collection::vec(segment, 0..4),
        prop::sample::select(vec!["", "/*", "/"]),
    )
        .prop_map(|(segments, tail)| {
            let mut p = String::new();
            for s in segments {
                p.push('/');
                p.push_str(s);
            }
            p.push_str(tail);
            if p.is_empty() {
                p.push('/');
            }
            p
        })
}

fn request_path() -> impl Strategy<Value = String> {
    let segment = prop::sample::select(vec!["a", "b", "c", ""]);
    prop::collection::vec(segment, 1..6)
        .prop_map(|segments| segments.iter().map(|s| format!("/{s}")).collect::<String>())
}

fn route_strategy() -> impl Strategy<Value = Route> {
    (
        pattern(),
        -1..=1i32,
        prop::sample::subsequence(vec!["GET", "POST", "PUT"], 0..=2),
        prop::sample::subsequence(vec!["x.com", "*.x.com", "Y.com"], 0..=2),
        prop::sample::subsequence(
            vec![("x-a", None), ("x-a", Some("1")), ("x-b", Some("2"))],
            0..=2,
        ),
    )
        .prop_map(|(path, priority, methods, hosts, headers)| {
            let mut r = route("r", &path)
                .priority(priority)
                .methods(&methods)
                .hosts(&hosts);
            for (name, value) in headers {
                r = r.header(name, value);
            }
            r
        })
}

fn request_strategy() -> impl Strategy<Value = Req> {
    (
        request_path(),
        prop::sample::select(METHODS.to_vec()),
        prop::sample::select(vec![
            None,
            Some("x.com"),
            Some("a.x.com"),
            Some("A.B.X.COM."),
            Some("y.com"),
            Some("z.com"),
        ]),
        prop::sample::subsequence(vec![("x-a", "1"), ("x-a", "0"), ("x-b", "2")], 0..=3),
    )
        .prop_map(|(path, method, host, headers)| {
            let mut r = req(method, &path);
            if let Some(h) = host {
                r = r.host(h);
            }
            for (name, value) in headers {
                r = r.header(name, value);
            }
            r
        })
}

fn literal_prefix(pattern: &str) -> String {
    pattern[1..]
        .split('/')
        .take_while(|s| *s != "*")
        .map(|s| format!("/{s}"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn lookup_agrees_with_linear_scan(
        routes in prop::collection::vec(route_strategy(), 0..12),
        requests in prop::collection::vec(request_strategy(), 1..16),
    ) {
        let routes: Vec<Route> = routes
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| { r.name = format!("r{i}"); r })
            .collect();
        let table = RouteTable::compile(&config(routes.clone())).expect("compiles");
        for request in &requests {
            prop_assert_eq!(
                actual(&table, request),
                reference(&routes, request),
                "{} {} host {:?} headers {:?}",
                request.method, request.path, request.host, request.headers
            );
        }
    }

    #[test]
    fn strip_prefix_removes_the_literal_prefix(
        pattern in pattern(),
        fill in prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 4),
        extra in prop::collection::vec(prop::sample::select(vec!["a", "b", "c", ""]), 0..3),
    ) {
        let path = instantiate(&pattern, &fill, &extra);
        prop_assert!(path_matches(&pattern, &path), "{} should match {}", pattern, path);
        let table = RouteTable::compile(&config(vec![route("r", &pattern).strip()]))
            .expect("compiles");
        let rewritten = table.routes()[0].rewrite_path(&path);
        let rest = &path[literal_prefix(&pattern).len()..];
        let expected = if rest.is_empty() { "/" } else { rest };
        prop_assert_eq!(rewritten.as_ref(), expected);
    }
}

/// A path matched by `pattern`: each inner `*` becomes a `fill` segment, and a trailing `/*`
/// becomes the `extra` segments.
fn instantiate(pattern: &str, fill: &[&str], extra: &[&str]) -> String {
    let segments: Vec<&str> = pattern[1..].split('/').collect();
    let (body, prefix) = match segments.split_last() {
        Some((&"*", body)) => (body, true),
        _ => (&segments[..], false),
    };
    let mut path = String::new();
    for (i, s) in body.iter().enumerate() {
        path.push('/');
        path.push_str(if *s == "*" { fill[i % fill.len()] } else { s });
    }
    if prefix {
        for s in extra {
            path.push('/');
            path.push_str(s);
        }
    }
    if path.is_empty() {
        path.push('/');
    }
    path
}

#[test]
fn every_method_used_in_requests_parses() {
    for m in METHODS {
        assert!(Method::from_bytes(m.as_bytes()).is_ok());
    }
}

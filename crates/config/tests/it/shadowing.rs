//! Property: path coverage and route shadowing agree with a brute-force matcher.
//!
//! The reference matcher below is written independently of `flexgate_config::pattern`, straight
//! from the documented semantics. Coverage is then checked exhaustively over every path (and
//! method, host and header set) that can tell two routes apart: all segment sequences built from
//! the literals in the patterns plus one fresh value, up to one segment longer than the longest
//! pattern.

use flexgate_config::pattern::PathPattern;
use flexgate_config::{parse_str, HeaderMatch, SourceFormat};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

/// Reference path matcher: `*` as the last segment matches the rest (zero or more segments), `*`
/// elsewhere matches one non-empty segment, anything else matches itself.
fn ref_path_matches(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern[1..].split('/').collect();
    let req: Vec<&str> = path[1..].split('/').collect();
    fn go(pat: &[&str], req: &[&str]) -> bool {
        match pat.split_first() {
            None => req.is_empty(),
            Some((&"*", [])) => true,
            Some((p, rest)) => match req.split_first() {
                None => false,
                Some((r, req_rest)) => {
                    (if *p == "*" { !r.is_empty() } else { p == r }) && go(rest, req_rest)
                }
            },
        }
    }
    go(&pat, &req)
}

/// Reference host matcher: `*.example.com` takes any host with one or more labels before
/// `.example.com`.
fn ref_host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(domain) => host
            .strip_suffix(domain)
            .and_then(|labels| labels.strip_suffix('.'))
            .is_some_and(|labels| !labels.is_empty()),
        None => pattern == host,
    }
}

/// A pattern built from a few literals, `*` segments, optional trailing slash or `/*`.
fn pattern() -> impl Strategy<Value = String> {
    (
        vec(select(vec!["a", "b", "*"]), 0..4),
        select(vec!["", "/", "/*"]),
    )
        .prop_map(|(segments, end)| {
            let mut p = String::new();
            for s in segments {
                p.push('/');
                p.push_str(s);
            }
            p.push_str(end);
            if p.is_empty() {
                p.push('/');
            }
            p
        })
        .prop_filter("valid pattern", |p| PathPattern::parse(p).is_ok())
}

/// Every request path up to `max_len` segments over the pattern literals, the empty segment and
/// one fresh value.
fn all_paths(max_len: usize) -> Vec<String> {
    let alphabet = ["a", "b", "", "zz"];
    let mut out = vec!["/".to_owned()];
    let mut layer: Vec<String> = vec![String::new()];
    for _ in 0..max_len {
        let mut next = Vec::new();
        for prefix in &layer {
            for s in alphabet {
                next.push(format!("{prefix}/{s}"));
            }
        }
        out.extend(next.iter().cloned());
        layer = next;
    }
    out.sort();
    out.dedup();
    out
}

/// Number of segments in a pattern (`/` has one, empty, segment).
fn segments(pattern: &str) -> usize {
    pattern.split('/').count() - 1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matching_agrees_with_reference(p in pattern(), path in vec(select(vec!["a", "b", "", "zz"]), 0..5)) {
        let path = format!("/{}", path.join("/"));
        let parsed = PathPattern::parse(&p).expect("valid");
        prop_assert_eq!(parsed.matches(&path), ref_path_matches(&p, &path), "{} vs {}", p, path);
    }

    #[test]
    fn path_coverage_is_exact(a in pattern(), b in pattern()) {
        let pa = PathPattern::parse(&a).expect("valid");
        let pb = PathPattern::parse(&b).expect("valid");
        let max_len = segments(&a).max(segments(&b)) + 1;
        let brute = all_paths(max_len)
            .iter()
            .all(|path| !ref_path_matches(&b, path) || ref_path_matches(&a, path));
        prop_assert_eq!(pa.covers(&pb), brute, "does `{}` cover `{}`?", a, b);
    }
}

/// One generated route matcher.
#[derive(Debug, Clone)]
struct Matcher {
    path: String,
    methods: Vec<&'static str>,
    hosts: Vec<&'static str>,
    headers: Vec<HeaderMatch>,
    priority: i32,
}

fn matcher() -> impl Strategy<Value = Matcher> {
    (
        pattern(),
        subsequence(vec!["GET", "POST"], 0..=2),
        subsequence(
            vec![
                "a.example.com",
                "*.example.com",
                "b.example.com",
                "*.a.example.com",
            ],
            0..=2,
        ),
        subsequence(
            vec![
                ("x-a", None),
                ("x-a", Some("1")),
                ("x-b", None),
                ("x-b", Some("2")),
            ],
            0..=2,
        ),
        0i32..2,
    )
        .prop_map(|(path, methods, hosts, headers, priority)| Matcher {
            path,
            methods,
            hosts,
            headers: headers
                .into_iter()
                .map(|(name, value)| HeaderMatch {
                    name: name.into(),
                    value: value.map(str::to_owned),
                })
                .collect(),
            priority,
        })
}

/// A request as the brute-force matcher sees it.
struct Request<'a> {
    path: &'a str,
    method: &'a str,
    host: &'a str,
    headers: &'a [(&'a str, &'a str)],
}

fn ref_route_matches(m: &Matcher, r: &Request<'_>) -> bool {
    ref_path_matches(&m.path, r.path)
        && (m.methods.is_empty() || m.methods.contains(&r.method))
        && (m.hosts.is_empty() || m.hosts.iter().any(|h| ref_host_matches(h, r.host)))
        && m.headers.iter().all(|cond| {
            r.headers.iter().any(|(name, value)| {
                *name == cond.name && cond.value.as_deref().is_none_or(|v| v == *value)
            })
        })
}

fn yaml_route(name: &str, m: &Matcher) -> String {
    let headers: Vec<String> = m
        .headers
        .iter()
        .map(|h| match &h.value {
            Some(v) => format!("{{name: {}, value: \"{v}\"}}", h.name),
            None => format!("{{name: {}}}", h.name),
        })
        .collect();
    format!(
        "  - name: {name}\n    priority: {}\n    upstream: u\n    match:\n      path: \"{}\"\n      methods: [{}]\n      hosts: [{}]\n      headers: [{}]\n",
        m.priority,
        m.path,
        m.methods.join(", "),
        m.hosts.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", "),
        headers.join(", ")
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn shadowing_agrees_with_brute_force(first in matcher(), second in matcher()) {
        let text = format!(
            "version: 1\nupstreams:\n  - name: u\n    targets: [{{url: \"http://127.0.0.1:1\"}}]\nroutes:\n{}{}",
            yaml_route("first", &first),
            yaml_route("second", &second)
        );
        // Evaluation order: higher priority first, declaration order among equals.
        let (early, late, late_index) = if second.priority > first.priority {
            (&second, &first, 0)
        } else {
            (&first, &second, 1)
        };
        // A route's match set is a product (paths × methods × hosts × header sets), and
        // L1×…×Ln ⊆ E1×…×En holds exactly when some Li is empty or every Li ⊆ Ei. So each
        // dimension is enumerated on its own, which keeps the search exhaustive and fast.
        let max_len = segments(&first.path).max(segments(&second.path)) + 1;
        let header_sets: Vec<Vec<(&str, &str)>> = {
            let values = [None, Some("1"), Some("2"), Some("3")];
            let mut sets = Vec::new();
            for a in values {
                for b in values {
                    let mut set = Vec::new();
                    if let Some(v) = a { set.push(("x-a", v)); }
                    if let Some(v) = b { set.push(("x-b", v)); }
                    sets.push(set);
                }
            }
            sets
        };
        let paths = all_paths(max_len);
        let methods = ["GET", "POST", "DELETE"];
        let hosts = ["a.example.com", "b.example.com", "zz.example.com", "q.a.example.com", "r.q.a.example.com", "example.com", "other.org"];
        let any = Request { path: "/", method: "GET", host: "other.org", headers: &[] };
        // Each dimension's check varies one field of a request and ignores the others.
        let path_sets = |m: &Matcher| -> Vec<bool> {
            paths.iter().map(|p| ref_route_matches(&Matcher { methods: vec![], hosts: vec![], headers: vec![], ..m.clone() }, &Request { path: p, ..any })).collect()
        };
        let method_sets = |m: &Matcher| -> Vec<bool> {
            methods.iter().map(|x| ref_route_matches(&Matcher { path: "/*".into(), hosts: vec![], headers: vec![], ..m.clone() }, &Request { method: x, ..any })).collect()
        };
        let host_sets = |m: &Matcher| -> Vec<bool> {
            hosts.iter().map(|x| ref_route_matches(&Matcher { path: "/*".into(), methods: vec![], headers: vec![], ..m.clone() }, &Request { host: x, ..any })).collect()
        };
        let header_match = |m: &Matcher| -> Vec<bool> {
            header_sets.iter().map(|x| ref_route_matches(&Matcher { path: "/*".into(), methods: vec![], hosts: vec![], ..m.clone() }, &Request { headers: x, ..any })).collect()
        };
        let dims = [&path_sets as &dyn Fn(&Matcher) -> Vec<bool>, &method_sets, &host_sets, &header_match];
        let late_sets: Vec<Vec<bool>> = dims.iter().map(|d| d(late)).collect();
        let early_sets: Vec<Vec<bool>> = dims.iter().map(|d| d(early)).collect();
        let late_empty = late_sets.iter().any(|set| set.iter().all(|m| !m));
        let covered = late_empty
            || late_sets.iter().zip(&early_sets).all(|(l, e)| l.iter().zip(e).all(|(l, e)| !l || *e));
        let shadow_error = match parse_str(&text, SourceFormat::Yaml) {
            Ok(_) => false,
            Err(e) => {
                let diagnostics = e.diagnostics();
                // Nothing but the shadowing check may fail on these documents.
                prop_assert!(
                    diagnostics.iter().filter(|d| d.is_error()).all(|d| d.path == format!("routes[{late_index}]")),
                    "unexpected errors: {:?}\n{}", diagnostics, text
                );
                diagnostics.iter().any(|d| d.is_error())
            }
        };
        prop_assert_eq!(shadow_error, covered, "\n{}", text);
    }
}

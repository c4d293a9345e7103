//! Path rewriting of matched routes: `strip_prefix` and `rewrite_prefix`.

use std::borrow::Cow;

use flexgate_config::Route;
use flexgate_router::Lookup;

use crate::support::{req, route, table, RouteExt};

/// Routes `path` through the single route `r` and returns the rewritten path.
#[track_caller]
fn forwarded(r: Route, path: &str) -> String {
    let t = table(vec![r]);
    let request = req("GET", path);
    match t.lookup(&request.facts()) {
        Lookup::Matched(route) => route.rewrite_path(path).into_owned(),
        other => panic!("{path}: expected a match, got {other:?}"),
    }
}

#[test]
fn strip_prefix() {
    let api = || route("api", "/api/*").strip();
    assert_eq!(forwarded(api(), "/api"), "/");
    assert_eq!(forwarded(api(), "/api/"), "/");
    assert_eq!(forwarded(api(), "/api/users"), "/users");
    assert_eq!(forwarded(api(), "/api/users/1/"), "/users/1/");

    let glob = || route("glob", "/v1/*/items").strip();
    assert_eq!(forwarded(glob(), "/v1/7/items"), "/7/items");

    let exact = || route("exact", "/health").strip();
    assert_eq!(forwarded(exact(), "/health"), "/");

    let all = || route("all", "/*").strip();
    assert_eq!(forwarded(all(), "/x/y"), "/x/y");
    assert_eq!(forwarded(all(), "/"), "/");
}

#[test]
fn rewrite_prefix() {
    let api = |to: &str| route("api", "/api/*").rewrite(to);
    assert_eq!(forwarded(api("/v2"), "/api/users"), "/v2/users");
    assert_eq!(forwarded(api("/v2"), "/api"), "/v2");
    assert_eq!(forwarded(api("/v2/"), "/api/users"), "/v2/users");
    assert_eq!(forwarded(api("/"), "/api/users"), "/users");
    assert_eq!(forwarded(api("/"), "/api"), "/");
    assert_eq!(forwarded(api("/a/b"), "/api/x/y"), "/a/b/x/y");

    let all = route("all", "/*").rewrite("/backend");
    assert_eq!(forwarded(all, "/x"), "/backend/x");

    let nested = route("nested", "/a/b/*").rewrite("/c");
    assert_eq!(forwarded(nested, "/a/b/d"), "/c/d");
}

#[test]
fn no_rewrite_borrows() {
    let t = table(vec![route("api", "/api/*")]);
    let r = &t.routes()[0];
    assert!(matches!(
        r.rewrite_path("/api/users"),
        Cow::Borrowed("/api/users")
    ));

    // Stripping returns a slice of the input when it can.
    let t = table(vec![route("api", "/api/*").strip()]);
    assert!(matches!(
        t.routes()[0].rewrite_path("/api/users"),
        Cow::Borrowed("/users")
    ));
}

//! Data-driven routing cases: path kinds, ranking, hosts, headers, methods and misses.

use flexgate_router::{Lookup, RouteId, UpstreamId};

use crate::support::{check, check_405, req, route, table, RouteExt};

#[test]
fn exact_paths_are_exact() {
    let routes = [route("users", "/users"), route("users-slash", "/users/")];
    check(&routes, req("GET", "/users"), Some("users"));
    check(&routes, req("GET", "/users/"), Some("users-slash"));
    check(&routes, req("GET", "/users/1"), None);
    check(&routes, req("GET", "/user"), None);
    check(&routes, req("GET", "/Users"), None);
    check(&[route("users", "/users")], req("GET", "/users/"), None);
}

#[test]
fn root_patterns() {
    check(&[route("root", "/")], req("GET", "/"), Some("root"));
    check(&[route("root", "/")], req("GET", "/a"), None);
    let all = [route("all", "/*")];
    for path in ["/", "/a", "/a/b/c", "/a/", "//"] {
        check(&all, req("GET", path), Some("all"));
    }
}

#[test]
fn prefix_patterns_are_segment_wise() {
    let routes = [route("api", "/api/*")];
    for path in ["/api", "/api/", "/api/users", "/api/users/1/", "/api//x"] {
        check(&routes, req("GET", path), Some("api"));
    }
    for path in ["/apix", "/ap", "/", "/v1/api"] {
        check(&routes, req("GET", path), None);
    }
}

#[test]
fn globs_match_one_non_empty_segment() {
    let routes = [route("items", "/v1/*/items")];
    check(&routes, req("GET", "/v1/42/items"), Some("items"));
    check(&routes, req("GET", "/v1/abc/items"), Some("items"));
    check(&routes, req("GET", "/v1//items"), None);
    check(&routes, req("GET", "/v1/a/b/items"), None);
    check(&routes, req("GET", "/v1/42/items/"), None);
    check(&routes, req("GET", "/v1/42"), None);

    let combined = [route("sub", "/v1/*/items/*")];
    check(&combined, req("GET", "/v1/7/items"), Some("sub"));
    check(&combined, req("GET", "/v1/7/items/9/x"), Some("sub"));
    check(&combined, req("GET", "/v1/7/itemsx"), None);

    let trailing_glob = [route("one", "/a/*/")];
    check(&trailing_glob, req("GET", "/a/x/"), Some("one"));
    check(&trailing_glob, req("GET", "/a/x"), None);
}

#[test]
fn first_match_in_declaration_order_wins_on_equal_priority() {
    let routes = [
        route("prefix", "/api/*"),
        route("exact", "/api/users"),
        route("all", "/*"),
    ];
    // Specificity does not matter, only rank.
    check(&routes, req("GET", "/api/users"), Some("prefix"));
    check(&routes, req("GET", "/other"), Some("all"));

    let routes = [route("exact", "/api/users"), route("prefix", "/api/*")];
    check(&routes, req("GET", "/api/users"), Some("exact"));
    check(&routes, req("GET", "/api/orders"), Some("prefix"));
}

#[test]
fn priority_overrides_declaration_order() {
    let routes = [
        route("catch-all", "/*"),
        route("glob", "/v1/*/items").priority(5),
        route("exact", "/v1/1/items").priority(1),
        route("late-high", "/v1/*").priority(5),
    ];
    check(&routes, req("GET", "/v1/1/items"), Some("glob"));
    check(&routes, req("GET", "/v1/1"), Some("late-high"));
    check(&routes, req("GET", "/x"), Some("catch-all"));

    let negative = [route("low", "/a").priority(-1), route("normal", "/*")];
    check(&negative, req("GET", "/a"), Some("normal"));
}

#[test]
fn host_conditions() {
    let routes = [
        route("api", "/*").hosts(&["api.example.com"]),
        route("tenants", "/*").hosts(&["*.example.com"]),
        route("multi", "/*").hosts(&["a.test", "b.test"]),
        route("any", "/any"),
    ];
    check(
        &routes,
        req("GET", "/x").host("api.example.com"),
        Some("api"),
    );
    check(
        &routes,
        req("GET", "/x").host("API.Example.COM"),
        Some("api"),
    );
    check(
        &routes,
        req("GET", "/x").host("api.example.com."),
        Some("api"),
    );
    check(
        &routes,
        req("GET", "/x").host("t1.example.com"),
        Some("tenants"),
    );
    check(
        &routes,
        req("GET", "/x").host("a.b.example.com"),
        Some("tenants"),
    );
    check(&routes, req("GET", "/x").host("example.com"), None);
    check(&routes, req("GET", "/x").host("b.test"), Some("multi"));
    check(&routes, req("GET", "/x").host("c.test"), None);
    check(&routes, req("GET", "/x"), None);
    check(&routes, req("GET", "/any"), Some("any"));
    check(
        &routes,
        req("GET", "/any").host("whatever.org"),
        Some("any"),
    );
}

#[test]
fn header_conditions() {
    let routes = [
        route("canary", "/*")
            .header("x-canary", Some("on"))
            .header("X-Tenant", None),
        route("tenant", "/*").header("x-tenant", None),
        route("default", "/*"),
    ];
    let r = || req("GET", "/x");
    check(&routes, r(), Some("default"));
    check(&routes, r().header("x-tenant", "t"), Some("tenant"));
    check(
        &routes,
        r().header("x-tenant", "t").header("x-canary", "off"),
        Some("tenant"),
    );
    check(
        &routes,
        r().header("X-Tenant", "t").header("X-Canary", "on"),
        Some("canary"),
    );
    check(&routes, r().header("x-canary", "on"), Some("default"));
    // Values compare exactly.
    check(
        &routes,
        r().header("x-tenant", "t").header("x-canary", "ON"),
        Some("tenant"),
    );
}

#[test]
fn methods_and_405() {
    let routes = [
        route("read", "/items").methods(&["GET", "HEAD"]),
        route("write", "/items").methods(&["POST", "GET"]),
        route("admin", "/items")
            .methods(&["DELETE"])
            .hosts(&["admin.test"]),
    ];
    check(&routes, req("GET", "/items"), Some("read"));
    check(&routes, req("POST", "/items"), Some("write"));
    // The admin route's host does not match, so DELETE is not offered.
    check_405(&routes, req("PUT", "/items"), &["GET", "HEAD", "POST"]);
    check_405(
        &routes,
        req("PUT", "/items").host("admin.test"),
        &["DELETE", "GET", "HEAD", "POST"],
    );
    check(
        &routes,
        req("DELETE", "/items").host("admin.test"),
        Some("admin"),
    );
    check(&routes, req("PUT", "/other"), None);

    // A lower-ranked route accepting the method wins over a 405 from a better-ranked one.
    let routes = [
        route("get-only", "/items").methods(&["GET"]).priority(9),
        route("fallback", "/*"),
    ];
    check(&routes, req("PUT", "/items"), Some("fallback"));

    // Headers that do not match exclude a route from the 405 as well.
    let routes = [route("needs-key", "/k")
        .methods(&["GET"])
        .header("x-key", None)];
    check(&routes, req("POST", "/k"), None);
    check_405(&routes, req("POST", "/k").header("x-key", "1"), &["GET"]);
}

#[test]
fn ids_and_upstreams_of_matches() {
    let t = table(vec![route("a", "/a"), route("b", "/b").priority(3)]);
    let request = req("GET", "/b");
    let Lookup::Matched(r) = t.lookup(&request.facts()) else {
        panic!("expected a match");
    };
    assert_eq!(r.id, RouteId(1));
    assert_eq!(r.upstream, UpstreamId(0));
    assert_eq!(t.routes()[r.id.0].name, r.name);
    assert_eq!(t.len(), 2);
}

#[test]
fn many_routes_with_shared_prefixes() {
    let mut routes = Vec::new();
    for i in 0..2000 {
        routes.push(route(&format!("exact-{i}"), &format!("/svc/{i}/status")));
        routes.push(route(&format!("prefix-{i}"), &format!("/svc/{i}/*")));
    }
    routes.push(route("tail", "/svc/*/status").priority(-1));
    let t = table(routes);
    let name = |path: &str| crate::support::matched_name(&t, &req("GET", path));
    assert_eq!(name("/svc/1999/status").as_deref(), Some("exact-1999"));
    assert_eq!(name("/svc/1999/other").as_deref(), Some("prefix-1999"));
    assert_eq!(name("/svc/5000/status").as_deref(), Some("tail"));
    assert_eq!(name("/svc/5000/other"), None);
}

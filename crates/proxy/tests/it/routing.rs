//! Route selection and path rewriting, observed through the path the upstream receives.
//!
//! Every route below forwards the path in its own way (as is, stripped, or with a new prefix), so
//! the echoed path names the route that won without looking inside the proxy.

use flexgate_proxy::ProxyHandle;

use crate::support::body::empty;
use crate::support::client::TestClient;
use crate::support::{fetch, http1_client, request, start_proxy, ProxyExt, TestUpstream};

const ROUTES: &str = r#"
    upstreams:
      - name: echo
        targets: [{url: "${echo}"}]
    routes:
      # Exact, glob and prefix on the same subtree: declaration order puts the more specific
      # ones first (the loader refuses the reverse order as shadowing).
      - name: me-exact
        match: {path: /users/me}
        upstream: echo
      - name: items-glob
        match: {path: /users/*/items}
        upstream: echo
        rewrite_prefix: /glob
      - name: users-prefix
        match: {path: /users/*}
        upstream: echo
        strip_prefix: true
      # Declared first, but the header route below has the higher priority. Without it the
      # header route could never match and the config would be refused.
      - name: catalog
        match: {path: /catalog/*}
        upstream: echo
        rewrite_prefix: /v2
      - name: catalog-beta
        priority: 10
        match:
          path: /catalog/*
          headers: [{name: x-beta, value: "1"}]
        upstream: echo
        rewrite_prefix: /v3
      # Both valid in either order; priority decides for requests both match.
      - name: shop-host-a
        match: {path: /shop/*, hosts: [a.example.test]}
        upstream: echo
        rewrite_prefix: /host-a
      - name: shop-special
        priority: 5
        match: {path: /shop/special}
        upstream: echo
      # Host conditions: exact name first, then the wildcard.
      - name: tenant-api
        match: {path: /t/*, hosts: [api.example.test]}
        upstream: echo
        rewrite_prefix: /api-host
      - name: tenant-wild
        match: {path: /t/*, hosts: ["*.example.test"]}
        upstream: echo
        rewrite_prefix: /wild-host
"#;

/// Sends a GET and returns the status and the path the upstream saw (with its query).
async fn route(
    proxy: &ProxyHandle,
    client: &TestClient,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut req = request("GET", &proxy.url(path)).header("host", host);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let reply = fetch(client, req.body(empty()).unwrap()).await;
    if reply.status != 200 {
        return (reply.status.as_u16(), String::new());
    }
    let echo = reply.json();
    let mut seen = echo["path"].as_str().unwrap().to_owned();
    if let Some(query) = echo["query"].as_str() {
        seen = format!("{seen}?{query}");
    }
    (200, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_glob_and_prefix_routes_rewrite_as_configured() {
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(ROUTES, &[("echo", echo.url())]).await;
    let client = http1_client();
    let host = "gw.test";

    let cases = [
        // Exact: only the path itself, forwarded unchanged (the prefix route would strip it).
        ("/users/me", "/users/me"),
        // One-segment glob, with the literal prefix replaced.
        ("/users/42/items", "/glob/42/items"),
        // The glob takes exactly one segment; deeper paths fall to the prefix route.
        ("/users/42/items/7", "/42/items/7"),
        // Below the exact path is not the exact path.
        ("/users/me/photos", "/me/photos"),
        // Prefix with strip: the literal prefix goes, the query stays.
        ("/users/42?expand=true", "/42?expand=true"),
        // The prefix route also takes its own root.
        ("/users", "/"),
        ("/catalog/books", "/v2/books"),
    ];
    for (path, expected) in cases {
        assert_eq!(
            route(&proxy, &client, path, host, &[]).await,
            (200, expected.to_owned()),
            "GET {path}"
        );
    }
    // A prefix is segment-wise: `/usersx` is not below `/users`.
    assert_eq!(route(&proxy, &client, "/usersx", host, &[]).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_header_and_host_conditions_pick_the_route() {
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(ROUTES, &[("echo", echo.url())]).await;
    let client = http1_client();

    // The header route outranks the route declared before it, but only when its header matches.
    let beta = route(
        &proxy,
        &client,
        "/catalog/books",
        "gw.test",
        &[("x-beta", "1")],
    )
    .await;
    assert_eq!(beta, (200, "/v3/books".to_owned()));
    let other_value = route(
        &proxy,
        &client,
        "/catalog/books",
        "gw.test",
        &[("x-beta", "2")],
    )
    .await;
    assert_eq!(other_value, (200, "/v2/books".to_owned()));

    // Both shop routes match `/shop/special` on host a; the later one has the higher priority.
    let special = route(&proxy, &client, "/shop/special", "a.example.test", &[]).await;
    assert_eq!(special, (200, "/shop/special".to_owned()));
    let host_a = route(&proxy, &client, "/shop/other", "a.example.test", &[]).await;
    assert_eq!(host_a, (200, "/host-a/other".to_owned()));
    let special_elsewhere = route(&proxy, &client, "/shop/special", "b.example.test", &[]).await;
    assert_eq!(special_elsewhere, (200, "/shop/special".to_owned()));
    assert_eq!(
        route(&proxy, &client, "/shop/other", "b.example.test", &[])
            .await
            .0,
        404,
        "the host condition keeps other hosts out"
    );

    // Host conditions: exact name, wildcard (any depth, any case, port ignored), no match.
    let cases = [
        ("api.example.test", 200, "/api-host/x"),
        ("API.Example.Test:8080", 200, "/api-host/x"),
        ("eu.example.test", 200, "/wild-host/x"),
        ("a.eu.example.test", 200, "/wild-host/x"),
        ("example.test", 404, ""),
        ("elsewhere.test", 404, ""),
    ];
    for (host, status, path) in cases {
        assert_eq!(
            route(&proxy, &client, "/t/x", host, &[]).await,
            (status, path.to_owned()),
            "Host: {host}"
        );
    }
}

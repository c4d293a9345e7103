//! Edge policies that are not about identity: CORS (preflights answered at the edge, headers on
//! actual requests), header rules in both directions, and IP allow/deny lists (IPv4, IPv6,
//! IPv4-mapped addresses, and the client address behind trusted proxies).

use crate::support::body::empty;
use crate::support::{fetch, http1_client, request, start_proxy, ProxyExt, Reply, TestUpstream};

const APP: &str = "https://app.example.com";

const CORS_CONFIG: &str = r#"
    upstreams:
      - name: echo
        targets: [{url: "${echo}"}]
    routes:
      - {name: app, match: {path: /app/*}, upstream: echo, policies: [cors]}
      - {name: limited, match: {path: /limited/*, methods: [GET, OPTIONS]}, upstream: echo, policies: [cors]}
      - {name: public, match: {path: /public/*}, upstream: echo, policies: [open]}
      - {name: guarded, match: {path: /guarded/*}, upstream: echo, policies: [cors, keys]}
      - {name: owned, match: {path: /owned/*}, upstream: echo, policies: [upstream-cors, cors]}
    policies:
      - type: cors
        name: cors
        allow_origins: ["https://app.example.com", "https://admin.example.com"]
        allow_methods: [GET, PUT, DELETE]
        allow_headers: [X-Token, Content-Type]
        expose_headers: [X-Request-Id, X-Total]
        allow_credentials: true
        max_age: 2m
      - type: cors
        name: open
        allow_origins: ["*"]
      - type: api_key
        name: keys
        keys: [{name: a, sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]
      - type: headers
        name: upstream-cors
        response:
          set: {access-control-allow-origin: "https://upstream-choice.example", access-control-max-age: "1"}
"#;

async fn cors_setup() -> (TestUpstream, std::sync::Arc<flexgate_proxy::ProxyHandle>) {
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(CORS_CONFIG, &[("echo", echo.url())]).await;
    (echo, proxy)
}

async fn preflight(url: &str, origin: &str, method: &str, headers: Option<&str>) -> Reply {
    let mut req = request("OPTIONS", url)
        .header("origin", origin)
        .header("access-control-request-method", method);
    if let Some(headers) = headers {
        req = req.header("access-control-request-headers", headers);
    }
    fetch(&http1_client(), req.body(empty()).unwrap()).await
}

fn vary_has_origin(reply: &Reply) -> bool {
    reply
        .headers
        .get_all("vary")
        .iter()
        .any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("origin"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_preflights_are_answered_at_the_edge() {
    let (echo, proxy) = cors_setup().await;

    let reply = preflight(
        &proxy.url("/app/items/7"),
        APP,
        "PUT",
        Some("x-token, content-type"),
    )
    .await;
    assert_eq!(reply.status, 204);
    assert!(reply.body.is_empty());
    assert_eq!(reply.header("access-control-allow-origin"), APP);
    assert_eq!(
        reply.header("access-control-allow-methods"),
        "GET, PUT, DELETE"
    );
    assert_eq!(
        reply.header("access-control-allow-headers"),
        "x-token, content-type"
    );
    assert_eq!(reply.header("access-control-max-age"), "120");
    assert_eq!(reply.header("access-control-allow-credentials"), "true");
    assert!(vary_has_origin(&reply));

    // Without requested headers, the configured list is stated.
    let reply = preflight(
        &proxy.url("/app/x"),
        "https://admin.example.com",
        "DELETE",
        None,
    )
    .await;
    assert_eq!(reply.status, 204);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        "https://admin.example.com"
    );
    assert_eq!(
        reply.header("access-control-allow-headers"),
        "X-Token, Content-Type"
    );

    // A route that lists its methods works once OPTIONS is among them.
    let reply = preflight(&proxy.url("/limited/x"), APP, "GET", None).await;
    assert_eq!(reply.status, 204);

    // Wildcard origins without credentials answer `*`.
    let reply = preflight(
        &proxy.url("/public/x"),
        "https://anyone.example",
        "POST",
        None,
    )
    .await;
    assert_eq!(reply.status, 204);
    assert_eq!(reply.header("access-control-allow-origin"), "*");
    assert!(reply
        .headers
        .get("access-control-allow-credentials")
        .is_none());

    assert_eq!(echo.requests(), 0, "preflights never reach the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_preflights_get_403() {
    let (echo, proxy) = cors_setup().await;
    for (origin, method, headers, why) in [
        ("https://evil.example.com", "PUT", None, "origin"),
        (
            "https://app.example.com.evil.test",
            "GET",
            None,
            "origin suffix",
        ),
        (APP, "PATCH", None, "method"),
        (APP, "PUT", Some("x-token, x-secret"), "request header"),
    ] {
        let reply = preflight(&proxy.url("/app/x"), origin, method, headers).await;
        assert_eq!(reply.status, 403, "{why}");
        let body = reply.json();
        assert_eq!(body["error"]["code"], "cors_forbidden", "{why}");
        assert_eq!(
            body["correlation_id"].as_str().unwrap(),
            reply.header("x-correlation-id")
        );
        assert!(
            reply.headers.get("access-control-allow-origin").is_none(),
            "{why}"
        );
    }
    assert_eq!(echo.requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actual_requests_get_cors_headers_for_allowed_origins_only() {
    let (echo, proxy) = cors_setup().await;
    let client = http1_client();

    let reply = fetch(
        &client,
        request("GET", &proxy.url("/app/items"))
            .header("origin", APP)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-upstream"), "echo");
    assert_eq!(reply.header("access-control-allow-origin"), APP);
    assert_eq!(reply.header("access-control-allow-credentials"), "true");
    assert_eq!(
        reply.header("access-control-expose-headers"),
        "X-Request-Id, X-Total"
    );
    assert!(vary_has_origin(&reply));

    // A disallowed origin is forwarded, without CORS headers: the browser blocks the read.
    let reply = fetch(
        &client,
        request("GET", &proxy.url("/app/items"))
            .header("origin", "https://evil.example.com")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers.get("access-control-allow-origin").is_none());
    assert!(reply
        .headers
        .get("access-control-allow-credentials")
        .is_none());
    assert!(vary_has_origin(&reply), "caches must still key on Origin");

    // An OPTIONS without Access-Control-Request-Method is an ordinary request.
    let reply = fetch(
        &client,
        request("OPTIONS", &proxy.url("/app/items"))
            .header("origin", APP)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["method"], "OPTIONS");

    let reply = fetch(
        &client,
        request("GET", &proxy.url("/public/x"))
            .header("origin", "https://anyone.example")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.header("access-control-allow-origin"), "*");
    assert!(!vary_has_origin(&reply), "the same answer for every origin");
    assert_eq!(echo.requests(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_headers_reach_refusals_and_replace_the_upstreams() {
    let (echo, proxy) = cors_setup().await;
    let client = http1_client();

    // A later policy's 401 is readable by the browser.
    let reply = fetch(
        &client,
        request("GET", &proxy.url("/guarded/x"))
            .header("origin", APP)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("access-control-allow-origin"), APP);
    assert_eq!(reply.header("access-control-allow-credentials"), "true");
    assert_eq!(echo.requests(), 0);

    // CORS headers the upstream sets are replaced by the policy's.
    let reply = fetch(
        &client,
        request("GET", &proxy.url("/owned/x"))
            .header("origin", APP)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    let origins: Vec<_> = reply
        .headers
        .get_all("access-control-allow-origin")
        .iter()
        .collect();
    assert_eq!(origins, [APP]);
    assert!(reply.headers.get("access-control-max-age").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_rules_change_both_directions() {
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: echo
            targets: [{url: "${echo}"}]
        routes:
          - {name: r, match: {path: /*}, upstream: echo, policies: [rules]}
        policies:
          - type: headers
            name: rules
            request:
              remove: [x-internal-debug, X-Replace]
              set: {x-env: production, X-Tenant: acme}
              add: {x-multi: from-gateway, x-replace: fresh}
            response:
              remove: [x-upstream]
              set: {cache-control: no-store, x-served-by: flexgate}
              add: {x-upstream: hidden, x-extra: one}
        "#,
        &[("echo", echo.url())],
    )
    .await;

    let reply = fetch(
        &http1_client(),
        request("GET", &proxy.url("/a"))
            .header("x-internal-debug", "1")
            .header("x-replace", "stale")
            .header("x-env", "dev")
            .header("x-multi", "from-client")
            .header("x-kept", "yes")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    let seen = &reply.json()["headers"];
    assert!(seen.get("x-internal-debug").is_none(), "{seen}");
    assert_eq!(seen["x-replace"], "fresh", "removed, then added");
    assert_eq!(seen["x-env"], "production", "set replaces");
    assert_eq!(seen["x-tenant"], "acme");
    assert_eq!(seen["x-multi"], "from-client, from-gateway", "add appends");
    assert_eq!(seen["x-kept"], "yes");

    assert_eq!(reply.header("x-served-by"), "flexgate");
    assert_eq!(reply.header("cache-control"), "no-store");
    assert_eq!(reply.header("x-extra"), "one");
    let upstream: Vec<_> = reply.headers.get_all("x-upstream").iter().collect();
    assert_eq!(upstream, ["hidden"], "removed, then added");
    assert_eq!(reply.header("content-type"), "application/json");
}

const IP_CONFIG: &str = r#"
    security:
      trusted_proxies: ["127.0.0.1/32"]
      ssrf:
        allow_networks: ["127.0.0.0/8"]
    upstreams:
      - name: echo
        targets: [{url: "${echo}"}]
    routes:
      - {name: office, match: {path: /office/*}, upstream: echo, policies: [office]}
      - {name: blocklist, match: {path: /open/*}, upstream: echo, policies: [blocklist]}
    policies:
      - type: ip_filter
        name: office
        allow: ["10.0.0.0/8", "2001:db8::/32"]
        deny: ["10.0.0.66", "2001:db8::bad/128"]
      - type: ip_filter
        name: blocklist
        deny: ["192.0.2.0/24", "2001:db8:dead::/48"]
"#;

async fn from(proxy: &flexgate_proxy::ProxyHandle, path: &str, forwarded_for: &str) -> Reply {
    fetch(
        &http1_client(),
        request("GET", &proxy.url(path))
            .header("x-forwarded-for", forwarded_for)
            .body(empty())
            .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_rules_apply_to_the_client_behind_trusted_proxies() {
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(IP_CONFIG, &[("echo", echo.url())]).await;

    let mut forwarded = 0;
    for (path, client, allowed) in [
        ("/office/a", "10.1.2.3", true),
        ("/office/a", "10.0.0.66", false),
        ("/office/a", "::ffff:10.1.2.3", true),
        ("/office/a", "::ffff:10.0.0.66", false),
        ("/office/a", "2001:db8::1", true),
        ("/office/a", "2001:db8::bad", false),
        ("/office/a", "2001:db9::1", false),
        ("/office/a", "192.0.2.1", false),
        // Only the hop the trusted proxy appended counts; the client wrote the rest.
        ("/office/a", "10.1.2.3, 198.51.100.7", false),
        ("/office/a", "198.51.100.7, 10.1.2.3", true),
        ("/open/a", "198.51.100.7", true),
        ("/open/a", "192.0.2.200", false),
        ("/open/a", "2001:db8:dead::5", false),
        ("/open/a", "2001:db8:beef::5", true),
    ] {
        let reply = from(&proxy, path, client).await;
        if allowed {
            forwarded += 1;
            assert_eq!(reply.status, 200, "{path} from {client}");
        } else {
            assert_eq!(reply.status, 403, "{path} from {client}");
            let body = reply.json();
            assert_eq!(body["error"]["code"], "ip_forbidden");
            assert_eq!(
                body["correlation_id"].as_str().unwrap(),
                reply.header("x-correlation-id")
            );
        }
        assert_eq!(echo.requests(), forwarded, "{path} from {client}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_rules_ignore_forwarded_for_from_untrusted_peers() {
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(
        &IP_CONFIG.replace(
            r#"trusted_proxies: ["127.0.0.1/32"]"#,
            "trusted_proxies: []",
        ),
        &[("echo", echo.url())],
    )
    .await;
    let reply = from(&proxy, "/office/a", "10.1.2.3").await;
    assert_eq!(reply.status, 403, "the peer (127.0.0.1) is the client");
    let reply = from(&proxy, "/open/a", "192.0.2.1").await;
    assert_eq!(reply.status, 200);
    assert_eq!(echo.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_rules_match_ipv6_peers() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(
        r#"
        listeners:
          - {name: v6, bind: "[::1]:0"}
        upstreams:
          - name: echo
            targets: [{url: "${echo}"}]
        routes:
          - {name: allowed, match: {path: /allowed/*}, upstream: echo, policies: [loopback-only]}
          - {name: denied, match: {path: /denied/*}, upstream: echo, policies: [no-loopback]}
        policies:
          - {type: ip_filter, name: loopback-only, allow: ["::1/128"]}
          - {type: ip_filter, name: no-loopback, deny: ["::/0", "127.0.0.0/8"]}
        "#,
        &[("echo", echo.url())],
    )
    .await;
    let client = http1_client();
    let url = |path: &str| format!("http://{}{path}", proxy.addr());
    let reply = fetch(
        &client,
        request("GET", &url("/allowed/a")).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    let reply = fetch(
        &client,
        request("GET", &url("/denied/a")).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["error"]["code"], "ip_forbidden");
    assert_eq!(echo.requests(), 1);
}

//! What the proxy adds to, keeps in and removes from a forwarded request: correlation ids, trace
//! context, forwarding headers, `Via`, and hop-by-hop headers.

use crate::support::body::empty;
use crate::support::{fetch, http1_client, request, start_proxy, ProxyExt, TestUpstream};

const CONFIG: &str = r#"
    server:
      via_name: gw-test
    upstreams:
      - name: echo
        targets: [{url: "${echo}"}]
    routes:
      - name: all
        match: {path: /*}
        upstream: echo
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correlation_ids_go_upstream_and_come_back() {
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(CONFIG, &[("echo", echo.url())]).await;
    let client = http1_client();

    // The client's id is used as is.
    let reply = fetch(
        &client,
        request("GET", &proxy.url("/a"))
            .header("x-correlation-id", "client-chosen-42")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json()["headers"]["x-correlation-id"],
        "client-chosen-42"
    );
    assert_eq!(reply.header("x-correlation-id"), "client-chosen-42");

    // Without one, the proxy makes one up and uses the same on both sides.
    let reply = fetch(
        &client,
        request("GET", &proxy.url("/b")).body(empty()).unwrap(),
    )
    .await;
    let generated = reply.header("x-correlation-id").to_owned();
    assert!(generated.len() >= 16, "a generated id: {generated}");
    assert_eq!(
        reply.json()["headers"]["x-correlation-id"],
        generated.as_str()
    );

    // Each request gets its own.
    let again = fetch(
        &client,
        request("GET", &proxy.url("/b")).body(empty()).unwrap(),
    )
    .await;
    assert_ne!(again.header("x-correlation-id"), generated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_context_and_forwarding_headers_reach_the_upstream() {
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(CONFIG, &[("echo", echo.url())]).await;
    let client = http1_client();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";

    let reply = fetch(
        &client,
        request("GET", &proxy.url("/path?q=1"))
            .header("host", "shop.example.test")
            .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
            .header("x-forwarded-for", "203.0.113.9")
            .header("connection", "x-hop")
            .header("x-hop", "1")
            .header("keep-alive", "timeout=5")
            .header("x-end-to-end", "kept")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    let echo_body = reply.json();
    let seen = &echo_body["headers"];

    // The trace continues with the proxy as a new parent.
    let traceparent = seen["traceparent"].as_str().unwrap();
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[1], trace_id, "the trace id is kept");
    assert_ne!(parts[2], "00f067aa0ba902b7", "the proxy is the new parent");
    assert_eq!(parts[3], "01", "the flags are kept");

    // The client address is appended to what earlier proxies reported.
    assert_eq!(seen["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["x-forwarded-host"], "shop.example.test");
    assert_eq!(seen["via"], "1.1 gw-test");
    assert_eq!(reply.header("via"), "1.1 gw-test");

    // Hop-by-hop headers, including the ones `Connection` names, stop at the proxy.
    for hop in ["connection", "x-hop", "keep-alive"] {
        assert!(seen.get(hop).is_none(), "`{hop}` was forwarded: {seen}");
    }
    assert_eq!(seen["x-end-to-end"], "kept");
    // The upstream is addressed by its own authority unless `preserve_host` says otherwise.
    assert_eq!(
        seen["host"],
        echo.url().trim_start_matches("http://"),
        "Host is the target's"
    );
    assert_eq!(echo_body["query"], "q=1");

    // Without a traceparent the proxy starts a trace.
    let reply = fetch(
        &client,
        request("GET", &proxy.url("/")).body(empty()).unwrap(),
    )
    .await;
    let started = reply.json()["headers"]["traceparent"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(started.len(), 55, "a version-00 traceparent: {started}");
    assert!(started.starts_with("00-"));
    // Without a forwarded chain, the client address starts it.
    assert_eq!(reply.json()["headers"]["x-forwarded-for"], "127.0.0.1");
}

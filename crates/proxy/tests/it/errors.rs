//! Responses the gateway produces itself: the status, the stable `error.code`, and the envelope
//! every such response shares (JSON body, correlation id, config version).

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

use crate::support::body::{empty, full, BoxError};
use crate::support::{
    closed_port, fetch, http1_client, request, start_proxy, ProxyExt, Reply, TestUpstream,
};

/// Checks the common envelope and returns the error code.
fn gateway_error(reply: &Reply) -> String {
    assert_eq!(reply.header("content-type"), "application/json");
    let body = reply.json();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.code in {body}"));
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.message in {body}"));
    assert!(!message.is_empty(), "empty error.message in {body}");
    assert!(
        !message.contains("127.0.0.1"),
        "the message must not reveal internal addresses: {message}"
    );
    let correlation_id = reply.header("x-correlation-id");
    assert!(!correlation_id.is_empty());
    assert_eq!(
        body["correlation_id"], correlation_id,
        "body and header carry the same correlation id"
    );
    assert!(
        reply.header("x-config-version").starts_with("local-"),
        "X-Config-Version names the config version"
    );
    code.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_errors_have_stable_codes_and_the_common_envelope() {
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: echo
            targets: [{url: "${echo}"}]
          - name: down
            targets: [{url: "http://127.0.0.1:${closed}"}]
            timeouts: {connect: 2s}
        routes:
          - name: read-only
            match: {path: /items/*, methods: [GET, HEAD]}
            upstream: echo
          - name: write-only
            match: {path: /items/*, methods: [PUT]}
            upstream: echo
          - name: slow
            match: {path: /slow/*}
            upstream: echo
            timeout: 200ms
          - name: down
            match: {path: /down/*}
            upstream: down
        "#,
        &[("echo", echo.url()), ("closed", closed_port().to_string())],
    )
    .await;
    let client = http1_client();

    // The path matches but the method does not: 405 with every method the path accepts.
    let reply = fetch(
        &client,
        request("DELETE", &proxy.url("/items/1"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 405);
    assert_eq!(gateway_error(&reply), "method_not_allowed");
    assert_eq!(reply.header("allow"), "GET, HEAD, PUT");

    let reply = fetch(
        &client,
        request("GET", &proxy.url("/nowhere"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 404);
    assert_eq!(gateway_error(&reply), "route_not_found");

    let reply = fetch(
        &client,
        request("GET", &proxy.url("/down/x")).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(reply.status, 502);
    assert_eq!(gateway_error(&reply), "upstream_connect_failed");

    // The upstream answers after 2 s; the route allows 200 ms.
    let started = std::time::Instant::now();
    let reply = fetch(
        &client,
        request("GET", &proxy.url("/slow/2000"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 504);
    assert_eq!(gateway_error(&reply), "upstream_timeout");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1500),
        "the timeout cut the wait short ({:?})",
        started.elapsed()
    );

    // The same route works when the upstream is quick enough.
    let reply = fetch(
        &client,
        request("GET", &proxy.url("/slow/10"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.headers.get("x-config-version").is_none(),
        "upstream responses are passed through without the gateway's version header"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_body_over_the_limit_is_refused_before_it_reaches_the_upstream() {
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(
        r#"
        server:
          max_request_body: 1KiB
        upstreams:
          - name: echo
            targets: [{url: "${echo}"}]
        routes:
          - name: all
            match: {path: /*}
            upstream: echo
        "#,
        &[("echo", echo.url())],
    )
    .await;
    let client = http1_client();

    let reply = fetch(
        &client,
        request("POST", &proxy.url("/upload"))
            .body(full(vec![b'x'; 1025]))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 413);
    assert_eq!(gateway_error(&reply), "payload_too_large");
    assert_eq!(echo.requests(), 0, "nothing was sent upstream");

    // A body at the limit passes.
    let reply = fetch(
        &client,
        request("POST", &proxy.url("/upload"))
            .body(full(vec![b'x'; 1024]))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["bytes"], 1024);

    // Without a Content-Length the body is cut where it crosses the limit, with the same answer.
    let chunks: Vec<Result<Frame<Bytes>, BoxError>> = (0..4)
        .map(|_| Ok(Frame::data(Bytes::from(vec![b'x'; 512]))))
        .collect();
    let reply = fetch(
        &client,
        request("POST", &proxy.url("/upload"))
            .body(StreamBody::new(futures_util::stream::iter(chunks)).boxed())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 413);
    assert_eq!(gateway_error(&reply), "payload_too_large");
}

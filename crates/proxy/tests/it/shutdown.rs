//! Graceful shutdown: the requests in flight finish (HTTP/1.1 and HTTP/2), new connections are
//! refused, and nothing is cut.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::support::body::empty;
use crate::support::client::{collect, h1_handshake};
use crate::support::{
    eventually, fetch, h2c_client, http1_client, request, start_proxy, ProxyExt, TestUpstream,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_the_request_in_flight_and_refuses_new_connections() {
    let upstream = TestUpstream::start("slow").await;
    let proxy = start_proxy(
        r#"
        server:
          drain_timeout: 10s
        upstreams:
          - name: slow
            targets: [{url: "${slow}"}]
        routes:
          - name: all
            match: {path: /*}
            upstream: slow
        "#,
        &[("slow", upstream.url())],
    )
    .await;
    // A load balancer's probe connection, open before the shutdown starts.
    let mut probe = h1_handshake(TcpStream::connect(proxy.status_addr()).await.unwrap()).await;
    let ready = |sender: &mut hyper::client::conn::http1::SendRequest<_>| {
        sender.send_request(
            request("GET", "/health/ready")
                .header("host", "status")
                .body(empty())
                .unwrap(),
        )
    };
    assert_eq!(ready(&mut probe).await.unwrap().status(), 200);

    let in_flight = {
        let url = proxy.url("/slow/2000");
        tokio::spawn(async move {
            fetch(&http1_client(), request("GET", &url).body(empty()).unwrap()).await
        })
    };
    // The same over HTTP/2, where the proxy has to send GOAWAY and still finish the stream.
    let in_flight_h2 = {
        let url = proxy.url("/slow/2000");
        tokio::spawn(async move {
            fetch(&h2c_client(), request("GET", &url).body(empty()).unwrap()).await
        })
    };
    eventually(
        "the slow requests to reach the upstream",
        Duration::from_secs(5),
        || std::future::ready(upstream.in_flight() == 2),
    )
    .await;

    let shutdown = {
        let proxy = proxy.clone();
        tokio::spawn(async move { proxy.shutdown().await })
    };
    let addr = proxy.addr();
    eventually(
        "the listener to refuse connections",
        Duration::from_secs(5),
        || async move { TcpStream::connect(addr).await.is_err() },
    )
    .await;
    assert_eq!(
        upstream.in_flight(),
        2,
        "new connections are refused while the old requests are still being served"
    );
    let response = ready(&mut probe).await.unwrap();
    assert_eq!(response.status(), 503, "readiness fails while draining");
    let body = collect(response).await.json();
    assert_eq!(body["status"], "not_ready", "{body}");

    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, 200, "the request in flight completes");
    assert_eq!(reply.json()["path"], "/slow/2000");
    let reply = in_flight_h2.await.unwrap();
    assert_eq!(reply.status, 200, "the HTTP/2 request in flight completes");
    assert_eq!(reply.version, http::Version::HTTP_2);
    let cut = tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown returns once drained")
        .unwrap();
    assert_eq!(cut, 0, "no connection was cut");
    assert!(TcpStream::connect(addr).await.is_err());
}

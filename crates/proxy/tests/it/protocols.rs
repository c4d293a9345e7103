//! Protocols on the client side and towards upstreams: h2c, HTTPS with SNI and ALPN, WebSocket
//! upgrades, and HTTP/2 trailers end to end.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::Version;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::support::body::{empty, full};
use crate::support::client::{collect, h1_handshake, h2_handshake, tls_connect};
use crate::support::tls::TestCa;
use crate::support::{
    fetch, h2c_client, http1_client, join_yaml, request, start_proxy, AccessLogFile, ProxyExt,
    TestUpstream,
};

const CATCH_ALL: &str = r#"
    upstreams:
      - name: echo
        targets: [{url: "${echo}"}]
    routes:
      - name: all
        match: {path: /*}
        upstream: echo
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_is_served_and_logged_as_http2() {
    let echo = TestUpstream::start("echo").await;
    let log = AccessLogFile::new();
    let proxy = start_proxy(
        &join_yaml(&[
            CATCH_ALL,
            r#"
            observability:
              access_log:
                output: "${log}"
                sampling: {success_rate: 1.0}
            "#,
        ]),
        &[("echo", echo.url()), ("log", log.path())],
    )
    .await;

    let reply = fetch(
        &h2c_client(),
        request("GET", &proxy.url("/over-h2c"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.version, Version::HTTP_2);
    assert_eq!(reply.json()["path"], "/over-h2c");

    let reply = fetch(
        &http1_client(),
        request("GET", &proxy.url("/over-h1"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.version, Version::HTTP_11);

    // A request body over h2c reaches the upstream whole, and the log counts both directions.
    let upload = fetch(
        &h2c_client(),
        request("POST", &proxy.url("/upload"))
            .body(full(vec![b'x'; 1000]))
            .unwrap(),
    )
    .await;
    assert_eq!(upload.json()["bytes"], 1000);

    let h2 = log.wait_for(&proxy, |l| l["path"] == "/over-h2c").await;
    assert_eq!(h2["protocol"], "HTTP/2", "{h2}");
    assert_eq!(h2["status"], 200);
    assert_eq!(h2["route"], "all");
    let upload_line = log.wait_for(&proxy, |l| l["path"] == "/upload").await;
    assert_eq!(upload_line["protocol"], "HTTP/2");
    assert_eq!(upload_line["bytes_in"], 1000);
    assert_eq!(upload_line["bytes_out"], upload.body.len());
    let h1 = log.wait_for(&proxy, |l| l["path"] == "/over-h1").await;
    assert_eq!(h1["protocol"], "HTTP/1.1", "{h1}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_listener_picks_the_certificate_by_sni_and_negotiates_h2() {
    let echo = TestUpstream::start("echo").await;
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let cert_a = ca.issue(&["a.test"], false);
    let cert_b = ca.issue(&["b.test"], false);
    let (a_cert, a_key) = cert_a.write(dir.path(), "a");
    let (b_cert, b_key) = cert_b.write(dir.path(), "b");
    let proxy = start_proxy(
        &join_yaml(&[
            r#"
            listeners:
              - name: tls
                bind: "127.0.0.1:0"
                tls:
                  certificates:
                    # Chosen by the configured name.
                    - cert_file: "${a_cert}"
                      key_file: "${a_key}"
                      server_names: [a.test]
                    # Chosen by the name inside the certificate.
                    - cert_file: "${b_cert}"
                      key_file: "${b_key}"
            "#,
            CATCH_ALL,
        ]),
        &[
            ("echo", echo.url()),
            ("a_cert", a_cert.display().to_string()),
            ("a_key", a_key.display().to_string()),
            ("b_cert", b_cert.display().to_string()),
            ("b_key", b_key.display().to_string()),
        ],
    )
    .await;
    let both = ca.client_config(&[b"h2", b"http/1.1"]);

    for (sni, leaf) in [("b.test", &cert_b), ("a.test", &cert_a)] {
        let tls = tls_connect(proxy.addr(), sni, both.clone()).await;
        assert!(
            tls.peer_certificate == leaf.der,
            "SNI {sni} got the certificate of another name"
        );
        assert_eq!(tls.alpn.as_deref(), Some(&b"h2"[..]), "ALPN with SNI {sni}");
        let mut sender = h2_handshake(tls.stream).await;
        let response = sender
            .send_request(
                request("GET", &format!("https://{sni}/secure"))
                    .body(empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let reply = collect(response).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.version, Version::HTTP_2);
        let seen = reply.json();
        assert_eq!(seen["path"], "/secure");
        assert_eq!(seen["headers"]["x-forwarded-proto"], "https");
        assert_eq!(seen["headers"]["x-forwarded-host"], sni);
    }

    // A client that only speaks HTTP/1.1 is served over TLS as well.
    let tls = tls_connect(proxy.addr(), "b.test", ca.client_config(&[b"http/1.1"])).await;
    assert_eq!(tls.alpn.as_deref(), Some(&b"http/1.1"[..]));
    let mut sender = h1_handshake(tls.stream).await;
    let response = sender
        .send_request(
            request("GET", "/secure-h1")
                .header("host", "b.test")
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let reply = collect(response).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["path"], "/secure-h1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_messages_are_echoed_through_the_proxy() {
    let upstream = TestUpstream::start("ws").await;
    let proxy = start_proxy(CATCH_ALL, &[("echo", upstream.url())]).await;

    let tcp = TcpStream::connect(proxy.addr()).await.unwrap();
    let (mut ws, response) =
        tokio_tungstenite::client_async(format!("ws://{}/ws", proxy.addr()), tcp)
            .await
            .expect("WebSocket handshake through the proxy");
    assert_eq!(response.status(), 101);

    let messages = [
        Message::Text("hello".into()),
        Message::Binary(vec![0, 1, 2, 255]),
        Message::Text("a longer message ".repeat(1000)),
        Message::Text("bye".into()),
    ];
    for message in &messages {
        ws.send(message.clone()).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("echo within 10 s")
            .expect("connection open")
            .expect("a message");
        assert_eq!(&echoed, message);
    }
    ws.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_style_trailers_pass_through_http2_both_sides() {
    let upstream = TestUpstream::start("grpc").await;
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: grpc
            protocol: http2
            targets: [{url: "${grpc}"}]
        routes:
          - name: all
            match: {path: /*}
            upstream: grpc
        "#,
        &[("grpc", upstream.url())],
    )
    .await;
    let client = h2c_client();

    let reply = fetch(
        &client,
        request("POST", &proxy.url("/trailers"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "application/grpc");
    assert_eq!(&reply.body[..], b"\0\0\0\0\x05hello");
    let trailers = reply.trailers.expect("the response has trailers");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "ok");

    // The proxy spoke HTTP/2 to the upstream, and kept `te: trailers`, which gRPC servers require.
    let echo = fetch(
        &client,
        request("GET", &proxy.url("/echo"))
            .header("te", "trailers")
            .body(empty())
            .unwrap(),
    )
    .await
    .json();
    assert_eq!(echo["version"], "HTTP/2");
    assert_eq!(echo["headers"]["te"], "trailers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_requests_work_over_every_protocol_pair_and_are_logged_complete() {
    let upstream = TestUpstream::start("echo").await;
    let log = AccessLogFile::new();
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: h1
            targets: [{url: "${echo}"}]
          - name: h2
            protocol: http2
            targets: [{url: "${echo}"}]
        routes:
          - {name: h1, match: {path: /h1/*}, upstream: h1, strip_prefix: true}
          - {name: h2, match: {path: /h2/*}, upstream: h2, strip_prefix: true}
        observability:
          access_log:
            output: "${log}"
            sampling: {success_rate: 1.0}
        "#,
        &[("echo", upstream.url()), ("log", log.path())],
    )
    .await;

    // The upstream announces the length of the body a GET would get; HEAD gets none. Some HTTP/2
    // servers end the stream with an empty DATA frame rather than on the headers.
    for (client, downstream) in [(http1_client(), "h1"), (h2c_client(), "h2c")] {
        for upstream_protocol in ["h1", "h2"] {
            let path = format!("/{upstream_protocol}/from-{downstream}");
            let reply = fetch(
                &client,
                request("HEAD", &proxy.url(&path)).body(empty()).unwrap(),
            )
            .await;
            assert_eq!(reply.status, 200, "HEAD {path}");
            assert!(reply.body.is_empty(), "HEAD {path}");
            assert!(
                reply.header("content-length").parse::<u64>().unwrap() > 0,
                "HEAD {path} keeps the length a GET would have"
            );
            let line = log
                .wait_for(&proxy, |l| {
                    l["method"] == "HEAD" && l["path"] == path.as_str()
                })
                .await;
            assert!(
                line.get("error_kind").is_none(),
                "HEAD {path} is a complete exchange: {line}"
            );
        }
    }
}

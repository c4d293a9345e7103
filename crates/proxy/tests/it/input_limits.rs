//! Body limits enforced while streaming: a chunked upload over `server.max_request_body`, a
//! client that stalls mid-body for longer than `server.limits.body_read_timeout`, and a response
//! body over `server.limits.max_response_body`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::body::{empty, BoxError};
use crate::support::{
    fetch, h2c_client, http1_client, request, start_proxy, AccessLogFile, ProxyExt, TestUpstream,
};

/// A proxy with its access log in a file, logging everything, with `server` settings `server`.
async fn proxy_with(
    server: &str,
    upstream: &TestUpstream,
    log: &AccessLogFile,
) -> std::sync::Arc<flexgate_proxy::ProxyHandle> {
    start_proxy(
        &format!(
            r#"
            server:
{server}
            upstreams:
              - name: app
                targets: [{{url: "${{app}}"}}]
            routes:
              - name: all
                match: {{path: /*}}
                upstream: app
            observability:
              access_log:
                output: "${{log}}"
                sampling: {{success_rate: 1.0}}
            "#
        ),
        &[("app", upstream.url()), ("log", log.path())],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_upload_over_the_limit_is_refused_with_413() {
    let upstream = TestUpstream::start("app").await;
    let log = AccessLogFile::new();
    let proxy = proxy_with("              max_request_body: 16KiB", &upstream, &log).await;
    // A streamed body without a length (sent chunked), 20 KiB in 4 KiB frames: the declared
    // length cannot be checked up front, so the stream is cut at the limit. The body is kept small
    // enough to fit the loopback socket buffers: the gateway answers and closes as soon as the
    // limit is crossed, and a client still writing a large body could see its write fail before it
    // reads the 413 (a race of the client, not of the gateway).
    let frames: Vec<Result<Frame<Bytes>, BoxError>> = (0..5)
        .map(|_| Ok(Frame::data(Bytes::from(vec![b'x'; 4096]))))
        .collect();
    let body = StreamBody::new(futures_util::stream::iter(frames)).boxed();
    let client = http1_client();
    let reply = fetch(
        &client,
        request("POST", &proxy.url("/upload")).body(body).unwrap(),
    )
    .await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert_eq!(reply.json()["error"]["code"], "payload_too_large");
    let line = log.wait_for(&proxy, |l| l["path"] == "/upload").await;
    assert_eq!(line["error_kind"], "payload_too_large");

    // Within the limit, the same kind of upload passes.
    let frames: Vec<Result<Frame<Bytes>, BoxError>> = (0..3)
        .map(|_| Ok(Frame::data(Bytes::from(vec![b'x'; 4096]))))
        .collect();
    let body = StreamBody::new(futures_util::stream::iter(frames)).boxed();
    let reply = fetch(
        &client,
        request("POST", &proxy.url("/upload")).body(body).unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["bytes"], 12288);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stalling_mid_body_gets_408_and_is_logged_as_client_body_timeout() {
    let upstream = TestUpstream::start("app").await;
    let log = AccessLogFile::new();
    let proxy = proxy_with(
        "              limits: {body_read_timeout: 300ms}",
        &upstream,
        &log,
    )
    .await;
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream
        .write_all(
            b"POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100\r\n\r\n0123456789",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut response = Vec::new();
    // Keep the connection open without sending more: the proxy must answer and close.
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("the proxy answers a stalled upload")
        .unwrap();
    let waited = started.elapsed();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(text.contains(r#""code":"request_timeout""#), "{text}");
    assert!(
        waited >= Duration::from_millis(250),
        "answered after {waited:?}, before the timeout"
    );
    let line = log.wait_for(&proxy, |l| l["path"] == "/upload").await;
    assert_eq!(line["status"], 408);
    assert_eq!(line["error_kind"], "client_body_timeout");

    // A client that keeps sending, however slowly overall, is not cut off.
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    for byte in b"hello" {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream.write_all(&[*byte]).await.unwrap();
    }
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(text.ends_with(r#"{"bytes":5}"#), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_over_the_limit_is_cut_and_logged_as_response_too_large() {
    let upstream = TestUpstream::start("app").await;
    let log = AccessLogFile::new();
    let proxy = proxy_with(
        "              limits: {max_response_body: 100KiB}",
        &upstream,
        &log,
    )
    .await;
    let client = http1_client();
    // 1 MiB from the upstream: the head is already sent, so the client sees the body break off.
    let response = client
        .request(
            request("GET", &proxy.url("/bytes/1048576"))
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut received = 0usize;
    let mut body = response.into_body();
    let mut failed = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => received += frame.data_ref().map_or(0, |d| d.len()),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body must not end normally");
    assert!(received <= 100 * 1024, "received {received} bytes");
    let line = log
        .wait_for(&proxy, |l| l["path"] == "/bytes/1048576")
        .await;
    assert_eq!(line["error_kind"], "response_too_large");

    // Below the limit nothing is cut.
    let reply = fetch(
        &client,
        request("GET", &proxy.url("/bytes/65536"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.body.len(), 65536);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_header_fields_over_http2_get_431_from_the_gateway() {
    // HTTP/1.1 heads are counted by hyper's parser (see the smuggling table); HTTP/2 header
    // lists are counted by the front end, which answers with the JSON body.
    let upstream = TestUpstream::start("app").await;
    let log = AccessLogFile::new();
    let proxy = proxy_with("              limits: {max_headers: 20}", &upstream, &log).await;
    let client = h2c_client();
    let mut builder = request("GET", &proxy.url("/many")).version(http::Version::HTTP_2);
    for i in 0..21 {
        builder = builder.header(format!("x-h{i}"), "1");
    }
    let reply = fetch(&client, builder.body(empty()).unwrap()).await;
    assert_eq!(reply.status, 431, "{reply:?}");
    assert_eq!(
        reply.json()["error"]["code"],
        "request_header_fields_too_large"
    );
    let mut builder = request("GET", &proxy.url("/few")).version(http::Version::HTTP_2);
    for i in 0..10 {
        builder = builder.header(format!("x-h{i}"), "1");
    }
    assert_eq!(
        fetch(&client, builder.body(empty()).unwrap()).await.status,
        200
    );
    assert_eq!(upstream.requests(), 1);
}

//! Raw requests over a TCP socket: malformed framing, smuggling attempts, header injection, size
//! limits and path tricks. Each must get its exact 4xx status and reach the upstream not at all
//! (the test upstream counts every request it receives).
//!
//! Who answers: hyper's HTTP/1.1 parser refuses what is not HTTP (bare `400`, `431` for an
//! oversized head or too many fields) before the pipeline runs; the front end (`front.rs`)
//! answers the rest with the JSON error body and a stable code.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use flexgate_proxy::ProxyHandle;

use crate::support::{start_proxy, ProxyExt, TestUpstream};

/// A response read off the socket.
#[derive(Debug)]
struct RawReply {
    status: u16,
    head: String,
    body: String,
}

impl RawReply {
    /// `error.code` of a gateway JSON body, or `""` for hyper's empty error responses.
    fn code(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sends `bytes` on a fresh connection and reads one response (head, then `Content-Length`
/// bytes of body, or up to the close).
async fn send_raw(proxy: &ProxyHandle, bytes: &[u8]) -> RawReply {
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    // The proxy may answer and close before reading everything (an oversized head); a failed
    // write is then expected, and the response is still there to read.
    let _ = stream.write_all(bytes).await;
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                if let Some(length) = length {
                    if buf.len() >= end + 4 + length {
                        return;
                    }
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("a response within 10 s");
    let end = find(&buf, b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(&buf)));
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let body = String::from_utf8_lossy(&buf[end + 4..]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    RawReply { status, head, body }
}

/// The proxy under test: one route, for one host, so that a request naming another host (as an
/// absolute-form target does) finds no route. The prefix is stripped, so `/api/upload` reaches the
/// upstream's upload counter.
async fn proxy_and_upstream() -> (std::sync::Arc<ProxyHandle>, TestUpstream) {
    let upstream = TestUpstream::start("app").await;
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: app
            targets: [{url: "${app}"}]
        routes:
          - name: api
            match: {path: /api/*, hosts: [app.test]}
            upstream: app
            strip_prefix: true
        "#,
        &[("app", upstream.url())],
    )
    .await;
    (proxy, upstream)
}

/// One row: what is sent, the status, and the error code of the JSON body (`""` when hyper
/// answers with an empty body).
struct Row {
    name: &'static str,
    request: Vec<u8>,
    status: u16,
    code: &'static str,
}

fn row(name: &'static str, request: impl Into<Vec<u8>>, status: u16, code: &'static str) -> Row {
    Row {
        name,
        request: request.into(),
        status,
        code,
    }
}

const HOST: &str = "Host: app.test\r\n";

fn get(target: &str, extra_headers: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\n{HOST}{extra_headers}\r\n").into_bytes()
}

fn post(headers: &str, body: &str) -> Vec<u8> {
    format!("POST /api/upload HTTP/1.1\r\n{HOST}{headers}\r\n{body}").into_bytes()
}

fn rows() -> Vec<Row> {
    let many_headers: String = (0..101).map(|i| format!("X-H{i}: {i}\r\n")).collect();
    let huge_header = format!("X-Big: {}\r\n", "a".repeat(70 * 1024));
    let long_uri = format!("/api/{}", "a".repeat(9000));
    vec![
        // Framing: Content-Length and Transfer-Encoding.
        row(
            "CL + TE with chunked not last",
            post(
                "Content-Length: 4\r\nTransfer-Encoding: chunked, identity\r\n",
                "0\r\n\r\n",
            ),
            400,
            "",
        ),
        row(
            "TE xchunked",
            post("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n"),
            400,
            "",
        ),
        row(
            "TE chunked then a second TE identity",
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
                "0\r\n\r\n",
            ),
            400,
            "",
        ),
        row(
            "TE with a space before the colon",
            post("Transfer-Encoding : chunked\r\n", "0\r\n\r\n"),
            400,
            "",
        ),
        row(
            "TE gzip, chunked (a coding the gateway cannot pass on)",
            post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"),
            400,
            "bad_request",
        ),
        row(
            "TE chunked twice",
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
            400,
            "bad_request",
        ),
        row(
            "duplicate Content-Length with different values",
            post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
            400,
            "",
        ),
        row(
            "negative Content-Length",
            post("Content-Length: -1\r\n", ""),
            400,
            "",
        ),
        row(
            "Content-Length with a sign",
            post("Content-Length: +5\r\n", "hello"),
            400,
            "",
        ),
        row(
            "hex Content-Length",
            post("Content-Length: 0x5\r\n", "hello"),
            400,
            "",
        ),
        row(
            "HTTP/1.0 with Transfer-Encoding",
            format!(
                "POST /api/upload HTTP/1.0\r\n{HOST}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            ),
            400,
            "",
        ),
        // Header syntax.
        row(
            "NUL in a header value",
            get("/api/x", "X-A: a\0b\r\n"),
            400,
            "",
        ),
        row(
            "CR inside a header value",
            get("/api/x", "X-A: a\rX-B: b\r\n"),
            400,
            "",
        ),
        row(
            "bare LF splitting a header into a line without a colon",
            get("/api/x", "X-A: a\nnot a header\r\n"),
            400,
            "",
        ),
        row(
            "obs-fold continuation line",
            get("/api/x", "X-A: a\r\n folded\r\n"),
            400,
            "",
        ),
        row(
            "space in a header name",
            get("/api/x", "X A: b\r\n"),
            400,
            "",
        ),
        row(
            "two Host headers",
            get("/api/x", "Host: other.test\r\n"),
            400,
            "bad_request",
        ),
        row(
            "invalid characters in the method",
            format!("G(T /api/x HTTP/1.1\r\n{HOST}\r\n"),
            400,
            "",
        ),
        row(
            "space inside the request target",
            format!("GET /api/a b HTTP/1.1\r\n{HOST}\r\n"),
            400,
            "",
        ),
        row(
            "raw backslash in the path",
            get("/api\\..\\secret", ""),
            400,
            "invalid_path",
        ),
        // Size limits.
        row(
            "head larger than max_header_bytes",
            get("/api/x", &huge_header),
            431,
            "",
        ),
        row(
            "more header fields than max_headers",
            get("/api/x", &many_headers),
            431,
            "",
        ),
        row(
            "URI longer than max_uri_length",
            get(&long_uri, ""),
            414,
            "uri_too_long",
        ),
        // Paths: normalised before routing, or refused.
        row(
            "dot-dot out of the routed prefix",
            get("/api/../secret", ""),
            404,
            "route_not_found",
        ),
        row(
            "encoded dot-dot",
            get("/api/%2e%2e/secret", ""),
            404,
            "route_not_found",
        ),
        row(
            "mixed-case encoded dot-dot",
            get("/api/.%2E/%2E./secret", ""),
            404,
            "route_not_found",
        ),
        row(
            "encoded slash",
            get("/api/..%2fsecret", ""),
            400,
            "invalid_path",
        ),
        row(
            "encoded backslash",
            get("/api/..%5csecret", ""),
            400,
            "invalid_path",
        ),
        row(
            "encoded NUL",
            get("/api/x%00.json", ""),
            400,
            "invalid_path",
        ),
        row(
            "encoded CR LF (header injection upstream)",
            get("/api/x%0d%0aSet-Cookie:%20a=b", ""),
            400,
            "invalid_path",
        ),
        row(
            "dot-dot with parameters (..;)",
            get("/api/..;/secret", ""),
            400,
            "invalid_path",
        ),
        row("malformed escape", get("/api/%zz", ""), 400, "invalid_path"),
        // Request targets naming other hosts.
        row(
            "absolute-form to the metadata address",
            get("http://169.254.169.254/latest/meta-data/", ""),
            404,
            "route_not_found",
        ),
        row(
            "absolute-form to loopback",
            get("http://127.0.0.1:1/api/x", ""),
            404,
            "route_not_found",
        ),
        row(
            "CONNECT to the metadata address",
            "CONNECT 169.254.169.254:80 HTTP/1.1\r\nHost: 169.254.169.254:80\r\n\r\n",
            404,
            "route_not_found",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_smuggling_requests_never_reach_the_upstream() {
    let (proxy, upstream) = proxy_and_upstream().await;
    let rows = rows();
    assert!(rows.len() >= 20);
    let mut failures = Vec::new();
    for row in &rows {
        let reply = send_raw(&proxy, &row.request).await;
        let code = reply.code();
        if reply.status != row.status || code != row.code {
            failures.push(format!(
                "{}: expected {} `{}`, got {} `{}`\n{}\n{}",
                row.name, row.status, row.code, reply.status, code, reply.head, reply.body
            ));
        }
        if upstream.requests() != 0 {
            failures.push(format!("{}: reached the upstream", row.name));
            break;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    // The same connection setup with a well-formed request does reach it, so the zero above
    // means refusal, not a broken setup.
    let reply = send_raw(&proxy, &get("/api/ok", "Connection: close\r\n")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(upstream.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_with_chunked_is_read_as_chunked_and_the_connection_closed() {
    // hyper follows RFC 9112 §6.3 here instead of refusing: Transfer-Encoding wins, the
    // Content-Length is dropped, and the connection is closed after the response. The upstream
    // receives one request, framed by the gateway, and never the bytes hidden after the chunked
    // body (a would-be smuggled second request).
    let (proxy, upstream) = proxy_and_upstream().await;
    for headers in [
        "Content-Length: 40\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n",
    ] {
        let before = upstream.requests();
        let smuggled = "GET /api/smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n";
        let request = format!(
            "POST /api/upload HTTP/1.1\r\n{HOST}{headers}\r\n5\r\nhello\r\n0\r\n\r\n{smuggled}"
        );
        let reply = send_raw(&proxy, request.as_bytes()).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(
            reply.body, r#"{"bytes":5}"#,
            "the chunked body, not 40 bytes"
        );
        assert!(
            reply
                .head
                .to_ascii_lowercase()
                .contains("connection: close"),
            "{}",
            reply.head
        );
        // Give a smuggled request time to arrive if it were going to.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            upstream.requests(),
            before + 1,
            "one request, nothing smuggled"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lenient_forms_are_normalised_before_they_are_forwarded() {
    // Accepted on purpose, and passed on in canonical form: bare LF line endings (RFC 9112 §2.2
    // allows a recipient to accept them; hyper does and the gateway re-frames with CRLF),
    // identical duplicate Content-Length values (read as one), and paths with dot segments and
    // doubled slashes (forwarded normalised).
    let (proxy, upstream) = proxy_and_upstream().await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "bare LF line endings",
            b"GET /api/lf HTTP/1.1\nHost: app.test\nConnection: close\n\n".to_vec(),
            "/lf",
        ),
        (
            "identical duplicate Content-Length",
            format!("POST /api/dup HTTP/1.1\r\n{HOST}Content-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi").into_bytes(),
            "/dup",
        ),
        (
            "dot segments and doubled slashes",
            get("/api//a/./b/../c%7e", "Connection: close\r\n"),
            "/a/c~",
        ),
    ];
    for (i, (name, request, path)) in cases.into_iter().enumerate() {
        let reply = send_raw(&proxy, &request).await;
        assert_eq!(reply.status, 200, "{name}: {reply:?}");
        let echo: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(echo["path"], path, "{name}");
        assert_eq!(upstream.requests(), i + 1, "{name}");
    }
}

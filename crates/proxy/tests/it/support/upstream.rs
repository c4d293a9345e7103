//! Test upstream servers on `127.0.0.1:0`, speaking HTTP/1.1 and HTTP/2 (prior knowledge, or ALPN
//! over TLS) on the same port.
//!
//! Behaviour is chosen by the path that reaches the upstream, so a test reads what it asks for:
//!
//! - `/status/NNN`: answers NNN with the echo body;
//! - `/slow/MS`: waits MS milliseconds, then answers 200 with the echo body;
//! - `/bytes/N`: streams N bytes in 64 KiB chunks, never holding more than one;
//! - `/upload`: reads the request body as it arrives and answers `{"bytes": <count>}`;
//! - `/ws`: accepts a WebSocket upgrade and echoes every text and binary message;
//! - `/trailers`: a gRPC-style body followed by the trailer `grpc-status: 0`;
//! - `/health`: the status set with [`TestUpstream::set_health`] (200 at first);
//! - anything else: 200 with the echo body.
//!
//! The echo body is JSON `{upstream, method, path, query, version, headers}` with the headers as a
//! name → value map (repeated headers joined with `, `). Every response carries `x-upstream` with
//! the server's name, so tests can tell which server answered.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use super::body::{empty, full, Generated, TestBody};
use super::tls::Leaf;

/// What the server tracks for assertions.
struct State {
    name: String,
    health: AtomicU16,
    requests: AtomicUsize,
    in_flight: AtomicUsize,
}

/// A running upstream server; stops accepting when dropped.
pub(crate) struct TestUpstream {
    addr: SocketAddr,
    tls: bool,
    state: Arc<State>,
    accept_loop: JoinHandle<()>,
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl TestUpstream {
    /// A plain-text upstream named `name`.
    pub(crate) async fn start(name: &str) -> TestUpstream {
        TestUpstream::spawn(name, None).await
    }

    /// An HTTPS upstream presenting `leaf`.
    pub(crate) async fn start_tls(name: &str, leaf: &Leaf) -> TestUpstream {
        TestUpstream::spawn(name, Some(TlsAcceptor::from(leaf.server_config()))).await
    }

    async fn spawn(name: &str, tls: Option<TlsAcceptor>) -> TestUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            name: name.to_owned(),
            health: AtomicU16::new(200),
            requests: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
        });
        let is_tls = tls.is_some();
        let accept_loop = tokio::spawn(accept(listener, state.clone(), tls));
        TestUpstream {
            addr,
            tls: is_tls,
            state,
            accept_loop,
        }
    }

    /// `http://127.0.0.1:<port>` (or `https://`).
    pub(crate) fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Requests received so far (health checks included).
    pub(crate) fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Requests whose handler is running now (a `/slow` request while it waits).
    pub(crate) fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// The status `/health` answers with from now on.
    pub(crate) fn set_health(&self, status: u16) {
        self.state.health.store(status, Ordering::SeqCst);
    }
}

async fn accept(listener: TcpListener, state: Arc<State>, tls: Option<TlsAcceptor>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(state.clone(), req));
            let builder = auto::Builder::new(TokioExecutor::new());
            // Errors here are clients going away mid-test, which some tests do on purpose.
            let _ = match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => {
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .await
                    }
                    Err(_) => return,
                },
                None => {
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await
                }
            };
        });
    }
}

/// Decrements the in-flight count when a handler ends, however it ends.
struct InFlight(Arc<State>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<TestBody>, Infallible> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    state.in_flight.fetch_add(1, Ordering::SeqCst);
    let _in_flight = InFlight(state.clone());
    let path = req.uri().path().to_owned();
    let mut segments = path.trim_start_matches('/').splitn(2, '/');
    let mut response = match (segments.next(), segments.next()) {
        (Some("status"), Some(code)) => {
            let code = code.parse().unwrap_or(500);
            with_status(echo(&state, &req), code)
        }
        (Some("slow"), Some(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
            echo(&state, &req)
        }
        (Some("bytes"), Some(n)) => Response::new(Generated::boxed(n.parse().unwrap_or(0))),
        (Some("upload"), None) => upload(req).await,
        (Some("ws"), None) => websocket(req),
        (Some("trailers"), None) => trailers(),
        (Some("health"), None) => {
            with_status(Response::new(empty()), state.health.load(Ordering::SeqCst))
        }
        _ => echo(&state, &req),
    };
    if let Ok(name) = HeaderValue::from_str(&state.name) {
        response.headers_mut().insert("x-upstream", name);
    }
    Ok(response)
}

fn with_status(mut response: Response<TestBody>, code: u16) -> Response<TestBody> {
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

fn version_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}

fn echo(state: &State, req: &Request<Incoming>) -> Response<TestBody> {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let body = serde_json::json!({
        "upstream": state.name,
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query(),
        "version": version_name(req.version()),
        "headers": headers,
    });
    let mut response = Response::new(full(body.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Counts the request body as it streams in; nothing is kept.
async fn upload(req: Request<Incoming>) -> Response<TestBody> {
    let mut body = req.into_body();
    let mut bytes: u64 = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => bytes += frame.data_ref().map_or(0, |d| d.len() as u64),
            Err(_) => return with_status(Response::new(empty()), 400),
        }
    }
    Response::new(full(serde_json::json!({ "bytes": bytes }).to_string()))
}

fn websocket(mut req: Request<Incoming>) -> Response<TestBody> {
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) else {
        return with_status(Response::new(empty()), 400);
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        while let Some(Ok(message)) = ws.next().await {
            if message.is_text() || message.is_binary() {
                if ws.send(message).await.is_err() {
                    return;
                }
            } else if message.is_close() {
                return;
            }
        }
    });
    let mut response = with_status(Response::new(empty()), 101);
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).unwrap(),
    );
    response
}

/// A gRPC-shaped response: one message, then the status in trailers.
fn trailers() -> Response<TestBody> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    trailers.insert("grpc-message", HeaderValue::from_static("ok"));
    let frames: Vec<Result<Frame<Bytes>, super::body::BoxError>> = vec![
        Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\x05hello"))),
        Ok(Frame::trailers(trailers)),
    ];
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(futures_util::stream::iter(
        frames,
    ))));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    response
}

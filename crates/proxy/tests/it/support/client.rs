//! Clients: pooled HTTP/1.1 and h2c (prior knowledge) clients, a TLS client that reports what
//! the handshake negotiated, and a collected response type.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Version};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::body::TestBody;

/// The pooled client type tests use.
pub(crate) type TestClient = Client<HttpConnector, TestBody>;

/// An HTTP/1.1 client with keep-alive.
pub(crate) fn http1_client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// An HTTP/2 client with prior knowledge (h2c) on plain connections.
pub(crate) fn h2c_client() -> TestClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// A request builder for `method` and `url`.
pub(crate) fn request(method: &str, url: &str) -> http::request::Builder {
    Request::builder().method(method).uri(url)
}

/// A response with its body read completely.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) trailers: Option<HeaderMap>,
}

impl Reply {
    /// The body parsed as JSON; panics with the body text when it is not JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A response header as text; panics when it is missing.
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("response has no `{name}` header: {:?}", self.headers))
            .to_str()
            .unwrap()
    }
}

/// How long any single exchange in a test may take before the test fails instead of hanging.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `req` and reads the whole response (and its trailers).
pub(crate) async fn fetch(client: &TestClient, req: Request<TestBody>) -> Reply {
    let uri = req.uri().clone();
    tokio::time::timeout(EXCHANGE_TIMEOUT, async {
        let response = client
            .request(req)
            .await
            .unwrap_or_else(|e| panic!("request to {uri} failed: {e:?}"));
        collect(response).await
    })
    .await
    .unwrap_or_else(|_| panic!("request to {uri} timed out"))
}

/// Reads a response completely.
pub(crate) async fn collect<B>(response: http::Response<B>) -> Reply
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.expect("response body");
    let trailers = collected.trailers().cloned();
    Reply {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: collected.to_bytes(),
        trailers,
    }
}

/// A TLS connection and what its handshake settled.
pub(crate) struct TlsConnection {
    pub(crate) stream: TlsStream<TcpStream>,
    /// The leaf certificate the server presented.
    pub(crate) peer_certificate: CertificateDer<'static>,
    /// The ALPN protocol chosen by the server, if any.
    pub(crate) alpn: Option<Vec<u8>>,
}

/// Connects to `addr` with TLS, sending `sni` as the server name.
pub(crate) async fn tls_connect(
    addr: SocketAddr,
    sni: &str,
    config: Arc<ClientConfig>,
) -> TlsConnection {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    let stream = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap_or_else(|e| panic!("TLS handshake with {addr} as {sni} failed: {e}"));
    let (_, session) = stream.get_ref();
    let peer_certificate = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("server presented a certificate")
        .clone()
        .into_owned();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    TlsConnection {
        stream,
        peer_certificate,
        alpn,
    }
}

/// Runs an HTTP/2 handshake over an established stream; the connection is driven in the
/// background.
pub(crate) async fn h2_handshake<S>(stream: S) -> hyper::client::conn::http2::SendRequest<TestBody>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    sender
}

/// Runs an HTTP/1.1 handshake over an established stream; the connection is driven in the
/// background.
pub(crate) async fn h1_handshake<S>(stream: S) -> hyper::client::conn::http1::SendRequest<TestBody>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    sender
}

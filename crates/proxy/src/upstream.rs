//! Upstreams at run time: the targets with their health and load, the balancer, and the pooled
//! HTTP client with our connector (TCP with a connect timeout, optional rustls).
//!
//! An [`UpstreamRuntime`] is built once per config version and reused by the next version when
//! the upstream's settings did not change, so a reload keeps warm connection pools and health
//! state.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use flexgate_config::{Security, Upstream, UpstreamProtocol};
use flexgate_router::balance::Balancer;
use flexgate_telemetry::metrics::UpstreamMetrics;

use crate::body::ProxyBody;
use crate::ssrf;
use crate::tls::{client_config, TlsError};

/// One backend server of an upstream.
pub struct TargetRuntime {
    /// The target's base URL as configured (used in logs and the `target` metric label).
    pub url: String,
    /// `http` or `https`.
    pub scheme: Scheme,
    /// `host:port` of the target.
    pub authority: Authority,
    healthy: AtomicBool,
    in_flight: AtomicU64,
    /// Consecutive results of the active health check, for the thresholds.
    consecutive_ok: AtomicU32,
    consecutive_failed: AtomicU32,
}

impl TargetRuntime {
    /// Whether the target currently receives traffic.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Requests currently in flight to this target.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Records one health check result; returns the new health when it changed.
    pub(crate) fn record_check(
        &self,
        ok: bool,
        healthy_after: u32,
        unhealthy_after: u32,
    ) -> Option<bool> {
        if ok {
            self.consecutive_failed.store(0, Ordering::Relaxed);
            let n = self.consecutive_ok.fetch_add(1, Ordering::Relaxed) + 1;
            if !self.is_healthy() && n >= healthy_after {
                self.healthy.store(true, Ordering::Relaxed);
                return Some(true);
            }
        } else {
            self.consecutive_ok.store(0, Ordering::Relaxed);
            let n = self.consecutive_failed.fetch_add(1, Ordering::Relaxed) + 1;
            if self.is_healthy() && n >= unhealthy_after {
                self.healthy.store(false, Ordering::Relaxed);
                return Some(false);
            }
        }
        None
    }
}

/// Counts a request in flight to a target until dropped (feeds least-request balancing).
pub struct InFlight {
    upstream: Arc<UpstreamRuntime>,
    index: usize,
}

impl InFlight {
    /// The target this request went to.
    pub fn target(&self) -> &TargetRuntime {
        &self.upstream.targets[self.index]
    }

    /// Its index in the upstream's targets.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.upstream.targets[self.index]
            .in_flight
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// An upstream ready to take requests.
pub struct UpstreamRuntime {
    /// The settings it was built from (compared on reload to decide on reuse).
    pub spec: Upstream,
    /// Its targets, in config order.
    pub targets: Vec<TargetRuntime>,
    balancer: Balancer,
    /// The pooled client to the targets.
    pub client: Client<Connector, ProxyBody>,
    /// Its metric handles.
    pub metrics: UpstreamMetrics,
    /// The SSRF guard its connector applies (compared on reload, like `spec`).
    pub ssrf: Arc<ssrf::Guard>,
}

impl fmt::Debug for UpstreamRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamRuntime")
            .field("name", &self.spec.name)
            .field("targets", &self.targets.len())
            .finish()
    }
}

/// An upstream could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// A target URL is not usable.
    #[error("upstream `{upstream}`: target `{url}`: {reason}")]
    Target {
        /// Upstream name.
        upstream: String,
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// TLS material could not be loaded.
    #[error("upstream `{upstream}`: {source}")]
    Tls {
        /// Upstream name.
        upstream: String,
        /// The TLS error.
        source: TlsError,
    },
}

impl UpstreamRuntime {
    /// Prepares an upstream: parses targets, builds the TLS client config and the pool.
    pub fn build(
        spec: &Upstream,
        security: &Security,
        metrics: UpstreamMetrics,
    ) -> Result<UpstreamRuntime, UpstreamError> {
        let targets = spec
            .targets
            .iter()
            .map(|t| parse_target(&spec.name, &t.url))
            .collect::<Result<Vec<_>, _>>()?;
        let needs_tls = targets.iter().any(|t| t.scheme == Scheme::HTTPS);
        let tls = if needs_tls {
            let config = client_config(spec.tls.as_ref(), spec.protocol).map_err(|source| {
                UpstreamError::Tls {
                    upstream: spec.name.clone(),
                    source,
                }
            })?;
            let server_name = spec
                .tls
                .as_ref()
                .and_then(|t| t.server_name.clone())
                .map(|n| {
                    ServerName::try_from(n.clone()).map_err(|e| UpstreamError::Target {
                        upstream: spec.name.clone(),
                        url: n,
                        reason: format!("invalid tls.server_name: {e}"),
                    })
                })
                .transpose()?;
            Some(Arc::new(TlsSettings {
                connector: TlsConnector::from(config),
                server_name,
            }))
        } else {
            None
        };
        let guard = Arc::new(ssrf::Guard::new(spec, security));
        let connector = Connector {
            connect_timeout: spec.timeouts.connect.get(),
            tls,
            guard: guard.clone(),
        };
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(spec.pool.idle_timeout.get())
            .pool_max_idle_per_host(spec.pool.max_idle_per_target as usize)
            // The pipeline sets `Host` itself (target authority or the client's, per `preserve_host`).
            .set_host(false)
            .http2_only(spec.protocol == UpstreamProtocol::Http2);
        let client = builder.build(connector);
        let weights: Vec<u32> = spec.targets.iter().map(|t| t.weight).collect();
        Ok(UpstreamRuntime {
            spec: spec.clone(),
            targets,
            balancer: Balancer::new(spec.load_balancing, &weights),
            client,
            metrics,
            ssrf: guard,
        })
    }

    /// Carries the health of targets that also exist in `previous` over to this runtime, so a
    /// rebuilt upstream does not send traffic to a target known to be down.
    pub fn inherit_health(&self, previous: &UpstreamRuntime) {
        for target in &self.targets {
            if let Some(old) = previous.targets.iter().find(|t| t.url == target.url) {
                target.healthy.store(old.is_healthy(), Ordering::Relaxed);
            }
        }
    }

    /// Whether this runtime holds TLS material read from files, which a forced reload must re-read.
    pub fn reads_tls_files(&self) -> bool {
        self.spec.tls.as_ref().is_some_and(|t| {
            t.ca_file.is_some() || t.client_cert_file.is_some() || t.client_key_file.is_some()
        })
    }

    /// Picks a healthy target and counts the request against it. `None`: no target is healthy.
    pub fn pick(self: &Arc<Self>) -> Option<InFlight> {
        self.pick_where(|_| true)
    }

    /// Picks a healthy target for which `allowed` holds (not ejected, not tried yet).
    pub fn pick_where(self: &Arc<Self>, allowed: impl Fn(usize) -> bool) -> Option<InFlight> {
        let index = self.balancer.pick(
            |i| self.targets[i].is_healthy() && allowed(i),
            |i| self.targets[i].in_flight(),
        )?;
        self.targets[index]
            .in_flight
            .fetch_add(1, Ordering::Relaxed);
        Some(InFlight {
            upstream: self.clone(),
            index,
        })
    }
}

fn parse_target(upstream: &str, url: &str) -> Result<TargetRuntime, UpstreamError> {
    let error = |reason: &str| UpstreamError::Target {
        upstream: upstream.to_owned(),
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = url.parse().map_err(|_| error("not a valid URL"))?;
    let scheme = uri
        .scheme()
        .cloned()
        .ok_or_else(|| error("missing scheme"))?;
    if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
        return Err(error("scheme must be http or https"));
    }
    let host = uri.host().ok_or_else(|| error("missing host"))?;
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == Scheme::HTTPS { 443 } else { 80 });
    let authority: Authority = format!("{host}:{port}")
        .parse()
        .map_err(|_| error("invalid host or port"))?;
    Ok(TargetRuntime {
        url: url.trim_end_matches('/').to_owned(),
        scheme,
        authority,
        healthy: AtomicBool::new(true),
        in_flight: AtomicU64::new(0),
        consecutive_ok: AtomicU32::new(0),
        consecutive_failed: AtomicU32::new(0),
    })
}

// === impl Connector ===

struct TlsSettings {
    connector: TlsConnector,
    server_name: Option<ServerName<'static>>,
}

/// Opens connections to targets: TCP with `TCP_NODELAY` and a connect timeout, then TLS for
/// `https://` targets.
#[derive(Clone)]
pub struct Connector {
    connect_timeout: Duration,
    tls: Option<Arc<TlsSettings>>,
    guard: Arc<ssrf::Guard>,
}

/// Why a connection to a target failed; found again in the client's error chain to classify it.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The connect timeout expired.
    #[error("connect to {0} timed out")]
    Timeout(String),
    /// TCP connect failed (refused, unreachable, DNS).
    #[error("connect to {0}: {1}")]
    Io(String, io::Error),
    /// The TLS handshake failed.
    #[error("TLS handshake with {0}: {1}")]
    Tls(String, io::Error),
    /// The URI could not be connected to.
    #[error("invalid target address {0}")]
    Address(String),
    /// The SSRF guard refused every address of the target; nothing was connected to.
    #[error(transparent)]
    Blocked(#[from] ssrf::Blocked),
}

impl tower_service::Service<Uri> for Connector {
    type Response = UpstreamIo;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<UpstreamIo, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| ConnectError::Address(uri.to_string()))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let https = uri.scheme() == Some(&Scheme::HTTPS);
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let addr = format!("{host}:{port}");
            let deadline = tokio::time::Instant::now() + this.connect_timeout;
            // Resolve once, check every address, connect to a checked one (see `ssrf`).
            let resolved = tokio::time::timeout_at(deadline, ssrf::resolve(&host, port))
                .await
                .map_err(|_| ConnectError::Timeout(addr.clone()))?
                .map_err(|e| ConnectError::Io(addr.clone(), e))?;
            let permitted = this.guard.permitted(&addr, resolved)?;
            let tcp = tokio::time::timeout_at(deadline, connect_first(&permitted))
                .await
                .map_err(|_| ConnectError::Timeout(addr.clone()))?
                .map_err(|e| ConnectError::Io(addr.clone(), e))?;
            let _ = tcp.set_nodelay(true);
            if !https {
                return Ok(UpstreamIo::new(Stream::Plain(tcp), false));
            }
            let tls = this
                .tls
                .as_ref()
                .ok_or_else(|| ConnectError::Address(uri.to_string()))?;
            let server_name = match &tls.server_name {
                Some(name) => name.clone(),
                None => ServerName::try_from(host.clone())
                    .map_err(|_| ConnectError::Address(host.clone()))?,
            };
            let stream = tokio::time::timeout_at(deadline, tls.connector.connect(server_name, tcp))
                .await
                .map_err(|_| ConnectError::Timeout(addr.clone()))?
                .map_err(|e| ConnectError::Tls(addr.clone(), e))?;
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            Ok(UpstreamIo::new(Stream::Tls(Box::new(stream)), h2))
        })
    }
}

/// Connects to the first address of `addrs` that accepts, in order (as `TcpStream::connect` does
/// for a name, but over addresses the guard has already checked).
async fn connect_first(addrs: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address to connect to")))
}

/// A plain or TLS connection to a target.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pin_project_lite::pin_project! {
    /// The connection type the pooled client uses: a [`Stream`] adapted to hyper's IO traits,
    /// remembering whether ALPN chose HTTP/2.
    pub struct UpstreamIo {
        #[pin]
        inner: TokioIo<Stream>,
        h2: bool,
    }
}

impl UpstreamIo {
    fn new(stream: Stream, h2: bool) -> Self {
        UpstreamIo {
            inner: TokioIo::new(stream),
            h2,
        }
    }
}

impl Connection for UpstreamIo {
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl hyper::rt::Read for UpstreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl hyper::rt::Write for UpstreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }
}

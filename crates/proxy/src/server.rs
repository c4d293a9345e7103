//! Downstream listeners: accept loops, TLS handshakes, HTTP/1.1 and HTTP/2 (h2c by preface, `h2`
//! by ALPN) connections, and connection draining on shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tracing::{debug, warn};

use flexgate_config::{Listener, Server};

use crate::pipeline::{self, ConnectionInfo};
use crate::runtime::Shared;

/// Counts open connections so that shutdown can wait for them to drain.
#[derive(Default)]
pub struct ConnectionTracker {
    open: AtomicUsize,
    drained: Notify,
}

/// Decrements the tracker when a connection task ends.
struct TrackedConnection(Arc<ConnectionTracker>);

impl Drop for TrackedConnection {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.drained.notify_waiters();
        }
    }
}

impl ConnectionTracker {
    fn track(self: &Arc<Self>) -> TrackedConnection {
        self.open.fetch_add(1, Ordering::SeqCst);
        TrackedConnection(self.clone())
    }

    /// Open connections right now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Waits until every tracked connection has closed.
    pub async fn wait_drained(&self) {
        loop {
            let notified = self.drained.notified();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Builds the HTTP connection builder of a listener from the server settings.
fn connection_builder(listener: &Listener, server: &Server) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        // hyper applies this to the wait for every request head, so it also closes idle
        // keep-alive connections and slowloris clients.
        .header_read_timeout(server.header_read_timeout.get())
        // A head larger than this is answered `431` by hyper before the pipeline sees it.
        .max_buf_size((server.max_header_bytes.get() as usize).max(8192))
        // More fields than this: `431` from hyper's parser (HTTP/2 is counted in `front`).
        .max_headers(server.limits.max_headers as usize);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(server.keepalive_timeout.get())
        .max_header_list_size(u32::try_from(server.max_header_bytes.get()).unwrap_or(u32::MAX));
    if listener.http2 {
        builder
    } else {
        builder.http1_only()
    }
}

/// Accepts connections on one listener until `shutdown` turns true.
pub async fn serve(
    tcp: TcpListener,
    spec: Listener,
    server: Server,
    shared: Arc<Shared>,
    tracker: Arc<ConnectionTracker>,
    mut shutdown: watch::Receiver<bool>,
) {
    let builder = Arc::new(connection_builder(&spec, &server));
    let listener_name: Arc<str> = Arc::from(spec.name.as_str());
    let tls_timeout = server.header_read_timeout.get();
    loop {
        let accepted = tokio::select! {
            accepted = tcp.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let (stream, client_addr) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors and similar: back off instead of spinning.
                warn!(message = "Accept failed.", %error, listener = %listener_name);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let info = Arc::new(ConnectionInfo {
            listener: listener_name.clone(),
            client_addr,
            tls: spec.tls.is_some(),
        });
        let guard = tracker.track();
        let connection = Connection {
            builder: builder.clone(),
            shared: shared.clone(),
            info,
            shutdown: shutdown.clone(),
            tls_timeout,
        };
        tokio::spawn(async move {
            connection.run(stream).await;
            drop(guard);
        });
    }
}

struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    shared: Arc<Shared>,
    info: Arc<ConnectionInfo>,
    shutdown: watch::Receiver<bool>,
    tls_timeout: Duration,
}

impl Connection {
    async fn run(self, stream: TcpStream) {
        if !self.info.tls {
            return self.serve_http(stream).await;
        }
        // The acceptor comes from the live snapshot, so reloaded certificates apply to new
        // connections at once.
        let acceptor = self
            .shared
            .snapshot()
            .and_then(|s| s.tls.get(&*self.info.listener).cloned());
        let Some(acceptor) = acceptor else {
            warn!(message = "No TLS settings for listener.", listener = %self.info.listener);
            return;
        };
        match tokio::time::timeout(self.tls_timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => self.serve_http(tls).await,
            Ok(Err(error)) => {
                debug!(message = "TLS handshake failed.", %error, client = %self.info.client_addr)
            }
            Err(_) => debug!(message = "TLS handshake timed out.", client = %self.info.client_addr),
        }
    }

    async fn serve_http<S>(mut self, stream: S)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let shared = self.shared.clone();
        let info = self.info.clone();
        let service = service_fn(move |req| pipeline::handle(shared.clone(), info.clone(), req));
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            _ = self.shutdown.changed() => {
                // HTTP/1.1: finish the request in flight, then close; HTTP/2: GOAWAY.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(error) = result {
            debug!(message = "Connection closed with an error.", %error, client = %self.info.client_addr);
        }
    }
}

//! Body types of the request path: the boxed body both directions use, and [`MeteredBody`], which
//! streams frames through unchanged while counting bytes, enforcing the request size limit and
//! reporting the end of the exchange (for the access log and metrics) exactly once.
//!
//! Bodies are never buffered: a 100 MiB upload passes through in hyper's frame-sized pieces.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};

/// Boxed error used by bodies on the request path.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every request and response the proxy handles.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// A complete in-memory body (gateway-generated responses).
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Byte counters shared between a body in flight and the code that logs the exchange.
#[derive(Debug, Default)]
pub struct Meter {
    bytes: AtomicU64,
    limit_exceeded: AtomicBool,
    timed_out: AtomicBool,
}

impl Meter {
    /// Bytes that passed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Whether the body was cut because it exceeded its limit.
    pub fn limit_exceeded(&self) -> bool {
        self.limit_exceeded.load(Ordering::Relaxed)
    }

    /// Whether the body was cut because the client paused longer than the read timeout
    /// (set by [`crate::limits::ReadTimeout`]).
    pub fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::Relaxed)
    }

    pub(crate) fn mark_timed_out(&self) {
        self.timed_out.store(true, Ordering::Relaxed);
    }
}

/// Called once when a response body ends, fails or is dropped unfinished.
pub trait OnBodyEnd: Send + Sync + 'static {
    /// `bytes`: bytes sent; `complete`: whether the body reached its end normally.
    fn finish(self: Box<Self>, bytes: u64, complete: bool);
}

/// The request body exceeded `server.max_request_body`.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds the limit of {limit} bytes")]
pub struct BodyLimitExceeded {
    /// The limit in bytes.
    pub limit: u64,
}

/// Runs the [`OnBodyEnd`] hook exactly once: at the end of the stream, or on drop when the peer went
/// away first.
struct EndGuard {
    hook: Option<Box<dyn OnBodyEnd>>,
    meter: Arc<Meter>,
}

impl EndGuard {
    fn fire(&mut self, complete: bool) {
        if let Some(hook) = self.hook.take() {
            hook.finish(self.meter.bytes(), complete);
        }
    }
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.fire(false);
    }
}

pin_project_lite::pin_project! {
    /// A pass-through body that counts bytes, optionally enforces a size limit, and optionally runs
    /// an end-of-exchange hook.
    pub struct MeteredBody<B> {
        #[pin]
        inner: B,
        meter: Arc<Meter>,
        limit: u64,
        guard: Option<EndGuard>,
    }
}

impl<B: Body> MeteredBody<B> {
    /// Wraps `inner`; `limit` of 0 means unlimited.
    pub fn new(inner: B, meter: Arc<Meter>, limit: u64) -> Self {
        MeteredBody {
            inner,
            meter,
            limit,
            guard: None,
        }
    }

    /// Runs `hook` when the body ends (immediately if it is already empty at end of stream).
    pub fn on_end(mut self, hook: Box<dyn OnBodyEnd>) -> Self {
        let mut guard = EndGuard {
            hook: Some(hook),
            meter: self.meter.clone(),
        };
        if self.inner.is_end_stream() {
            guard.fire(true);
        }
        self.guard = Some(guard);
        self
    }
}

impl<B> Body for MeteredBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let mut inner = this.inner;
        match inner.as_mut().poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let total = this
                        .meter
                        .bytes
                        .fetch_add(data.len() as u64, Ordering::Relaxed)
                        + data.len() as u64;
                    if *this.limit > 0 && total > *this.limit {
                        this.meter.limit_exceeded.store(true, Ordering::Relaxed);
                        if let Some(guard) = this.guard.as_mut() {
                            guard.fire(false);
                        }
                        return Poll::Ready(Some(Err(Box::new(BodyLimitExceeded {
                            limit: *this.limit,
                        }))));
                    }
                }
                // hyper stops polling once a body with a known length has delivered it all, so
                // the end is detected here rather than by waiting for a `None` that never comes.
                if inner.is_end_stream() {
                    if let Some(guard) = this.guard.as_mut() {
                        guard.fire(true);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                if let Some(guard) = this.guard.as_mut() {
                    guard.fire(false);
                }
                Poll::Ready(Some(Err(error.into())))
            }
            Poll::Ready(None) => {
                if let Some(guard) = this.guard.as_mut() {
                    guard.fire(true);
                }
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

//! Body types for tests: the boxed body clients send, and a generated body of any length that
//! never holds more than one chunk in memory.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};

/// Error type of test bodies.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type test clients and test upstreams use.
pub(crate) type TestBody = BoxBody<Bytes, BoxError>;

/// An empty body.
pub(crate) fn empty() -> TestBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A body with `bytes` in memory.
pub(crate) fn full(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Size of the chunks a [`Generated`] body yields.
pub(crate) const CHUNK: usize = 64 * 1024;

/// `len` bytes produced one chunk at a time on demand, with an exact size hint (so hyper sends a
/// `Content-Length`). All chunks share one allocation, so a 100 MiB body costs 64 KiB.
pub(crate) struct Generated {
    remaining: u64,
    chunk: Bytes,
}

impl Generated {
    /// A body of `len` bytes.
    pub(crate) fn new(len: u64) -> Generated {
        Generated {
            remaining: len,
            chunk: Bytes::from(vec![b'x'; CHUNK]),
        }
    }

    /// The same, boxed.
    pub(crate) fn boxed(len: u64) -> TestBody {
        Generated::new(len)
            .map_err(|never: std::convert::Infallible| match never {})
            .boxed()
    }
}

impl Body for Generated {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = this.remaining.min(CHUNK as u64);
        this.remaining -= n;
        Poll::Ready(Some(Ok(Frame::data(this.chunk.slice(..n as usize)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

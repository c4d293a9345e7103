//! Limits on bodies in flight: how long a client may pause while sending the request body
//! (`server.limits.body_read_timeout`), and how a request body that was cut is answered.
//!
//! The size limits themselves are counted by [`crate::body::MeteredBody`] (request bodies against
//! `server.max_request_body`, response bodies against `server.limits.max_response_body`); this
//! module adds the idle timer, which the pipeline wraps around the client's body before anything
//! else reads it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::body::{BoxError, Meter};
use crate::error::GatewayError;

/// The client paused longer than `server.limits.body_read_timeout` while sending the body.
#[derive(Debug, thiserror::Error)]
#[error("no request body data received for {0:?}")]
pub struct BodyReadTimeout(pub Duration);

pin_project_lite::pin_project! {
    /// A request body that fails with [`BodyReadTimeout`] when no frame arrives for `timeout`
    /// while it is being read. The clock only runs while the gateway is waiting for the client:
    /// time spent connecting upstream, or waiting for the upstream to take more data, does not
    /// count, because then nobody is polling the body.
    pub struct ReadTimeout<B> {
        #[pin]
        inner: B,
        timeout: Duration,
        sleep: Option<Pin<Box<Sleep>>>,
        waiting: bool,
        meter: Arc<Meter>,
    }
}

impl<B> ReadTimeout<B> {
    /// Wraps `inner`; a zero `timeout` disables the timer. The meter records a timeout so the
    /// forward phase can answer `408` instead of blaming the upstream.
    pub fn new(inner: B, timeout: Duration, meter: Arc<Meter>) -> Self {
        ReadTimeout {
            inner,
            timeout,
            sleep: None,
            waiting: false,
            meter,
        }
    }
}

impl<B> Body for ReadTimeout<B>
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
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                *this.waiting = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending if this.timeout.is_zero() => Poll::Pending,
            Poll::Pending => {
                let deadline = Instant::now() + *this.timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                // A new wait starts the clock again; a continued wait keeps its deadline.
                if !*this.waiting {
                    sleep.as_mut().reset(deadline);
                    *this.waiting = true;
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.meter.mark_timed_out();
                        Poll::Ready(Some(Err(Box::new(BodyReadTimeout(*this.timeout)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
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

/// How a request whose body was cut by the gateway is answered: `413` when it exceeded
/// `server.max_request_body`, `408` when the client stalled. `None` when the body is not the
/// reason (the failure is the upstream's).
pub fn client_body_failure(meter: &Meter, body_limit: u64) -> Option<GatewayError> {
    if meter.limit_exceeded() {
        Some(GatewayError::PayloadTooLarge { limit: body_limit })
    } else if meter.timed_out() {
        Some(GatewayError::RequestTimeout)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    #[tokio::test]
    async fn a_stalled_body_times_out_and_a_flowing_one_does_not() {
        let meter = Arc::new(Meter::default());
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(4);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let mut body = Box::pin(ReadTimeout::new(
            StreamBody::new(stream),
            Duration::from_millis(500),
            meter.clone(),
        ));
        let feeder = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                tx.send(Ok(Frame::data(Bytes::from_static(b"x"))))
                    .await
                    .unwrap();
            }
            // Then stall for longer than the timeout, keeping the channel open.
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(tx);
        });
        for _ in 0..3 {
            let frame = body.frame().await.unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), "x");
        }
        assert!(!meter.timed_out());
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(error.is::<BodyReadTimeout>());
        assert!(meter.timed_out());
        assert_eq!(
            client_body_failure(&meter, 10),
            Some(GatewayError::RequestTimeout)
        );
        feeder.abort();
    }
}

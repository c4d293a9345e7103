//! Shared test helpers: upstream servers, the proxy starter, clients, certificates, the access
//! log reader and the memory sampler.

pub(crate) mod access_log;
pub(crate) mod body;
pub(crate) mod client;
pub(crate) mod memory;
pub(crate) mod proxy;
pub(crate) mod tls;
pub(crate) mod upstream;

use std::future::Future;
use std::time::{Duration, Instant};

pub(crate) use access_log::AccessLogFile;
pub(crate) use client::{fetch, h2c_client, http1_client, request, Reply};
pub(crate) use proxy::{join_yaml, parse_config, start_proxy, ProxyExt};
pub(crate) use upstream::TestUpstream;

/// Polls `check` until it returns true; panics naming `what` after `timeout`.
///
/// Tests wait for asynchronous effects (a health check flipping, a log line being written) this
/// way instead of sleeping for a guessed duration, so they are both fast and not timing-dependent.
pub(crate) async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `check` until it returns `Ok`, and returns that value; panics naming `what` and the last
/// `Err` (a description of the state seen) after `timeout`.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) => assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; last seen:\n{last}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A loopback port with nothing listening on it (bound, then released).
pub(crate) fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

//! Integration tests of the data plane: a real proxy on ephemeral loopback ports in front of test
//! upstream servers, driven by real HTTP/1.1, HTTP/2, TLS and WebSocket clients.
//!
//! One binary for all of them, so the proxy and the helpers in [`support`] compile once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access_log;
mod balancing;
mod errors;
mod forwarding;
mod input_limits;
mod policies_auth;
mod policies_edge;
mod protocols;
mod rate_limit;
mod reload;
mod resilience;
mod routing;
mod shutdown;
mod smuggling;
mod ssrf;
mod status;
mod streaming;
mod support;
mod upstream_tls;

//! FlexGate's telemetry: metric primitives and their Prometheus encoding, the data plane's
//! metric set, process metrics, and the structured JSON access log with redaction and sampling.
//!
//! This crate has no runtime: no tokio and no sockets. The proxy serves [`metrics`] on its status
//! listener and feeds [`access_log`] from its request path; both are built so that the per-request
//! work is atomic operations (metrics) or one serialization and a channel send (access log).

pub mod access_log;
pub mod metrics;

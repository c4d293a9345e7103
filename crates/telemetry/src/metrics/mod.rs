//! Metrics: lock-free primitives, labelled families, a registry that encodes the Prometheus text
//! exposition format 0.0.4, process metrics, and [`ProxyMetrics`], the ready-made set the data
//! plane records into.
//!
//! Every metric name and its meaning is listed in `docs/metrics.md`; a test keeps that list and
//! [`ProxyMetrics`] in step.

mod family;
mod primitives;
mod process;
mod proxy;
mod rate_limit;
mod registry;
mod resilience;
mod text;

pub use family::Family;
pub use primitives::{
    Counter, FloatGauge, Gauge, Histogram, Metric, DURATION_SECONDS_BUCKETS, SIZE_BYTES_BUCKETS,
};
pub use process::ProcessCollector;
pub use proxy::{
    status_class, status_class_index, ProxyMetrics, RouteMetrics, UpstreamMetrics,
    GATEWAY_ERROR_CODES, NONE_LABEL, STATUS_CLASSES, UPSTREAM_ERROR_KINDS,
};
pub use rate_limit::{RateLimitDecisions, RateLimitMetrics};
pub use registry::{CollectedValue, Collector, Registry};
pub use resilience::{ResilienceMetrics, RouteResilience, UpstreamResilience};
pub use text::MetricType;

/// The `Content-Type` of [`Registry::encode`] output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

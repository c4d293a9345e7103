//! Integration tests of the public API: metric encoding (checked by `promtool`), the data-plane
//! metric set against `docs/metrics.md`, and the access log (redaction, sampling, writer) against
//! `docs/access-log.md`.

mod access_log;
mod docs;
mod metrics;
mod promtool;

//! Integration tests of the public resilience API, in one binary to keep link time down. Each
//! submodule covers one module of the crate; `props` holds the property tests. Time is always
//! passed explicitly, so nothing here sleeps.

mod breaker;
mod concurrency;
mod gcra;
mod keyed;
mod outlier;
mod props;
mod retry;

/// One millisecond in the crate's nanosecond timestamps.
pub const MS: u64 = 1_000_000;
/// One second in the crate's nanosecond timestamps.
pub const SEC: u64 = 1_000_000_000;

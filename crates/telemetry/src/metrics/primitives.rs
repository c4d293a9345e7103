//! The metric primitives: [`Counter`], [`Gauge`], [`FloatGauge`] and [`Histogram`], plus the
//! [`Metric`] trait that lets a family or the registry encode them.
//!
//! Every update is a handful of relaxed atomic operations: no locks, no allocation. Relaxed
//! ordering is enough because each value is independent and a scrape only needs to see some
//! recent value, not one consistent with other metrics. Handles are shared as `Arc<M>`, so the
//! proxy resolves them once and clones them cheaply.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use super::text::{write_float, write_sample, MetricType, Value};

/// Something that can be exposed as one series (one label set) of a family.
pub trait Metric: Send + Sync + 'static {
    /// The `# TYPE` of families of this metric.
    const TYPE: MetricType;

    /// Appends the sample lines of this series, named `name`, with `labels`.
    fn encode(&self, name: &str, labels: &[(&str, &str)], out: &mut String);
}

/// A monotonically increasing 64-bit count.
#[derive(Debug, Default)]
pub struct Counter {
    value: AtomicU64,
}

impl Counter {
    /// A counter at zero.
    pub fn new() -> Counter {
        Counter::default()
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.value.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

impl Metric for Counter {
    const TYPE: MetricType = MetricType::Counter;

    fn encode(&self, name: &str, labels: &[(&str, &str)], out: &mut String) {
        write_sample(out, name, "", labels, None, Value::Unsigned(self.get()));
    }
}

/// An integer value that goes up and down (in-flight requests, health flags, info metrics).
#[derive(Debug, Default)]
pub struct Gauge {
    value: AtomicI64,
}

impl Gauge {
    /// A gauge at zero.
    pub fn new() -> Gauge {
        Gauge::default()
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: i64) {
        self.value.store(v, Ordering::Relaxed);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.value.fetch_add(1, Ordering::Relaxed);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.value.fetch_sub(1, Ordering::Relaxed);
    }

    /// Adds `n` (which may be negative).
    #[inline]
    pub fn add(&self, n: i64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }
}

impl Metric for Gauge {
    const TYPE: MetricType = MetricType::Gauge;

    fn encode(&self, name: &str, labels: &[(&str, &str)], out: &mut String) {
        write_sample(out, name, "", labels, None, Value::Signed(self.get()));
    }
}

/// A floating-point gauge, for values such as Unix timestamps with sub-second precision. The
/// `f64` is stored as its bit pattern in an `AtomicU64`.
#[derive(Debug)]
pub struct FloatGauge {
    bits: AtomicU64,
}

impl Default for FloatGauge {
    fn default() -> Self {
        FloatGauge {
            bits: AtomicU64::new(0f64.to_bits()),
        }
    }
}

impl FloatGauge {
    /// A gauge at zero.
    pub fn new() -> FloatGauge {
        FloatGauge::default()
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.bits.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Adds `delta` (compare-and-swap loop, since there is no atomic float add).
    pub fn add(&self, delta: f64) {
        atomic_f64_add(&self.bits, delta);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }
}

impl Metric for FloatGauge {
    const TYPE: MetricType = MetricType::Gauge;

    fn encode(&self, name: &str, labels: &[(&str, &str)], out: &mut String) {
        write_sample(out, name, "", labels, None, Value::Float(self.get()));
    }
}

fn atomic_f64_add(bits: &AtomicU64, delta: f64) {
    // `fetch_update` retries until no other thread raced us; the closure never returns `None`,
    // so the result is always `Ok` and can be ignored.
    let _ = bits.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
        Some((f64::from_bits(old) + delta).to_bits())
    });
}

/// Request latency buckets in seconds: 1 ms to 30 s.
pub const DURATION_SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Body size buckets in bytes: 100 B to 100 MB, one per decade.
pub const SIZE_BYTES_BUCKETS: &[f64] = &[
    100.0,
    1_000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
    10_000_000.0,
    100_000_000.0,
];

/// A histogram with fixed bucket upper bounds chosen at creation.
///
/// Buckets are stored non-cumulatively (one increment per observation) and made cumulative when
/// encoded. The count is not stored separately: it is the sum of the buckets, which keeps
/// `_count` exactly equal to the `+Inf` bucket (as Prometheus requires) and saves one atomic
/// operation per observation.
#[derive(Debug)]
pub struct Histogram {
    /// Finite upper bounds, strictly increasing.
    bounds: Box<[f64]>,
    /// One counter per bound plus the final `+Inf` bucket.
    buckets: Box<[AtomicU64]>,
    /// Sum of all observations, as `f64` bits.
    sum: AtomicU64,
}

impl Histogram {
    /// A histogram with the given upper bounds. They are sorted and de-duplicated; NaN and
    /// infinite bounds are dropped (the `+Inf` bucket always exists).
    pub fn new(bounds: &[f64]) -> Histogram {
        let mut bounds: Vec<f64> = bounds.iter().copied().filter(|b| b.is_finite()).collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let buckets = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Histogram {
            bounds: bounds.into_boxed_slice(),
            buckets,
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Records one observation. NaN is ignored, since it would poison the sum forever.
    #[inline]
    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        // First bound >= v: buckets are "less than or equal" (`le`).
        let index = self.bounds.partition_point(|&b| b < v);
        if let Some(bucket) = self.buckets.get(index) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        atomic_f64_add(&self.sum, v);
    }

    /// The finite bucket upper bounds.
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// Sum of all observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }

    /// Cumulative counts per bucket: `(upper bound, observations <= bound)`, ending with
    /// `(+Inf, count)`.
    pub fn cumulative_buckets(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        self.buckets
            .iter()
            .enumerate()
            .map(|(i, bucket)| {
                total += bucket.load(Ordering::Relaxed);
                let bound = self.bounds.get(i).copied().unwrap_or(f64::INFINITY);
                (bound, total)
            })
            .collect()
    }
}

impl Metric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;

    fn encode(&self, name: &str, labels: &[(&str, &str)], out: &mut String) {
        let mut le = String::new();
        let mut total = 0;
        // Load the buckets once and derive `_count` from the same loads, so one scrape is
        // self-consistent even while observations race with it.
        for (i, bucket) in self.buckets.iter().enumerate() {
            total += bucket.load(Ordering::Relaxed);
            le.clear();
            write_float(
                &mut le,
                self.bounds.get(i).copied().unwrap_or(f64::INFINITY),
            );
            write_sample(
                out,
                name,
                "_bucket",
                labels,
                Some(("le", &le)),
                Value::Unsigned(total),
            );
        }
        write_sample(out, name, "_sum", labels, None, Value::Float(self.sum()));
        write_sample(out, name, "_count", labels, None, Value::Unsigned(total));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_and_gauges() {
        let c = Counter::new();
        c.inc();
        c.add(4);
        assert_eq!(c.get(), 5);
        let g = Gauge::new();
        g.inc();
        g.inc();
        g.dec();
        g.add(-3);
        assert_eq!(g.get(), -2);
        g.set(7);
        assert_eq!(g.get(), 7);
        let f = FloatGauge::new();
        f.set(1.5);
        f.add(0.25);
        assert_eq!(f.get(), 1.75);
    }

    #[test]
    fn histogram_buckets_are_le_and_cumulative() {
        let h = Histogram::new(&[10.0, 1.0, 5.0, 5.0, f64::INFINITY, f64::NAN]);
        assert_eq!(h.bounds(), &[1.0, 5.0, 10.0]);
        for v in [0.5, 1.0, 1.1, 5.0, 9.0, 11.0, 1e9, f64::NAN] {
            h.observe(v);
        }
        assert_eq!(
            h.cumulative_buckets(),
            vec![(1.0, 2), (5.0, 4), (10.0, 5), (f64::INFINITY, 7)]
        );
        assert_eq!(h.count(), 7);
        assert_eq!(h.sum(), 0.5 + 1.0 + 1.1 + 5.0 + 9.0 + 11.0 + 1e9);
    }

    #[test]
    fn histogram_encoding() {
        let h = Histogram::new(&[0.5, 1.0]);
        h.observe(0.25);
        h.observe(2.0);
        let mut out = String::new();
        h.encode("lat_seconds", &[("route", "a")], &mut out);
        assert_eq!(
            out,
            "lat_seconds_bucket{route=\"a\",le=\"0.5\"} 1\n\
             lat_seconds_bucket{route=\"a\",le=\"1\"} 1\n\
             lat_seconds_bucket{route=\"a\",le=\"+Inf\"} 2\n\
             lat_seconds_sum{route=\"a\"} 2.25\n\
             lat_seconds_count{route=\"a\"} 2\n"
        );
    }

    #[test]
    fn concurrent_updates_are_not_lost() {
        let c = std::sync::Arc::new(Counter::new());
        let h = std::sync::Arc::new(Histogram::new(DURATION_SECONDS_BUCKETS));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (c, h) = (c.clone(), h.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        c.inc();
                        h.observe(0.003);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.get(), 40_000);
        assert_eq!(h.count(), 40_000);
        assert!((h.sum() - 120.0).abs() < 1e-6);
    }
}

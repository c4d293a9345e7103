//! [`Registry`]: the set of metric families exposed on `/metrics`, and their encoding in the
//! Prometheus text exposition format 0.0.4.
//!
//! Registration is rare (start-up), encoding happens once per scrape; neither is on the request
//! path, so both may lock and allocate. Names are checked when registered so that a bad name is
//! a start-up failure in tests rather than a scrape that Prometheus rejects.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use super::family::Family;
use super::primitives::{Counter, FloatGauge, Gauge, Histogram, Metric};
use super::text::{is_valid_metric_name, write_header, write_sample, MetricType, Value};

/// A label-less value computed at scrape time by a [`Collector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CollectedValue {
    /// Metric name.
    pub name: &'static str,
    /// HELP text.
    pub help: &'static str,
    /// TYPE of the metric.
    pub kind: MetricType,
    /// Current value.
    pub value: f64,
}

/// A source of values read only when metrics are encoded (process statistics, for example),
/// where keeping a live metric up to date would cost more than reading on demand.
pub trait Collector: Send + Sync {
    /// Appends the current values. Values that cannot be read are simply left out.
    fn collect(&self, out: &mut Vec<CollectedValue>);
}

/// What a registered name encodes; implemented by single metrics and families.
trait Encode: Send + Sync {
    fn encode_all(&self, name: &str, out: &mut String);
}

impl<M: Metric> Encode for M {
    fn encode_all(&self, name: &str, out: &mut String) {
        self.encode(name, &[], out);
    }
}

impl<M: Metric> Encode for Family<M> {
    fn encode_all(&self, name: &str, out: &mut String) {
        self.encode(name, out);
    }
}

struct Entry {
    help: String,
    kind: MetricType,
    source: Arc<dyn Encode>,
}

/// The set of metric families exposed together.
#[derive(Default)]
pub struct Registry {
    families: RwLock<BTreeMap<String, Entry>>,
    collectors: RwLock<Vec<Box<dyn Collector>>>,
    /// Size of the previous output, to allocate the next one in one go.
    last_len: AtomicUsize,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("families", &self.names())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers a single label-less metric.
    ///
    /// # Panics
    ///
    /// If the name is invalid or already registered, if `help` is empty, or if a counter's name
    /// does not end in `_total`. Names are fixed in code, so these are programming errors.
    pub fn register<M: Metric>(&self, name: &str, help: &str, metric: Arc<M>) {
        self.insert(name, help, M::TYPE, metric);
    }

    /// Registers a labelled family.
    ///
    /// # Panics
    ///
    /// As [`Registry::register`].
    pub fn register_family<M: Metric>(&self, name: &str, help: &str, family: Arc<Family<M>>) {
        self.insert(name, help, M::TYPE, family);
    }

    /// Registers a collector whose values are read at every [`Registry::encode`]. A collected
    /// name that is also registered as a metric is skipped.
    pub fn register_collector(&self, collector: impl Collector + 'static) {
        self.collectors
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(collector));
    }

    /// Registers and returns a new counter.
    ///
    /// # Panics
    ///
    /// As [`Registry::register`].
    pub fn counter(&self, name: &str, help: &str) -> Arc<Counter> {
        let metric = Arc::new(Counter::new());
        self.register(name, help, metric.clone());
        metric
    }

    /// Registers and returns a new gauge.
    ///
    /// # Panics
    ///
    /// As [`Registry::register`].
    pub fn gauge(&self, name: &str, help: &str) -> Arc<Gauge> {
        let metric = Arc::new(Gauge::new());
        self.register(name, help, metric.clone());
        metric
    }

    /// Registers and returns a new floating-point gauge.
    ///
    /// # Panics
    ///
    /// As [`Registry::register`].
    pub fn float_gauge(&self, name: &str, help: &str) -> Arc<FloatGauge> {
        let metric = Arc::new(FloatGauge::new());
        self.register(name, help, metric.clone());
        metric
    }

    /// Registers and returns a new histogram with these bucket upper bounds.
    ///
    /// # Panics
    ///
    /// As [`Registry::register`].
    pub fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Arc<Histogram> {
        let metric = Arc::new(Histogram::new(buckets));
        self.register(name, help, metric.clone());
        metric
    }

    /// Registers and returns a new counter family.
    ///
    /// # Panics
    ///
    /// As [`Registry::register`] and [`Family::new`].
    pub fn counter_family(&self, name: &str, help: &str, labels: &[&str]) -> Arc<Family<Counter>> {
        let family = Arc::new(Family::new(labels));
        self.register_family(name, help, family.clone());
        family
    }

    /// Registers and returns a new gauge family.
    ///
    /// # Panics
    ///
    /// As [`Registry::register`] and [`Family::new`].
    pub fn gauge_family(&self, name: &str, help: &str, labels: &[&str]) -> Arc<Family<Gauge>> {
        let family = Arc::new(Family::new(labels));
        self.register_family(name, help, family.clone());
        family
    }

    /// Registers and returns a new histogram family whose series share `buckets`.
    ///
    /// # Panics
    ///
    /// As [`Registry::register`] and [`Family::histograms`].
    pub fn histogram_family(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Arc<Family<Histogram>> {
        let family = Arc::new(Family::histograms(labels, buckets));
        self.register_family(name, help, family.clone());
        family
    }

    /// Names of the registered metrics and families, sorted (collectors not included).
    pub fn names(&self) -> Vec<String> {
        self.families
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    /// Encodes everything in the Prometheus text exposition format 0.0.4
    /// (`text/plain; version=0.0.4`), families sorted by name, series sorted by label values.
    pub fn encode(&self) -> String {
        let mut collected = Vec::new();
        for collector in self
            .collectors
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            collector.collect(&mut collected);
        }

        let mut out = String::with_capacity(self.last_len.load(Ordering::Relaxed) + 256);
        {
            let families = self.families.read().unwrap_or_else(PoisonError::into_inner);
            collected.retain(|v| !families.contains_key(v.name));
            collected.sort_by(|a, b| a.name.cmp(b.name));
            collected.dedup_by(|a, b| a.name == b.name);

            // Merge the two sorted lists so the whole output is ordered by name.
            let mut pending = collected.iter().peekable();
            for (name, entry) in families.iter() {
                while let Some(value) = pending.next_if(|v| v.name < name.as_str()) {
                    encode_collected(&mut out, value);
                }
                write_header(&mut out, name, &entry.help, entry.kind);
                entry.source.encode_all(name, &mut out);
            }
            for value in pending {
                encode_collected(&mut out, value);
            }
        }
        self.last_len.store(out.len(), Ordering::Relaxed);
        out
    }

    fn insert(&self, name: &str, help: &str, kind: MetricType, source: Arc<dyn Encode>) {
        assert!(is_valid_metric_name(name), "invalid metric name `{name}`");
        assert!(!help.trim().is_empty(), "metric `{name}` needs a help text");
        if kind == MetricType::Counter {
            assert!(
                name.ends_with("_total"),
                "counter `{name}` must end in `_total`"
            );
        }
        let mut families = self
            .families
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        assert!(
            !families.contains_key(name),
            "metric `{name}` is registered twice"
        );
        families.insert(
            name.to_owned(),
            Entry {
                help: help.to_owned(),
                kind,
                source,
            },
        );
    }
}

fn encode_collected(out: &mut String, value: &CollectedValue) {
    write_header(out, value.name, value.help, value.kind);
    write_sample(out, value.name, "", &[], None, Value::Float(value.value));
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Collector for Fixed {
        fn collect(&self, out: &mut Vec<CollectedValue>) {
            out.push(CollectedValue {
                name: "m_collected",
                help: "Collected.",
                kind: MetricType::Gauge,
                value: 2.5,
            });
            out.push(CollectedValue {
                name: "a_total",
                help: "Shadowed by the registered one.",
                kind: MetricType::Counter,
                value: 99.0,
            });
        }
    }

    #[test]
    fn families_sorted_and_merged_with_collectors() {
        let r = Registry::new();
        let z = r.gauge("z_gauge", "Last.");
        let a = r.counter("a_total", "First.");
        let f = r.counter_family("b_total", "Labelled.", &["k"]);
        r.register_collector(Fixed);
        z.set(-1);
        a.add(3);
        f.get_or_create(&["v\"1"]).inc();
        assert_eq!(
            r.encode(),
            "# HELP a_total First.\n# TYPE a_total counter\na_total 3\n\
             # HELP b_total Labelled.\n# TYPE b_total counter\nb_total{k=\"v\\\"1\"} 1\n\
             # HELP m_collected Collected.\n# TYPE m_collected gauge\nm_collected 2.5\n\
             # HELP z_gauge Last.\n# TYPE z_gauge gauge\nz_gauge -1\n"
        );
        assert_eq!(r.names(), ["a_total", "b_total", "z_gauge"]);
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn duplicate_names_panic() {
        let r = Registry::new();
        r.gauge("x", "X.");
        r.gauge("x", "X again.");
    }

    #[test]
    #[should_panic(expected = "must end in `_total`")]
    fn counters_need_total_suffix() {
        Registry::new().counter("requests", "Requests.");
    }

    #[test]
    #[should_panic(expected = "needs a help text")]
    fn help_is_required() {
        Registry::new().gauge("x", " ");
    }
}

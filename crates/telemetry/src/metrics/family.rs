//! [`Family`]: one metric name with a fixed list of label names and one series per distinct list
//! of label values.
//!
//! Lookups take a read lock and compare the caller's `&[&str]` against the stored keys without
//! building an owned key, so resolving an existing series allocates nothing. The data plane
//! still resolves its series once per configuration version (see `ProxyMetrics`), so this path
//! is not per request.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

use super::primitives::{Histogram, Metric};
use super::text::is_valid_label_name;

/// A list of label values, implemented both by the owned key stored in the map and by the
/// borrowed slice a caller passes in, so the map can be queried with either (through
/// `Borrow<dyn LabelKey>`).
trait LabelKey {
    fn len(&self) -> usize;
    fn at(&self, i: usize) -> &str;
}

/// The owned key stored in the map.
struct OwnedKey(Box<[String]>);

/// A caller's label values, used only for lookups.
struct BorrowedKey<'a>(&'a [&'a str]);

impl LabelKey for OwnedKey {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn at(&self, i: usize) -> &str {
        &self.0[i]
    }
}

impl LabelKey for BorrowedKey<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn at(&self, i: usize) -> &str {
        self.0[i]
    }
}

// Hash and equality are defined once, on the trait object, so owned and borrowed keys hash
// identically, which `HashMap` requires of `Borrow`.
impl Hash for dyn LabelKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for i in 0..self.len() {
            self.at(i).hash(state);
        }
    }
}

impl PartialEq for dyn LabelKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && (0..self.len()).all(|i| self.at(i) == other.at(i))
    }
}

impl Eq for dyn LabelKey + '_ {}

impl Hash for OwnedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn LabelKey).hash(state);
    }
}

impl PartialEq for OwnedKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for OwnedKey {}

impl<'a> Borrow<dyn LabelKey + 'a> for OwnedKey {
    fn borrow(&self) -> &(dyn LabelKey + 'a) {
        self
    }
}

type Constructor<M> = Box<dyn Fn() -> M + Send + Sync>;

/// A metric family: a fixed list of label names, and one metric `M` per distinct list of label
/// values.
///
/// Label values must be bounded (route and upstream names from the configuration, status
/// classes, fixed error codes): every distinct list creates a series that lives until
/// [`Family::remove`].
pub struct Family<M> {
    label_names: Box<[String]>,
    series: RwLock<HashMap<OwnedKey, Arc<M>>>,
    make: Constructor<M>,
}

impl<M: Metric> fmt::Debug for Family<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family")
            .field("label_names", &self.label_names)
            .field("series", &self.len())
            .finish_non_exhaustive()
    }
}

impl<M: Metric + Default> Family<M> {
    /// A family of counters or gauges with these label names.
    ///
    /// # Panics
    ///
    /// If a label name is invalid (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`) or repeated.
    pub fn new(label_names: &[&str]) -> Family<M> {
        Family::with_constructor(label_names, M::default)
    }
}

impl Family<Histogram> {
    /// A family of histograms that all share these bucket upper bounds.
    ///
    /// # Panics
    ///
    /// As [`Family::new`], and also if a label is named `le` (reserved for buckets).
    pub fn histograms(label_names: &[&str], buckets: &[f64]) -> Family<Histogram> {
        assert!(
            !label_names.contains(&"le"),
            "the label name `le` is reserved for histogram buckets"
        );
        let buckets: Arc<[f64]> = buckets.into();
        Family::with_constructor(label_names, move || Histogram::new(&buckets))
    }
}

impl<M: Metric> Family<M> {
    /// A family whose series are created by `make` on first use.
    ///
    /// # Panics
    ///
    /// If a label name is invalid or repeated.
    pub fn with_constructor(
        label_names: &[&str],
        make: impl Fn() -> M + Send + Sync + 'static,
    ) -> Family<M> {
        for (i, name) in label_names.iter().enumerate() {
            assert!(is_valid_label_name(name), "invalid label name `{name}`");
            assert!(
                !label_names[..i].contains(name),
                "label name `{name}` is repeated"
            );
        }
        Family {
            label_names: label_names.iter().map(|s| (*s).to_owned()).collect(),
            series: RwLock::new(HashMap::new()),
            make: Box::new(make),
        }
    }

    /// The label names, in the order values are given.
    pub fn label_names(&self) -> &[String] {
        &self.label_names
    }

    /// The series for these label values, created (at zero) if it does not exist yet.
    ///
    /// # Panics
    ///
    /// If the number of values differs from the number of label names: that is a programming
    /// error that would otherwise produce unparseable output.
    pub fn get_or_create(&self, values: &[&str]) -> Arc<M> {
        self.check_arity(values);
        if let Some(metric) = self.get(values) {
            return metric;
        }
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        // Another thread may have created it between the two locks.
        if let Some(metric) = series.get(&BorrowedKey(values) as &dyn LabelKey) {
            return metric.clone();
        }
        let metric = Arc::new((self.make)());
        let key = OwnedKey(values.iter().map(|s| (*s).to_owned()).collect());
        series.insert(key, metric.clone());
        metric
    }

    /// The series for these label values, if it exists.
    pub fn get(&self, values: &[&str]) -> Option<Arc<M>> {
        let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
        series.get(&BorrowedKey(values) as &dyn LabelKey).cloned()
    }

    /// Removes a series so it is no longer exposed. Handles already held keep working but are
    /// no longer encoded. Returns whether the series existed.
    pub fn remove(&self, values: &[&str]) -> bool {
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        series
            .remove(&BorrowedKey(values) as &dyn LabelKey)
            .is_some()
    }

    /// Removes every series for which `keep` returns false.
    pub fn retain(&self, mut keep: impl FnMut(&[String]) -> bool) {
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        series.retain(|key, _| keep(&key.0));
    }

    /// Removes every series.
    pub fn clear(&self) {
        self.series
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the family has no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends every series, sorted by label values so the output is stable between scrapes.
    pub(crate) fn encode(&self, name: &str, out: &mut String) {
        // Snapshot the series under the lock, then encode without it, so a scrape never holds
        // up a writer for longer than a copy of the map.
        let mut series: Vec<(Box<[String]>, Arc<M>)> = {
            let map = self.series.read().unwrap_or_else(PoisonError::into_inner);
            map.iter()
                .map(|(key, metric)| (key.0.clone(), metric.clone()))
                .collect()
        };
        series.sort_by(|a, b| a.0.cmp(&b.0));
        let mut labels: Vec<(&str, &str)> = Vec::with_capacity(self.label_names.len());
        for (values, metric) in &series {
            labels.clear();
            labels.extend(
                self.label_names
                    .iter()
                    .map(String::as_str)
                    .zip(values.iter().map(String::as_str)),
            );
            metric.encode(name, &labels, out);
        }
    }

    fn check_arity(&self, values: &[&str]) {
        assert_eq!(
            values.len(),
            self.label_names.len(),
            "expected values for the labels {:?}, got {values:?}",
            self.label_names
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Counter, Gauge};

    #[test]
    fn same_values_same_series() {
        let f: Family<Counter> = Family::new(&["route", "status_class"]);
        let a = f.get_or_create(&["r", "2xx"]);
        let b = f.get_or_create(&["r", "2xx"]);
        assert!(Arc::ptr_eq(&a, &b));
        let c = f.get_or_create(&["r", "5xx"]);
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn boundaries_between_values_matter() {
        // ["ab", "c"] and ["a", "bc"] must be different series.
        let f: Family<Counter> = Family::new(&["x", "y"]);
        let a = f.get_or_create(&["ab", "c"]);
        let b = f.get_or_create(&["a", "bc"]);
        assert!(!Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn remove_and_retain() {
        let f: Family<Gauge> = Family::new(&["target"]);
        f.get_or_create(&["a"]).set(1);
        f.get_or_create(&["b"]).set(1);
        f.get_or_create(&["c"]).set(1);
        assert!(f.remove(&["a"]));
        assert!(!f.remove(&["a"]));
        f.retain(|values| values[0] != "b");
        assert!(f.get(&["b"]).is_none());
        assert!(f.get(&["c"]).is_some());
        f.clear();
        assert!(f.is_empty());
    }

    #[test]
    fn encode_is_sorted() {
        let f: Family<Counter> = Family::new(&["route"]);
        f.get_or_create(&["zeta"]).inc();
        f.get_or_create(&["alpha"]).add(2);
        let mut out = String::new();
        f.encode("x_total", &mut out);
        assert_eq!(
            out,
            "x_total{route=\"alpha\"} 2\nx_total{route=\"zeta\"} 1\n"
        );
    }

    #[test]
    #[should_panic(expected = "expected values for the labels")]
    fn wrong_arity_panics() {
        let f: Family<Counter> = Family::new(&["a", "b"]);
        f.get_or_create(&["only-one"]);
    }

    #[test]
    #[should_panic(expected = "reserved")]
    fn le_is_reserved_for_histograms() {
        let _ = Family::histograms(&["le"], &[1.0]);
    }
}

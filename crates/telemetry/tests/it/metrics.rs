//! The metrics API as the proxy uses it: families, registry encoding, escaping and histograms.

use std::sync::Arc;

use flexgate_telemetry::metrics::{
    Counter, Family, Gauge, Histogram, Registry, CONTENT_TYPE, DURATION_SECONDS_BUCKETS,
};
use proptest::prelude::*;

#[test]
fn registry_output_is_stable_and_sorted() {
    let r = Registry::new();
    let f = r.counter_family("b_requests_total", "Requests.", &["route"]);
    let h = r.histogram("a_latency_seconds", "Latency.", &[0.1, 1.0]);
    for route in ["zeta", "alpha", "mid"] {
        f.get_or_create(&[route]).inc();
    }
    h.observe(0.05);
    let first = r.encode();
    assert_eq!(first, r.encode(), "two scrapes of an idle registry differ");
    assert_eq!(
        first,
        "# HELP a_latency_seconds Latency.\n\
         # TYPE a_latency_seconds histogram\n\
         a_latency_seconds_bucket{le=\"0.1\"} 1\n\
         a_latency_seconds_bucket{le=\"1\"} 1\n\
         a_latency_seconds_bucket{le=\"+Inf\"} 1\n\
         a_latency_seconds_sum 0.05\n\
         a_latency_seconds_count 1\n\
         # HELP b_requests_total Requests.\n\
         # TYPE b_requests_total counter\n\
         b_requests_total{route=\"alpha\"} 1\n\
         b_requests_total{route=\"mid\"} 1\n\
         b_requests_total{route=\"zeta\"} 1\n"
    );
    assert!(CONTENT_TYPE.starts_with("text/plain; version=0.0.4"));
}

#[test]
fn handles_are_shared_across_threads() {
    let family: Arc<Family<Counter>> = Arc::new(Family::new(&["k"]));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let family = family.clone();
            std::thread::spawn(move || {
                let handle = family.get_or_create(&["same"]);
                for _ in 0..1000 {
                    handle.inc();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(family.len(), 1);
    assert_eq!(family.get(&["same"]).unwrap().get(), 4000);
}

#[test]
fn removed_series_are_not_encoded() {
    let r = Registry::new();
    let g = r.gauge_family("healthy", "Health.", &["target"]);
    let kept = g.get_or_create(&["a"]);
    g.get_or_create(&["b"]).set(1);
    assert!(g.remove(&["b"]));
    kept.set(1);
    assert_eq!(
        r.encode(),
        "# HELP healthy Health.\n# TYPE healthy gauge\nhealthy{target=\"a\"} 1\n"
    );
}

#[test]
fn custom_histogram_family() {
    let f: Family<Histogram> = Family::histograms(&["upstream"], DURATION_SECONDS_BUCKETS);
    let h = f.get_or_create(&["u"]);
    h.observe(0.0015);
    assert_eq!(h.bounds(), DURATION_SECONDS_BUCKETS);
    assert_eq!(h.cumulative_buckets()[1], (0.002, 1));
    let g: Family<Gauge> = Family::with_constructor(&["x"], Gauge::new);
    assert!(g.is_empty());
}

/// Reads back the value of the single label in a line such as `m{k="..."} 1`.
fn unescape_single_label(line: &str) -> String {
    let start = line.find("=\"").expect("a label") + 2;
    let mut out = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next().expect("an escaped character") {
                'n' => out.push('\n'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    out
}

proptest! {
    #[test]
    fn label_values_round_trip(value in "\\PC*|[\"\\\\\n]{0,8}") {
        let r = Registry::new();
        r.counter_family("x_total", "X.", &["k"]).get_or_create(&[&value]).inc();
        let text = r.encode();
        let sample = text.lines().find(|l| l.starts_with("x_total{")).unwrap();
        // One line per sample: a raw newline in a value would break the format.
        prop_assert_eq!(text.lines().count(), 3);
        prop_assert_eq!(unescape_single_label(sample), value);
    }

    #[test]
    fn histogram_buckets_are_cumulative(values in proptest::collection::vec(-1.0f64..100.0, 0..200)) {
        let h = Histogram::new(&[0.0, 1.0, 10.0, 50.0]);
        for v in &values {
            h.observe(*v);
        }
        let buckets = h.cumulative_buckets();
        prop_assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1));
        prop_assert_eq!(buckets.last().unwrap().1, values.len() as u64);
        prop_assert_eq!(h.count(), values.len() as u64);
        for (bound, count) in buckets {
            let expected = values.iter().filter(|v| **v <= bound).count() as u64;
            prop_assert_eq!(count, expected);
        }
    }
}

//! Low-level writers for the Prometheus text exposition format 0.0.4: names, escaped label
//! values, HELP text and sample values. Everything that decides how bytes look on `/metrics`
//! lives here so the escaping rules are written once.

use std::fmt::Write as _;

/// Which `# TYPE` a family is exposed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// A monotonically increasing count; its name must end in `_total`.
    Counter,
    /// A value that can go up and down.
    Gauge,
    /// Observations counted into cumulative buckets, with `_sum` and `_count`.
    Histogram,
}

impl MetricType {
    /// The word used on the `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

/// Writes the `# HELP` and `# TYPE` lines of a family.
pub(crate) fn write_header(out: &mut String, name: &str, help: &str, kind: MetricType) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    // HELP text escapes only backslash and newline; quotes are legal there.
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind.as_str());
    out.push('\n');
}

/// Writes one sample line: `name{labels} value`. `extra` is appended after `labels` (the `le`
/// label of histogram buckets) so callers need not build a new label list per bucket.
pub(crate) fn write_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(&str, &str)],
    extra: Option<(&str, &str)>,
    value: Value,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let mut first = true;
        for (label, value) in labels.iter().copied().chain(extra) {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(label);
            out.push_str("=\"");
            escape_label_value(out, value);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    value.write(out);
    out.push('\n');
}

/// Appends a label value with `\`, `"` and newline escaped, as the format requires.
pub(crate) fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A sample value. Integers are kept apart from floats so counters print exactly, without a
/// round trip through `f64` that would lose precision above 2^53.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

impl Value {
    fn write(self, out: &mut String) {
        // Writing into a String cannot fail; the results are ignored rather than unwrapped.
        match self {
            Value::Unsigned(v) => {
                let _ = write!(out, "{v}");
            }
            Value::Signed(v) => {
                let _ = write!(out, "{v}");
            }
            Value::Float(v) => write_float(out, v),
        }
    }
}

/// Formats a float the way Prometheus parses it: `+Inf`, `-Inf`, `NaN`, otherwise Rust's shortest
/// round-trip representation (which never uses an exponent, and Prometheus accepts that).
pub(crate) fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Whether `name` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub(crate) fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `name` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with the
/// reserved `__`).
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        escape_label_value(&mut out, "a\\b\"c\nd");
        assert_eq!(out, "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn help_escapes_backslash_and_newline_only() {
        let mut out = String::new();
        write_header(&mut out, "x_total", "a \"q\" \\ \n", MetricType::Counter);
        assert_eq!(
            out,
            "# HELP x_total a \"q\" \\\\ \\n\n# TYPE x_total counter\n"
        );
    }

    #[test]
    fn floats_use_prometheus_spelling() {
        let cases = [
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (1.0, "1"),
            (0.25, "0.25"),
            (1e-3, "0.001"),
        ];
        for (v, want) in cases {
            let mut out = String::new();
            write_float(&mut out, v);
            assert_eq!(out, want);
        }
    }

    #[test]
    fn samples_with_and_without_labels() {
        let mut out = String::new();
        write_sample(&mut out, "m", "", &[], None, Value::Signed(-3));
        write_sample(
            &mut out,
            "h",
            "_bucket",
            &[("route", "r")],
            Some(("le", "+Inf")),
            Value::Unsigned(7),
        );
        assert_eq!(out, "m -3\nh_bucket{route=\"r\",le=\"+Inf\"} 7\n");
    }

    #[test]
    fn name_validation() {
        assert!(is_valid_metric_name("flexgate_http_requests_total"));
        assert!(is_valid_metric_name("a:b"));
        assert!(!is_valid_metric_name("1abc"));
        assert!(!is_valid_metric_name("a-b"));
        assert!(!is_valid_metric_name(""));
        assert!(is_valid_label_name("status_class"));
        assert!(!is_valid_label_name("__name__"));
        assert!(!is_valid_label_name("a:b"));
    }
}

//! The reference pages stay complete: every metric family and every access-log field is
//! documented, and the pages name nothing that does not exist.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::time::SystemTime;

use flexgate_telemetry::access_log::AccessRecord;
use flexgate_telemetry::metrics::ProxyMetrics;

const METRICS_DOC: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/metrics.md"
));
const ACCESS_LOG_DOC: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/access-log.md"
));

/// Names of the families in an encoded registry, from its `# TYPE` lines.
fn encoded_families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .map(str::to_owned)
        .collect()
}

/// Inline-code spans (`like_this`) of a Markdown page.
fn code_spans(doc: &str) -> BTreeSet<String> {
    doc.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// First-column code spans of table rows (`| \`name\` | ...`).
fn table_keys(doc: &str) -> BTreeSet<String> {
    doc.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_metric_family_is_documented() {
    let families = encoded_families(&ProxyMetrics::new().encode());
    assert!(families.contains("flexgate_http_requests_total"));
    let documented = table_keys(METRICS_DOC);
    let missing: Vec<_> = families.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "docs/metrics.md lacks a table row for {missing:?}"
    );
}

#[test]
fn metrics_doc_names_only_existing_families() {
    let families = encoded_families(&ProxyMetrics::new().encode());
    let stale: Vec<_> = code_spans(METRICS_DOC)
        .into_iter()
        .filter(|s| s.starts_with("flexgate_") || s.starts_with("process_"))
        .filter(|s| !families.contains(s))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/metrics.md names metrics that do not exist: {stale:?}"
    );
}

fn full_record<'a>(headers: &'a [(&'a str, Cow<'a, str>)]) -> AccessRecord<'a> {
    AccessRecord {
        timestamp: SystemTime::now(),
        correlation_id: "c",
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        listener: "public",
        route: Some("r"),
        upstream: Some("u"),
        target: Some("http://10.0.0.1:80"),
        method: "GET",
        path: "/",
        protocol: "HTTP/2",
        host: "h",
        status: 500,
        duration_ms: 1.0,
        upstream_duration_ms: Some(1.0),
        bytes_in: 1,
        bytes_out: 2,
        client_addr: "192.0.2.1:1",
        error_kind: Some("upstream_timeout"),
        request_headers: headers,
        config_version: "v1",
        sample_rate: 1.0,
    }
}

#[test]
fn every_access_log_field_is_documented_and_vice_versa() {
    let headers = [("user-agent", Cow::Borrowed("x"))];
    let value = serde_json::to_value(full_record(&headers)).unwrap();
    let fields: BTreeSet<String> = value.as_object().unwrap().keys().cloned().collect();
    let documented = table_keys(ACCESS_LOG_DOC);
    let missing: Vec<_> = fields.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "docs/access-log.md lacks a table row for {missing:?}"
    );
    // The field table is the part of the page between "## Fields" and the next section.
    let table = ACCESS_LOG_DOC
        .split("## Fields")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap();
    let stale: Vec<_> = table_keys(table)
        .into_iter()
        .filter(|k| !fields.contains(k))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/access-log.md documents fields that are never written: {stale:?}"
    );
}

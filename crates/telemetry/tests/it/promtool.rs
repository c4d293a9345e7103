//! `promtool check metrics` on the encoded output of a populated `ProxyMetrics`: the format
//! Prometheus itself parses and lints, including escaping of awkward label values.

use std::io::Write;
use std::process::{Command, Stdio};

use flexgate_telemetry::metrics::ProxyMetrics;

fn populated() -> ProxyMetrics {
    let m = ProxyMetrics::new();
    // Label values that need escaping: quote, backslash, newline, and non-ASCII.
    let awkward = m.route("we\"ird\\route\nname", "up\\stream \"x\"");
    awkward.record_response(200, 3.2, 120, 4096);
    awkward.record_response(502, 30_500.0, 0, 0);
    let users = m.route("users", "users-svc");
    for (status, ms) in [(200, 1.0), (201, 7.5), (304, 0.2), (404, 2.0), (503, 900.0)] {
        users.record_response(status, ms, 10, 2_000_000);
    }
    m.unrouted().record_response(404, 0.1, 0, 60);
    let upstream = m.upstream("users-svc");
    upstream.record(Some(200), 0.9);
    upstream.record(None, 5000.0);
    upstream.error("timeout");
    upstream.error("connect");
    upstream.target_health("http://10.0.0.1:8080", true);
    upstream.target_health("http://[::1]:8080/\"quoted\"", false);
    m.upstream("caf\u{e9}").record(Some(500), 12.0);
    m.in_flight_inc();
    m.gateway_error("route_not_found");
    m.gateway_error("upstream_timeout");
    m.config_info("v1", "0123abcd");
    m.config_info("v2 \"next\"", "4567ef");
    m.config_reload(true, std::time::SystemTime::now());
    m.config_reload(false, std::time::SystemTime::now());
    m.access_log_dropped().add(2);
    m
}

#[test]
fn promtool_accepts_encoded_metrics() {
    let text = populated().encode();
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not installed; install the `prometheus` Debian package \
             (`apt-get install prometheus`), which provides it"
        ),
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("write metrics to promtool");
    let output = child.wait_with_output().expect("wait for promtool");
    assert!(
        output.status.success(),
        "promtool check metrics failed ({}):\nstdout: {}\nstderr: {}\ninput:\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    // The escaped values made it into the output intact.
    assert!(text.contains(r#"route="we\"ird\\route\nname""#));
    assert!(text.contains(r#"upstream="up\\stream \"x\"""#));
}

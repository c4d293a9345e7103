//! The access log as the proxy uses it: redaction, sampling, and the background writer.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flexgate_config::{AccessLog, Redaction, Sampling};
use flexgate_telemetry::access_log::{AccessLogger, AccessRecord, Redactor, Sampler};
use flexgate_telemetry::metrics::Counter;
use proptest::prelude::*;

fn redactor() -> Redactor {
    Redactor::new(&Redaction {
        headers: vec!["X-Api-Key".into()],
        query_params: vec!["Signature".into()],
    })
}

#[test]
fn sensitive_headers_are_redacted() {
    let r = redactor();
    for name in [
        "Authorization",
        "authorization",
        "Proxy-Authorization",
        "Cookie",
        "SET-COOKIE",
        "x-api-key",
        "X-API-KEY",
    ] {
        assert_eq!(r.header_value(name, "secret-value"), "[REDACTED]", "{name}");
    }
    for name in ["user-agent", "accept", "x-api-keys", "cookie2"] {
        assert_eq!(r.header_value(name, "visible"), "visible", "{name}");
    }
    // Without configuration only the built-in names are masked.
    assert_eq!(Redactor::default().header_value("x-api-key", "k"), "k");
}

#[test]
fn sensitive_query_params_are_redacted_and_others_kept() {
    let r = redactor();
    let cases = [
        ("/p?token=abc", "/p?token=[REDACTED]"),
        (
            "/p?page=2&api_key=k1&sort=asc",
            "/p?page=2&api_key=[REDACTED]&sort=asc",
        ),
        (
            "/login?user=bob&password=hunter2",
            "/login?user=bob&password=[REDACTED]",
        ),
        ("/p?signature=s1&x=1", "/p?signature=[REDACTED]&x=1"),
        (
            "/p?TOKEN=a&Access_Token=b",
            "/p?TOKEN=[REDACTED]&Access_Token=[REDACTED]",
        ),
        (
            "/p?api%5Fkey=k&apikey=k2",
            "/p?api%5Fkey=[REDACTED]&apikey=[REDACTED]",
        ),
        (
            "/p?secret=1&client_secret=2",
            "/p?secret=[REDACTED]&client_secret=[REDACTED]",
        ),
        // Names that merely contain a sensitive word are not masked.
        ("/p?tokenizer=x&my_token=y", "/p?tokenizer=x&my_token=y"),
        // Empty values, bare names and repeated separators are kept as they are.
        ("/p?token=&token&&a=1", "/p?token=&token&&a=1"),
        ("/p?a=1&token=x=y", "/p?a=1&token=[REDACTED]"),
        ("/p/token=abc", "/p/token=abc"),
    ];
    for (input, expected) in cases {
        assert_eq!(r.path_and_query(input), expected, "{input}");
    }
    assert!(matches!(r.path_and_query("/p?page=2"), Cow::Borrowed(_)));
}

fn sampling(rate: f64) -> Sampling {
    Sampling {
        success_rate: rate,
        slow_threshold: flexgate_config::Duration::from_millis(500),
    }
}

#[test]
fn success_rate_is_respected() {
    let fast = Duration::from_millis(3);
    for (rate, seed) in [(0.1, 1), (0.5, 2), (0.01, 3)] {
        let sampler = Sampler::with_seed(&sampling(rate), seed);
        let decisions: Vec<_> = (0..10_000)
            .map(|_| sampler.decide(200, fast, false))
            .collect();
        let logged = decisions.iter().filter(|d| d.is_some()).count();
        let share = logged as f64 / 10_000.0;
        // Four standard deviations of a binomial proportion over 10 000 draws.
        let tolerance = 4.0 * (rate * (1.0 - rate) / 10_000.0).sqrt();
        assert!(
            (share - rate).abs() <= tolerance,
            "rate {rate}: logged {share}, tolerance {tolerance}"
        );
        assert!(decisions.iter().flatten().all(|r| *r == rate));
    }
}

#[test]
fn errors_and_slow_requests_are_always_logged() {
    let never = Sampler::with_seed(&sampling(0.0), 7);
    let fast = Duration::from_millis(1);
    assert_eq!(never.decide(200, fast, false), None);
    assert_eq!(never.decide(302, fast, false), None);
    assert_eq!(never.decide(404, fast, false), Some(1.0));
    assert_eq!(never.decide(429, fast, false), Some(1.0));
    assert_eq!(never.decide(500, fast, false), Some(1.0));
    assert_eq!(never.decide(503, fast, false), Some(1.0));
    assert_eq!(never.decide(200, fast, true), Some(1.0));
    assert_eq!(
        never.decide(200, Duration::from_millis(500), false),
        Some(1.0)
    );
    assert_eq!(never.decide(200, Duration::from_secs(3), false), Some(1.0));
    assert_eq!(never.decide(200, Duration::from_millis(499), false), None);
}

#[test]
fn unseeded_sampler_samples_too() {
    let sampler = Sampler::new(&sampling(0.5));
    let logged = (0..2000)
        .filter(|_| sampler.decide(200, Duration::ZERO, false).is_some())
        .count();
    assert!((700..1300).contains(&logged), "{logged}");
}

fn record<'a>(
    id: &'a str,
    status: u16,
    headers: &'a [(&'a str, Cow<'a, str>)],
) -> AccessRecord<'a> {
    AccessRecord {
        timestamp: UNIX_EPOCH + Duration::from_millis(1_709_215_509_042),
        correlation_id: id,
        traceparent: None,
        listener: "public",
        route: Some("users"),
        upstream: Some("users-svc"),
        target: Some("http://10.0.0.7:8080"),
        method: "GET",
        path: "/api/users?token=[REDACTED]",
        protocol: "HTTP/1.1",
        host: "api.example.com",
        status,
        duration_ms: 12.345_678,
        upstream_duration_ms: Some(11.9),
        bytes_in: 0,
        bytes_out: 5120,
        client_addr: "[2001:db8::1]:53122",
        error_kind: None,
        request_headers: headers,
        config_version: "v42",
        sample_rate: 0.1,
    }
}

#[test]
fn memory_logger_writes_one_json_line_per_record() {
    let (logger, sink) = AccessLogger::to_memory();
    assert!(logger.is_enabled());
    let r = redactor();
    let headers = [
        ("user-agent", r.header_value("user-agent", "curl/8.5.0")),
        (
            "authorization",
            r.header_value("authorization", "Bearer abc"),
        ),
    ];
    logger.log(&record("a", 200, &headers));
    logger.log(&record("b", 404, &[]));
    logger.log(&record("c", 502, &[]));
    logger.flush();
    let lines = sink.lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let records = sink.records();
    assert_eq!(records[0]["timestamp"], "2024-02-29T14:05:09.042Z");
    assert_eq!(records[0]["type"], "access");
    assert_eq!(records[0]["level"], "info");
    assert_eq!(records[0]["duration_ms"], 12.346);
    assert_eq!(records[0]["request_headers"]["user-agent"], "curl/8.5.0");
    assert_eq!(records[0]["request_headers"]["authorization"], "[REDACTED]");
    assert_eq!(records[0]["client_addr"], "[2001:db8::1]:53122");
    assert_eq!(records[1]["level"], "warn");
    assert!(records[1].get("request_headers").is_none());
    assert!(records[1].get("traceparent").is_none());
    assert_eq!(records[2]["level"], "error");
    assert_eq!(records[2]["correlation_id"], "c");
    assert!(!lines[0].contains("Bearer"));
    assert_eq!(logger.written(), 3);
    assert_eq!(logger.dropped(), 0);
}

#[test]
fn dropping_the_logger_writes_queued_lines() {
    let (logger, sink) = AccessLogger::to_memory();
    for i in 0..500 {
        logger.log(&record(&i.to_string(), 200, &[]));
    }
    drop(logger);
    assert_eq!(sink.lines().len(), 500);
}

/// An output that blocks every write until the test releases it, to fill the queue.
struct Gate(mpsc::Receiver<()>);

impl Write for Gate {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.0.recv();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn full_queue_drops_and_counts() {
    let (open, gate) = mpsc::channel();
    let logger = AccessLogger::with_capacity(Gate(gate), 2).unwrap();
    let counter = Arc::new(Counter::new());
    logger.set_dropped_counter(counter.clone());
    // Lines are a few hundred bytes, smaller than the writer's buffer, so the gate is first hit
    // at a flush; until then at most the queue's two lines plus those the writer took are kept.
    for i in 0..100 {
        logger.log(&record(&i.to_string(), 200, &[]));
    }
    let dropped = logger.dropped();
    assert!(dropped >= 90, "only {dropped} dropped");
    assert_eq!(counter.get(), dropped);
    // Open the gate for good, then check nothing was lost beyond the counted drops.
    drop(open);
    logger.flush();
    assert_eq!(logger.written() + logger.dropped(), 100);
}

#[test]
fn drops_before_wiring_the_counter_are_carried_over() {
    let (open, gate) = mpsc::channel();
    let logger = AccessLogger::with_capacity(Gate(gate), 1).unwrap();
    for i in 0..20 {
        logger.log(&record(&i.to_string(), 200, &[]));
    }
    let counter = Arc::new(Counter::new());
    logger.set_dropped_counter(counter.clone());
    assert!(logger.dropped() > 0);
    assert_eq!(counter.get(), logger.dropped());
    // Closing the gate lets every remaining write through, so the logger can shut down.
    drop(open);
    drop(logger);
}

#[test]
fn disabled_logger_discards() {
    let config = AccessLog {
        enabled: false,
        ..AccessLog::default()
    };
    let logger = AccessLogger::new(&config).unwrap();
    assert!(!logger.is_enabled());
    logger.log(&record("x", 200, &[]));
    logger.flush();
    assert_eq!(logger.written(), 0);
    assert_eq!(logger.dropped(), 0);
}

#[test]
fn file_output_appends() {
    let path = std::env::temp_dir().join(format!(
        "flexgate-access-{}-{}.log",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::write(&path, "existing line\n").unwrap();
    let config = AccessLog {
        output: path.to_string_lossy().into_owned(),
        ..AccessLog::default()
    };
    {
        let logger = AccessLogger::new(&config).unwrap();
        logger.log(&record("one", 200, &[]));
        logger.flush();
        // Flushed lines are on disk before the logger goes away.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        logger.log(&record("two", 200, &[]));
    }
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines[0], "existing line");
    assert!(lines[1].contains("\"correlation_id\":\"one\""));
    assert!(lines[2].contains("\"correlation_id\":\"two\""));
}

#[test]
fn unwritable_file_is_an_error() {
    let config = AccessLog {
        output: "/nonexistent-dir/for/sure/access.log".into(),
        ..AccessLog::default()
    };
    assert!(AccessLogger::new(&config).is_err());
}

proptest! {
    #[test]
    fn paths_without_sensitive_params_are_untouched(
        path in "/[a-z0-9/]{0,20}",
        params in proptest::collection::vec(("[a-z]{1,8}", "[a-zA-Z0-9%+]{0,8}"), 0..6),
    ) {
        let r = Redactor::default();
        let sensitive = ["token", "access_token", "api_key", "apikey", "password", "secret", "client_secret"];
        let query: Vec<String> = params
            .iter()
            .filter(|(name, _)| !sensitive.contains(&name.as_str()))
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let pq = format!("{path}?{}", query.join("&"));
        prop_assert!(matches!(r.path_and_query(&pq), Cow::Borrowed(s) if s == pq));
    }

    #[test]
    fn sensitive_values_never_survive(
        before in "[a-z]{1,5}=[a-z0-9]{0,5}",
        secret in "[A-Z0-9]{12,20}",
        after in "[a-z]{1,5}=[a-z0-9]{0,5}",
        name in prop::sample::select(vec!["token", "Password", "API_KEY", "client%5Fsecret"]),
    ) {
        let r = Redactor::default();
        let pq = format!("/x?{before}&{name}={secret}&{after}");
        let out = r.path_and_query(&pq);
        prop_assert!(!out.contains(&secret));
        prop_assert_eq!(out.into_owned(), format!("/x?{before}&{name}=[REDACTED]&{after}"));
    }
}

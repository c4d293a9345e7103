//! [`AccessRecord`]: the fields of one access-log line, borrowed from the request being logged,
//! and its JSON shape (documented field by field in `docs/access-log.md`).
//!
//! The record only borrows, so building one allocates nothing; the single allocation per logged
//! request is the serialized line. `level` and `type` are not fields the caller sets: they are
//! derived while serializing, so a line can never claim `info` for a 502.

use std::borrow::Cow;
use std::time::SystemTime;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::timestamp;

/// One request as written to the access log. Absent optional fields are left out of the line.
///
/// Secrets must already be masked: pass `path` through [`super::Redactor::path_and_query`] and
/// header values through [`super::Redactor::header_value`].
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(into = "AccessLine<'a>")]
pub struct AccessRecord<'a> {
    /// When the request head was received.
    pub timestamp: SystemTime,
    /// The request's correlation id (received or generated).
    pub correlation_id: &'a str,
    /// The W3C `traceparent` sent upstream, if any.
    pub traceparent: Option<&'a str>,
    /// Name of the listener that accepted the connection.
    pub listener: &'a str,
    /// Name of the matched route; `None` when no route matched.
    pub route: Option<&'a str>,
    /// Name of the upstream the route points at.
    pub upstream: Option<&'a str>,
    /// URL of the upstream target that was tried, if one was chosen.
    pub target: Option<&'a str>,
    /// Request method.
    pub method: &'a str,
    /// Path and query as received, with sensitive query values redacted.
    pub path: &'a str,
    /// HTTP version spoken with the client (`HTTP/1.1`, `HTTP/2`, ...).
    pub protocol: &'a str,
    /// Host the client addressed (without port), or empty.
    pub host: &'a str,
    /// Status sent to the client.
    pub status: u16,
    /// Total time from the request head to the end of the response, in milliseconds.
    pub duration_ms: f64,
    /// Time from sending upstream to the upstream's response head, in milliseconds.
    pub upstream_duration_ms: Option<f64>,
    /// Request body bytes received from the client.
    pub bytes_in: u64,
    /// Response body bytes sent to the client.
    pub bytes_out: u64,
    /// Client socket address (`ip:port`).
    pub client_addr: &'a str,
    /// Stable error code when the gateway failed the request or the response was cut short.
    pub error_kind: Option<&'a str>,
    /// The configured `include_headers` present on the request, values redacted. Left out of
    /// the line when empty.
    pub request_headers: &'a [(&'a str, Cow<'a, str>)],
    /// Version of the configuration that served the request.
    pub config_version: &'a str,
    /// Sampling rate that applied to this line (1.0 for always-logged requests).
    pub sample_rate: f64,
}

/// Severity of an access-log line, derived from the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Status below 400.
    Info,
    /// Status 400–499.
    Warn,
    /// Status 500 and above.
    Error,
}

impl Level {
    /// The level of a line for a response with this status.
    pub fn for_status(status: u16) -> Level {
        match status {
            0..=399 => Level::Info,
            400..=499 => Level::Warn,
            _ => Level::Error,
        }
    }
}

/// The serialized shape: the record plus the derived `level` and `type`. Field order here is the
/// order in the JSON line.
#[derive(Serialize)]
struct AccessLine<'a> {
    #[serde(serialize_with = "timestamp::serialize")]
    timestamp: SystemTime,
    level: Level,
    #[serde(rename = "type")]
    kind: &'static str,
    correlation_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<&'a str>,
    listener: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    method: &'a str,
    path: &'a str,
    protocol: &'a str,
    host: &'a str,
    status: u16,
    #[serde(serialize_with = "millis")]
    duration_ms: f64,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_millis"
    )]
    upstream_duration_ms: Option<f64>,
    bytes_in: u64,
    bytes_out: u64,
    client_addr: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_kind: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty", serialize_with = "headers")]
    request_headers: &'a [(&'a str, Cow<'a, str>)],
    config_version: &'a str,
    sample_rate: f64,
}

impl<'a> From<AccessRecord<'a>> for AccessLine<'a> {
    fn from(r: AccessRecord<'a>) -> Self {
        AccessLine {
            timestamp: r.timestamp,
            level: Level::for_status(r.status),
            kind: "access",
            correlation_id: r.correlation_id,
            traceparent: r.traceparent,
            listener: r.listener,
            route: r.route,
            upstream: r.upstream,
            target: r.target,
            method: r.method,
            path: r.path,
            protocol: r.protocol,
            host: r.host,
            status: r.status,
            duration_ms: r.duration_ms,
            upstream_duration_ms: r.upstream_duration_ms,
            bytes_in: r.bytes_in,
            bytes_out: r.bytes_out,
            client_addr: r.client_addr,
            error_kind: r.error_kind,
            request_headers: r.request_headers,
            config_version: r.config_version,
            sample_rate: r.sample_rate,
        }
    }
}

/// Durations are kept to microsecond precision: more digits are noise from float arithmetic and
/// only make lines longer.
fn round_micros(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

fn millis<S: Serializer>(ms: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round_micros(*ms))
}

fn optional_millis<S: Serializer>(ms: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_f64(round_micros(*ms)),
        None => s.serialize_none(),
    }
}

/// Header pairs become a JSON object (`{"user-agent": "curl/8.5"}`).
fn headers<S: Serializer>(pairs: &&[(&str, Cow<'_, str>)], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(pairs.len()))?;
    for (name, value) in pairs.iter() {
        map.serialize_entry(name, value)?;
    }
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn record<'a>(headers: &'a [(&'a str, Cow<'a, str>)]) -> AccessRecord<'a> {
        AccessRecord {
            timestamp: UNIX_EPOCH + Duration::from_millis(1_709_215_509_042),
            correlation_id: "c-1",
            traceparent: None,
            listener: "public",
            route: None,
            upstream: None,
            target: None,
            method: "GET",
            path: "/nowhere",
            protocol: "HTTP/1.1",
            host: "example.com",
            status: 404,
            duration_ms: 0.123_456_7,
            upstream_duration_ms: None,
            bytes_in: 0,
            bytes_out: 57,
            client_addr: "192.0.2.1:5000",
            error_kind: Some("route_not_found"),
            request_headers: headers,
            config_version: "v7",
            sample_rate: 1.0,
        }
    }

    #[test]
    fn minimal_line_leaves_out_absent_fields() {
        let line = serde_json::to_string(&record(&[])).unwrap();
        assert_eq!(
            line,
            r#"{"timestamp":"2024-02-29T14:05:09.042Z","level":"warn","type":"access","correlation_id":"c-1","listener":"public","method":"GET","path":"/nowhere","protocol":"HTTP/1.1","host":"example.com","status":404,"duration_ms":0.123,"bytes_in":0,"bytes_out":57,"client_addr":"192.0.2.1:5000","error_kind":"route_not_found","config_version":"v7","sample_rate":1.0}"#
        );
    }

    #[test]
    fn headers_are_an_object_and_level_follows_status() {
        let headers = [
            ("user-agent", Cow::Borrowed("curl/8")),
            ("x-api-key", Cow::Borrowed("[REDACTED]")),
        ];
        let mut r = record(&headers);
        r.status = 502;
        r.upstream_duration_ms = Some(2.000_4);
        let v = serde_json::to_value(r).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["upstream_duration_ms"], 2.0);
        assert_eq!(v["request_headers"]["user-agent"], "curl/8");
        assert_eq!(v["request_headers"]["x-api-key"], "[REDACTED]");
    }

    #[test]
    fn levels() {
        assert_eq!(Level::for_status(200), Level::Info);
        assert_eq!(Level::for_status(399), Level::Info);
        assert_eq!(Level::for_status(400), Level::Warn);
        assert_eq!(Level::for_status(499), Level::Warn);
        assert_eq!(Level::for_status(500), Level::Error);
    }
}

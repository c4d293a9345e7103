//! Header handling on the request path: hop-by-hop removal (RFC 9110 §7.6.1), forwarding headers,
//! correlation ids and W3C trace context.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// `X-Correlation-ID`: honoured when the client sends one, generated otherwise, sent upstream and back.
pub const X_CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");
/// `X-Request-ID`: accepted as the correlation id when `X-Correlation-ID` is absent.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `X-Config-Version`: the config version that produced a gateway response.
pub const X_CONFIG_VERSION: HeaderName = HeaderName::from_static("x-config-version");
/// W3C trace context.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `X-Forwarded-For`.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`.
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Headers that describe one connection, never the message; a proxy must not forward them.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop headers, including those named in `Connection`. `TE: trailers` survives
/// because gRPC over HTTP/2 needs it end to end. `Upgrade` is removed unless `keep_upgrade`.
pub fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let te_trailers = headers
        .get_all(header::TE)
        .iter()
        .any(|v| contains_token(v, "trailers"));
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        if keep_upgrade && name == header::UPGRADE {
            continue;
        }
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if !keep_upgrade {
        headers.remove(header::UPGRADE);
    }
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// Whether a comma-separated header value contains `token` (case-insensitive).
pub fn contains_token(value: &HeaderValue, token: &str) -> bool {
    value
        .to_str()
        .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        .unwrap_or(false)
}

/// Whether the request asks for a protocol upgrade (WebSocket and others) on HTTP/1.1.
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| contains_token(v, "upgrade"))
}

/// The correlation id to use: the client's `X-Correlation-ID` or `X-Request-ID` when it is sane
/// (1–128 visible ASCII characters), else a new UUID.
pub fn correlation_id(headers: &HeaderMap) -> String {
    for name in [X_CORRELATION_ID, X_REQUEST_ID] {
        if let Some(value) = headers.get(&name).and_then(|v| v.to_str().ok()) {
            let value = value.trim();
            if !value.is_empty()
                && value.len() <= 128
                && value.bytes().all(|b| b.is_ascii_graphic())
            {
                return value.to_owned();
            }
        }
    }
    uuid::Uuid::new_v4().to_string()
}

/// The `traceparent` to send upstream: the client's trace id and flags with a new parent id for
/// the gateway's hop, or a new trace when the client sent none (or an invalid one).
pub fn next_traceparent(headers: &HeaderMap) -> String {
    let span = format!("{:016x}", fastrand::u64(1..));
    if let Some((trace_id, flags)) = headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_traceparent)
    {
        return format!("00-{trace_id}-{span}-{flags}");
    }
    format!("00-{:032x}-{span}-01", fastrand::u128(1..))
}

/// Splits a version-00 `traceparent` into its trace id and flags, rejecting all-zero ids.
fn parse_traceparent(value: &str) -> Option<(&str, &str)> {
    let mut parts = value.trim().split('-');
    let (version, trace_id, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let valid = version == "00"
        && parts.next().is_none()
        && hex(trace_id, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace_id.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    valid.then_some((trace_id, flags))
}

/// Appends the client address to `X-Forwarded-For`.
pub fn append_forwarded_for(headers: &mut HeaderMap, client_ip: &str) {
    let value = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(existing) if !existing.trim().is_empty() => format!("{existing}, {client_ip}"),
        _ => client_ip.to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(X_FORWARDED_FOR, value);
    }
}

/// Appends this gateway to `Via` (RFC 9110 §7.6.3).
pub fn append_via(headers: &mut HeaderMap, via: &HeaderValue, version: http::Version) {
    let proto = match version {
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_10 => "1.0",
        _ => "1.1",
    };
    let ours = format!("{proto} {}", via.to_str().unwrap_or("flexgate"));
    let value = match headers.get(header::VIA).and_then(|v| v.to_str().ok()) {
        Some(existing) => format!("{existing}, {ours}"),
        None => ours,
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(header::VIA, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_connection_listed_names_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers, deflate"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert("x-kept", HeaderValue::from_static("yes"));
        remove_hop_by_hop(&mut h, false);
        assert!(h.get("x-secret-hop").is_none());
        assert!(h.get(header::CONNECTION).is_none());
        assert!(h.get(header::TRANSFER_ENCODING).is_none());
        assert_eq!(h.get(header::TE).unwrap(), "trailers");
        assert_eq!(h.get("x-kept").unwrap(), "yes");
    }

    #[test]
    fn traceparent_keeps_the_trace_and_replaces_the_parent() {
        let mut h = HeaderMap::new();
        h.insert(
            TRACEPARENT,
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let next = next_traceparent(&h);
        assert!(next.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(next.ends_with("-01"));
        assert!(!next.contains("00f067aa0ba902b7"));
        h.insert(TRACEPARENT, HeaderValue::from_static("garbage"));
        assert_eq!(next_traceparent(&h).len(), 55);
    }

    #[test]
    fn correlation_ids_are_honoured_only_when_sane() {
        let mut h = HeaderMap::new();
        h.insert(X_REQUEST_ID, HeaderValue::from_static("req-42"));
        assert_eq!(correlation_id(&h), "req-42");
        h.insert(X_CORRELATION_ID, HeaderValue::from_static("corr-1"));
        assert_eq!(correlation_id(&h), "corr-1");
        h.insert(X_CORRELATION_ID, HeaderValue::from_static("has space"));
        assert_eq!(correlation_id(&h), "req-42");
    }
}

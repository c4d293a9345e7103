//! The request front end: checks and normalisation every request goes through before routing.
//!
//! hyper has already parsed the request head by the time the pipeline sees it, and refuses
//! malformed framing itself (see `docs/security.md` for what it answers). What is left here is
//! policy that needs the parsed head:
//!
//! - the URI length (`server.limits.max_uri_length`, `414 uri_too_long`);
//! - the number of header fields (`server.limits.max_headers`,
//!   `431 request_header_fields_too_large`; for HTTP/1.1 hyper's parser enforces the same number);
//! - header values with CR, LF or NUL, several `Host` or `Content-Length` fields, a malformed
//!   `Content-Length`, and any `Transfer-Encoding` other than a single `chunked` (`400 bad_request`);
//! - path normalisation ([`normalize_path`]): what routing sees and what is forwarded is the
//!   normalised path, so `/public/../admin` cannot reach an `/admin` upstream through a `/public`
//!   route, and encoded forms that upstreams decode differently are refused (`400 invalid_path`).
//!
//! Everything here is a pure function of the request head, so the fuzz target in `fuzz/` runs it
//! without sockets.

use std::borrow::Cow;
use std::fmt;

use http::header::{self, HeaderMap};
use http::uri::{PathAndQuery, Uri};
use http::Request;

use flexgate_config::RequestLimits;

use crate::error::GatewayError;

/// Why a request path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// `%2F`: an encoded slash. Upstreams disagree on whether it separates segments.
    EncodedSlash,
    /// `\` or `%5C`: some servers treat it as a separator.
    Backslash,
    /// A control character (`%00`…`%1F`, `%7F`) or a raw space or control byte.
    ControlCharacter,
    /// `%` not followed by two hex digits.
    BadEscape,
    /// A `.` or `..` segment carrying `;` parameters (`/..;/`), which some servers resolve.
    DotSegmentParameter,
    /// The path does not start with `/`.
    NotAbsolute,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::EncodedSlash => "encoded slash (%2F) in the path",
            PathError::Backslash => "backslash in the path",
            PathError::ControlCharacter => "control character in the path",
            PathError::BadEscape => "malformed percent-encoding in the path",
            PathError::DotSegmentParameter => "dot segment with parameters in the path",
            PathError::NotAbsolute => "the path does not start with /",
        })
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Normalises a request path (RFC 3986 §6.2.2 and §5.2.4), or refuses it:
///
/// 1. percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, other escapes
///    are kept with upper-case hex digits; `%2F`, `%5C`, `\`, encoded control characters (`%00`
///    to `%1F`, `%7F`) and malformed escapes are refused;
/// 2. `.` and `..` segments are resolved (after decoding, so `%2e%2e` is `..`); `..` never climbs
///    above the root; a `.`/`..` segment with `;` parameters is refused;
/// 3. empty segments are dropped (`//a///b` is `/a/b`), so a route and the upstream cannot
///    disagree about them; a trailing slash is kept.
///
/// `*` (`OPTIONS *`) and the empty path of an authority-form target pass unchanged. Returns the
/// input itself when it is already normal, which is the common case and allocates nothing.
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, PathError> {
    if path.is_empty() || path == "*" {
        return Ok(Cow::Borrowed(path));
    }
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let bytes = path.as_bytes();
    let mut needs_work = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\\' => return Err(PathError::Backslash),
            0..=0x20 | 0x7f => return Err(PathError::ControlCharacter),
            b'%' => needs_work = true,
            b'/' if bytes.get(i + 1).is_some_and(|&n| n == b'/' || n == b'.') => needs_work = true,
            _ => {}
        }
    }
    if !needs_work {
        return Ok(Cow::Borrowed(path));
    }

    // Step 1: decode what may be decoded, refuse what must not pass.
    let mut decoded = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            // Multi-byte UTF-8 sequences are copied byte by byte through `path`'s slices.
            let next = path[i..]
                .char_indices()
                .nth(1)
                .map_or(path.len(), |(n, _)| i + n);
            decoded.push_str(&path[i..next]);
            i = next;
            continue;
        }
        let (Some(hi), Some(lo)) = (
            bytes.get(i + 1).copied().and_then(hex_value),
            bytes.get(i + 2).copied().and_then(hex_value),
        ) else {
            return Err(PathError::BadEscape);
        };
        let value = hi * 16 + lo;
        match value {
            b'/' => return Err(PathError::EncodedSlash),
            b'\\' => return Err(PathError::Backslash),
            0..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
            v if is_unreserved(v) => decoded.push(char::from(v)),
            v => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                decoded.push('%');
                decoded.push(char::from(HEX[usize::from(v >> 4)]));
                decoded.push(char::from(HEX[usize::from(v & 0xf)]));
            }
        }
        i += 3;
    }

    // Steps 2 and 3: dot segments and empty segments.
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in decoded[1..].split('/') {
        let name = segment.split(';').next().unwrap_or(segment);
        if (name == "." || name == "..") && name.len() != segment.len() {
            return Err(PathError::DotSegmentParameter);
        }
        trailing_slash = matches!(segment, "" | "." | "..");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let mut normal = String::with_capacity(decoded.len());
    for segment in &segments {
        normal.push('/');
        normal.push_str(segment);
    }
    if trailing_slash || segments.is_empty() {
        normal.push('/');
    }
    if normal == path {
        Ok(Cow::Borrowed(path))
    } else {
        Ok(Cow::Owned(normal))
    }
}

/// The length the URI limit applies to: the request target as sent (scheme and authority count
/// for absolute-form and HTTP/2 targets).
pub fn uri_length(uri: &Uri) -> usize {
    uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len())
}

/// Header checks (see the module docs).
pub fn check_headers(headers: &HeaderMap, limits: &RequestLimits) -> Result<(), GatewayError> {
    // `len` counts every field, repeated names included.
    if headers.len() > limits.max_headers as usize {
        return Err(GatewayError::TooManyHeaders {
            limit: limits.max_headers,
        });
    }
    for (name, value) in headers {
        if value
            .as_bytes()
            .iter()
            .any(|&b| b == b'\r' || b == b'\n' || b == 0)
        {
            return Err(GatewayError::BadRequest(format!(
                "header `{name}` contains CR, LF or NUL"
            )));
        }
    }
    if headers.get_all(header::HOST).iter().count() > 1 {
        return Err(GatewayError::BadRequest("more than one Host header".into()));
    }
    let mut lengths = headers.get_all(header::CONTENT_LENGTH).iter();
    if let Some(length) = lengths.next() {
        if lengths.next().is_some() {
            return Err(GatewayError::BadRequest(
                "more than one Content-Length header".into(),
            ));
        }
        let bytes = length.as_bytes();
        if bytes.is_empty() || bytes.len() > 19 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(GatewayError::BadRequest("invalid Content-Length".into()));
        }
    }
    let mut encodings = headers.get_all(header::TRANSFER_ENCODING).iter();
    if let Some(encoding) = encodings.next() {
        // Only plain `chunked` is forwarded faithfully: the gateway re-frames the body, so any
        // other coding would reach the upstream without its label.
        let chunked_only = encoding
            .to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
        if !chunked_only || encodings.next().is_some() {
            return Err(GatewayError::BadRequest(
                "unsupported Transfer-Encoding; only `chunked` is accepted".into(),
            ));
        }
        if headers.contains_key(header::CONTENT_LENGTH) {
            return Err(GatewayError::BadRequest(
                "both Content-Length and Transfer-Encoding".into(),
            ));
        }
    }
    Ok(())
}

/// All front-end checks on a request head. `Ok(Some(uri))`: the request is admitted with this
/// normalised URI; `Ok(None)`: admitted unchanged.
pub fn check_head(
    uri: &Uri,
    headers: &HeaderMap,
    limits: &RequestLimits,
) -> Result<Option<Uri>, GatewayError> {
    let max_uri = limits.max_uri_length.get();
    if u64::try_from(uri_length(uri)).unwrap_or(u64::MAX) > max_uri {
        return Err(GatewayError::UriTooLong { limit: max_uri });
    }
    check_headers(headers, limits)?;
    let path = match normalize_path(uri.path()) {
        Ok(Cow::Borrowed(_)) => return Ok(None),
        Ok(Cow::Owned(path)) => path,
        Err(e) => return Err(GatewayError::InvalidPath(e.to_string())),
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        PathAndQuery::try_from(path_and_query)
            .map_err(|e| GatewayError::BadRequest(format!("normalised path: {e}")))?,
    );
    Uri::from_parts(parts)
        .map(Some)
        .map_err(|e| GatewayError::BadRequest(format!("normalised URI: {e}")))
}

/// The pipeline's hook: checks `req` and replaces its URI with the normalised one.
pub fn admit<B>(req: &mut Request<B>, limits: &RequestLimits) -> Result<(), GatewayError> {
    if let Some(uri) = check_head(req.uri(), req.headers(), limits)? {
        *req.uri_mut() = uri;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(path: &str) -> Result<String, PathError> {
        normalize_path(path).map(Cow::into_owned)
    }

    #[test]
    fn normal_paths_are_borrowed() {
        for path in ["/", "/a", "/a/b/", "/a.b/c..d/.e", "/caf%C3%A9", "*", ""] {
            match normalize_path(path) {
                Ok(Cow::Borrowed(p)) => assert_eq!(p, path),
                other => panic!("{path}: {other:?}"),
            }
        }
    }

    #[test]
    fn dot_segments_and_slashes() {
        let cases = [
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/..", "/"),
            ("/.", "/"),
            ("//a//b//", "/a/b/"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/.%2E/admin", "/admin"),
            ("/public/%2e/x", "/public/x"),
            ("/%7Euser/%41%62c", "/~user/Abc"),
            ("/a%3fb", "/a%3Fb"),
            ("/a%c3%a9", "/a%C3%A9"),
            ("/a/..%2e/b", "/a/.../b"),
        ];
        for (input, expected) in cases {
            assert_eq!(norm(input).as_deref(), Ok(expected), "{input}");
        }
    }

    #[test]
    fn refused_paths() {
        let cases = [
            ("/a%2fb", PathError::EncodedSlash),
            ("/a%2Fb", PathError::EncodedSlash),
            ("/a/..%2f..%2fetc", PathError::EncodedSlash),
            ("/a\\b", PathError::Backslash),
            ("/a%5cb", PathError::Backslash),
            ("/a%00b", PathError::ControlCharacter),
            ("/a%0d%0aX:1", PathError::ControlCharacter),
            ("/a%7f", PathError::ControlCharacter),
            ("/a b", PathError::ControlCharacter),
            ("/a%", PathError::BadEscape),
            ("/a%4", PathError::BadEscape),
            ("/a%zz", PathError::BadEscape),
            ("/public/..;/admin", PathError::DotSegmentParameter),
            ("/public/.;x/admin", PathError::DotSegmentParameter),
            ("/public/%2e%2e;/admin", PathError::DotSegmentParameter),
            ("a/b", PathError::NotAbsolute),
        ];
        for (input, expected) in cases {
            assert_eq!(norm(input), Err(expected), "{input}");
        }
    }

    #[test]
    fn normalisation_is_idempotent() {
        for path in ["/a/../b//c/./%2e%2E/d%7e", "/x/%41/../..", "//", "/a;b/c"] {
            let once = norm(path).unwrap();
            assert_eq!(norm(&once).unwrap(), once, "{path}");
        }
    }

    fn limits() -> RequestLimits {
        RequestLimits::default()
    }

    #[test]
    fn head_checks() {
        let uri: Uri = "/a/../b?x=1".parse().unwrap();
        let fixed = check_head(&uri, &HeaderMap::new(), &limits()).unwrap();
        assert_eq!(fixed.unwrap().to_string(), "/b?x=1");
        let uri: Uri = "http://h.example/a//b".parse().unwrap();
        let fixed = check_head(&uri, &HeaderMap::new(), &limits()).unwrap();
        assert_eq!(fixed.unwrap().to_string(), "http://h.example/a/b");

        let long: Uri = format!("/{}", "a".repeat(9000)).parse().unwrap();
        assert_eq!(
            check_head(&long, &HeaderMap::new(), &limits()).unwrap_err(),
            GatewayError::UriTooLong { limit: 8192 }
        );

        let mut headers = HeaderMap::new();
        for i in 0..101 {
            headers.insert(
                http::HeaderName::try_from(format!("x-h{i}")).unwrap(),
                http::HeaderValue::from_static("1"),
            );
        }
        assert_eq!(
            check_headers(&headers, &limits()).unwrap_err(),
            GatewayError::TooManyHeaders { limit: 100 }
        );

        let bad = |pairs: &[(&str, &str)]| {
            let mut headers = HeaderMap::new();
            for (k, v) in pairs {
                headers.append(
                    http::HeaderName::try_from(*k).unwrap(),
                    http::HeaderValue::from_str(v).unwrap(),
                );
            }
            check_headers(&headers, &limits()).is_err()
        };
        assert!(bad(&[("content-length", "1"), ("content-length", "1")]));
        assert!(bad(&[("content-length", "-1")]));
        assert!(bad(&[
            ("content-length", "1"),
            ("transfer-encoding", "chunked")
        ]));
        assert!(bad(&[("transfer-encoding", "gzip, chunked")]));
        assert!(bad(&[
            ("transfer-encoding", "chunked"),
            ("transfer-encoding", "chunked")
        ]));
        assert!(bad(&[("host", "a"), ("host", "b")]));
        assert!(!bad(&[("transfer-encoding", "Chunked")]));
        assert!(!bad(&[("content-length", "10"), ("host", "a")]));
    }
}

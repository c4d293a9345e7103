//! Body of the `request_front` target: arbitrary bytes as a request target (first line) and
//! header fields (`name: value` on the following lines), through the data plane's front end
//! (`flexgate_proxy::front`): path normalisation and the head checks, without sockets.
//!
//! Invariants: nothing panics; every refusal is a 4xx; an admitted path is normal (starts with
//! `/`, no empty, `.` or `..` segment, no `%2F`, no backslash, no escaped unreserved character,
//! upper-case escapes) and normalising it again changes nothing; the query is never altered.

use std::borrow::Cow;

use flexgate_config::{ByteSize, RequestLimits};
use flexgate_proxy::front::{check_head, normalize_path};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Panics unless `path` is in normal form.
fn assert_normal(path: &str) {
    if path.is_empty() || path == "*" {
        return;
    }
    assert!(path.starts_with('/'), "not absolute: {path:?}");
    assert!(!path.contains('\\'), "backslash: {path:?}");
    let segments: Vec<&str> = path[1..].split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        assert!(last || !segment.is_empty(), "empty segment: {path:?}");
        assert!(*segment != "." && *segment != "..", "dot segment: {path:?}");
    }
    let bytes = path.as_bytes();
    for (i, _) in path.match_indices('%') {
        let escape = bytes
            .get(i + 1..i + 3)
            .unwrap_or_else(|| panic!("incomplete escape: {path:?}"));
        assert!(
            escape
                .iter()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)),
            "escape not upper-case hex: {path:?}"
        );
        let value = u8::from_str_radix(std::str::from_utf8(escape).unwrap(), 16).unwrap();
        assert!(
            !is_unreserved(value),
            "escaped unreserved character: {path:?}"
        );
        assert!(value != b'/' && value != b'\\' && value >= 0x20, "{path:?}");
    }
    match normalize_path(path) {
        Ok(Cow::Borrowed(same)) => assert_eq!(same, path),
        other => panic!("normalising {path:?} again gave {other:?}"),
    }
}

/// Runs one input; panics when an invariant breaks.
pub fn run(data: &[u8]) {
    let mut lines = data.split(|&b| b == b'\n');
    let target = lines.next().unwrap_or_default();

    // The normaliser on any text, URI-valid or not.
    let text = String::from_utf8_lossy(target);
    if let Ok(normal) = normalize_path(&text) {
        assert_normal(&normal);
    }

    // The whole head check on what the HTTP parser would accept.
    let Ok(uri) = Uri::try_from(target) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim_ascii()),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    let limits = RequestLimits {
        max_uri_length: ByteSize::bytes(2048),
        max_headers: 16,
        ..RequestLimits::default()
    };
    match check_head(&uri, &headers, &limits) {
        Ok(Some(admitted)) => {
            assert_normal(admitted.path());
            assert_eq!(admitted.query(), uri.query(), "the query is not touched");
            assert_eq!(admitted.authority(), uri.authority());
        }
        Ok(None) => assert_normal(uri.path()),
        Err(error) => {
            assert!(error.status().is_client_error(), "{error:?}");
            assert!(!error.message().is_empty());
        }
    }
}

//! [`Redactor`]: masks secrets in logged header values and query strings before a line leaves
//! the process.
//!
//! A built-in set of header and query-parameter names is always masked, whatever the
//! configuration says, because a missing entry in a config file should never leak a credential.
//! Inputs that need no masking are returned borrowed, so the common case allocates nothing.

use std::borrow::Cow;

use flexgate_config::Redaction;

/// What a masked value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Header names whose values are always masked (compared case-insensitively).
pub const ALWAYS_REDACTED_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// Query parameter names whose values are always masked (compared case-insensitively, after
/// percent-decoding the name).
pub const ALWAYS_REDACTED_QUERY_PARAMS: [&str; 7] = [
    "token",
    "access_token",
    "api_key",
    "apikey",
    "password",
    "secret",
    "client_secret",
];

/// Masks sensitive header values and query parameter values.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// Lower-case header names, built-in first.
    headers: Box<[String]>,
    /// Lower-case query parameter names, built-in first.
    query_params: Box<[String]>,
}

impl Default for Redactor {
    /// A redactor with only the built-in names.
    fn default() -> Self {
        Redactor::new(&Redaction::default())
    }
}

impl Redactor {
    /// A redactor for the built-in names plus the configured ones.
    pub fn new(redaction: &Redaction) -> Redactor {
        Redactor {
            headers: merge(&ALWAYS_REDACTED_HEADERS, &redaction.headers),
            query_params: merge(&ALWAYS_REDACTED_QUERY_PARAMS, &redaction.query_params),
        }
    }

    /// Whether values of the header `name` are masked.
    pub fn is_sensitive_header(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    /// Whether values of the query parameter `name` (as written in the URL, possibly
    /// percent-encoded) are masked.
    pub fn is_sensitive_query_param(&self, raw_name: &str) -> bool {
        self.query_params
            .iter()
            .any(|p| decoded_eq_ignore_case(raw_name.as_bytes(), p.as_bytes()))
    }

    /// The value to log for header `name`: `[REDACTED]` for sensitive headers, otherwise `value`
    /// itself (borrowed).
    pub fn header_value<'a>(&self, name: &str, value: &'a str) -> Cow<'a, str> {
        if self.is_sensitive_header(name) {
            Cow::Borrowed(REDACTED)
        } else {
            Cow::Borrowed(value)
        }
    }

    /// `pq` (a path with an optional query) with the values of sensitive query parameters
    /// replaced by `[REDACTED]`. Everything else, including parameter order, other values,
    /// empty values and a fragment, is kept byte for byte. Borrowed when nothing was masked.
    pub fn path_and_query<'a>(&self, pq: &'a str) -> Cow<'a, str> {
        let Some(question) = pq.find('?') else {
            return Cow::Borrowed(pq);
        };
        let query_start = question + 1;
        let query_end = pq[query_start..]
            .find('#')
            .map_or(pq.len(), |i| query_start + i);

        let mut out: Option<String> = None;
        // Index in `pq` up to which `out` holds a copy.
        let mut copied = 0;
        let mut param_start = query_start;
        for param in pq[query_start..query_end].split('&') {
            let this_start = param_start;
            param_start += param.len() + 1;
            let Some(eq) = param.find('=') else {
                continue;
            };
            let (name, value) = (&param[..eq], &param[eq + 1..]);
            if value.is_empty() || !self.is_sensitive_query_param(name) {
                continue;
            }
            let value_start = this_start + eq + 1;
            let buf = out.get_or_insert_with(|| String::with_capacity(pq.len() + REDACTED.len()));
            buf.push_str(&pq[copied..value_start]);
            buf.push_str(REDACTED);
            copied = value_start + value.len();
        }
        match out {
            Some(mut buf) => {
                buf.push_str(&pq[copied..]);
                Cow::Owned(buf)
            }
            None => Cow::Borrowed(pq),
        }
    }
}

fn merge(builtin: &[&str], configured: &[String]) -> Box<[String]> {
    let mut names: Vec<String> = builtin.iter().map(|s| (*s).to_owned()).collect();
    for name in configured {
        let name = name.trim().to_ascii_lowercase();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names.into_boxed_slice()
}

/// Compares a raw (percent-encoded, `+` for space) query parameter name with a lower-case name,
/// decoding on the fly so no decoded copy is allocated. Invalid escapes stand for themselves.
fn decoded_eq_ignore_case(raw: &[u8], lower: &[u8]) -> bool {
    let mut expected = lower.iter();
    let mut i = 0;
    while i < raw.len() {
        let (byte, width) = match raw[i] {
            b'%' => match (
                raw.get(i + 1).and_then(|&c| hex(c)),
                raw.get(i + 2).and_then(|&c| hex(c)),
            ) {
                (Some(hi), Some(lo)) => (hi << 4 | lo, 3),
                _ => (b'%', 1),
            },
            b'+' => (b' ', 1),
            b => (b, 1),
        };
        if expected.next() != Some(&byte.to_ascii_lowercase()) {
            return false;
        }
        i += width;
    }
    expected.next().is_none()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_comparison() {
        assert!(decoded_eq_ignore_case(b"api_key", b"api_key"));
        assert!(decoded_eq_ignore_case(b"API%5Fkey", b"api_key"));
        assert!(decoded_eq_ignore_case(b"%61pi_key", b"api_key"));
        assert!(decoded_eq_ignore_case(b"my+key", b"my key"));
        assert!(!decoded_eq_ignore_case(b"api_key2", b"api_key"));
        assert!(!decoded_eq_ignore_case(b"api_ke", b"api_key"));
        assert!(!decoded_eq_ignore_case(b"%zz", b"%zz_"));
        assert!(decoded_eq_ignore_case(b"%zz", b"%zz"));
        assert!(decoded_eq_ignore_case(b"%", b"%"));
    }

    #[test]
    fn borrowed_when_unchanged() {
        let r = Redactor::default();
        for pq in [
            "/a",
            "/a?",
            "/a?x=1&y=2",
            "/a?token",
            "/a?token=",
            "/a?x=1#token=2",
        ] {
            assert!(
                matches!(r.path_and_query(pq), Cow::Borrowed(s) if s == pq),
                "{pq}"
            );
        }
        assert!(matches!(
            r.header_value("user-agent", "curl"),
            Cow::Borrowed("curl")
        ));
    }

    #[test]
    fn fragment_is_kept() {
        let r = Redactor::default();
        assert_eq!(
            r.path_and_query("/a?token=abc#frag"),
            "/a?token=[REDACTED]#frag"
        );
    }
}

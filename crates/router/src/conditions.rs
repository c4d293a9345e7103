//! The non-path conditions of a route (hosts, headers, methods), compiled into forms that can be
//! checked against a request without allocating.

use http::header::{HeaderMap, HeaderName};
use http::Method;

use flexgate_config::HeaderMatch;

/// A compiled host condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostPattern {
    /// The whole host, lower-cased, without a trailing dot.
    Exact(Box<str>),
    /// `*.example.com`, kept as `.example.com`: at least one label must precede it.
    Suffix(Box<str>),
}

impl HostPattern {
    /// Compiles a configured host; `None` if it is not a host or a leading-label wildcard.
    pub(crate) fn parse(host: &str) -> Option<HostPattern> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Some(suffix) = host.strip_prefix('*') {
            if !suffix.starts_with('.') || suffix.len() < 2 || suffix.contains('*') {
                return None;
            }
            return Some(HostPattern::Suffix(suffix.into()));
        }
        if host.is_empty() || host.contains('*') {
            return None;
        }
        Some(HostPattern::Exact(host.into()))
    }

    /// `host` must already be without its trailing dot; case does not matter.
    #[inline]
    pub(crate) fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => host.eq_ignore_ascii_case(h),
            HostPattern::Suffix(s) => {
                // Compare bytes: the tail of `host` may not be on a char boundary, and a
                // non-ASCII byte can never equal the ASCII-lowercased pattern anyway.
                let (host, s) = (host.as_bytes(), s.as_bytes());
                host.len() > s.len() && host[host.len() - s.len()..].eq_ignore_ascii_case(s)
            }
        }
    }
}

/// A compiled header condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderCondition {
    name: HeaderName,
    value: Option<Box<[u8]>>,
}

impl HeaderCondition {
    /// Compiles a header condition; `None` if the name is not a valid header name.
    pub(crate) fn parse(m: &HeaderMatch) -> Option<HeaderCondition> {
        let name = HeaderName::from_bytes(m.name.as_bytes()).ok()?;
        Some(HeaderCondition {
            name,
            value: m.value.as_ref().map(|v| v.as_bytes().into()),
        })
    }

    /// Whether the header is present, with the required value if one is set. A header that
    /// appears several times satisfies the condition if any of its values does.
    #[inline]
    pub(crate) fn matches(&self, headers: &HeaderMap) -> bool {
        match &self.value {
            None => headers.contains_key(&self.name),
            Some(want) => headers
                .get_all(&self.name)
                .iter()
                .any(|v| v.as_bytes() == &**want),
        }
    }
}

/// Parses a configured method. Methods are case-sensitive on the wire, but config files write
/// them upper case by convention, so a lower-case `get` is taken to mean `GET` rather than an
/// extension method nobody sends.
pub(crate) fn parse_method(method: &str) -> Option<Method> {
    Method::from_bytes(method.to_ascii_uppercase().as_bytes()).ok()
}

/// How far a request got through a route's non-path conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Host, headers and method all hold.
    Match,
    /// Host and headers hold but the method is not accepted (a `405` candidate).
    WrongMethod,
    /// Host or headers do not hold.
    NoMatch,
}

/// All non-path conditions of one route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Conditions {
    pub(crate) hosts: Vec<HostPattern>,
    pub(crate) headers: Vec<HeaderCondition>,
    pub(crate) methods: Vec<Method>,
}

impl Conditions {
    /// Checks a request. `host` must already be without its trailing dot.
    #[inline]
    pub(crate) fn check(
        &self,
        method: &Method,
        host: Option<&str>,
        headers: &HeaderMap,
    ) -> Verdict {
        if !self.hosts.is_empty() {
            let Some(host) = host else {
                return Verdict::NoMatch;
            };
            if !self.hosts.iter().any(|h| h.matches(host)) {
                return Verdict::NoMatch;
            }
        }
        if !self.headers.iter().all(|h| h.matches(headers)) {
            return Verdict::NoMatch;
        }
        if self.methods.is_empty() || self.methods.contains(method) {
            Verdict::Match
        } else {
            Verdict::WrongMethod
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn exact_hosts_ignore_case_and_trailing_dot() {
        let h = HostPattern::parse("API.Example.com.").expect("valid");
        assert_eq!(h, HostPattern::Exact("api.example.com".into()));
        assert!(h.matches("api.example.com"));
        assert!(h.matches("Api.EXAMPLE.com"));
        assert!(!h.matches("example.com"));
    }

    #[test]
    fn wildcard_hosts_need_at_least_one_label() {
        let h = HostPattern::parse("*.example.com").expect("valid");
        assert!(h.matches("a.example.com"));
        assert!(h.matches("a.b.EXAMPLE.com"));
        assert!(!h.matches("example.com"));
        assert!(!h.matches(".example.com"));
        assert!(!h.matches("aexample.com"));
        assert!(!h.matches("é.example.co"));
    }

    #[test]
    fn rejects_odd_host_patterns() {
        assert_eq!(HostPattern::parse("*"), None);
        assert_eq!(HostPattern::parse("*example.com"), None);
        assert_eq!(HostPattern::parse("a.*.com"), None);
        assert_eq!(HostPattern::parse(""), None);
    }

    #[test]
    fn header_conditions() {
        let present = HeaderCondition::parse(&HeaderMatch {
            name: "X-Canary".into(),
            value: None,
        })
        .expect("valid");
        let valued = HeaderCondition::parse(&HeaderMatch {
            name: "x-canary".into(),
            value: Some("on".into()),
        })
        .expect("valid");
        let mut headers = HeaderMap::new();
        assert!(!present.matches(&headers));
        headers.append("x-canary", HeaderValue::from_static("off"));
        assert!(present.matches(&headers));
        assert!(!valued.matches(&headers));
        headers.append("x-canary", HeaderValue::from_static("on"));
        assert!(valued.matches(&headers));
        assert!(HeaderCondition::parse(&HeaderMatch {
            name: "bad name".into(),
            value: None
        })
        .is_none());
    }

    #[test]
    fn verdicts() {
        let c = Conditions {
            hosts: vec![HostPattern::Exact("a.com".into())],
            headers: vec![],
            methods: vec![Method::GET],
        };
        let h = HeaderMap::new();
        assert_eq!(c.check(&Method::GET, Some("a.com"), &h), Verdict::Match);
        assert_eq!(
            c.check(&Method::POST, Some("a.com"), &h),
            Verdict::WrongMethod
        );
        assert_eq!(c.check(&Method::GET, Some("b.com"), &h), Verdict::NoMatch);
        assert_eq!(c.check(&Method::GET, None, &h), Verdict::NoMatch);
        assert_eq!(parse_method("get"), Some(Method::GET));
    }
}

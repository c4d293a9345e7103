//! Route path patterns and host patterns: parsing, matching and coverage.
//!
//! The router matches requests with these same functions, and validation uses [`PathPattern::covers`]
//! to find routes that can never match. Keeping both in one place means "shadowed" in
//! `flexgate config check` means exactly "never reached" at runtime.
//!
//! Path syntax (segment-wise, case-sensitive):
//! - `/users` matches exactly `/users`;
//! - `/api/*` (a trailing `*` segment) matches `/api` and every path below it;
//! - `*` as a whole inner segment (`/v1/*/items`) matches exactly one non-empty segment;
//! - `*` inside a segment (`/a*b`) is not allowed.
//!
//! A request path is split on `/` after its leading `/`, so `/` is one empty segment and a
//! trailing slash is an empty last segment: `/api/` is not `/api`.

use std::fmt;

/// One segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// `*`: matches any one non-empty segment.
    Any,
}

/// A parsed route path pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathPattern {
    /// Segments that must match one by one.
    segments: Vec<Segment>,
    /// Whether the pattern ended in `/*` and so also matches everything below `segments`.
    prefix: bool,
}

/// Why a path pattern is invalid, with a suggestion when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PatternError {}

fn pattern_error(message: String, hint: Option<String>) -> PatternError {
    PatternError { message, hint }
}

/// Splits a path (which starts with `/`) into its segments.
fn split_segments(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

impl PathPattern {
    /// Parses a route path pattern.
    pub fn parse(pattern: &str) -> Result<PathPattern, PatternError> {
        if !pattern.starts_with('/') {
            return Err(pattern_error(
                format!("path pattern `{pattern}` must start with `/`"),
                Some(format!("write `/{}`", pattern.trim_start_matches('/'))),
            ));
        }
        if let Some(c) = pattern
            .chars()
            .find(|c| matches!(c, '?' | '#') || c.is_control() || c.is_whitespace())
        {
            return Err(pattern_error(
                format!("path pattern `{pattern}` contains {c:?}; patterns match the path only, without query or fragment"),
                None,
            ));
        }
        let raw: Vec<&str> = split_segments(pattern).collect();
        let last = raw.len() - 1;
        let mut segments = Vec::with_capacity(raw.len());
        let mut prefix = false;
        for (i, segment) in raw.iter().enumerate() {
            match *segment {
                "*" if i == last => prefix = true,
                "*" => segments.push(Segment::Any),
                // An empty last segment is a trailing slash, which is a real, distinct path.
                "" if i != last => {
                    return Err(pattern_error(
                        format!("path pattern `{pattern}` has an empty segment (`//`)"),
                        Some(format!("write `{}`", collapse_slashes(pattern))),
                    ))
                }
                s if s.contains('*') => {
                    return Err(pattern_error(
                        format!(
                            "path pattern `{pattern}` uses `*` inside the segment `{s}`; `*` must be a whole segment"
                        ),
                        Some(glob_hint(pattern, s)),
                    ))
                }
                s => segments.push(Segment::Literal(s.to_owned())),
            }
        }
        Ok(PathPattern { segments, prefix })
    }

    /// The segments that must match one by one (without the trailing `*` of a prefix pattern).
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether the pattern ends in `/*` and matches everything below its segments.
    pub fn is_prefix(&self) -> bool {
        self.prefix
    }

    /// Whether the pattern contains no `*` at all (an exact path).
    pub fn is_exact(&self) -> bool {
        !self.prefix
            && self
                .segments
                .iter()
                .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// The literal leading part of the pattern, which `strip_prefix` removes and `rewrite_prefix`
    /// replaces: `/api` for `/api/*`, `/v1` for `/v1/*/items`, `` (empty) for `/*`.
    pub fn literal_prefix(&self) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(s) => {
                    out.push('/');
                    out.push_str(s);
                }
                Segment::Any => break,
            }
        }
        out
    }

    /// Whether the request path `path` (without query string) matches this pattern.
    pub fn matches(&self, path: &str) -> bool {
        if !path.starts_with('/') {
            return false;
        }
        let mut request = split_segments(path);
        for segment in &self.segments {
            match (segment, request.next()) {
                (_, None) => return false,
                (Segment::Any, Some(got)) => {
                    if got.is_empty() {
                        return false;
                    }
                }
                (Segment::Literal(want), Some(got)) => {
                    if want != got {
                        return false;
                    }
                }
            }
        }
        self.prefix || request.next().is_none()
    }

    /// Whether every path this pattern's `other` matches is also matched by `self`.
    ///
    /// This is exact, not a heuristic: segment values come from an unbounded alphabet, so a
    /// literal never covers `*`, and lengths decide the rest.
    pub fn covers(&self, other: &PathPattern) -> bool {
        let mine = self.elements();
        let theirs = other.elements();
        let n = mine.len();
        let fits = mine.iter().zip(&theirs).all(|(a, b)| a.covers(b));
        if self.prefix {
            // `self` matches every path of at least `n` segments whose first `n` fit. `other` only
            // produces paths of at least its own length, so it must be at least as long.
            theirs.len() >= n && fits
        } else {
            // An exact pattern only matches paths of exactly `n` segments; a prefix pattern always
            // matches longer ones too.
            !other.prefix && theirs.len() == n && fits
        }
    }

    /// The set of values each position of a matched path can take. `/*` becomes one position
    /// that takes anything: every request path has at least one (possibly empty) segment, so
    /// with that, lengths can be compared directly.
    fn elements(&self) -> Vec<Element<'_>> {
        if self.prefix && self.segments.is_empty() {
            return vec![Element::AnyOrEmpty];
        }
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(text) => Element::Literal(text),
                Segment::Any => Element::AnyNonEmpty,
            })
            .collect()
    }
}

/// The values one path position can take under a pattern.
enum Element<'a> {
    /// Exactly this text.
    Literal(&'a str),
    /// Any non-empty text (an inner `*`).
    AnyNonEmpty,
    /// Anything, even empty (the first segment under `/*`).
    AnyOrEmpty,
}

impl Element<'_> {
    /// Whether every value `other` allows is allowed by `self`.
    fn covers(&self, other: &Element<'_>) -> bool {
        match (self, other) {
            (Element::AnyOrEmpty, _) => true,
            (Element::AnyNonEmpty, Element::Literal(text)) => !text.is_empty(),
            (Element::AnyNonEmpty, Element::AnyNonEmpty) => true,
            (Element::AnyNonEmpty, Element::AnyOrEmpty) => false,
            (Element::Literal(a), Element::Literal(b)) => a == b,
            (Element::Literal(_), _) => false,
        }
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            match segment {
                Segment::Literal(s) => write!(f, "/{s}")?,
                Segment::Any => f.write_str("/*")?,
            }
        }
        if self.prefix {
            f.write_str("/*")?;
        } else if self.segments.is_empty() {
            f.write_str("/")?;
        }
        Ok(())
    }
}

fn collapse_slashes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

/// Suggests the nearest valid pattern for a segment such as `users*` or `a*b`.
fn glob_hint(pattern: &str, segment: &str) -> String {
    if let Some(stem) = segment.strip_suffix('*').filter(|s| !s.contains('*')) {
        if let Some(base) = pattern.strip_suffix(segment) {
            return format!(
                "`{base}{stem}/*` matches `{base}{stem}` and everything below it; partial-segment globs are not supported"
            );
        }
    }
    "replace the segment with `*` to match any one segment, or list the paths as separate routes"
        .to_owned()
}

/// Checks a host pattern: a DNS name or IP address, optionally with `*.` as its whole leftmost
/// label (`*.example.com`). Returns a description of the problem.
pub fn check_host_pattern(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("host is empty".into());
    }
    if host.contains(':') {
        if host.parse::<std::net::Ipv6Addr>().is_ok() {
            return Ok(());
        }
        return Err(format!(
            "host `{host}` contains `:`; write the host name without a port"
        ));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() > 253 {
        return Err(format!("host `{host}` is longer than 253 characters"));
    }
    for (i, label) in name.split('.').enumerate() {
        if label == "*" {
            if i != 0 {
                return Err(format!(
                    "host `{host}`: `*` is only allowed as the whole leftmost label, as in `*.example.com`"
                ));
            }
            if !name.contains('.') {
                return Err(format!(
                    "host `{host}`: a wildcard needs a domain after it, as in `*.example.com`"
                ));
            }
            continue;
        }
        if label.is_empty() {
            return Err(format!("host `{host}` has an empty label"));
        }
        if label.len() > 63 {
            return Err(format!(
                "host `{host}`: label `{label}` is longer than 63 characters"
            ));
        }
        if label.contains('*') {
            return Err(format!(
                "host `{host}`: `*` is only allowed as the whole leftmost label, as in `*.example.com`"
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "host `{host}` contains the invalid character {c:?}"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "host `{host}`: label `{label}` starts or ends with `-`"
            ));
        }
    }
    Ok(())
}

fn normalize_host(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// Whether the request host `host` (without port) matches the host pattern `pattern`.
///
/// Comparison ignores case and a trailing dot. `*.example.com` matches any host that ends in
/// `.example.com` with at least one label before it (`a.example.com`, `a.b.example.com`), but not
/// `example.com` itself.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = normalize_host(pattern);
    let host = normalize_host(host);
    match pattern.strip_prefix('*') {
        Some(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
        None => pattern == host,
    }
}

/// Whether every host the pattern `b` matches is also matched by the pattern `a`.
pub fn host_covers(a: &str, b: &str) -> bool {
    let a = normalize_host(a);
    let b = normalize_host(b);
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        // `*.a.example.com` only produces hosts ending in `.a.example.com`, all of which end in
        // `.example.com` with a label in front.
        (Some(sa), Some(sb)) => sb.ends_with(sa),
        (Some(_), None) => host_matches(&a, &b),
        (None, Some(_)) => false,
        (None, None) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathPattern {
        PathPattern::parse(s).expect(s)
    }

    #[test]
    fn parses_and_prints_patterns() {
        for s in [
            "/",
            "/users",
            "/api/*",
            "/*",
            "/v1/*/items",
            "/a/",
            "/a/*/*",
        ] {
            assert_eq!(p(s).to_string(), s);
        }
        assert!(p("/users").is_exact());
        assert!(!p("/v1/*/items").is_exact());
        assert_eq!(p("/api/v1/*").literal_prefix(), "/api/v1");
        assert_eq!(p("/v1/*/items").literal_prefix(), "/v1");
        assert_eq!(p("/*").literal_prefix(), "");
    }

    #[test]
    fn rejects_bad_patterns_with_hints() {
        let e = PathPattern::parse("/a*b").unwrap_err();
        assert!(e.message.contains("inside the segment"), "{e}");
        assert!(e.hint.is_some());
        let e = PathPattern::parse("/api*").unwrap_err();
        assert!(e.hint.unwrap_or_default().contains("`/api/*`"));
        assert!(PathPattern::parse("api").is_err());
        assert!(PathPattern::parse("/a//b").is_err());
        assert!(PathPattern::parse("/a?b=1").is_err());
    }

    #[test]
    fn matching() {
        assert!(p("/api/*").matches("/api"));
        assert!(p("/api/*").matches("/api/"));
        assert!(p("/api/*").matches("/api/users/1"));
        assert!(!p("/api/*").matches("/apix"));
        assert!(p("/users").matches("/users"));
        assert!(!p("/users").matches("/users/"));
        assert!(!p("/users").matches("/users/1"));
        assert!(p("/v1/*/items").matches("/v1/x/items"));
        assert!(!p("/v1/*/items").matches("/v1/items"));
        assert!(!p("/v1/*/items").matches("/v1//items"));
        assert!(p("/").matches("/"));
        assert!(!p("/").matches("/a"));
        assert!(p("/*").matches("/"));
        assert!(p("/*").matches("/anything/at/all"));
    }

    #[test]
    fn coverage() {
        let api = p("/api/*");
        for covered in ["/api/users", "/api/*", "/api/x/*", "/api/*/y", "/api"] {
            assert!(api.covers(&p(covered)), "{covered}");
        }
        for not in ["/apix", "/", "/*", "/other/*"] {
            assert!(!api.covers(&p(not)), "{not}");
        }
        assert!(p("/a/*/c").covers(&p("/a/b/c")));
        assert!(!p("/a/b/c").covers(&p("/a/*/c")));
        assert!(p("/users").covers(&p("/users")));
        assert!(!p("/users").covers(&p("/users/*")));
        assert!(p("/*").covers(&p("/")));
        assert!(!p("/api/x/*").covers(&p("/api/*")));
        // `/*` matches `/`, whose one segment is empty; an inner `*` never matches that.
        assert!(!p("/*/*").covers(&p("/*")));
        assert!(!p("/*/*").covers(&p("/")));
        assert!(p("/*/*").covers(&p("/a/")));
    }

    #[test]
    fn hosts() {
        assert!(check_host_pattern("api.example.com").is_ok());
        assert!(check_host_pattern("*.example.com").is_ok());
        assert!(check_host_pattern("10.0.0.1").is_ok());
        assert!(check_host_pattern("api.*.com").is_err());
        assert!(check_host_pattern("a*.example.com").is_err());
        assert!(check_host_pattern("*").is_err());
        assert!(check_host_pattern("api.example.com:8080").is_err());
        assert!(check_host_pattern("bad host").is_err());

        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(host_matches("*.example.com", "A.Example.COM."));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "aexample.com"));
        assert!(host_covers("*.example.com", "a.example.com"));
        assert!(host_covers("*.example.com", "*.example.com"));
        assert!(host_covers("*.example.com", "*.a.example.com"));
        assert!(!host_covers("*.a.example.com", "*.example.com"));
        assert!(!host_covers("*.example.com", "example.com"));
        assert!(!host_covers("a.example.com", "*.example.com"));
    }
}

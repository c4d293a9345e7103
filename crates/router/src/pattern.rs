//! Path patterns (`RouteMatch.path`): their parsed form, how request paths are cut into
//! segments, and the prefix rewrite applied before forwarding.
//!
//! A path is split on `/` after its leading slash, keeping empty segments, so `/users` is
//! `["users"]`, `/users/` is `["users", ""]` and `/` is `[""]`. Keeping the empty trailing
//! segment is what makes `/users/` and `/users` different routes.
//!
//! In a pattern, a segment that is exactly `*` is a wildcard: as the last segment it matches
//! whatever follows the literal part (including nothing, so `/api/*` takes `/api`), anywhere else
//! it matches exactly one non-empty segment.

use std::borrow::Cow;

/// One segment of a parsed pattern, excluding a trailing prefix wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Must equal the request segment byte for byte.
    Literal(Box<str>),
    /// Any one non-empty request segment.
    Wildcard,
}

/// A parsed path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathPattern {
    /// Segments to match one by one.
    pub(crate) segments: Vec<Segment>,
    /// `true` for a trailing `/*`: anything (or nothing) may follow `segments`.
    pub(crate) prefix: bool,
    /// The text of the segments before the first wildcard, with their slashes (`/api` for
    /// `/api/*`, empty for `/*`). Rewrites strip or replace exactly this.
    pub(crate) literal_prefix: Box<str>,
}

/// Why a pattern was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatternError {
    /// The pattern does not begin with `/`.
    NoLeadingSlash,
    /// A `*` shares a segment with other characters (`/api*`, `/a/b*c`).
    PartialWildcard,
}

impl PatternError {
    /// Operator-facing explanation.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            PatternError::NoLeadingSlash => "a path pattern must start with `/`",
            PatternError::PartialWildcard => {
                "`*` must be a whole segment (`/api/*`, `/v1/*/items`), not part of one"
            }
        }
    }
}

impl PathPattern {
    /// Parses a `RouteMatch.path`.
    pub(crate) fn parse(pattern: &str) -> Result<PathPattern, PatternError> {
        let body = pattern
            .strip_prefix('/')
            .ok_or(PatternError::NoLeadingSlash)?;
        let mut raw: Vec<&str> = body.split('/').collect();
        let prefix = raw.last() == Some(&"*");
        if prefix {
            raw.pop();
        }
        let mut segments = Vec::with_capacity(raw.len());
        let mut literal_prefix = String::new();
        let mut in_literal_prefix = true;
        for seg in raw {
            if seg == "*" {
                in_literal_prefix = false;
                segments.push(Segment::Wildcard);
            } else if seg.contains('*') {
                return Err(PatternError::PartialWildcard);
            } else {
                if in_literal_prefix {
                    literal_prefix.push('/');
                    literal_prefix.push_str(seg);
                }
                segments.push(Segment::Literal(seg.into()));
            }
        }
        Ok(PathPattern {
            segments,
            prefix,
            literal_prefix: literal_prefix.into(),
        })
    }
}

/// The not-yet-matched remainder of a request path.
///
/// `None` means every segment has been consumed; `Some(rest)` holds the remaining segments still
/// joined by `/` (so `Some("")` is one empty segment, as in the tail of `/users/`). Walking a path
/// this way needs no allocation.
pub(crate) type Rest<'p> = Option<&'p str>;

/// The segments of a request path, or `None` if it is not an origin-form path.
///
/// An empty path is read as `/`, which is what HTTP clients mean by it. Anything else without a
/// leading slash (`*` of `OPTIONS *`, an authority) matches no route.
pub(crate) fn request_segments(path: &str) -> Option<Rest<'_>> {
    if path.is_empty() {
        return Some(Some(""));
    }
    path.strip_prefix('/').map(Some)
}

/// Splits the next segment off `rest`. `rest` must be `Some`.
#[inline]
pub(crate) fn next_segment(rest: &str) -> (&str, Rest<'_>) {
    match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    }
}

/// What happens to the path before it is forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rewrite {
    /// Forward the path as received.
    None,
    /// Remove `prefix` (the pattern's literal prefix).
    Strip {
        /// The pattern's literal prefix.
        prefix: Box<str>,
    },
    /// Replace `prefix` with `with`.
    Replace {
        /// The pattern's literal prefix.
        prefix: Box<str>,
        /// The configured `rewrite_prefix`, normalised to start with `/`.
        with: Box<str>,
    },
}

impl Rewrite {
    /// Builds the rewrite of a route.
    pub(crate) fn new(pattern: &PathPattern, strip: bool, replace: Option<&str>) -> Rewrite {
        match (strip, replace) {
            (_, Some(with)) => {
                // A prefix without its leading slash would glue onto the host when forwarded.
                let with: Box<str> = if with.starts_with('/') {
                    with.into()
                } else {
                    format!("/{with}").into()
                };
                Rewrite::Replace {
                    prefix: pattern.literal_prefix.clone(),
                    with,
                }
            }
            (true, None) => Rewrite::Strip {
                prefix: pattern.literal_prefix.clone(),
            },
            (false, None) => Rewrite::None,
        }
    }

    /// Applies the rewrite to a request path (without query).
    pub(crate) fn apply<'p>(&self, path: &'p str) -> Cow<'p, str> {
        let (prefix, with) = match self {
            Rewrite::None => return Cow::Borrowed(path),
            Rewrite::Strip { prefix } => (prefix, None),
            Rewrite::Replace { prefix, with } => (prefix, Some(with)),
        };
        // Only paths the route matched are expected here, and those always start with the
        // literal prefix; anything else is passed through rather than mangled.
        let Some(rest) = path.strip_prefix(&**prefix) else {
            return Cow::Borrowed(path);
        };
        match with {
            None if rest.is_empty() => Cow::Borrowed("/"),
            None if rest.starts_with('/') => Cow::Borrowed(rest),
            None => Cow::Owned(format!("/{rest}")),
            Some(with) if rest.is_empty() => Cow::Owned(with.to_string()),
            Some(with) => {
                // `rest` starts with `/` whenever the route matched; the trim keeps a prefix
                // written as `/v2/` from producing `/v2//users`.
                let base = with.trim_end_matches('/');
                let sep = if rest.starts_with('/') { "" } else { "/" };
                Cow::Owned(format!("{base}{sep}{rest}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Segment {
        Segment::Literal(s.into())
    }

    #[test]
    fn parses_exact_prefix_and_glob_patterns() {
        let p = PathPattern::parse("/users").expect("valid");
        assert_eq!(p.segments, vec![lit("users")]);
        assert!(!p.prefix);
        assert_eq!(&*p.literal_prefix, "/users");

        let p = PathPattern::parse("/api/*").expect("valid");
        assert_eq!(p.segments, vec![lit("api")]);
        assert!(p.prefix);
        assert_eq!(&*p.literal_prefix, "/api");

        let p = PathPattern::parse("/v1/*/items/*").expect("valid");
        assert_eq!(p.segments, vec![lit("v1"), Segment::Wildcard, lit("items")]);
        assert!(p.prefix);
        assert_eq!(&*p.literal_prefix, "/v1");

        let p = PathPattern::parse("/*").expect("valid");
        assert!(p.segments.is_empty());
        assert!(p.prefix);
        assert_eq!(&*p.literal_prefix, "");

        let p = PathPattern::parse("/").expect("valid");
        assert_eq!(p.segments, vec![lit("")]);
        assert!(!p.prefix);

        let p = PathPattern::parse("/users/").expect("valid");
        assert_eq!(p.segments, vec![lit("users"), lit("")]);
    }

    #[test]
    fn rejects_bad_patterns() {
        assert_eq!(
            PathPattern::parse("users"),
            Err(PatternError::NoLeadingSlash)
        );
        assert_eq!(PathPattern::parse(""), Err(PatternError::NoLeadingSlash));
        assert_eq!(
            PathPattern::parse("/api*"),
            Err(PatternError::PartialWildcard)
        );
        assert_eq!(
            PathPattern::parse("/a/**/b"),
            Err(PatternError::PartialWildcard)
        );
    }

    #[test]
    fn walks_request_segments() {
        let mut rest = request_segments("/a//b/").expect("origin form");
        let mut seen = vec![];
        while let Some(r) = rest {
            let (seg, tail) = next_segment(r);
            seen.push(seg);
            rest = tail;
        }
        assert_eq!(seen, vec!["a", "", "b", ""]);
        assert_eq!(request_segments(""), Some(Some("")));
        assert_eq!(request_segments("*"), None);
    }

    #[test]
    fn rewrites() {
        let api = PathPattern::parse("/api/*").expect("valid");
        let strip = Rewrite::new(&api, true, None);
        assert_eq!(strip.apply("/api"), "/");
        assert_eq!(strip.apply("/api/"), "/");
        assert_eq!(strip.apply("/api/users"), "/users");
        assert!(matches!(strip.apply("/api/users"), Cow::Borrowed(_)));

        let v2 = Rewrite::new(&api, false, Some("/v2"));
        assert_eq!(v2.apply("/api/users"), "/v2/users");
        assert_eq!(v2.apply("/api"), "/v2");
        let v2_slash = Rewrite::new(&api, false, Some("/v2/"));
        assert_eq!(v2_slash.apply("/api/users"), "/v2/users");
        let root = Rewrite::new(&api, false, Some("/"));
        assert_eq!(root.apply("/api/users"), "/users");
        assert_eq!(root.apply("/api"), "/");

        let none = Rewrite::new(&api, false, None);
        assert!(matches!(
            none.apply("/api/users"),
            Cow::Borrowed("/api/users")
        ));

        // A path the route could not have matched is left alone.
        assert_eq!(strip.apply("/other"), "/other");
    }
}

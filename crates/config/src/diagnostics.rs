//! Diagnostics: one problem found in a config document, with the path of the offending value.
//!
//! Every check in this crate reports through [`Diagnostic`] so that the CLI, the proxy's reload
//! log and the control plane all print problems the same way:
//! `error: routes[2].match.path: <message> (hint: did you mean `path`?)`.

use std::fmt;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The config cannot be used.
    Error,
    /// The config is usable, but probably not what the operator meant.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem in a config document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Whether the problem prevents loading.
    pub severity: Severity,
    /// Where the problem is, such as `routes[2].match.path` or `upstreams[0].targets[1].url`.
    /// Empty for problems with the document as a whole.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is an obvious fix.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `path`.
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            path: path.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// A warning at `path`.
    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            path: path.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// The same diagnostic with a hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The same diagnostic with an optional hint (convenient with [`did_you_mean`]).
    #[must_use]
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    /// Whether this is an error (as opposed to a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.severity)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Whether any diagnostic in `diagnostics` is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

/// Edit distance between two strings, counted in characters (insertions, deletions, substitutions).
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // One row of the classic dynamic-programming table is enough: each cell only needs the row
    // above and the cell to its left.
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            let cost = usize::from(ca != *cb);
            row[j + 1] = (diagonal + cost).min(above + 1).min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Lower-cases and drops `_` and `-`, so that `stripPrefix`, `strip-prefix` and `strip_prefix`
/// compare equal: people carry naming habits over from other tools and from v0.
fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The candidate closest to `input`, if it is close enough to be a plausible typo.
pub fn closest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let folded = fold(input);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == input {
            continue;
        }
        let distance = levenshtein(&folded, &fold(candidate));
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    // Allow roughly one typo per three characters, at least one: `pth` → `path`, but not
    // `timeout` → `name`.
    let limit = (input.chars().count() / 3).max(1);
    best.filter(|(d, _)| *d <= limit).map(|(_, c)| c)
}

/// A "did you mean `x`?" hint for `input` among `candidates`, if one is close.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(input, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein_counts_edits() {
        assert_eq!(levenshtein("", ""), 0);
        assert_eq!(levenshtein("abc", ""), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("pth", "path"), 1);
        assert_eq!(levenshtein("flaw", "lawn"), 2);
        assert_eq!(levenshtein("ünï", "uni"), 2);
    }

    #[test]
    fn suggestions_only_for_plausible_typos() {
        let fields = ["path", "methods", "hosts", "headers"];
        assert_eq!(closest("pth", fields), Some("path"));
        assert_eq!(closest("method", fields), Some("methods"));
        assert_eq!(closest("Hosts", fields), Some("hosts"));
        assert_eq!(closest("timeout", fields), None);
        assert_eq!(closest("x", fields), None);
        assert_eq!(
            closest("stripPrefix", ["strip_prefix", "rewrite_prefix"]),
            Some("strip_prefix")
        );
    }

    #[test]
    fn display_has_severity_path_message_and_hint() {
        let d = Diagnostic::error("routes[2].match.pth", "unknown field `pth`")
            .with_hint("did you mean `path`?");
        assert_eq!(
            d.to_string(),
            "error: routes[2].match.pth: unknown field `pth` (hint: did you mean `path`?)"
        );
        assert_eq!(
            Diagnostic::warning("", "deprecated").to_string(),
            "warning: deprecated"
        );
    }
}

//! Reading a config document from text or a file: version detection, strict deserialization
//! with exact error paths, migration of version 0 documents, and validation.
//!
//! Errors carry the path of the offending value (`routes[2].match.pth`), the line and column when
//! the parser knows them, and a "did you mean" hint for misspelt keys and enum values, because a
//! gateway that silently ignores a typo in a timeout is worse than one that refuses to start.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::diagnostics::{did_you_mean, has_errors, Diagnostic, Severity};
use crate::validate::validate;
use crate::{Config, RateLimitPolicy};

/// The syntax of a config document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// YAML 1.2 (which also accepts JSON).
    Yaml,
    /// Strict JSON.
    Json,
}

impl SourceFormat {
    /// Guesses the format from a file name: `.json` is JSON, everything else YAML.
    pub fn from_path(path: &Path) -> SourceFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => SourceFormat::Json,
            _ => SourceFormat::Yaml,
        }
    }
}

/// A successfully loaded config.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Problems that do not prevent loading; show them to the operator.
    pub warnings: Vec<Diagnostic>,
    /// Whether the document was in the version 0 (`proxy.yml`) format and was migrated.
    pub migrated_from_v0: bool,
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The document is not well-formed YAML or JSON.
    #[error("{}", syntax_text(.file, .line, .column, .message))]
    Syntax {
        /// The file, when loaded from one.
        file: Option<PathBuf>,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// 1-based column of the error, when known.
        column: Option<usize>,
        /// The parser's description.
        message: String,
    },
    /// The document is well-formed but not a valid config.
    #[error("{}", invalid_text(.file, .diagnostics))]
    Invalid {
        /// The file, when loaded from one.
        file: Option<PathBuf>,
        /// Every problem found, errors first; warnings are included for context.
        diagnostics: Vec<Diagnostic>,
    },
}

impl ConfigError {
    /// The diagnostics of an [`ConfigError::Invalid`] error; empty for other errors.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Invalid { diagnostics, .. } => diagnostics,
            _ => &[],
        }
    }

    /// An `Invalid` error from diagnostics, without a file.
    pub(crate) fn invalid(mut diagnostics: Vec<Diagnostic>) -> ConfigError {
        // Errors first so that the reason a config was refused is the first thing printed.
        diagnostics.sort_by_key(|d| d.severity);
        ConfigError::Invalid {
            file: None,
            diagnostics,
        }
    }

    /// The same error, attributed to `file`.
    fn in_file(self, path: &Path) -> ConfigError {
        match self {
            ConfigError::Syntax {
                line,
                column,
                message,
                ..
            } => ConfigError::Syntax {
                file: Some(path.to_owned()),
                line,
                column,
                message,
            },
            ConfigError::Invalid { diagnostics, .. } => ConfigError::Invalid {
                file: Some(path.to_owned()),
                diagnostics,
            },
            other => other,
        }
    }
}

struct SyntaxDisplay<'a> {
    file: Option<&'a Path>,
    line: Option<usize>,
    column: Option<usize>,
    message: &'a str,
}

impl fmt::Display for SyntaxDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.file {
            Some(file) => write!(f, "{}", file.display())?,
            None => f.write_str("config")?,
        }
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": syntax error: {}", self.message)
    }
}

fn syntax_text(
    file: &Option<PathBuf>,
    line: &Option<usize>,
    column: &Option<usize>,
    message: &str,
) -> String {
    SyntaxDisplay {
        file: file.as_deref(),
        line: *line,
        column: *column,
        message,
    }
    .to_string()
}

fn invalid_text(file: &Option<PathBuf>, diagnostics: &[Diagnostic]) -> String {
    InvalidDisplay {
        file: file.as_deref(),
        diagnostics,
    }
    .to_string()
}

struct InvalidDisplay<'a> {
    file: Option<&'a Path>,
    diagnostics: &'a [Diagnostic],
}

impl fmt::Display for InvalidDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self.diagnostics.iter().filter(|d| d.is_error()).count();
        match self.file {
            Some(file) => write!(f, "{}: ", file.display())?,
            None => f.write_str("config: ")?,
        }
        write!(
            f,
            "invalid configuration ({errors} error{})",
            if errors == 1 { "" } else { "s" }
        )?;
        for d in self.diagnostics {
            write!(f, "\n  {d}")?;
        }
        Ok(())
    }
}

/// Parses, migrates (if version 0) and validates a config document.
pub fn parse_str(text: &str, format: SourceFormat) -> Result<Loaded, ConfigError> {
    let tree = parse_tree(text, format)?;
    let (config, mut diagnostics, migrated_from_v0) = match detect_version(&tree)? {
        Version::V1 => (deserialize_v1(text, format, &tree)?, Vec::new(), false),
        Version::V0 => {
            let mut diagnostics = vec![Diagnostic::warning(
                "",
                "version 0 (proxy.yml) format is deprecated; run `flexgate config migrate`",
            )];
            let (config, warnings) = crate::v0::migrate_v0(tree)?;
            diagnostics.extend(warnings);
            (config, diagnostics, true)
        }
    };
    diagnostics.extend(validate(&config));
    if has_errors(&diagnostics) {
        return Err(ConfigError::invalid(diagnostics));
    }
    Ok(Loaded {
        config,
        warnings: diagnostics,
        migrated_from_v0,
    })
}

/// Reads, parses, migrates (if version 0) and validates the config file at `path`.
///
/// The format follows the extension (`.json` is JSON, anything else YAML). Relative file paths
/// (TLS: `cert_file`, `key_file`, `ca_file`, `client_cert_file`, `client_key_file`; JWT policies:
/// `public_key_file`, `jwks_file`) are made relative to the directory of the config file, so the
/// proxy finds them whatever its working directory.
pub fn load_file(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut loaded =
        parse_str(&text, SourceFormat::from_path(path)).map_err(|e| e.in_file(path))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        resolve_relative_paths(&mut loaded.config, dir);
    }
    Ok(loaded)
}

/// Makes every relative file path in `config` (TLS files, JWT key files) relative to `dir`
/// instead.
pub fn resolve_relative_paths(config: &mut Config, dir: &Path) {
    let fix = |p: &mut PathBuf| {
        if p.is_relative() && !p.as_os_str().is_empty() {
            *p = dir.join(&*p);
        }
    };
    for listener in &mut config.listeners {
        if let Some(tls) = &mut listener.tls {
            for cert in &mut tls.certificates {
                fix(&mut cert.cert_file);
                fix(&mut cert.key_file);
            }
        }
    }
    for upstream in &mut config.upstreams {
        if let Some(tls) = &mut upstream.tls {
            for p in [
                &mut tls.ca_file,
                &mut tls.client_cert_file,
                &mut tls.client_key_file,
            ]
            .into_iter()
            .flatten()
            {
                fix(p);
            }
        }
    }
    for policy in &mut config.policies {
        if let crate::policy::Policy::Jwt(jwt) = policy {
            for p in [&mut jwt.public_key_file, &mut jwt.jwks_file]
                .into_iter()
                .flatten()
            {
                fix(p);
            }
        }
    }
}

/// Serializes a config as a YAML `flexgate/v1` document.
pub fn to_yaml(config: &Config) -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(config)
}

/// Parses the document into a generic tree; only syntax errors come out of here.
fn parse_tree(text: &str, format: SourceFormat) -> Result<serde_json::Value, ConfigError> {
    match format {
        SourceFormat::Json => serde_json::from_str(text).map_err(|e| ConfigError::Syntax {
            file: None,
            line: Some(e.line()).filter(|l| *l > 0),
            column: Some(e.column()).filter(|_| e.line() > 0),
            message: strip_location(&e.to_string()),
        }),
        SourceFormat::Yaml => {
            let value: serde_yaml::Value =
                serde_yaml::from_str(text).map_err(|e| ConfigError::Syntax {
                    file: None,
                    line: e.location().map(|l| l.line()),
                    column: e.location().map(|l| l.column()),
                    message: strip_location(&e.to_string()),
                })?;
            // The v1 path re-reads the text for exact error positions; the tree is only used to
            // detect the version and to migrate v0, where JSON's data model is enough.
            serde_json::to_value(&value).map_err(|e| {
                ConfigError::invalid(vec![Diagnostic::error(
                    "",
                    format!("the document cannot be represented as a config: {e}"),
                )
                .with_hint("keys must be strings; YAML tags are not supported")])
            })
        }
    }
}

/// Removes the " at line L column C" suffix that both parsers append; positions are reported
/// separately.
fn strip_location(message: &str) -> String {
    if let Some(at) = message.rfind(" at line ") {
        let tail = &message[at + " at line ".len()..];
        let mut words = tail.split(' ');
        let is_position = words.next().is_some_and(|w| w.parse::<usize>().is_ok())
            && words.next() == Some("column")
            && words.next().is_some_and(|w| w.parse::<usize>().is_ok())
            && words.next().is_none();
        if is_position {
            return message[..at].to_owned();
        }
    }
    message.to_owned()
}

enum Version {
    V0,
    V1,
}

/// Top-level keys that only exist in `flexgate/v1`.
const V1_ONLY_KEYS: &[&str] = &["listeners", "status", "server", "policies", "observability"];
/// Top-level keys of the version 0 `proxy.yml` format.
const V0_KEYS: &[&str] = &[
    "proxy",
    "upstreams",
    "routes",
    "timeouts",
    "logging",
    "metrics",
    "security",
    "redis",
    "http",
    "backpressure",
    "metadata",
];

fn supported_versions_hint() -> String {
    "write `version: 1` (flexgate/v1); files without `version` are read as the version 0 `proxy.yml` format".into()
}

fn detect_version(tree: &serde_json::Value) -> Result<Version, ConfigError> {
    let map = match tree {
        serde_json::Value::Object(map) => map,
        serde_json::Value::Null => {
            return Err(ConfigError::invalid(vec![Diagnostic::error(
                "",
                "the config is empty",
            )
            .with_hint("start with `version: 1`")]))
        }
        other => {
            return Err(ConfigError::invalid(vec![Diagnostic::error(
                "",
                format!(
                    "expected a mapping of settings at the top level, found {}",
                    json_kind(other)
                ),
            )]))
        }
    };
    let has_v1_keys = map.keys().any(|k| V1_ONLY_KEYS.contains(&k.as_str()));
    let has_v0_keys = map.keys().any(|k| V0_KEYS.contains(&k.as_str()));
    match map.get("version") {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(1) => Ok(Version::V1),
        Some(serde_json::Value::Number(n)) => Err(ConfigError::invalid(vec![Diagnostic::error(
            "version",
            format!("unsupported config version {n}; supported versions are 1 and 0"),
        )
        .with_hint(supported_versions_hint())])),
        // The original FlexGate wrote its schema version as a string (`version: "1.0.0"`); that
        // is the version 0 format, whatever the number in the string says.
        Some(serde_json::Value::String(s)) if looks_like_v0_version(s) && !has_v1_keys => {
            Ok(Version::V0)
        }
        Some(serde_json::Value::String(s)) if s.trim() == "1" => {
            Err(ConfigError::invalid(vec![Diagnostic::error(
                "version",
                format!("version must be a number, not the string `{s}`"),
            )
            .with_hint("write `version: 1` without quotes")]))
        }
        Some(other) => Err(ConfigError::invalid(vec![Diagnostic::error(
            "version",
            format!("unsupported config version {other}"),
        )
        .with_hint(supported_versions_hint())])),
        None if has_v0_keys && !has_v1_keys => Ok(Version::V0),
        None => {
            let typo = did_you_mean_version(map.keys().map(String::as_str));
            Err(ConfigError::invalid(vec![Diagnostic::error(
                "version",
                "missing `version`",
            )
            .with_hint(
                typo.unwrap_or_else(|| "add `version: 1` at the top of the file".into()),
            )]))
        }
    }
}

fn did_you_mean_version<'a>(keys: impl Iterator<Item = &'a str>) -> Option<String> {
    keys.into_iter()
        .find(|k| crate::diagnostics::closest(k, ["version"]).is_some())
        .map(|k| format!("`{k}` is not a key; did you mean `version`?"))
}

fn looks_like_v0_version(s: &str) -> bool {
    let parts: Vec<&str> = s.trim().split('.').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "nothing",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a mapping",
    }
}

/// Deserializes a `flexgate/v1` document strictly, turning the first type error into a
/// diagnostic with its path, position and a suggestion.
fn deserialize_v1(
    text: &str,
    format: SourceFormat,
    tree: &serde_json::Value,
) -> Result<Config, ConfigError> {
    let failure = match format {
        SourceFormat::Yaml => {
            let de = serde_yaml::Deserializer::from_str(text);
            match serde_path_to_error::deserialize::<_, Config>(de) {
                Ok(config) => return Ok(config),
                Err(e) => {
                    let location = e.inner().location().map(|l| (l.line(), l.column()));
                    let message = strip_yaml_path(&strip_location(&e.inner().to_string()));
                    (e.path().to_string(), message, location)
                }
            }
        }
        SourceFormat::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            match serde_path_to_error::deserialize::<_, Config>(&mut de) {
                Ok(config) => return Ok(config),
                Err(e) => {
                    let inner = e.inner();
                    let location = Some((inner.line(), inner.column())).filter(|(l, _)| *l > 0);
                    (
                        e.path().to_string(),
                        strip_location(&inner.to_string()),
                        location,
                    )
                }
            }
        }
    };
    let (mut path, mut message, location) = failure;
    if path == "." {
        path.clear();
    }
    // Policies are an internally tagged enum, which serde buffers before deserializing the
    // variant, so the path stops at `policies[N]`. Re-reading that one entry on its own recovers
    // the full path.
    if let Some((deep_path, deep_message)) = deeper_policy_error(&path, tree) {
        path = deep_path;
        message = deep_message;
    }
    let mut diagnostic = Diagnostic {
        severity: Severity::Error,
        path,
        message,
        hint: None,
    };
    explain_serde_message(&mut diagnostic);
    if let Some((line, column)) = location {
        diagnostic.message = format!("{} (line {line}, column {column})", diagnostic.message);
    }
    Err(ConfigError::invalid(vec![diagnostic]))
}

/// serde_yaml prefixes messages with its own idea of the path (`routes[0].match: ...`); the path
/// is reported separately, so drop it. Such a prefix has no spaces, unlike serde's messages.
fn strip_yaml_path(message: &str) -> String {
    if let Some((head, rest)) = message.split_once(": ") {
        if !head.is_empty() && !head.contains(' ') && !head.contains('`') {
            return rest.to_owned();
        }
    }
    message.to_owned()
}

fn deeper_policy_error(path: &str, tree: &serde_json::Value) -> Option<(String, String)> {
    let index: usize = path
        .strip_prefix("policies[")?
        .strip_suffix(']')?
        .parse()
        .ok()?;
    let mut entry = tree.get("policies")?.get(index)?.as_object()?.clone();
    if entry.get("type")?.as_str()? != "rate_limit" {
        return None;
    }
    entry.remove("type");
    let err =
        serde_path_to_error::deserialize::<_, RateLimitPolicy>(serde_json::Value::Object(entry))
            .err()?;
    let inner_path = err.path().to_string();
    let full = if inner_path == "." {
        path.to_owned()
    } else {
        format!("{path}.{inner_path}")
    };
    Some((full, err.inner().to_string()))
}

/// Backtick-quoted words of a serde message, in order.
fn backticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

/// Adds the misspelt key to the path and a "did you mean" hint for serde's "unknown field" and
/// "unknown variant" messages.
fn explain_serde_message(d: &mut Diagnostic) {
    let is_field = d.message.starts_with("unknown field `");
    let is_variant = d.message.starts_with("unknown variant `");
    if !is_field && !is_variant {
        return;
    }
    let words = backticked(&d.message);
    let Some((bad, expected)) = words.split_first() else {
        return;
    };
    let bad = bad.to_string();
    if is_field {
        // serde_path_to_error stops at the mapping that holds the unknown key; point at the key.
        let last = d.path.rsplit(['.', ']']).next().unwrap_or_default();
        if last != bad {
            d.path = if d.path.is_empty() {
                bad.clone()
            } else {
                format!("{}.{bad}", d.path)
            };
        }
    }
    if let Some(hint) = did_you_mean(&bad, expected.iter().copied()) {
        d.hint = Some(hint);
    } else if is_field && d.path == bad && V0_KEYS.contains(&bad.as_str()) {
        d.hint = Some(format!(
            "`{bad}` belongs to the version 0 (proxy.yml) format; remove `version: 1` to load the file as version 0, or see docs/config-reference.md for the flexgate/v1 equivalent"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_positions_and_yaml_paths() {
        assert_eq!(strip_location("bad thing at line 3 column 7"), "bad thing");
        assert_eq!(strip_location("bad at line three"), "bad at line three");
        assert_eq!(
            strip_yaml_path("routes[0].match: unknown field `x`"),
            "unknown field `x`"
        );
        assert_eq!(
            strip_yaml_path("invalid type: integer `3`"),
            "invalid type: integer `3`"
        );
    }

    #[test]
    fn formats_from_extension() {
        assert_eq!(
            SourceFormat::from_path(Path::new("a/b.JSON")),
            SourceFormat::Json
        );
        assert_eq!(
            SourceFormat::from_path(Path::new("a/b.yml")),
            SourceFormat::Yaml
        );
        assert_eq!(SourceFormat::from_path(Path::new("b")), SourceFormat::Yaml);
    }

    #[test]
    fn v0_version_strings() {
        assert!(looks_like_v0_version("1.0.0"));
        assert!(looks_like_v0_version("0.9"));
        assert!(!looks_like_v0_version("1"));
        assert!(!looks_like_v0_version("v1"));
    }
}

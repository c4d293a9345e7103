//! The crate's error type.

use std::fmt;
use std::path::PathBuf;

/// Errors from loading a snapshot or reading CSV input.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A snapshot could not be decoded or is inconsistent.
    Snapshot(String),
    /// A CSV text is malformed or lacks a required column.
    Csv {
        /// 1-based line of the problem (0 when it concerns the whole file).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Snapshot(message) => write!(f, "invalid miner snapshot: {message}"),
            Error::Csv { line: 0, message } => write!(f, "invalid CSV: {message}"),
            Error::Csv { line, message } => write!(f, "invalid CSV at line {line}: {message}"),
            Error::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

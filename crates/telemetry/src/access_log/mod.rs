//! The structured JSON access log: one line per request ([`AccessRecord`]), which requests are
//! logged ([`Sampler`]), what is masked ([`Redactor`]), and the non-blocking writer
//! ([`AccessLogger`]).
//!
//! The line format is a public contract for log pipelines; every field is described in
//! `docs/access-log.md`, and a test keeps the two in step.

mod record;
mod redaction;
mod sampling;
mod timestamp;
mod writer;

pub use record::{AccessRecord, Level};
pub use redaction::{Redactor, ALWAYS_REDACTED_HEADERS, ALWAYS_REDACTED_QUERY_PARAMS, REDACTED};
pub use sampling::Sampler;
pub use timestamp::Rfc3339Millis;
pub use writer::{AccessLogger, MemorySink, CHANNEL_CAPACITY};

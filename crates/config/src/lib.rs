//! The `flexgate/v1` configuration model.
//!
//! This crate owns the document an operator writes: its types ([`model`]), human units
//! ([`units`]), and (in sibling modules) parsing with exact error paths, semantic validation,
//! migration from the original FlexGate `proxy.yml` (version 0), the JSON Schema and a semantic
//! diff. It has no runtime: no sockets, no tokio. The proxy, the agent and the control plane all
//! run the same validation from here, so what one accepts the others can load.

pub mod model;
pub mod units;

pub use model::*;
pub use units::{ByteSize, Duration, UnitError};

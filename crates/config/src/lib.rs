//! The `flexgate/v1` configuration model.
//!
//! This crate owns the document an operator writes: its types ([`model`], [`policy`], [`resilience`]), human units
//! ([`units`]), parsing with exact error paths ([`load`]), semantic validation ([`validate`]),
//! route patterns shared with the router ([`pattern`]), migration from the original FlexGate
//! `proxy.yml` ([`v0`]), the JSON Schema and operator reference ([`schema`]) and a semantic diff
//! ([`diff`]). It has no runtime: no sockets, no tokio. The proxy, the agent and the control plane
//! all run the same validation from here, so what one accepts the others can load.

pub mod cidr;
pub mod diagnostics;
pub mod diff;
pub mod load;
pub mod model;
pub mod pattern;
pub mod policy;
pub mod resilience;
pub mod schema;
pub mod ssrf;
pub mod units;
pub mod v0;
pub mod validate;
pub mod validate_protection;

pub use diagnostics::{Diagnostic, Severity};
pub use diff::{diff, render_diff, Change, ChangeKind};
pub use load::{load_file, parse_str, ConfigError, Loaded, SourceFormat};
pub use model::*;
pub use policy::*;
pub use resilience::*;
pub use units::{ByteSize, Duration, UnitError};
pub use v0::migrate_v0;
pub use validate::{route_rank, validate};

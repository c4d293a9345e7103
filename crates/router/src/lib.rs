//! Request routing and load balancing for FlexGate.
//!
//! This crate owns two pure, runtime-free pieces of the data plane:
//!
//! - [`RouteTable`]: compiled once per config version from a validated `flexgate/v1`
//!   [`Config`](flexgate_config::Config), immutable afterwards, and shared between request tasks.
//!   [`RouteTable::lookup`] maps the facts of a request (method, host, path, headers) to the route
//!   that serves it, or says why none does (`404` vs `405`).
//! - [`balance::Balancer`]: picks a target of an upstream by the configured policy, given which
//!   targets are currently eligible.
//!
//! There are no sockets, no async runtime and no clocks here, so everything is deterministic and
//! cheap to test; the proxy supplies health and in-flight counts through closures.

pub mod balance;
mod conditions;
mod pattern;
mod rank;
mod table;
mod trie;

pub use balance::Balancer;
pub use table::{
    CompileError, CompiledRoute, Lookup, RequestFacts, RouteId, RouteTable, UpstreamId,
};

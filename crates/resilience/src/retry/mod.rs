//! Retries: whether an attempt may be retried ([`RetryPolicy`]), whether the upstream can
//! afford it ([`RetryBudget`]), and how long to wait first ([`Backoff`]).
//!
//! The proxy asks in that order: the policy rules out retries that would be unsafe or
//! pointless, the budget keeps retries from multiplying the load on an upstream that is
//! already failing, and the backoff spreads the retries that remain over time.

pub mod backoff;
pub mod budget;
pub mod policy;

pub use backoff::Backoff;
pub use budget::{RetryBudget, RetryBudgetParams};
pub use policy::{
    is_idempotent_method, Attempt, AttemptOutcome, RequestInfo, RetryDecision, RetryOn,
    RetryPolicy, StopReason, IDEMPOTENCY_KEY,
};

//! Integration tests of the miner: Loghub accuracy, masking rules, ids, merges, bounds and
//! persistence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod loghub;
mod mask;
mod miner;
mod persist;
mod robust;

//! End-to-end tests of the `flexgate` binary: they run the real executable as an operator would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod config_cli;
mod logs;
mod proxy_process;
mod support;
mod up;

//! The `flexgate` binary: one executable for every role, chosen by subcommand.
//!
//! This is the only place that knows about processes: argument parsing, logging setup, the tokio
//! runtime, signals and exit codes. Everything else lives in the library crates.

mod cli;
mod config_cmd;
mod demo;
mod logging;
mod logs_cmd;
mod run;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let default_level = match cli.command {
        cli::Command::Config(_) | cli::Command::Logs(_) => "warn",
        _ => "info",
    };
    // `proxy` sets up logging itself, once it has read the config's `log_level`.
    if !matches!(cli.command, cli::Command::Proxy(_)) {
        logging::init(
            cli.log_format,
            cli.log_level.as_deref().unwrap_or(default_level),
        );
    }
    let result = match cli.command {
        cli::Command::Up(args) => run::up(args),
        cli::Command::Proxy(args) => run::proxy(args, cli.log_format, cli.log_level),
        cli::Command::Config(cmd) => config_cmd::run(cmd),
        cli::Command::Logs(cmd) => logs_cmd::run(cmd),
        cli::Command::DemoUpstream(args) => run::demo_upstream(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

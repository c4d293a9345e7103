//! Command-line definitions: every flag is defined once here, and `--help` is generated from it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// FlexGate: an API gateway that routes and protects API traffic.
#[derive(Debug, Parser)]
#[command(name = "flexgate", version, about, propagate_version = true)]
pub struct Cli {
    /// Format of FlexGate's own log on stderr (the access log has its own setting).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `flexgate_proxy=debug` (overrides the config; `RUST_LOG` also works).
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run FlexGate on embedded defaults: the data plane with a starter config and a demo upstream.
    Up(UpArgs),
    /// Run the stand-alone data plane from a config file (reloads on change and SIGHUP).
    Proxy(ProxyArgs),
    /// Offline config tools: validate, schema, migrate, diff.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Offline log tools: group log lines into templates.
    #[command(subcommand)]
    Logs(LogsCommand),
    /// Run the small demo upstream used by `up` and the benchmarks.
    #[command(hide = true)]
    DemoUpstream(DemoArgs),
}

/// `flexgate up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address of the proxy listener.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: String,
    /// Address of the status listener (health, metrics).
    #[arg(long, default_value = "127.0.0.1:8100")]
    pub status: String,
    /// Directory for FlexGate's files (the starter config is written here).
    #[arg(long, default_value = "./flexgate-data")]
    pub data_dir: PathBuf,
    /// Send a few requests through the proxy, print the results and exit (a smoke test).
    #[arg(long)]
    pub smoke: bool,
}

/// `flexgate proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Config file (YAML or JSON, `flexgate/v1` or the version 0 `proxy.yml`).
    #[arg(short, long, env = "FLEXGATE_CONFIG")]
    pub config: PathBuf,
    /// Worker threads (default: one per CPU).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Validate the config and exit without serving.
    #[arg(long)]
    pub check: bool,
}

/// `flexgate demo-upstream`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8001")]
    pub bind: String,
    /// Worker threads (default: one per CPU).
    #[arg(long)]
    pub workers: Option<usize>,
}

/// `flexgate config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a config file and print every problem with its path.
    Validate {
        /// The config file.
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of `flexgate/v1` (or the Markdown reference with `--markdown`).
    Schema {
        /// Print the operator reference in Markdown instead.
        #[arg(long)]
        markdown: bool,
    },
    /// Convert a version 0 `proxy.yml` (or any accepted config) to `flexgate/v1` YAML.
    Migrate {
        /// The file to convert.
        file: PathBuf,
        /// Write here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Show the semantic difference between two config files.
    Diff {
        /// The old config.
        old: PathBuf,
        /// The new config.
        new: PathBuf,
    },
}

/// `flexgate logs …`.
#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// Group log lines into templates and write `LineId,ClusterId,Template` for every line.
    Cluster(LogsClusterArgs),
}

/// `flexgate logs cluster`.
#[derive(Debug, Args)]
pub struct LogsClusterArgs {
    /// The log file.
    #[arg(long)]
    pub input: PathBuf,
    /// Input format (default: `loghub` for a `.csv` file with `LineId` and `Content` columns,
    /// else `lines`).
    #[arg(long, value_enum)]
    pub format: Option<LogsFormat>,
    /// Write the CSV here instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Input format of `flexgate logs cluster`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogsFormat {
    /// A Loghub structured CSV: the `Content` column is clustered, `LineId` is kept.
    Loghub,
    /// One log line per line, numbered from 1.
    Lines,
}

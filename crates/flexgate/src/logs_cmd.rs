//! `flexgate logs cluster`: groups the lines of a log file into templates with the miner the
//! agent uses, and writes one CSV row per line.
//!
//! Lines are first all added, then written with the cluster and template as they stand at the
//! end, so that every line of a cluster shows the same, most general template (and lines of
//! clusters that merged along the way show the survivor).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use flexgate_logmine::{csv, eval, ClusterId, Miner, MinerConfig};

use crate::cli::{LogsClusterArgs, LogsCommand, LogsFormat};

/// Runs a `logs` subcommand.
pub fn run(command: LogsCommand) -> Result<ExitCode> {
    match command {
        LogsCommand::Cluster(args) => cluster(&args),
    }
}

fn cluster(args: &LogsClusterArgs) -> Result<ExitCode> {
    let bytes = std::fs::read(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    // Logs are not always valid UTF-8; a stray byte must not stop the tool.
    let text = String::from_utf8_lossy(&bytes);
    let format = args
        .format
        .unwrap_or_else(|| detect_format(&args.input, &text));
    let rows: Vec<(String, String)> = match format {
        LogsFormat::Loghub => eval::parse_loghub(&text)
            .with_context(|| format!("{} is not a Loghub structured CSV", args.input.display()))?
            .into_iter()
            .map(|r| (r.line_id, r.content))
            .collect(),
        LogsFormat::Lines => text
            .lines()
            .enumerate()
            .map(|(i, line)| ((i + 1).to_string(), line.to_owned()))
            .collect(),
    };

    // The default configuration, except that an offline run keeps every cluster: the input
    // bounds the memory, and an evicted cluster would leave its lines without a template.
    let mut miner = Miner::new(MinerConfig {
        max_clusters: rows.len().max(MinerConfig::default().max_clusters),
        ..MinerConfig::default()
    });
    let ids: Vec<ClusterId> = rows.iter().map(|(_, line)| miner.add(line)).collect();

    let mut out = String::with_capacity(rows.len() * 64);
    csv::write_record(&mut out, &["LineId", "ClusterId", "Template"]);
    for ((line_id, _), id) in rows.iter().zip(ids) {
        let id = miner.resolve(id).unwrap_or(id);
        let template = miner.template(id).unwrap_or_default();
        csv::write_record(&mut out, &[line_id, &id.to_string(), template]);
    }
    match &args.output {
        Some(path) => {
            std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))?
        }
        None => std::io::stdout()
            .lock()
            .write_all(out.as_bytes())
            .context("cannot write to stdout")?,
    }
    eprintln!(
        "{} lines, {} clusters ({} input)",
        rows.len(),
        miner.len(),
        match format {
            LogsFormat::Loghub => "loghub",
            LogsFormat::Lines => "lines",
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// A `.csv` file whose header names `LineId` and `Content` is a Loghub structured CSV; anything
/// else is plain lines.
fn detect_format(path: &Path, text: &str) -> LogsFormat {
    let csv_file = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let header = text.lines().next().unwrap_or_default();
    if csv_file && header.contains("LineId") && header.contains("Content") {
        LogsFormat::Loghub
    } else {
        LogsFormat::Lines
    }
}

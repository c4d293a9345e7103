//! `flexgate config validate|schema|migrate|diff`: offline tools that need no server.

use std::process::ExitCode;

use anyhow::{Context, Result};

use flexgate_config::diagnostics::Severity;
use flexgate_config::load::{load_file, ConfigError};

use crate::cli::ConfigCommand;

/// Runs a `config` subcommand. Exit code 2 means "the config is invalid".
pub fn run(command: ConfigCommand) -> Result<ExitCode> {
    match command {
        ConfigCommand::Validate { file, json } => validate(&file, json),
        ConfigCommand::Schema { markdown } => {
            if markdown {
                print!("{}", flexgate_config::schema::reference_markdown());
            } else {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&flexgate_config::schema::json_schema())?
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Migrate { file, output } => {
            let loaded = match load_file(&file) {
                Ok(loaded) => loaded,
                Err(error) => {
                    eprintln!("{error}");
                    return Ok(ExitCode::from(2));
                }
            };
            for warning in &loaded.warnings {
                eprintln!("{}: {warning}", file.display());
            }
            let text = if loaded.migrated_from_v0 {
                flexgate_config::v0::render_migrated(&loaded.config, &loaded.warnings)?
            } else {
                flexgate_config::load::to_yaml(&loaded.config)?
            };
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Diff { old, new } => {
            let (a, b) = match (load_file(&old), load_file(&new)) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(error), _) | (_, Err(error)) => {
                    eprintln!("{error}");
                    return Ok(ExitCode::from(2));
                }
            };
            let changes = flexgate_config::diff::diff(&a.config, &b.config);
            if changes.is_empty() {
                println!("no changes");
            } else {
                print!("{}", flexgate_config::diff::render_diff(&changes));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn validate(file: &std::path::Path, json: bool) -> Result<ExitCode> {
    let result = load_file(file);
    let (valid, diagnostics) = match &result {
        Ok(loaded) => (true, loaded.warnings.clone()),
        Err(ConfigError::Invalid { diagnostics, .. }) => (false, diagnostics.clone()),
        Err(other) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"valid": false, "file": file.display().to_string(), "error": other.to_string()})
                );
            } else {
                eprintln!("{other}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    if json {
        let items: Vec<_> = diagnostics
            .iter()
            .map(|d| {
                serde_json::json!({
                    "severity": if d.severity == Severity::Error { "error" } else { "warning" },
                    "path": d.path,
                    "message": d.message,
                    "hint": d.hint,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"valid": valid, "file": file.display().to_string(), "diagnostics": items})
        );
    } else {
        for diagnostic in &diagnostics {
            eprintln!("{}: {diagnostic}", file.display());
        }
        if valid {
            println!("{}: valid", file.display());
        }
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

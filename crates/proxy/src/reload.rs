//! Hot reload from a config file: on SIGHUP, and when the file's content changes.
//!
//! The file is polled (content hash once a second) rather than watched with inotify: editors that
//! save by rename, and Kubernetes ConfigMaps that swap a symlink, are both seen reliably, and a
//! poll of one small file costs nothing. A new config is validated and compiled off the request
//! path; only then is it published. A bad config is logged with file, path and reason, counted in
//! `flexgate_config_reloads_total{result="failure"}`, and the previous version keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::{ProxyHandle, ReloadError};

fn file_fingerprint(path: &Path) -> Option<u64> {
    std::fs::read(path)
        .ok()
        .map(|bytes| crate::snapshot::fnv1a(&bytes))
}

/// Logs the outcome of a reload the way operators read it.
pub(crate) fn log_outcome(result: &Result<crate::ConfigVersion, ReloadError>) {
    match result {
        Ok(version) => info!(
            message = "Configuration reloaded.",
            event = "config.changed",
            version = %version.version,
            hash = %version.hash,
        ),
        Err(err) => error!(
            message = "Configuration rejected; the previous configuration keeps serving.",
            error = %err,
        ),
    }
}

/// Watches `path` and SIGHUP until `shutdown` turns true.
pub(crate) async fn watch_file(
    handle: Arc<ProxyHandle>,
    path: PathBuf,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last = file_fingerprint(&path);
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(error) => {
            warn!(message = "Cannot listen for SIGHUP; reload on file change only.", %error);
            None
        }
    };
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let forced = tokio::select! {
            _ = ticker.tick() => false,
            Some(()) = async { match hangup.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => true,
            _ = shutdown.changed() => return,
        };
        let now = file_fingerprint(&path);
        if !forced && (now == last || now.is_none()) {
            continue;
        }
        last = now;
        if forced {
            info!(message = "SIGHUP received; reloading configuration.", file = %path.display());
        }
        log_outcome(&handle.reload_from_file(&path));
    }
}

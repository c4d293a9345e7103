//! State shared by every task of a running proxy: the live snapshot, metrics, the access log and
//! the reload history shown on the status listener.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwapOption;

use flexgate_telemetry::access_log::AccessLogger;
use flexgate_telemetry::metrics::ProxyMetrics;

use crate::snapshot::Snapshot;

/// The outcome of the last reload attempt.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    /// When the last attempt happened.
    pub at: Option<SystemTime>,
    /// Whether it succeeded.
    pub success: bool,
    /// Why it failed (file, path and reason).
    pub error: Option<String>,
}

/// State shared by listeners, the status listener, health checks and the reloader.
pub struct Shared {
    snapshot: ArcSwapOption<Snapshot>,
    /// Metric families.
    pub metrics: Arc<ProxyMetrics>,
    /// The access log writer.
    pub access_log: AccessLogger,
    draining: AtomicBool,
    last_reload: Mutex<ReloadStatus>,
}

impl Shared {
    /// New shared state with no config active yet.
    pub fn new(metrics: Arc<ProxyMetrics>, access_log: AccessLogger) -> Shared {
        Shared {
            snapshot: ArcSwapOption::empty(),
            metrics,
            access_log,
            draining: AtomicBool::new(false),
            last_reload: Mutex::new(ReloadStatus::default()),
        }
    }

    /// The active snapshot, if a config has been loaded.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot.load_full()
    }

    /// Publishes a new snapshot atomically; requests in flight keep the one they hold.
    pub fn publish(&self, snapshot: Arc<Snapshot>) {
        self.metrics
            .config_info(&snapshot.version.version, &snapshot.version.hash);
        self.snapshot.store(Some(snapshot));
    }

    /// Records the outcome of a reload attempt (for `/health/deep` and metrics).
    pub fn record_reload(&self, result: Result<(), String>) {
        let now = SystemTime::now();
        self.metrics.config_reload(result.is_ok(), now);
        if let Ok(mut status) = self.last_reload.lock() {
            *status = ReloadStatus {
                at: Some(now),
                success: result.is_ok(),
                error: result.err(),
            };
        }
    }

    /// The last reload attempt.
    pub fn last_reload(&self) -> ReloadStatus {
        self.last_reload
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Marks the proxy as draining: readiness fails so load balancers stop sending traffic.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether the proxy is draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

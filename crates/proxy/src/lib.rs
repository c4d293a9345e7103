//! The FlexGate data plane.
//!
//! A reverse proxy on hyper and tokio that routes by path, method, host and headers, balances
//! across upstream targets with pooled keep-alive connections, speaks HTTP/1.1 and HTTP/2 on both
//! sides, terminates and originates TLS with rustls, streams bodies without buffering, passes
//! `Upgrade` connections through, and reports through an access log, Prometheus metrics and health
//! endpoints.
//!
//! Layout: [`pipeline`] is the request lifecycle (read it first); [`snapshot`] is a compiled config
//! version; [`server`] and [`status`] are the listeners; [`upstream`], [`health`] and [`tls`] talk
//! to targets; [`reload`] swaps versions. [`ProxyHandle`] is the entry point.

pub mod body;
pub mod client_addr;
pub mod error;
pub mod forward;
pub mod front;
pub mod headers;
pub mod health;
pub mod limits;
pub mod pipeline;
pub mod policy;
pub mod protect;
pub mod reload;
pub mod runtime;
pub mod server;
pub mod snapshot;
pub mod ssrf;
pub mod status;
pub mod tls;
pub mod upstream;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use flexgate_config::load::{load_file, ConfigError};
use flexgate_config::Config;
use flexgate_telemetry::access_log::AccessLogger;
use flexgate_telemetry::metrics::ProxyMetrics;

pub use runtime::Shared;
pub use snapshot::{BuildError, ConfigVersion, Snapshot};

/// The proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not bind its address.
    #[error("cannot listen on {addr} ({listener}): {source}")]
    Bind {
        /// Listener name.
        listener: String,
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The config could not be made live.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The access log could not be opened.
    #[error("access log: {0}")]
    AccessLog(std::io::Error),
}

/// A new config version was refused; the previous one keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file is unreadable or invalid (names file, path and reason).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The config is valid but could not be made live (for example an unreadable certificate).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The change needs a restart (listeners).
    #[error("{0}")]
    NeedsRestart(String),
}

/// Options that are about the process, not the config.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// The file the config came from; enables reload on change and SIGHUP.
    pub config_path: Option<PathBuf>,
    /// How often the config file is checked for changes.
    pub poll_interval: Duration,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            config_path: None,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// A running proxy.
pub struct ProxyHandle {
    shared: Arc<Shared>,
    listeners: Vec<(String, SocketAddr)>,
    status_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tracker: Arc<server::ConnectionTracker>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    drain_timeout: Duration,
    /// Serialises reloads so two concurrent ones cannot publish out of order.
    reload_lock: Mutex<()>,
}

impl ProxyHandle {
    /// Binds every listener and the status listener, publishes `config` and starts serving.
    pub async fn start(
        config: Config,
        options: StartOptions,
    ) -> Result<Arc<ProxyHandle>, StartError> {
        let metrics = Arc::new(ProxyMetrics::new());
        let access_log =
            AccessLogger::new(&config.observability.access_log).map_err(StartError::AccessLog)?;
        access_log.set_dropped_counter(metrics.access_log_dropped());
        let shared = Arc::new(Shared::new(metrics.clone(), access_log));
        let version = ConfigVersion::local(&config);
        let snapshot = Arc::new(Snapshot::build(config, version, None, &metrics, true)?);
        for upstream in &snapshot.upstreams {
            health::spawn(upstream);
        }
        shared.publish(snapshot.clone());
        shared.record_reload(Ok(()));

        let (shutdown, shutdown_rx) = watch::channel(false);
        let tracker = Arc::new(server::ConnectionTracker::default());
        let mut tasks = Vec::new();
        let mut listeners = Vec::new();
        let config = &snapshot.config;
        for spec in &config.listeners {
            let tcp = bind(&spec.name, &spec.bind).await?;
            let addr = tcp.local_addr().map_err(|source| StartError::Bind {
                listener: spec.name.clone(),
                addr: spec.bind.clone(),
                source,
            })?;
            info!(message = "Listening.", listener = %spec.name, %addr, tls = spec.tls.is_some());
            listeners.push((spec.name.clone(), addr));
            tasks.push(tokio::spawn(server::serve(
                tcp,
                spec.clone(),
                config.server.clone(),
                shared.clone(),
                tracker.clone(),
                shutdown_rx.clone(),
            )));
        }
        let status_tcp = bind("status", &config.status.bind).await?;
        let status_addr = status_tcp.local_addr().map_err(|source| StartError::Bind {
            listener: "status".into(),
            addr: config.status.bind.clone(),
            source,
        })?;
        info!(message = "Status listener.", addr = %status_addr);
        tasks.push(tokio::spawn(status::serve(status_tcp, shared.clone())));
        let handle = Arc::new(ProxyHandle {
            shared,
            listeners,
            status_addr,
            shutdown,
            tracker,
            tasks: Mutex::new(tasks),
            drain_timeout: config.server.drain_timeout.get(),
            reload_lock: Mutex::new(()),
        });
        if let Some(path) = options.config_path {
            let task = tokio::spawn(reload::watch_file(
                handle.clone(),
                path,
                options.poll_interval,
                shutdown_rx,
            ));
            if let Ok(mut tasks) = handle.tasks.lock() {
                tasks.push(task);
            }
        }
        Ok(handle)
    }

    /// Bound addresses of the traffic listeners, by listener name.
    pub fn listeners(&self) -> &[(String, SocketAddr)] {
        &self.listeners
    }

    /// Bound address of the status listener.
    pub fn status_addr(&self) -> SocketAddr {
        self.status_addr
    }

    /// State shared with the request path (snapshot, metrics).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Reads, validates and applies a config file. TLS files are re-read even when the config
    /// text did not change, so SIGHUP picks up renewed certificates.
    pub fn reload_from_file(&self, path: &Path) -> Result<ConfigVersion, ReloadError> {
        let loaded = match load_file(path) {
            Ok(loaded) => loaded,
            Err(err) => {
                self.shared.record_reload(Err(err.to_string()));
                return Err(err.into());
            }
        };
        for warning in &loaded.warnings {
            tracing::warn!(message = "Configuration warning.", file = %path.display(), warning = %warning);
        }
        self.install(loaded.config, true)
    }

    /// Applies an already validated config: builds the new version off the request path and
    /// publishes it atomically. On error the current version keeps serving.
    pub fn apply(&self, config: Config) -> Result<ConfigVersion, ReloadError> {
        self.install(config, false)
    }

    fn install(&self, config: Config, reread_files: bool) -> Result<ConfigVersion, ReloadError> {
        let _serialised = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.shared.snapshot();
        let result = self.build_and_publish(config, current.as_deref(), reread_files);
        self.shared
            .record_reload(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        result
    }

    fn build_and_publish(
        &self,
        config: Config,
        current: Option<&Snapshot>,
        reread_files: bool,
    ) -> Result<ConfigVersion, ReloadError> {
        if let Some(current) = current {
            if let Some(what) = needs_restart(&current.config, &config) {
                return Err(ReloadError::NeedsRestart(format!(
                    "{what} changed; these settings apply only on restart (the running configuration keeps serving)"
                )));
            }
        }
        let version = ConfigVersion::local(&config);
        let snapshot = Snapshot::build(
            config,
            version.clone(),
            current,
            &self.shared.metrics,
            reread_files,
        )?;
        for upstream in &snapshot.upstreams {
            let reused =
                current.is_some_and(|c| c.upstreams.iter().any(|u| Arc::ptr_eq(u, upstream)));
            if !reused {
                health::spawn(upstream);
            }
        }
        self.shared.publish(Arc::new(snapshot));
        Ok(version)
    }

    /// Stops accepting, lets in-flight requests finish up to `server.drain_timeout`, then returns.
    /// Returns the number of connections still open when the deadline passed (0 when drained).
    pub async fn shutdown(&self) -> usize {
        self.shared.start_draining();
        let _ = self.shutdown.send(true);
        let drained = tokio::time::timeout(self.drain_timeout, self.tracker.wait_drained()).await;
        self.shared.access_log.flush();
        let left = if drained.is_ok() {
            0
        } else {
            self.tracker.open()
        };
        if let Ok(mut tasks) = self.tasks.lock() {
            for task in tasks.drain(..) {
                task.abort();
            }
        }
        info!(message = "Shut down.", connections_cut = left);
        left
    }
}

/// Names the first setting that a reload cannot change on a running process, if any.
fn needs_restart(current: &Config, next: &Config) -> Option<&'static str> {
    let listeners = |c: &Config| {
        c.listeners
            .iter()
            .map(|l| (l.name.clone(), l.bind.clone(), l.tls.is_some(), l.http2))
            .collect::<Vec<_>>()
    };
    // Connection-level settings are baked into each listener's connection builder; the body
    // limit and `Via` name are read per request from the snapshot and reload fine.
    let connection_settings = |c: &Config| {
        (
            c.server.max_header_bytes,
            c.server.header_read_timeout,
            c.server.keepalive_timeout,
            c.server.drain_timeout,
        )
    };
    if listeners(current) != listeners(next) {
        Some("`listeners` (names, addresses, TLS on/off, http2)")
    } else if current.status != next.status {
        Some("`status.bind`")
    } else if connection_settings(current) != connection_settings(next) {
        Some("`server` connection settings")
    } else if current.observability.access_log.output != next.observability.access_log.output {
        Some("`observability.access_log.output`")
    } else {
        None
    }
}

async fn bind(listener: &str, addr: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            listener: listener.to_owned(),
            addr: addr.to_owned(),
            source,
        })
}

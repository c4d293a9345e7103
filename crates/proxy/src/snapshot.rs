//! The compiled, immutable form of one config version that the request path reads.
//!
//! A [`Snapshot`] is built off the request path (at start and on every reload) and published
//! atomically with `arc-swap`; requests in flight keep the snapshot they started with, which is what
//! makes a reload drop nothing. Start-up is a reload from nothing: both go through
//! [`Snapshot::build`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderName, HeaderValue};
use tokio_rustls::TlsAcceptor;

use flexgate_config::Config;
use flexgate_router::RouteTable;
use flexgate_telemetry::access_log::{Redactor, Sampler};
use flexgate_telemetry::metrics::{ProxyMetrics, RouteMetrics};

use crate::client_addr::TrustedProxies;
use crate::policy::{build_all, BuiltPolicy, EdgePolicy, PolicyBuildError};
use crate::protect::{global_shedder, RouteGuards, RouteRetry, Shedder, UpstreamGuards};
use crate::tls::{server_config, TlsError};
use crate::upstream::{UpstreamError, UpstreamRuntime};

/// Identity of a config version: what `X-Config-Version`, metrics and logs show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigVersion {
    /// The version label (`local-<hash>` for a file, the control plane's number for an agent).
    pub version: String,
    /// Content hash of the config (hex).
    pub hash: String,
}

impl ConfigVersion {
    /// The version of a config read from a local file: named after its content hash, so that the
    /// same file gives the same version across restarts.
    pub fn local(config: &Config) -> ConfigVersion {
        let hash = content_hash(config);
        ConfigVersion {
            version: format!("local-{}", &hash[..12]),
            hash,
        }
    }
}

/// 64-bit FNV-1a: a cheap, stable fingerprint (not a security boundary).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// FNV-1a over the canonical JSON form: stable across processes and cheap; it identifies versions,
/// it is not a security boundary.
pub fn content_hash(config: &Config) -> String {
    let hash = fnv1a(&serde_json::to_vec(config).unwrap_or_default());
    format!(
        "{hash:016x}{:016x}",
        hash.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15
    )
}

/// Per-route settings resolved once per version.
pub struct RouteRuntime {
    /// Route name (metric label, log field).
    pub name: Arc<str>,
    /// The route's policies, in the order written.
    pub policies: Vec<Arc<dyn EdgePolicy>>,
    /// Time one attempt may wait for the upstream's response head.
    pub timeout: Duration,
    /// Metric handles for this route and its upstream.
    pub metrics: RouteMetrics,
    /// Retries, total timeout and concurrency cap.
    pub guards: RouteGuards,
}

/// Access-log settings of this version.
pub struct AccessSettings {
    /// Masks secrets in headers and query strings.
    pub redactor: Redactor,
    /// Decides which requests are logged.
    pub sampler: Sampler,
    /// Request headers copied into each line.
    pub include_headers: Vec<HeaderName>,
}

/// One config version, ready to serve.
pub struct Snapshot {
    /// The config it was built from.
    pub config: Arc<Config>,
    /// Its identity.
    pub version: ConfigVersion,
    /// `version` as a header value, prepared once.
    pub version_header: HeaderValue,
    /// The route table.
    pub table: RouteTable,
    /// Per-route runtime settings, indexed like `config.routes`.
    pub routes: Vec<RouteRuntime>,
    /// Upstreams, indexed like `config.upstreams`.
    pub upstreams: Vec<Arc<UpstreamRuntime>>,
    /// Breaker, outlier and limit state of each upstream, indexed like `upstreams`; reused with
    /// the runtime it protects.
    pub guards: Vec<Arc<UpstreamGuards>>,
    /// The global concurrency cap (`server.load_shedding`).
    pub shedder: Option<Arc<Shedder>>,
    /// Access-log settings.
    pub access: AccessSettings,
    /// `server.max_request_body` in bytes (0: unlimited).
    pub max_request_body: u64,
    /// Value for our `Via` entry.
    pub via: HeaderValue,
    /// TLS acceptors of HTTPS listeners by listener name.
    pub tls: HashMap<String, TlsAcceptor>,
    /// Every built policy (kept for reuse by the next version).
    pub policies: Vec<BuiltPolicy>,
    /// Who may set `X-Forwarded-For`.
    pub trusted_proxies: TrustedProxies,
    /// When this version became active.
    pub loaded_at: SystemTime,
}

/// A config that passed validation could still not be made live.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The route table could not be compiled.
    #[error("routes: {0}")]
    Routes(#[from] flexgate_router::CompileError),
    /// An upstream could not be prepared.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// A listener's certificates could not be loaded.
    #[error("listeners[{listener}].tls: {source}")]
    ListenerTls {
        /// Listener name.
        listener: String,
        /// Why.
        source: TlsError,
    },
    /// A policy could not be built.
    #[error(transparent)]
    Policy(#[from] PolicyBuildError),
    /// A header value in the config is not a valid header.
    #[error("{0}")]
    Header(String),
}

impl Snapshot {
    /// Builds a version, reusing the upstream runtimes (pools, health) of `previous` whose settings
    /// did not change. With `reread_files`, upstreams that read TLS files are rebuilt anyway so that
    /// renewed CA bundles and client certificates are picked up. A rebuilt upstream keeps the
    /// known health of its targets.
    pub fn build(
        config: Config,
        version: ConfigVersion,
        previous: Option<&Snapshot>,
        metrics: &ProxyMetrics,
        reread_files: bool,
    ) -> Result<Snapshot, BuildError> {
        let table = RouteTable::compile(&config)?;
        let mut upstreams = Vec::with_capacity(config.upstreams.len());
        let mut guards = Vec::with_capacity(config.upstreams.len());
        for spec in &config.upstreams {
            // Protection state follows the upstream's settings, not its connection pool: a TLS
            // file re-read must not reset an open breaker.
            let old_guards = previous.and_then(|p| {
                p.upstreams
                    .iter()
                    .position(|u| u.spec == *spec)
                    .map(|i| p.guards[i].clone())
            });
            guards.push(old_guards.unwrap_or_else(|| {
                Arc::new(UpstreamGuards::new(
                    spec,
                    metrics.resilience.upstream(&spec.name),
                ))
            }));
            let old = previous.and_then(|p| p.upstreams.iter().find(|u| u.spec.name == spec.name));
            let runtime = match old {
                Some(old)
                    if old.spec == *spec
                        && *old.ssrf.settings() == config.security.ssrf
                        && !(reread_files && old.reads_tls_files()) =>
                {
                    old.clone()
                }
                _ => {
                    let fresh = UpstreamRuntime::build(
                        spec,
                        &config.security,
                        metrics.upstream(&spec.name),
                    )?;
                    if let Some(old) = old {
                        fresh.inherit_health(old);
                    }
                    Arc::new(fresh)
                }
            };
            upstreams.push(runtime);
        }
        let policies = build_all(
            &config,
            previous.map(|p| p.policies.as_slice()).unwrap_or(&[]),
            metrics,
        )?;
        let routes = config
            .routes
            .iter()
            .map(|route| {
                let route_policies = route
                    .policies
                    .iter()
                    .filter_map(|name| policies.iter().find(|p| p.spec.name() == name))
                    .map(|p| p.instance.clone())
                    .collect();
                let upstream = config.upstreams.iter().find(|u| u.name == route.upstream);
                // Each attempt waits at most the upstream's response-head timeout, and never
                // longer than the route's total.
                let per_attempt = upstream
                    .map(|u| u.timeouts.request.get())
                    .unwrap_or(Duration::from_secs(30));
                let timeout = route
                    .timeout
                    .map_or(per_attempt, |total| total.get().min(per_attempt));
                let shedder = route.max_concurrent_requests.map(|max| {
                    // Keep the previous version's shedder when the cap is unchanged, so requests in
                    // flight across a reload still count.
                    previous
                        .and_then(|p| {
                            p.config
                                .routes
                                .iter()
                                .position(|r| {
                                    r.name == route.name
                                        && r.max_concurrent_requests
                                            == route.max_concurrent_requests
                                })
                                .and_then(|i| p.routes[i].guards.shedder.clone())
                        })
                        .unwrap_or_else(|| {
                            let shedding = &config.server.load_shedding;
                            Arc::new(Shedder::new(
                                max,
                                shedding.queue_size,
                                shedding.queue_timeout.get(),
                            ))
                        })
                });
                let route_guards = RouteGuards {
                    retry: route.retries.as_ref().map(RouteRetry::new),
                    shedder,
                    total_timeout: route.timeout.map(|t| t.get()),
                    metrics: metrics.resilience.route(&route.name),
                };
                RouteRuntime {
                    name: Arc::from(route.name.as_str()),
                    guards: route_guards,
                    policies: route_policies,
                    timeout,
                    metrics: metrics.route(&route.name, &route.upstream),
                }
            })
            .collect();
        let mut tls = HashMap::new();
        for listener in &config.listeners {
            if let Some(listener_tls) = &listener.tls {
                let server = server_config(listener_tls, listener.http2).map_err(|source| {
                    BuildError::ListenerTls {
                        listener: listener.name.clone(),
                        source,
                    }
                })?;
                tls.insert(listener.name.clone(), TlsAcceptor::from(server));
            }
        }
        let access_log = &config.observability.access_log;
        let include_headers = access_log
            .include_headers
            .iter()
            .map(|h| {
                HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| BuildError::Header(format!("invalid header name `{h}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let via = HeaderValue::from_str(&config.server.via_name).map_err(|_| {
            BuildError::Header("server.via_name is not a valid header value".into())
        })?;
        let version_header = HeaderValue::from_str(&version.version)
            .map_err(|_| BuildError::Header("config version is not a valid header value".into()))?;
        Ok(Snapshot {
            access: AccessSettings {
                redactor: Redactor::new(&access_log.redaction),
                sampler: Sampler::new(&access_log.sampling),
                include_headers,
            },
            max_request_body: config.server.max_request_body.get(),
            via,
            version_header,
            table,
            routes,
            upstreams,
            tls,
            policies,
            guards,
            shedder: match previous {
                Some(p) if p.config.server.load_shedding == config.server.load_shedding => {
                    p.shedder.clone()
                }
                _ => global_shedder(&config.server.load_shedding),
            },
            trusted_proxies: TrustedProxies::new(&config.security.trusted_proxies),
            version,
            loaded_at: SystemTime::now(),
            config: Arc::new(config),
        })
    }
}

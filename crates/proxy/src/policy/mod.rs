//! Edge policies: named behaviours from the config (`policies:`) that routes attach in order.
//!
//! Each policy is built once per config version into an `Arc<dyn EdgePolicy>` and kept on the
//! route. On the request path, the pipeline runs the route's policies in order after routing and
//! before target selection; a policy may change the request head, add headers to the eventual
//! response, or answer the request itself (401, 403, 429, a CORS preflight…). Policies whose
//! settings did not change across a reload are reused, so their state (rate-limit buckets) carries
//! over.
//!
//! Most policies decide synchronously; a policy that must wait (a Redis round trip) returns
//! [`Step::Pending`] with a `'static` future, so the common case allocates nothing.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use http::{request, response, HeaderName, HeaderValue, Response};

use flexgate_config::{Config, Policy};
use flexgate_telemetry::metrics::ProxyMetrics;

use crate::body::ProxyBody;

mod auth;
mod cors;
mod header_rules;
mod ip_filter;
mod rate_limit;
mod redis;

/// Facts about the request that policies read.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The client address (after trusted-proxy handling).
    pub client_ip: IpAddr,
    /// The matched route's name.
    pub route: Arc<str>,
    /// The request's correlation id.
    pub correlation_id: String,
    /// The active config version.
    pub config_version: String,
}

/// What a policy decided.
#[derive(Default)]
pub struct Verdict {
    /// Answer the request with this response instead of forwarding it.
    pub respond: Option<Response<ProxyBody>>,
    /// Headers to add to the response the client gets (rate-limit state, CORS).
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
}

impl Verdict {
    /// Go on with the request.
    pub fn next() -> Verdict {
        Verdict::default()
    }

    /// Answer with `response`.
    pub fn respond(response: Response<ProxyBody>) -> Verdict {
        Verdict {
            respond: Some(response),
            response_headers: Vec::new(),
        }
    }
}

/// A policy's decision, now or later.
pub enum Step {
    /// Decided without waiting.
    Done(Verdict),
    /// Decided after an I/O wait.
    Pending(Pin<Box<dyn Future<Output = Verdict> + Send + 'static>>),
}

/// One policy instance of one config version.
pub trait EdgePolicy: Send + Sync {
    /// Runs before the request is forwarded; may change the request head.
    fn on_request(&self, ctx: &RequestContext, head: &mut request::Parts) -> Step;

    /// Runs on the upstream's response head before it goes to the client.
    fn on_response(&self, _ctx: &RequestContext, _head: &mut response::Parts) {}

    /// Whether this instance may serve `config`, a new version in which the policy's own
    /// settings are unchanged. A policy that also depends on settings outside its own (a
    /// Redis-mode rate limit on the top-level `redis`) answers `false` when those changed.
    fn reusable_with(&self, _config: &Config) -> bool {
        true
    }

    /// An external service this policy depends on, for `/health/deep`: its name and whether it
    /// answers now. `None` for policies that depend on nothing.
    fn dependency(&self) -> Option<(&'static str, bool)> {
        None
    }
}

/// A policy that could not be built from valid config (for example an unreadable key file).
#[derive(Debug, thiserror::Error)]
#[error("policies[{name}]: {reason}")]
pub struct PolicyBuildError {
    /// Policy name.
    pub name: String,
    /// Why.
    pub reason: String,
}

/// A built policy with the settings it came from (compared on reload to decide reuse).
#[derive(Clone)]
pub struct BuiltPolicy {
    /// The settings.
    pub spec: Policy,
    /// The instance.
    pub instance: Arc<dyn EdgePolicy>,
}

/// Builds every policy of `config`, reusing instances from `previous` whose settings are equal.
pub fn build_all(
    config: &Config,
    previous: &[BuiltPolicy],
    metrics: &ProxyMetrics,
) -> Result<Vec<BuiltPolicy>, PolicyBuildError> {
    config
        .policies
        .iter()
        .map(|spec| {
            if let Some(old) = previous
                .iter()
                .find(|p| p.spec == *spec && p.instance.reusable_with(config))
            {
                return Ok(old.clone());
            }
            let instance = build(spec, config, metrics).map_err(|reason| PolicyBuildError {
                name: spec.name().to_owned(),
                reason,
            })?;
            Ok(BuiltPolicy {
                spec: spec.clone(),
                instance,
            })
        })
        .collect()
}

fn build(
    spec: &Policy,
    config: &Config,
    metrics: &ProxyMetrics,
) -> Result<Arc<dyn EdgePolicy>, String> {
    match spec {
        Policy::RateLimit(p) => rate_limit::build(p, config, metrics),
        Policy::ApiKey(p) => auth::build_api_key(p),
        Policy::Jwt(p) => auth::build_jwt(p),
        Policy::Cors(p) => cors::build(p),
        Policy::Headers(p) => header_rules::build(p),
        Policy::IpFilter(p) => ip_filter::build(p),
    }
}

/// The external services `policies` depend on, each with whether it answers (only if every
/// policy using it sees it answering), in the order first used.
pub fn dependency_health(policies: &[BuiltPolicy]) -> Vec<(&'static str, bool)> {
    let mut states: Vec<(&'static str, bool)> = Vec::new();
    for (name, up) in policies.iter().filter_map(|p| p.instance.dependency()) {
        match states.iter_mut().find(|(known, _)| *known == name) {
            Some((_, all_up)) => *all_up &= up,
            None => states.push((name, up)),
        }
    }
    states
}

/// Runs `policies` in order; stops at the first one that answers. Returns the response headers
/// collected from all, or the answering policy's response (with the headers collected so far).
pub async fn run_request_policies(
    policies: &[Arc<dyn EdgePolicy>],
    ctx: &RequestContext,
    head: &mut request::Parts,
) -> Verdict {
    let mut collected = Vec::new();
    for policy in policies {
        let verdict = match policy.on_request(ctx, head) {
            Step::Done(verdict) => verdict,
            Step::Pending(future) => future.await,
        };
        collected.extend(verdict.response_headers);
        if let Some(mut response) = verdict.respond {
            for (name, value) in collected {
                response.headers_mut().append(name, value);
            }
            return Verdict::respond(response);
        }
    }
    Verdict {
        respond: None,
        response_headers: collected,
    }
}

//! The rate-limit policy (GCRA), local or shared through Redis. The operator's view is
//! `docs/rate-limiting.md`; this is how it is built.
//!
//! # Parameters
//!
//! `requests` per `window` is the sustained rate and `burst` the extra requests allowed at once,
//! so an idle key may send `requests + burst` requests at once and then one every
//! `window / requests`. In GCRA terms ([`Gcra::new`]): limit `requests` per `window` with a burst
//! of `requests - 1 + burst`, whose capacity is `requests + burst`.
//!
//! # Keys
//!
//! The configured parts (client address, API key, route, header values) are framed without
//! ambiguity (a tag per part, then either a length and the bytes or a "missing" marker) and
//! hashed, so that memory per key is fixed whatever clients send:
//!
//! - locally, into 64 bits with a randomly seeded SipHash; two clients share a bucket only if
//!   their keys collide, which is about one chance in 10⁹ among 100 000 active keys and cannot
//!   be provoked on purpose because the seed is secret and per process;
//! - in Redis, into the first 128 bits of SHA-256, the same on every gateway, written in hex
//!   after `redis.key_prefix` and the policy name. Redis thus never holds client addresses or
//!   API keys, and collisions cannot be constructed.
//!
//! A part that is absent (no API key, no such header) is the fixed "missing" marker, so all
//! requests without it share one bucket.
//!
//! # State across reloads
//!
//! The local limiter lives in the policy instance, which the policy layer reuses when the
//! policy's settings did not change, so buckets survive reloads. A Redis-mode instance is also
//! rebuilt when the top-level `redis` settings change ([`EdgePolicy::reusable_with`]).

use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::header::{self, HeaderName, HeaderValue};
use http::{request, StatusCode};
use tracing::info;

use flexgate_config::{
    Config, RateLimitKey, RateLimitMode, RateLimitPolicy, RedisSettings, RedisUnavailable,
};
use flexgate_resilience::{ceil_secs, nanos, Clock, Decision, Gcra, KeyedLimiter};
use flexgate_telemetry::metrics::{Counter, ProxyMetrics, RateLimitDecisions, RateLimitMetrics};

use super::redis::{hex, RedisClient, Script, Value};
use super::{EdgePolicy, RequestContext, Step, Verdict};
use crate::error::json_error;

/// Keys one policy keeps in memory at most (about 4 MB); beyond it the keys closest to expiry
/// are forgotten (see [`KeyedLimiter`]).
const MAX_LOCAL_KEYS: usize = 100_000;

/// The name under which `/health/deep` reports the Redis of Redis-mode limits.
pub const REDIS_DEPENDENCY: &str = "rate_limit_redis";

/// `RateLimit-Limit`: requests an idle client may send at once.
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`: requests still allowed right now.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`: seconds until the full limit is available again.
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// The GCRA script run by Redis-mode limits.
const SCRIPT: &str = include_str!("gcra.lua");

/// Builds a rate-limit policy.
pub fn build(
    spec: &RateLimitPolicy,
    config: &Config,
    metrics: &ProxyMetrics,
) -> Result<Arc<dyn EdgePolicy>, String> {
    let parts = spec
        .key
        .iter()
        .map(|part| {
            Ok(match part {
                RateLimitKey::ClientIp => KeyPart::ClientIp,
                RateLimitKey::ApiKey => KeyPart::ApiKey,
                RateLimitKey::Route => KeyPart::Route,
                RateLimitKey::Header(name) => KeyPart::Header(
                    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                        .map_err(|_| format!("key: `{name}` is not a valid header name"))?,
                ),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if parts.is_empty() {
        return Err("key: no key part".into());
    }
    let gcra = Gcra::new(
        spec.requests,
        spec.window.get(),
        spec.requests.saturating_sub(1).saturating_add(spec.burst),
    );
    let redis = match spec.mode {
        RateLimitMode::Local => None,
        RateLimitMode::Redis => {
            let settings = config.redis.as_ref().ok_or_else(|| {
                "mode is `redis` but no top-level `redis` is configured".to_owned()
            })?;
            Some(RedisMode::new(
                &spec.name,
                &gcra,
                settings,
                &metrics.rate_limit,
            )?)
        }
    };
    // Resolve the counters of the routes using the policy now, so that their series exist at
    // zero and the request path finds them without touching the family's lock.
    let routes = config
        .routes
        .iter()
        .filter(|route| route.policies.contains(&spec.name))
        .map(|route| {
            (
                Box::from(route.name.as_str()),
                metrics.rate_limit.decisions(&route.name, &spec.name),
            )
        })
        .collect();
    Ok(Arc::new(RateLimit(Arc::new(Inner {
        name: spec.name.clone(),
        parts,
        local: KeyedLimiter::new(gcra, MAX_LOCAL_KEYS),
        clock: Clock::new(),
        hasher: RandomState::new(),
        limit_value: HeaderValue::from(gcra.capacity()),
        message: spec
            .message
            .clone()
            .unwrap_or_else(|| "rate limit exceeded; retry after the Retry-After delay".into()),
        metrics: metrics.rate_limit.clone(),
        routes: ArcSwap::from_pointee(routes),
        redis,
    }))))
}

/// One part of the key, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyPart {
    ClientIp,
    ApiKey,
    Route,
    Header(HeaderName),
}

/// The policy; the state lives behind an `Arc` so that a pending Redis decision can own it.
struct RateLimit(Arc<Inner>);

struct Inner {
    name: String,
    parts: Vec<KeyPart>,
    local: KeyedLimiter<u64>,
    clock: Clock,
    /// Seed of the local key hash (secret, per instance).
    hasher: RandomState,
    /// `RateLimit-Limit`, the same for every response.
    limit_value: HeaderValue,
    message: String,
    metrics: RateLimitMetrics,
    /// Decision counters by route, extended when a route that was added by a reload (which kept
    /// this instance) first uses the policy.
    routes: ArcSwap<Vec<(Box<str>, RateLimitDecisions)>>,
    redis: Option<RedisMode>,
}

/// The Redis side of a `mode: redis` policy.
struct RedisMode {
    client: RedisClient,
    script: Arc<Script>,
    settings: RedisSettings,
    /// `<key_prefix><policy name>:`.
    key_prefix: String,
    /// The script's arguments: T and τ in microseconds.
    interval_us: String,
    tolerance_us: String,
    unavailable: Arc<Counter>,
}

impl RedisMode {
    fn new(
        name: &str,
        gcra: &Gcra,
        settings: &RedisSettings,
        metrics: &RateLimitMetrics,
    ) -> Result<RedisMode, String> {
        let script = Arc::new(Script::new(SCRIPT));
        let client = RedisClient::new(settings, script.clone(), metrics.redis_up())?;
        // Redis works in microseconds. Rounding T up keeps the rate at or below the configured
        // one, and τ as a whole number of T keeps the capacity exact.
        let interval_us = nanos(gcra.emission_interval()).div_ceil(1000).max(1);
        let tolerance_us = interval_us.saturating_mul(u64::from(gcra.burst()));
        Ok(RedisMode {
            client,
            script,
            settings: settings.clone(),
            key_prefix: format!("{}{name}:", settings.key_prefix),
            interval_us: interval_us.to_string(),
            tolerance_us: tolerance_us.to_string(),
            unavailable: metrics.redis_unavailable(),
        })
    }
}

impl EdgePolicy for RateLimit {
    fn on_request(&self, ctx: &RequestContext, head: &mut request::Parts) -> Step {
        let inner = &self.0;
        let local_key = inner.local_key(ctx, head);
        let Some(redis) = &inner.redis else {
            return Step::Done(inner.decide_locally(ctx, local_key));
        };
        if !redis.client.is_connected() {
            // Known to be down: decide now, without a task or a wait.
            return Step::Done(inner.unavailable(ctx, local_key));
        }
        let key = inner.redis_key(redis, ctx, head);
        let inner = self.0.clone();
        let ctx = ctx.clone();
        Step::Pending(Box::pin(async move {
            inner.decide_shared(&ctx, &key, local_key).await
        }))
    }

    fn reusable_with(&self, config: &Config) -> bool {
        match &self.0.redis {
            Some(redis) => config.redis.as_ref() == Some(&redis.settings),
            None => true,
        }
    }

    fn dependency(&self) -> Option<(&'static str, bool)> {
        self.0
            .redis
            .as_ref()
            .map(|redis| (REDIS_DEPENDENCY, redis.client.is_healthy()))
    }
}

/// Feeds the framed key of a request to `sink` (see the module docs): per part a tag byte, then
/// `=` with the length (8 bytes) and the value, or `-` when the part is absent.
fn key_material(
    parts: &[KeyPart],
    ctx: &RequestContext,
    head: &request::Parts,
    mut sink: impl FnMut(&[u8]),
) {
    let mut value = |tag: u8, value: Option<&[u8]>| {
        sink(&[tag]);
        match value {
            Some(v) => {
                sink(b"=");
                sink(&(v.len() as u64).to_be_bytes());
                sink(v);
            }
            None => sink(b"-"),
        }
    };
    for part in parts {
        match part {
            KeyPart::ClientIp => match ctx.client_ip {
                IpAddr::V4(ip) => value(b'4', Some(&ip.octets())),
                IpAddr::V6(ip) => value(b'6', Some(&ip.octets())),
            },
            KeyPart::ApiKey => value(b'k', api_key(head)),
            KeyPart::Route => value(b'r', Some(ctx.route.as_bytes())),
            KeyPart::Header(name) => {
                value(b'h', head.headers.get(name).map(HeaderValue::as_bytes));
            }
        }
    }
}

/// The API key presented: `X-API-Key`, else the token of `Authorization: Bearer`.
fn api_key(head: &request::Parts) -> Option<&[u8]> {
    if let Some(key) = head.headers.get(X_API_KEY) {
        return Some(key.as_bytes());
    }
    let auth = head.headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = auth.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = token.trim_ascii();
    (!token.is_empty()).then_some(token)
}

impl Inner {
    fn local_key(&self, ctx: &RequestContext, head: &request::Parts) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        key_material(&self.parts, ctx, head, |bytes| hasher.write(bytes));
        hasher.finish()
    }

    fn redis_key(&self, redis: &RedisMode, ctx: &RequestContext, head: &request::Parts) -> String {
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        key_material(&self.parts, ctx, head, |bytes| digest.update(bytes));
        let digest = digest.finish();
        let mut key = String::with_capacity(redis.key_prefix.len() + 32);
        key.push_str(&redis.key_prefix);
        key.push_str(&hex(&digest.as_ref()[..16]));
        key
    }

    fn decide_locally(&self, ctx: &RequestContext, key: u64) -> Verdict {
        let decision = self.local.check(&key, self.clock.now());
        self.verdict(ctx, decision)
    }

    /// One round trip to Redis, bounded by `redis.timeout`; any failure decides by
    /// `on_unavailable`.
    async fn decide_shared(&self, ctx: &RequestContext, key: &str, local_key: u64) -> Verdict {
        let Some(redis) = &self.redis else {
            return self.decide_locally(ctx, local_key);
        };
        let keys = [key.as_bytes()];
        let args = [redis.interval_us.as_bytes(), redis.tolerance_us.as_bytes()];
        let call = redis.client.eval_script(&redis.script, &keys, &args);
        let failure = match tokio::time::timeout(redis.settings.timeout.get(), call).await {
            Ok(Ok(reply)) => match decision_from_reply(&reply) {
                Some(decision) => {
                    redis.client.report(true, &"answered");
                    return self.verdict(ctx, decision);
                }
                None => format!("unexpected script reply {reply:?}"),
            },
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no reply within {:?}", redis.settings.timeout.get()),
        };
        redis.client.report(false, &failure);
        self.unavailable(ctx, local_key)
    }

    /// A decision Redis could not make, by `redis.on_unavailable`.
    fn unavailable(&self, ctx: &RequestContext, local_key: u64) -> Verdict {
        let Some(redis) = &self.redis else {
            return self.decide_locally(ctx, local_key);
        };
        redis.unavailable.inc();
        match redis.settings.on_unavailable {
            RedisUnavailable::Local => self.decide_locally(ctx, local_key),
            RedisUnavailable::Allow => {
                self.decisions(&ctx.route).record(true);
                Verdict::next()
            }
            RedisUnavailable::Deny => {
                let mut response = json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "rate_limiter_unavailable",
                    "the rate limiter is unavailable; retry later",
                    &ctx.correlation_id,
                    &ctx.config_version,
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                Verdict::respond(response)
            }
        }
    }

    fn verdict(&self, ctx: &RequestContext, decision: Decision) -> Verdict {
        let allowed = decision.is_allowed();
        self.decisions(&ctx.route).record(allowed);
        let headers = vec![
            (RATELIMIT_LIMIT, self.limit_value.clone()),
            (RATELIMIT_REMAINING, HeaderValue::from(decision.remaining())),
            (
                RATELIMIT_RESET,
                HeaderValue::from(ceil_secs(decision.reset_after())),
            ),
        ];
        let Some(retry_after) = decision.retry_after() else {
            return Verdict {
                respond: None,
                response_headers: headers,
            };
        };
        // Never 0: a client told to retry at once while still limited would be refused again.
        let retry_after = ceil_secs(retry_after).max(1);
        info!(
            message = "Rate limit exceeded.",
            event = "rate_limit.exceeded",
            policy = %self.name,
            route = %ctx.route,
            correlation_id = %ctx.correlation_id,
            client_ip = %ctx.client_ip,
            retry_after_s = retry_after,
        );
        let mut response = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            &self.message,
            &ctx.correlation_id,
            &ctx.config_version,
        );
        let response_headers = response.headers_mut();
        response_headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        for (name, value) in headers {
            response_headers.insert(name, value);
        }
        Verdict::respond(response)
    }

    /// The decision counters of `route` for this policy.
    fn decisions(&self, route: &str) -> RateLimitDecisions {
        if let Some((_, handles)) = self.routes.load().iter().find(|(r, _)| **r == *route) {
            return handles.clone();
        }
        let handles = self.metrics.decisions(route, &self.name);
        self.routes.rcu(|routes| {
            let mut routes = Vec::clone(routes);
            if !routes.iter().any(|(r, _)| **r == *route) {
                routes.push((Box::from(route), handles.clone()));
            }
            routes
        });
        handles
    }
}

/// Reads the script's `{allowed, remaining, reset_after_us, retry_after_us}`.
fn decision_from_reply(reply: &Value) -> Option<Decision> {
    let Value::Array(items) = reply else {
        return None;
    };
    let mut numbers = items.iter().map(|item| match item {
        Value::Int(n) => Some(u64::try_from(*n).unwrap_or(0)),
        _ => None,
    });
    let mut next = || numbers.next().flatten();
    let (allowed, remaining, reset_us, retry_us) = (next()?, next()?, next()?, next()?);
    let reset_after = Duration::from_micros(reset_us);
    Some(if allowed == 1 {
        Decision::Allowed {
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_after,
        }
    } else {
        Decision::Limited {
            retry_after: Duration::from_micros(retry_us),
            reset_after,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn ctx(ip: &str, route: &str) -> RequestContext {
        RequestContext {
            client_ip: ip.parse().unwrap(),
            route: Arc::from(route),
            correlation_id: "c".into(),
            config_version: "v".into(),
        }
    }

    fn head(headers: &[(&str, &str)]) -> request::Parts {
        let mut builder = Request::builder().uri("/");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn material(parts: &[KeyPart], ctx: &RequestContext, head: &request::Parts) -> Vec<u8> {
        let mut out = Vec::new();
        key_material(parts, ctx, head, |b| out.extend_from_slice(b));
        out
    }

    #[test]
    fn key_parts_are_framed_without_ambiguity() {
        let parts = [
            KeyPart::Header(HeaderName::from_static("x-a")),
            KeyPart::Header(HeaderName::from_static("x-b")),
        ];
        let c = ctx("127.0.0.1", "r");
        // The same bytes split differently between two parts give different keys.
        let one = material(&parts, &c, &head(&[("x-a", "ab"), ("x-b", "c")]));
        let two = material(&parts, &c, &head(&[("x-a", "a"), ("x-b", "bc")]));
        assert_ne!(one, two);
        // A missing header differs from an empty one, and all missing ones are equal.
        let missing = material(&parts, &c, &head(&[("x-b", "c")]));
        let empty = material(&parts, &c, &head(&[("x-a", ""), ("x-b", "c")]));
        assert_ne!(missing, empty);
        assert_eq!(
            missing,
            material(&parts, &ctx("127.0.0.2", "other"), &head(&[("x-b", "c")]))
        );
    }

    #[test]
    fn client_ip_and_route_parts() {
        let parts = [KeyPart::ClientIp, KeyPart::Route];
        let h = head(&[]);
        let a = material(&parts, &ctx("127.0.0.1", "r"), &h);
        assert_ne!(a, material(&parts, &ctx("127.0.0.2", "r"), &h));
        assert_ne!(a, material(&parts, &ctx("127.0.0.1", "s"), &h));
        assert_ne!(
            material(&parts, &ctx("::1", "r"), &h),
            material(&parts, &ctx("::2", "r"), &h)
        );
    }

    #[test]
    fn api_key_from_either_header() {
        let parts = [KeyPart::ApiKey];
        let c = ctx("127.0.0.1", "r");
        let header = material(&parts, &c, &head(&[("x-api-key", "k1")]));
        let bearer = material(&parts, &c, &head(&[("authorization", "bearer  k1 ")]));
        assert_eq!(header, bearer);
        let none = material(&parts, &c, &head(&[("authorization", "Basic k1")]));
        assert_eq!(none, material(&parts, &c, &head(&[])));
        assert_ne!(none, header);
        assert_eq!(api_key(&head(&[("authorization", "Bearer ")])), None);
    }

    #[test]
    fn reply_becomes_decision() {
        let reply = |v: [i64; 4]| Value::Array(v.iter().map(|n| Value::Int(*n)).collect());
        assert_eq!(
            decision_from_reply(&reply([1, 3, 2_500_000, 0])),
            Some(Decision::Allowed {
                remaining: 3,
                reset_after: Duration::from_millis(2500)
            })
        );
        assert_eq!(
            decision_from_reply(&reply([0, 0, 9_000_000, 1_000_001])),
            Some(Decision::Limited {
                retry_after: Duration::from_micros(1_000_001),
                reset_after: Duration::from_secs(9)
            })
        );
        assert_eq!(decision_from_reply(&Value::Int(1)), None);
        assert_eq!(
            decision_from_reply(&Value::Array(vec![Value::Int(1), Value::Nil])),
            None
        );
    }

    #[tokio::test]
    async fn local_limit_is_requests_plus_burst() {
        let text = "version: 1\nlisteners: [{name: main, bind: \"127.0.0.1:0\"}]\n\
                    upstreams: [{name: u, targets: [{url: \"http://127.0.0.1:9\"}]}]\n\
                    routes: [{name: r, match: {path: /}, upstream: u, policies: [p]}]\n\
                    policies: [{type: rate_limit, name: p, requests: 3, window: 60s, burst: 2}]\n";
        let config = flexgate_config::parse_str(text, flexgate_config::SourceFormat::Yaml)
            .unwrap()
            .config;
        let spec = RateLimitPolicy {
            name: "p".into(),
            requests: 3,
            window: flexgate_config::Duration::from_secs(60),
            burst: 2,
            key: vec![RateLimitKey::ClientIp],
            mode: RateLimitMode::Local,
            message: None,
        };
        let metrics = ProxyMetrics::new();
        let policy = build(&spec, &config, &metrics).unwrap();
        let c = ctx("127.0.0.1", "r");
        let mut remaining = Vec::new();
        for _ in 0..6 {
            let Step::Done(verdict) = policy.on_request(&c, &mut head(&[])) else {
                panic!("local decisions are synchronous");
            };
            match verdict.respond {
                None => remaining.push(
                    verdict
                        .response_headers
                        .iter()
                        .find(|(n, _)| *n == RATELIMIT_REMAINING)
                        .map(|(_, v)| v.to_str().unwrap().to_owned())
                        .unwrap(),
                ),
                Some(response) => {
                    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
                    assert_eq!(response.headers()[header::RETRY_AFTER], "20");
                    assert_eq!(response.headers()[RATELIMIT_RESET], "100");
                }
            }
        }
        assert_eq!(remaining, ["4", "3", "2", "1", "0"]);
        assert!(metrics.encode().contains(
            "flexgate_rate_limit_decisions_total{route=\"r\",policy=\"p\",result=\"limited\"} 1\n"
        ));
    }
}

//! Validation of the protection settings: circuit breakers, outlier detection, retries, load
//! shedding, request limits, the SSRF guard, and the policy types. Called from [`crate::validate`].

use std::net::IpAddr;

use crate::cidr::Cidr;
use crate::diagnostics::Diagnostic;
use crate::policy::{JwtAlgorithm, Policy};
use crate::ssrf::{literal_addresses, url_host, AddressRules, Refusal};
use crate::{Config, Route, Upstream};

/// Features of the config that this version of the data plane does not enforce yet. Validation
/// warns on each use, so an operator never believes a protection is active when it is not.
/// Shrinks as features land.
pub fn unenforced_policy(policy: &Policy) -> bool {
    match policy {
        Policy::RateLimit(_)
        | Policy::ApiKey(_)
        | Policy::Jwt(_)
        | Policy::Cors(_)
        | Policy::Headers(_)
        | Policy::IpFilter(_) => false,
    }
}

fn check_networks(path: &str, list: &[String], out: &mut Vec<Diagnostic>) {
    for (i, net) in list.iter().enumerate() {
        if let Err(e) = net.parse::<Cidr>() {
            out.push(Diagnostic::error(format!("{path}[{i}]"), e));
        }
    }
}

fn positive(path: String, value: u32, out: &mut Vec<Diagnostic>) {
    if value == 0 {
        out.push(Diagnostic::error(path, "must be at least 1"));
    }
}

fn not_enforced(path: String, what: &str, out: &mut Vec<Diagnostic>) {
    out.push(Diagnostic::warning(
        path,
        format!("{what} is not enforced by this version of the data plane yet; this setting has no effect"),
    ));
}

/// Upstream protection settings.
pub fn check_upstream_protection(path: &str, upstream: &Upstream, out: &mut Vec<Diagnostic>) {
    if upstream.limits.max_connections > 0 {
        not_enforced(
            format!("{path}.limits.max_connections"),
            "a cap on upstream connections (`max_requests` and `max_pending` are enforced)",
            out,
        );
    }
    check_networks(
        &format!("{path}.allow_networks"),
        &upstream.allow_networks,
        out,
    );
    if let Some(cb) = &upstream.circuit_breaker {
        let cpath = format!("{path}.circuit_breaker");
        if cb.max_open_duration < cb.open_duration {
            out.push(Diagnostic::error(
                format!("{cpath}.max_open_duration"),
                format!(
                    "{} is shorter than open_duration ({})",
                    cb.max_open_duration, cb.open_duration
                ),
            ));
        }
        if cb.failure_on.is_empty() {
            out.push(Diagnostic::error(
                format!("{cpath}.failure_on"),
                "lists no failure kind: the breaker could never open",
            ));
        }
        if let Some(fallback) = &cb.fallback {
            if !(200..=599).contains(&fallback.status) {
                out.push(Diagnostic::error(
                    format!("{cpath}.fallback.status"),
                    format!(
                        "{} is not an HTTP status between 200 and 599",
                        fallback.status
                    ),
                ));
            }
        }
    }
    if let Some(od) = &upstream.outlier_detection {
        let opath = format!("{path}.outlier_detection");
        positive(
            format!("{opath}.consecutive_errors"),
            od.consecutive_errors,
            out,
        );
        if !(1..=100).contains(&od.max_ejection_percent) {
            out.push(Diagnostic::error(
                format!("{opath}.max_ejection_percent"),
                "must be a percentage between 1 and 100",
            ));
        }
        if od.base_ejection_time.is_zero() {
            out.push(Diagnostic::error(
                format!("{opath}.base_ejection_time"),
                "must be greater than 0s",
            ));
        }
    }
}

/// Route protection settings.
pub fn check_route_protection(path: &str, route: &Route, out: &mut Vec<Diagnostic>) {
    if let Some(r) = &route.retries {
        let rpath = format!("{path}.retries");
        positive(format!("{rpath}.attempts"), r.attempts, out);
        if r.attempts > 10 {
            out.push(Diagnostic::error(
                format!("{rpath}.attempts"),
                format!(
                    "{} attempts would multiply the load on a failing upstream; use at most 10",
                    r.attempts
                ),
            ));
        }
        if !(0.0..=1.0).contains(&r.budget_ratio) {
            out.push(Diagnostic::error(
                format!("{rpath}.budget_ratio"),
                "must be between 0.0 and 1.0",
            ));
        }
        if r.backoff_max < r.backoff_base {
            out.push(Diagnostic::error(
                format!("{rpath}.backoff_max"),
                "is shorter than backoff_base",
            ));
        }
        if let (Some(per_try), Some(total)) = (r.per_try_timeout, route.timeout) {
            if per_try > total {
                out.push(Diagnostic::warning(
                    format!("{rpath}.per_try_timeout"),
                    format!("longer than the route's total timeout ({total}): no retry can happen after a timed-out attempt"),
                ));
            }
        }
    }
    if route.max_concurrent_requests == Some(0) {
        out.push(Diagnostic::error(
            format!("{path}.max_concurrent_requests"),
            "must be at least 1 (remove it for no cap)",
        ));
    }
}

/// Global protection settings.
pub fn check_global_protection(config: &Config, out: &mut Vec<Diagnostic>) {
    check_networks(
        "security.trusted_proxies",
        &config.security.trusted_proxies,
        out,
    );
    check_networks(
        "security.ssrf.allow_networks",
        &config.security.ssrf.allow_networks,
        out,
    );
    check_networks(
        "security.ssrf.extra_blocked_networks",
        &config.security.ssrf.extra_blocked_networks,
        out,
    );
    check_ssrf_targets(config, out);
    let limits = &config.server.limits;
    if limits.max_uri_length.get() < 16 {
        out.push(Diagnostic::error(
            "server.limits.max_uri_length",
            "is too small for any real request",
        ));
    }
    positive("server.limits.max_headers".into(), limits.max_headers, out);
    if let Some(redis) = &config.redis {
        if !redis.url.starts_with("redis://") {
            out.push(
                Diagnostic::error(
                    "redis.url",
                    format!("`{}` is not a redis:// URL", redis.url),
                )
                .with_hint("write it as redis://host:port or redis://host:port/db"),
            );
        }
        if redis.timeout.is_zero() {
            out.push(Diagnostic::error(
                "redis.timeout",
                "must be greater than 0s",
            ));
        }
    }
}

/// Targets written as an address (or `localhost`) that the SSRF guard will refuse: a warning with
/// the network to allow, since every request to them would fail with `502 upstream_blocked`.
fn check_ssrf_targets(config: &Config, out: &mut Vec<Diagnostic>) {
    let ssrf = &config.security.ssrf;
    if !ssrf.enabled {
        return;
    }
    for (i, upstream) in config.upstreams.iter().enumerate() {
        let rules = AddressRules::new(
            &ssrf.extra_blocked_networks,
            ssrf.allow_networks.iter().chain(&upstream.allow_networks),
        );
        for (t, target) in upstream.targets.iter().enumerate() {
            let Some(host) = url_host(&target.url) else {
                continue;
            };
            let Some(addresses) = literal_addresses(host) else {
                continue;
            };
            // A name with several addresses stays reachable while one of them is allowed.
            let refusals: Vec<Refusal> = addresses
                .iter()
                .filter_map(|a| rules.check(*a).err())
                .collect();
            if refusals.len() < addresses.len() {
                continue;
            }
            let Some(first) = refusals.first() else {
                continue;
            };
            let suggested: Vec<String> = addresses
                .iter()
                .map(|a| match a {
                    IpAddr::V4(_) => format!("{a}/32"),
                    IpAddr::V6(_) => format!("{a}/128"),
                })
                .collect();
            out.push(
                Diagnostic::warning(
                    format!("upstreams[{i}].targets[{t}].url"),
                    format!(
                        "`{host}` is in {} ({}), which the SSRF guard blocks: requests to this target will fail with 502 upstream_blocked",
                        first.what, first.network
                    ),
                )
                .with_hint(format!(
                    "if this target is meant to be reached, add `allow_networks: [{}]` (or a network that contains it) to upstream `{}`",
                    suggested.join(", "),
                    upstream.name
                )),
            );
        }
    }
}

/// One policy's own settings.
pub fn check_policy(path: &str, policy: &Policy, config: &Config, out: &mut Vec<Diagnostic>) {
    match policy {
        Policy::RateLimit(rl) => {
            if rl.requests == 0 {
                out.push(Diagnostic::error(
                    format!("{path}.requests"),
                    "must be at least 1; to block a route, remove it instead",
                ));
            }
            if rl.window.is_zero() {
                out.push(Diagnostic::error(
                    format!("{path}.window"),
                    "must be greater than 0s",
                ));
            }
            if rl.key.is_empty() {
                out.push(Diagnostic::error(
                    format!("{path}.key"),
                    "lists no key part; use [client_ip] or [route]",
                ));
            }
            if rl.mode == crate::policy::RateLimitMode::Redis && config.redis.is_none() {
                out.push(
                    Diagnostic::error(
                        format!("{path}.mode"),
                        "is `redis` but no top-level `redis` is configured",
                    )
                    .with_hint("add `redis: {url: redis://127.0.0.1:6379}`"),
                );
            }
        }
        Policy::ApiKey(p) => {
            if p.keys.is_empty() {
                out.push(Diagnostic::error(
                    format!("{path}.keys"),
                    "lists no key: every request would be refused",
                ));
            }
            for (i, key) in p.keys.iter().enumerate() {
                let valid = key.sha256.len() == 64
                    && key
                        .sha256
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if !valid {
                    out.push(
                        Diagnostic::error(
                            format!("{path}.keys[{i}].sha256"),
                            "must be 64 lower-case hex digits (the SHA-256 of the key)",
                        )
                        .with_hint("compute it with: printf %s \"$KEY\" | sha256sum"),
                    );
                }
            }
        }
        Policy::Jwt(p) => {
            if p.algorithms.is_empty() {
                out.push(Diagnostic::error(
                    format!("{path}.algorithms"),
                    "lists no algorithm",
                ));
            }
            let hs = p.algorithms.contains(&JwtAlgorithm::HS256);
            let asymmetric = p
                .algorithms
                .iter()
                .any(|a| matches!(a, JwtAlgorithm::RS256 | JwtAlgorithm::ES256));
            if hs && p.secret.as_deref().is_none_or(str::is_empty) {
                out.push(Diagnostic::error(
                    format!("{path}.secret"),
                    "HS256 needs a non-empty `secret`",
                ));
            }
            if asymmetric && p.public_key_file.is_none() && p.jwks_file.is_none() {
                out.push(Diagnostic::error(
                    path.to_owned(),
                    "RS256/ES256 need `public_key_file` or `jwks_file`",
                ));
            }
        }
        Policy::Cors(p) => {
            if p.allow_origins.is_empty() {
                out.push(Diagnostic::error(
                    format!("{path}.allow_origins"),
                    "lists no origin",
                ));
            }
            if p.allow_credentials && p.allow_origins.iter().any(|o| o == "*") {
                out.push(Diagnostic::error(
                    format!("{path}.allow_credentials"),
                    "browsers reject credentials with the `*` origin; list the origins instead",
                ));
            }
            // The router answers `405` before any policy runs, so a preflight to a route that
            // lists methods without OPTIONS never reaches this policy.
            for (r, route) in config.routes.iter().enumerate() {
                let methods = &route.matcher.methods;
                if route.policies.contains(&p.name)
                    && !methods.is_empty()
                    && !methods.iter().any(|m| m == "OPTIONS")
                {
                    out.push(
                        Diagnostic::warning(
                            format!("routes[{r}].match.methods"),
                            format!(
                                "route `{}` uses CORS policy `{}` but does not accept OPTIONS: browser preflights get `405`",
                                route.name, p.name
                            ),
                        )
                        .with_hint("add OPTIONS to `methods`, or list no methods"),
                    );
                }
            }
        }
        Policy::Headers(p) => {
            for (side, changes) in [("request", &p.request), ("response", &p.response)] {
                let names = changes
                    .add
                    .iter()
                    .chain(changes.set.iter())
                    .map(|(k, v)| (k.as_str(), Some(v.as_str())))
                    .chain(changes.remove.iter().map(|k| (k.as_str(), None)));
                for (name, value) in names {
                    let valid_name = !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                    if !valid_name {
                        out.push(Diagnostic::error(
                            format!("{path}.{side}"),
                            format!("`{name}` is not a valid header name"),
                        ));
                    }
                    if value.is_some_and(|v| v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0))
                    {
                        out.push(Diagnostic::error(
                            format!("{path}.{side}.{name}"),
                            "header values cannot contain CR, LF or NUL",
                        ));
                    }
                }
            }
        }
        Policy::IpFilter(p) => {
            check_networks(&format!("{path}.allow"), &p.allow, out);
            check_networks(&format!("{path}.deny"), &p.deny, out);
            if p.allow.is_empty() && p.deny.is_empty() {
                out.push(Diagnostic::warning(
                    path.to_owned(),
                    "lists neither `allow` nor `deny`: it has no effect",
                ));
            }
        }
    }
}

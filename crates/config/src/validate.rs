//! Semantic validation of a `flexgate/v1` document.
//!
//! [`validate`] reports every problem it finds, each with the path of the offending value, so an
//! operator can fix a file in one pass instead of one error per reload. Parsing (types, unknown
//! keys, units) happens before this in [`crate::load`]; this module checks what types cannot:
//! references between entities, addresses, URLs, route patterns and routes that can never match.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use crate::diagnostics::{did_you_mean, Diagnostic};
use crate::pattern::{check_host_pattern, host_covers, PathPattern};
use crate::{
    Config, HeaderMatch, HealthCheck, Listener, LoadBalancing, Policy, Route, RouteMatch, Upstream,
};

/// The document version this crate reads natively.
pub const SUPPORTED_VERSION: u32 = 1;

/// Checks `config` and returns every problem found (errors and warnings), in document order.
///
/// An empty result, or one with only warnings, means the config can be loaded.
pub fn validate(config: &Config) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if config.version != SUPPORTED_VERSION {
        out.push(
            Diagnostic::error(
                "version",
                format!(
                    "unsupported version {}; this FlexGate reads version {SUPPORTED_VERSION}",
                    config.version
                ),
            )
            .with_hint("write `version: 1`"),
        );
    }
    check_listeners(config, &mut out);
    check_server(config, &mut out);
    check_upstreams(config, &mut out);
    check_policies(config, &mut out);
    check_routes(config, &mut out);
    check_observability(config, &mut out);
    crate::validate_protection::check_global_protection(config, &mut out);
    out
}

/// Indices of `config.routes` in the order the router tries them: by descending `priority`,
/// then in the order written. The first route whose conditions all hold takes the request.
pub fn route_rank(config: &Config) -> Vec<usize> {
    let mut order: Vec<usize> = (0..config.routes.len()).collect();
    // `sort_by_key` is stable, which is what keeps declaration order among equal priorities.
    order.sort_by_key(|&i| std::cmp::Reverse(config.routes[i].priority));
    order
}

/// Reports names used more than once; `kind` is the singular noun used in messages.
fn check_unique_names<'a>(
    kind: &str,
    section: &str,
    names: impl Iterator<Item = &'a str>,
    out: &mut Vec<Diagnostic>,
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, name) in names.enumerate() {
        let path = format!("{section}[{i}].name");
        if name.trim().is_empty() {
            out.push(Diagnostic::error(path, format!("{kind} name is empty")));
            continue;
        }
        if let Some(first) = seen.get(name) {
            out.push(
                Diagnostic::error(
                    path,
                    format!("duplicate {kind} name `{name}`: already used by {section}[{first}]"),
                )
                .with_hint(format!("{kind} names must be unique; rename one of them")),
            );
        } else {
            seen.insert(name, i);
        }
    }
}

fn check_listeners(config: &Config, out: &mut Vec<Diagnostic>) {
    check_unique_names(
        "listener",
        "listeners",
        config.listeners.iter().map(|l| l.name.as_str()),
        out,
    );
    if config.listeners.is_empty() {
        out.push(
            Diagnostic::error(
                "listeners",
                "no listeners: the proxy would accept no traffic",
            )
            .with_hint("remove `listeners` to get the default `0.0.0.0:8000`, or add one"),
        );
    }
    // Parsed binds, so that conflicts can be found afterwards.
    let mut binds: Vec<(String, SocketAddr)> = Vec::new();
    for (i, listener) in config.listeners.iter().enumerate() {
        let path = format!("listeners[{i}]");
        if let Some(addr) = check_bind(&format!("{path}.bind"), &listener.bind, out) {
            binds.push((format!("{path}.bind"), addr));
        }
        check_listener_tls(&path, listener, out);
    }
    if let Some(addr) = check_bind("status.bind", &config.status.bind, out) {
        binds.push(("status.bind".into(), addr));
    }
    for (j, (path, addr)) in binds.iter().enumerate() {
        if let Some((other, _)) = binds[..j].iter().find(|(_, a)| binds_conflict(*a, *addr)) {
            out.push(Diagnostic::error(
                path.clone(),
                format!("`{addr}` conflicts with {other}: both cannot be bound at the same time"),
            ));
        }
    }
}

/// Whether binding both addresses would fail with "address in use".
fn binds_conflict(a: SocketAddr, b: SocketAddr) -> bool {
    // Port 0 asks the kernel for a fresh port each time, so it never conflicts.
    if a.port() == 0 || a.port() != b.port() || a.is_ipv4() != b.is_ipv4() {
        return false;
    }
    // A wildcard address takes the port on every interface of its family.
    a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified()
}

fn check_bind(path: &str, bind: &str, out: &mut Vec<Diagnostic>) -> Option<SocketAddr> {
    match bind.parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            let hint = if bind.parse::<IpAddr>().is_ok() {
                format!("add a port, as in `{bind}:8000` (IPv6: `[{bind}]:8000`)")
            } else if let Some(port) = bind.strip_prefix("localhost:") {
                format!("write `127.0.0.1:{port}`")
            } else if let Some(port) = bind.strip_prefix(':') {
                format!("write `0.0.0.0:{port}` for all interfaces")
            } else {
                "write an IP address and port such as `0.0.0.0:8000` or `[::]:8443`; host names are not resolved".into()
            };
            out.push(
                Diagnostic::error(path, format!("`{bind}` is not a socket address"))
                    .with_hint(hint),
            );
            None
        }
    }
}

fn check_listener_tls(path: &str, listener: &Listener, out: &mut Vec<Diagnostic>) {
    let Some(tls) = &listener.tls else {
        return;
    };
    if tls.certificates.is_empty() {
        out.push(
            Diagnostic::error(
                format!("{path}.tls.certificates"),
                "a TLS listener needs at least one certificate",
            )
            .with_hint("add `cert_file` and `key_file`, or remove `tls` to serve plain HTTP"),
        );
    }
    for (c, cert) in tls.certificates.iter().enumerate() {
        let cpath = format!("{path}.tls.certificates[{c}]");
        if cert.cert_file.as_os_str().is_empty() {
            out.push(Diagnostic::error(
                format!("{cpath}.cert_file"),
                "cert_file is empty",
            ));
        }
        if cert.key_file.as_os_str().is_empty() {
            out.push(Diagnostic::error(
                format!("{cpath}.key_file"),
                "key_file is empty",
            ));
        }
        for (n, name) in cert.server_names.iter().enumerate() {
            if let Err(e) = check_host_pattern(name) {
                out.push(Diagnostic::error(format!("{cpath}.server_names[{n}]"), e));
            }
        }
    }
}

fn check_server(config: &Config, out: &mut Vec<Diagnostic>) {
    let server = &config.server;
    if server.max_header_bytes.get() == 0 {
        out.push(Diagnostic::error(
            "server.max_header_bytes",
            "must be greater than 0: no request head fits in zero bytes",
        ));
    }
    if server.header_read_timeout.is_zero() {
        out.push(Diagnostic::error(
            "server.header_read_timeout",
            "must be greater than 0s: no client could send a request",
        ));
    }
    if server.via_name.is_empty()
        || !server
            .via_name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != ',')
    {
        out.push(Diagnostic::error(
            "server.via_name",
            format!(
                "`{}` is not a valid `Via` pseudonym: use visible ASCII without spaces or commas",
                server.via_name
            ),
        ));
    }
}

/// A parsed target URL.
struct TargetUrl {
    https: bool,
}

fn parse_target_url(url: &str) -> Result<TargetUrl, (String, Option<String>)> {
    let lower = url.to_ascii_lowercase();
    let (https, rest) = if lower.starts_with("http://") {
        (false, &url["http://".len()..])
    } else if lower.starts_with("https://") {
        (true, &url["https://".len()..])
    } else if let Some((scheme, _)) = url.split_once("://") {
        return Err((
            format!(
                "unsupported scheme `{scheme}` in `{url}`; targets are `http://` or `https://`"
            ),
            None,
        ));
    } else {
        return Err((
            format!("`{url}` is not a URL with a scheme"),
            Some(format!("write `http://{url}`")),
        ));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err((
            format!("`{url}` contains credentials (`user@`); targets cannot carry credentials"),
            Some("remove the `user:password@` part".into()),
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err((format!("`{url}` has an unterminated IPv6 address"), None));
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err((format!("`{addr}` in `{url}` is not an IPv6 address"), None));
        }
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => return Err((format!("unexpected `{p}` after the host in `{url}`"), None)),
            },
        };
        (addr, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err((format!("`{url}` has no host"), None));
    }
    if !authority.starts_with('[') {
        if let Err(e) = check_host_pattern(host) {
            return Err((e, None));
        }
        if host.contains('*') {
            return Err((format!("`{url}`: a target host cannot be a wildcard"), None));
        }
        // Parsers disagree on `2130706433` or `0x7f.0.0.1`; only dotted quads pass.
        if let Some((message, hint)) = crate::ssrf::non_canonical_ipv4(host) {
            return Err((format!("`{url}`: {message}"), hint));
        }
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(0) => return Err((format!("`{url}` has port 0"), None)),
            Ok(_) => {}
            Err(_) => return Err((format!("`{url}` has an invalid port `{port}`"), None)),
        }
    }
    let (path, query) = match tail.find(['?', '#']) {
        Some(q) => (&tail[..q], Some(&tail[q..])),
        None => (tail, None),
    };
    if query.is_some() {
        return Err((
            format!("`{url}` has a query or fragment; targets are base URLs only"),
            None,
        ));
    }
    if !path.is_empty() && path != "/" {
        return Err((
            format!("`{url}` has the path `{path}`; targets are base URLs without a path"),
            Some(format!(
                "use `rewrite_prefix: {path}` on the routes to add the path to forwarded requests"
            )),
        ));
    }
    Ok(TargetUrl { https })
}

fn check_upstreams(config: &Config, out: &mut Vec<Diagnostic>) {
    check_unique_names(
        "upstream",
        "upstreams",
        config.upstreams.iter().map(|u| u.name.as_str()),
        out,
    );
    for (i, upstream) in config.upstreams.iter().enumerate() {
        let path = format!("upstreams[{i}]");
        check_upstream(&path, upstream, out);
        if !upstream.name.is_empty() && !config.routes.iter().any(|r| r.upstream == upstream.name) {
            out.push(Diagnostic::warning(
                format!("{path}.name"),
                format!("upstream `{}` is not used by any route", upstream.name),
            ));
        }
    }
}

fn check_upstream(path: &str, upstream: &Upstream, out: &mut Vec<Diagnostic>) {
    crate::validate_protection::check_upstream_protection(path, upstream, out);
    if upstream.targets.is_empty() {
        out.push(
            Diagnostic::error(
                format!("{path}.targets"),
                format!("upstream `{}` has no targets", upstream.name),
            )
            .with_hint("add at least one `- url: http://host:port`"),
        );
    }
    let mut first_scheme: Option<(bool, usize)> = None;
    let mut any_https = false;
    for (t, target) in upstream.targets.iter().enumerate() {
        let tpath = format!("{path}.targets[{t}].url");
        match parse_target_url(&target.url) {
            Ok(parsed) => {
                any_https |= parsed.https;
                match first_scheme {
                    None => first_scheme = Some((parsed.https, t)),
                    Some((https, first)) if https != parsed.https => out.push(Diagnostic::error(
                        tpath,
                        format!(
                            "all targets of an upstream must use the same scheme, but {path}.targets[{first}] uses `{}` and this one `{}`",
                            scheme_name(https),
                            scheme_name(parsed.https)
                        ),
                    ).with_hint("split them into two upstreams")),
                    Some(_) => {}
                }
            }
            Err((message, hint)) => {
                out.push(Diagnostic::error(tpath, message).with_hint_opt(hint));
            }
        }
    }
    if upstream.load_balancing == LoadBalancing::Weighted
        && !upstream.targets.is_empty()
        && upstream.targets.iter().all(|t| t.weight == 0)
    {
        out.push(Diagnostic::error(
            format!("{path}.targets"),
            "every target has weight 0, so no target can receive traffic",
        ));
    }
    let timeouts = &upstream.timeouts;
    if timeouts.connect.is_zero() {
        out.push(Diagnostic::error(
            format!("{path}.timeouts.connect"),
            "must be greater than 0s: no connection could ever be established",
        ));
    }
    if timeouts.request.is_zero() {
        out.push(Diagnostic::error(
            format!("{path}.timeouts.request"),
            "must be greater than 0s: every request would time out",
        ));
    }
    if let Some(hc) = &upstream.health_check {
        check_health(&format!("{path}.health_check"), hc, out);
    }
    if let Some(tls) = &upstream.tls {
        let tpath = format!("{path}.tls");
        if !any_https && !upstream.targets.is_empty() && first_scheme.is_some() {
            out.push(
                Diagnostic::warning(
                    tpath.clone(),
                    "`tls` has no effect: every target of this upstream is `http://`",
                )
                .with_hint("use `https://` target URLs, or remove `tls`"),
            );
        }
        match (&tls.client_cert_file, &tls.client_key_file) {
            (Some(_), None) => out.push(Diagnostic::error(
                format!("{tpath}.client_cert_file"),
                "`client_cert_file` needs `client_key_file` as well",
            )),
            (None, Some(_)) => out.push(Diagnostic::error(
                format!("{tpath}.client_key_file"),
                "`client_key_file` needs `client_cert_file` as well",
            )),
            _ => {}
        }
        if let Some(name) = &tls.server_name {
            if let Err(e) = check_host_pattern(name) {
                out.push(Diagnostic::error(format!("{tpath}.server_name"), e));
            } else if name.contains('*') {
                out.push(Diagnostic::error(
                    format!("{tpath}.server_name"),
                    "a server name to verify cannot be a wildcard",
                ));
            }
        }
    }
    if let Some(cb) = &upstream.circuit_breaker {
        let cpath = format!("{path}.circuit_breaker");
        if !(1..=100).contains(&cb.failure_rate_threshold) {
            out.push(Diagnostic::error(
                format!("{cpath}.failure_rate_threshold"),
                format!(
                    "{} is not a percentage between 1 and 100",
                    cb.failure_rate_threshold
                ),
            ));
        }
        for (field, value) in [
            ("minimum_requests", cb.minimum_requests),
            ("half_open_requests", cb.half_open_requests),
        ] {
            if value == 0 {
                out.push(Diagnostic::error(
                    format!("{cpath}.{field}"),
                    "must be at least 1",
                ));
            }
        }
        for (field, value) in [("window", cb.window), ("open_duration", cb.open_duration)] {
            if value.is_zero() {
                out.push(Diagnostic::error(
                    format!("{cpath}.{field}"),
                    "must be greater than 0s",
                ));
            }
        }
    }
}

fn scheme_name(https: bool) -> &'static str {
    if https {
        "https"
    } else {
        "http"
    }
}

/// Parses `NNN` or `NNN-NNN` (inclusive, within 100–599).
pub fn parse_status_range(s: &str) -> Result<(u16, u16), String> {
    let code = |part: &str| -> Result<u16, String> {
        let part = part.trim();
        if part.len() != 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("`{part}` is not a three-digit status code"));
        }
        let n: u16 = part
            .parse()
            .map_err(|_| format!("`{part}` is not a status code"))?;
        if !(100..=599).contains(&n) {
            return Err(format!("{n} is outside 100-599"));
        }
        Ok(n)
    };
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (code(a)?, code(b)?),
        None => {
            let c = code(s)?;
            (c, c)
        }
    };
    if lo > hi {
        return Err(format!("range `{s}` is empty: {lo} is greater than {hi}"));
    }
    Ok((lo, hi))
}

fn check_health(path: &str, hc: &HealthCheck, out: &mut Vec<Diagnostic>) {
    if !hc.path.starts_with('/') {
        out.push(
            Diagnostic::error(format!("{path}.path"), "must start with `/`")
                .with_hint(format!("write `/{}`", hc.path)),
        );
    }
    if let Err(e) = parse_status_range(&hc.expected_status) {
        out.push(
            Diagnostic::error(
                format!("{path}.expected_status"),
                format!("invalid status range `{}`: {e}", hc.expected_status),
            )
            .with_hint("write one code such as `200` or a range such as `200-399`"),
        );
    }
    if hc.interval.is_zero() {
        out.push(Diagnostic::error(
            format!("{path}.interval"),
            "must be greater than 0s",
        ));
    }
    if hc.timeout.is_zero() {
        out.push(Diagnostic::error(
            format!("{path}.timeout"),
            "must be greater than 0s: every check would fail",
        ));
    } else if hc.timeout >= hc.interval && !hc.interval.is_zero() {
        out.push(
            Diagnostic::error(
                format!("{path}.timeout"),
                format!(
                    "the check timeout ({}) must be shorter than the interval ({}), or checks would overlap",
                    hc.timeout, hc.interval
                ),
            ),
        );
    }
    for (field, value) in [
        ("healthy_threshold", hc.healthy_threshold),
        ("unhealthy_threshold", hc.unhealthy_threshold),
    ] {
        if value == 0 {
            out.push(Diagnostic::error(
                format!("{path}.{field}"),
                "must be at least 1",
            ));
        }
    }
}

fn check_policies(config: &Config, out: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, policy) in config.policies.iter().enumerate() {
        let path = format!("policies[{i}]");
        let name = policy.name();
        if name.trim().is_empty() {
            out.push(Diagnostic::error(
                format!("{path}.name"),
                "policy name is empty",
            ));
        } else if let Some(first) = seen.get(name) {
            out.push(
                Diagnostic::error(
                    format!("{path}.name"),
                    format!("duplicate policy name `{name}`: already used by policies[{first}]"),
                )
                .with_hint("policy names must be unique; rename one of them"),
            );
        } else {
            seen.insert(name, i);
        }
        crate::validate_protection::check_policy(&path, policy, config, out);
        if !name.is_empty()
            && !config
                .routes
                .iter()
                .any(|r| r.policies.iter().any(|p| p == name))
        {
            out.push(Diagnostic::warning(
                format!("{path}.name"),
                format!("policy `{name}` is not used by any route"),
            ));
        }
    }
}

/// Route matchers parsed once, for the shadowing check.
struct ParsedRoute<'a> {
    index: usize,
    route: &'a Route,
    path: PathPattern,
}

fn check_routes(config: &Config, out: &mut Vec<Diagnostic>) {
    check_unique_names(
        "route",
        "routes",
        config.routes.iter().map(|r| r.name.as_str()),
        out,
    );
    let mut parsed: Vec<Option<ParsedRoute<'_>>> = Vec::with_capacity(config.routes.len());
    for (i, route) in config.routes.iter().enumerate() {
        let path = format!("routes[{i}]");
        let pattern = check_route(config, &path, route, out);
        parsed.push(pattern.map(|path| ParsedRoute {
            index: i,
            route,
            path,
        }));
    }
    check_shadowing(config, &parsed, out);
}

/// Checks one route; returns its parsed path pattern when the pattern is valid.
fn check_route(
    config: &Config,
    path: &str,
    route: &Route,
    out: &mut Vec<Diagnostic>,
) -> Option<PathPattern> {
    crate::validate_protection::check_route_protection(path, route, out);
    if !config.upstreams.iter().any(|u| u.name == route.upstream) {
        let hint = did_you_mean(
            &route.upstream,
            config.upstreams.iter().map(|u| u.name.as_str()),
        );
        let hint = hint.or_else(|| {
            if config.upstreams.is_empty() {
                Some("define it under `upstreams`".into())
            } else {
                None
            }
        });
        out.push(
            Diagnostic::error(
                format!("{path}.upstream"),
                format!("unknown upstream `{}`", route.upstream),
            )
            .with_hint_opt(hint),
        );
    }
    for (j, name) in route.policies.iter().enumerate() {
        let ppath = format!("{path}.policies[{j}]");
        match config.policies.iter().find(|p| p.name() == name) {
            None => out.push(
                Diagnostic::error(ppath, format!("unknown policy `{name}`")).with_hint_opt(
                    did_you_mean(name, config.policies.iter().map(Policy::name)),
                ),
            ),
            Some(policy) if crate::validate_protection::unenforced_policy(policy) => {
                out.push(Diagnostic::warning(
                    ppath,
                    format!(
                        "{} policy `{name}` is not enforced by this version of the data plane yet; it has no effect on this route",
                        policy.kind()
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(timeout) = route.timeout {
        if timeout.is_zero() {
            out.push(Diagnostic::error(
                format!("{path}.timeout"),
                "must be greater than 0s: every request would time out",
            ));
        }
    }
    check_match(&format!("{path}.match"), &route.matcher, out);
    let pattern = match PathPattern::parse(&route.matcher.path) {
        Ok(p) => Some(p),
        Err(e) => {
            out.push(
                Diagnostic::error(format!("{path}.match.path"), e.message).with_hint_opt(e.hint),
            );
            None
        }
    };
    if route.strip_prefix && route.rewrite_prefix.is_some() {
        out.push(
            Diagnostic::error(
                format!("{path}.rewrite_prefix"),
                "`strip_prefix` and `rewrite_prefix` cannot both be set",
            )
            .with_hint("`rewrite_prefix: /` already strips the prefix; keep only one"),
        );
    }
    if let Some(rewrite) = &route.rewrite_prefix {
        if !rewrite.starts_with('/') {
            out.push(
                Diagnostic::error(format!("{path}.rewrite_prefix"), "must start with `/`")
                    .with_hint(format!("write `/{rewrite}`")),
            );
        } else if let Some(c) = rewrite
            .chars()
            .find(|c| matches!(c, '?' | '#' | '*') || c.is_control() || c.is_whitespace())
        {
            out.push(Diagnostic::error(
                format!("{path}.rewrite_prefix"),
                format!("`{rewrite}` contains {c:?}; a rewrite prefix is a literal path"),
            ));
        }
    }
    if let Some(p) = &pattern {
        if p.is_exact() && (route.strip_prefix || route.rewrite_prefix.is_some()) {
            let field = if route.strip_prefix {
                "strip_prefix"
            } else {
                "rewrite_prefix"
            };
            out.push(
                Diagnostic::error(
                    format!("{path}.{field}"),
                    format!(
                        "`{field}` needs a pattern with `*`: `{}` is an exact path, so there is no prefix to replace",
                        route.matcher.path
                    ),
                )
                .with_hint(format!(
                    "match `{}/*` instead, or remove `{field}`",
                    route.matcher.path.trim_end_matches('/')
                )),
            );
        }
    }
    pattern
}

/// Characters allowed in an HTTP token (method and header names), RFC 9110 section 5.6.2.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_tchar)
}

fn check_match(path: &str, m: &RouteMatch, out: &mut Vec<Diagnostic>) {
    for (k, method) in m.methods.iter().enumerate() {
        let mpath = format!("{path}.methods[{k}]");
        if !is_token(method) {
            out.push(Diagnostic::error(
                mpath,
                format!("`{method}` is not a valid HTTP method"),
            ));
        } else if method.chars().any(|c| c.is_ascii_lowercase()) {
            // Methods are case-sensitive on the wire; `get` would silently never match.
            out.push(
                Diagnostic::error(
                    mpath,
                    format!("method `{method}` is not upper case; HTTP methods are case-sensitive"),
                )
                .with_hint(format!("write `{}`", method.to_ascii_uppercase())),
            );
        } else if m.methods[..k].contains(method) {
            out.push(Diagnostic::warning(
                mpath,
                format!("method `{method}` is listed twice"),
            ));
        }
    }
    for (k, host) in m.hosts.iter().enumerate() {
        if let Err(e) = check_host_pattern(host) {
            out.push(Diagnostic::error(format!("{path}.hosts[{k}]"), e));
        }
    }
    for (k, header) in m.headers.iter().enumerate() {
        let hpath = format!("{path}.headers[{k}]");
        if !is_token(&header.name) {
            out.push(Diagnostic::error(
                format!("{hpath}.name"),
                format!("`{}` is not a valid header name", header.name),
            ));
        }
        if let Some(value) = &header.value {
            if value.chars().any(|c| c.is_control() && c != '\t') {
                out.push(Diagnostic::error(
                    format!("{hpath}.value"),
                    "header values cannot contain control characters",
                ));
            }
        }
    }
}

/// Whether every request `b` matches is also matched by `a`, given their parsed paths.
fn matcher_covers(
    a: &RouteMatch,
    a_path: &PathPattern,
    b: &RouteMatch,
    b_path: &PathPattern,
) -> bool {
    a_path.covers(b_path)
        && (a.methods.is_empty()
            || (!b.methods.is_empty() && b.methods.iter().all(|m| a.methods.contains(m))))
        && (a.hosts.is_empty()
            || (!b.hosts.is_empty()
                && b.hosts
                    .iter()
                    .all(|hb| a.hosts.iter().any(|ha| host_covers(ha, hb)))))
        && a.headers
            .iter()
            .all(|ha| b.headers.iter().any(|hb| header_implies(hb, ha)))
}

/// Whether a request satisfying condition `b` always satisfies condition `a`.
fn header_implies(b: &HeaderMatch, a: &HeaderMatch) -> bool {
    b.name.eq_ignore_ascii_case(&a.name)
        && match (&a.value, &b.value) {
            (None, _) => true,
            (Some(va), Some(vb)) => va == vb,
            (Some(_), None) => false,
        }
}

/// Whether route matcher `a` takes every request that `b` would take.
///
/// Returns `None` when either path pattern is invalid.
pub fn route_covers(a: &RouteMatch, b: &RouteMatch) -> Option<bool> {
    let pa = PathPattern::parse(&a.path).ok()?;
    let pb = PathPattern::parse(&b.path).ok()?;
    Some(matcher_covers(a, &pa, b, &pb))
}

fn check_shadowing(config: &Config, parsed: &[Option<ParsedRoute<'_>>], out: &mut Vec<Diagnostic>) {
    let order = route_rank(config);
    let mut found: Vec<(usize, Diagnostic)> = Vec::new();
    for (pos, &b_idx) in order.iter().enumerate() {
        let Some(b) = &parsed[b_idx] else { continue };
        for &a_idx in &order[..pos] {
            let Some(a) = &parsed[a_idx] else { continue };
            if !matcher_covers(&a.route.matcher, &a.path, &b.route.matcher, &b.path) {
                continue;
            }
            let duplicate = matcher_covers(&b.route.matcher, &b.path, &a.route.matcher, &a.path);
            let (an, bn) = (&a.route.name, &b.route.name);
            let diagnostic = if duplicate {
                Diagnostic::error(
                    format!("routes[{}]", b.index),
                    format!(
                        "duplicate match: route `{bn}` matches the same requests as route `{an}` (routes[{}]), which is tried first, so `{bn}` never receives traffic",
                        a.index
                    ),
                )
                .with_hint("remove one of them, or add a condition that tells them apart")
            } else {
                Diagnostic::error(
                    format!("routes[{}]", b.index),
                    format!(
                        "route `{bn}` is shadowed by route `{an}` (routes[{}]): `{an}` is tried first and matches every request `{bn}` matches",
                        a.index
                    ),
                )
                .with_hint(format!("give it a higher priority or move it before `{an}`"))
            };
            found.push((b.index, diagnostic));
            break;
        }
    }
    // Report in document order, like every other check.
    found.sort_by_key(|(i, _)| *i);
    out.extend(found.into_iter().map(|(_, d)| d));
}

fn check_observability(config: &Config, out: &mut Vec<Diagnostic>) {
    let log = &config.observability.access_log;
    let path = "observability.access_log";
    let rate = log.sampling.success_rate;
    if !(0.0..=1.0).contains(&rate) {
        out.push(
            Diagnostic::error(
                format!("{path}.sampling.success_rate"),
                format!("{rate} is not a fraction between 0 and 1"),
            )
            .with_hint("use `0.1` to log 10% of successful requests, `1` to log all"),
        );
    }
    if log.output.trim().is_empty() {
        out.push(
            Diagnostic::error(format!("{path}.output"), "output is empty")
                .with_hint("use `stdout`, `stderr` or a file path"),
        );
    }
    for (k, name) in log.include_headers.iter().enumerate() {
        if !is_token(name) {
            out.push(Diagnostic::error(
                format!("{path}.include_headers[{k}]"),
                format!("`{name}` is not a valid header name"),
            ));
        }
    }
    for (k, name) in log.redaction.headers.iter().enumerate() {
        if !is_token(name) {
            out.push(Diagnostic::error(
                format!("{path}.redaction.headers[{k}]"),
                format!("`{name}` is not a valid header name"),
            ));
        }
    }
    for (k, name) in log.redaction.query_params.iter().enumerate() {
        if name.is_empty() {
            out.push(Diagnostic::error(
                format!("{path}.redaction.query_params[{k}]"),
                "query parameter name is empty",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ranges() {
        assert_eq!(parse_status_range("200"), Ok((200, 200)));
        assert_eq!(parse_status_range("200-399"), Ok((200, 399)));
        assert!(parse_status_range("99").is_err());
        assert!(parse_status_range("600").is_err());
        assert!(parse_status_range("2xx").is_err());
        assert!(parse_status_range("400-200").is_err());
        assert!(parse_status_range("").is_err());
    }

    #[test]
    fn target_urls() {
        assert!(parse_target_url("http://a:80").is_ok());
        assert!(parse_target_url("https://a.example.com").is_ok());
        assert!(parse_target_url("http://[::1]:8080/").is_ok());
        assert!(parse_target_url("http://10.0.0.1:8080").is_ok());
        for bad in [
            "ftp://a",
            "a:80",
            "http://",
            "http://u:p@a",
            "http://a/x",
            "http://a?x=1",
            "http://a:0",
            "http://a:99999",
            "http://[zz]:80",
            "http://*.a.com",
            "http://2130706433:80",
            "http://0177.0.0.1",
            "http://0x7f.0.0.1:8080",
            "http://127.1",
        ] {
            assert!(parse_target_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bind_conflicts() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(binds_conflict(a("0.0.0.0:80"), a("127.0.0.1:80")));
        assert!(binds_conflict(a("127.0.0.1:80"), a("127.0.0.1:80")));
        assert!(!binds_conflict(a("127.0.0.1:80"), a("127.0.0.2:80")));
        assert!(!binds_conflict(a("127.0.0.1:0"), a("127.0.0.1:0")));
        assert!(!binds_conflict(a("[::]:80"), a("0.0.0.0:80")));
    }
}

//! The IP allow/deny policy.
//!
//! Evaluated on the trusted client address ([`RequestContext::client_ip`]), so behind a trusted
//! proxy the rule applies to the real client, not to the proxy. Deny wins over allow; a non-empty
//! allow list refuses every address it does not cover.

use std::sync::Arc;

use http::{request, StatusCode};
use tracing::debug;

use flexgate_config::cidr::Cidr;
use flexgate_config::IpFilterPolicy;

use super::{EdgePolicy, RequestContext, Step, Verdict};
use crate::client_addr::canonical;
use crate::error::json_error;

/// Builds an IP filter policy.
pub fn build(spec: &IpFilterPolicy) -> Result<Arc<dyn EdgePolicy>, String> {
    let parse = |field: &str, list: &[String]| -> Result<Vec<Cidr>, String> {
        list.iter()
            .enumerate()
            .map(|(i, net)| net.parse().map_err(|e| format!("{field}[{i}]: {e}")))
            .collect()
    };
    Ok(Arc::new(IpFilter {
        name: spec.name.clone(),
        allow: parse("allow", &spec.allow)?,
        deny: parse("deny", &spec.deny)?,
    }))
}

struct IpFilter {
    name: String,
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
}

impl IpFilter {
    fn admits(&self, addr: std::net::IpAddr) -> bool {
        // The context address is canonical already; doing it again keeps this policy correct
        // whoever builds the context.
        let addr = canonical(addr);
        if self.deny.iter().any(|net| net.contains(addr)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|net| net.contains(addr))
    }
}

impl EdgePolicy for IpFilter {
    fn on_request(&self, ctx: &RequestContext, _head: &mut request::Parts) -> Step {
        if self.admits(ctx.client_ip) {
            return Step::Done(Verdict::next());
        }
        // Debug, not warn: scanners would flood the log, and the access log records every refusal
        // (`error_kind: ip_forbidden`) anyway.
        debug!(
            message = "Client address refused.",
            event = "ip.refused",
            policy = %self.name,
            route = %ctx.route,
            client_ip = %ctx.client_ip,
            correlation_id = %ctx.correlation_id,
        );
        Step::Done(Verdict::respond(json_error(
            StatusCode::FORBIDDEN,
            "ip_forbidden",
            "requests from this address are not allowed on this route",
            &ctx.correlation_id,
            &ctx.config_version,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(allow: &[&str], deny: &[&str]) -> IpFilter {
        IpFilter {
            name: "f".into(),
            allow: allow.iter().map(|n| n.parse().unwrap()).collect(),
            deny: deny.iter().map(|n| n.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn deny_wins_and_allow_lists_are_exclusive() {
        let f = filter(&["10.0.0.0/8", "2001:db8::/32"], &["10.0.0.66"]);
        assert!(f.admits("10.1.2.3".parse().unwrap()));
        assert!(!f.admits("10.0.0.66".parse().unwrap()));
        assert!(!f.admits("192.0.2.1".parse().unwrap()));
        assert!(f.admits("2001:db8::7".parse().unwrap()));
        assert!(!f.admits("2001:db9::7".parse().unwrap()));
        assert!(
            f.admits("::ffff:10.9.9.9".parse().unwrap()),
            "IPv4-mapped IPv6 matches IPv4 rules"
        );
        assert!(!f.admits("::ffff:10.0.0.66".parse().unwrap()));
        let deny_only = filter(&[], &["192.0.2.0/24"]);
        assert!(deny_only.admits("198.51.100.1".parse().unwrap()));
        assert!(!deny_only.admits("192.0.2.9".parse().unwrap()));
    }
}

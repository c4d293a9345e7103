//! The SSRF guard of upstream connections (`security.ssrf`).
//!
//! The connector resolves a target's host itself, checks every address the resolver returned
//! against the blocked networks (the built-in list of [`flexgate_config::ssrf::BUILTIN_BLOCKED`] and
//! `extra_blocked_networks`, minus `security.ssrf.allow_networks` and the upstream's own
//! `allow_networks`), and then connects to one of the addresses that passed, by address. Nothing
//! resolves the name a second time, so a DNS answer that changes between the check and the
//! connection (DNS rebinding) cannot slip an internal address in.
//!
//! Host names that are legacy numeric IPv4 forms (`2130706433`, `0x7f.0.0.1`) are read as the
//! address they denote and checked like any other address; validation refuses them in target URLs
//! already, this is the second line.

use std::io;
use std::net::{IpAddr, SocketAddr};

use flexgate_config::ssrf::{is_numeric_host, parse_legacy_ipv4, AddressRules, Refusal};
use flexgate_config::{Security, SsrfGuard, Upstream};
use tracing::warn;

/// The guard of one upstream's connections.
#[derive(Debug, Clone)]
pub struct Guard {
    upstream: String,
    settings: SsrfGuard,
    rules: AddressRules,
}

/// Every resolved address of a target is in a blocked network.
#[derive(Debug, thiserror::Error)]
#[error("connection to {target} refused by the SSRF guard: {addresses}")]
pub struct Blocked {
    /// `host:port` of the target.
    pub target: String,
    /// The refused addresses with the network each is in.
    pub addresses: String,
}

impl Guard {
    /// The guard for `upstream` under the global `security` settings.
    pub fn new(upstream: &Upstream, security: &Security) -> Guard {
        let settings = security.ssrf.clone();
        let rules = AddressRules::new(
            &settings.extra_blocked_networks,
            settings
                .allow_networks
                .iter()
                .chain(&upstream.allow_networks),
        );
        Guard {
            upstream: upstream.name.clone(),
            settings,
            rules,
        }
    }

    /// The global settings it was built from; with the upstream's `allow_networks` (part of the
    /// upstream's spec) they decide whether a runtime can be reused across a reload.
    pub fn settings(&self) -> &SsrfGuard {
        &self.settings
    }

    /// Whether a connection to `addr` is allowed (always, when the guard is disabled).
    pub fn check(&self, addr: IpAddr) -> Result<(), Refusal> {
        if !self.settings.enabled {
            return Ok(());
        }
        self.rules.check(addr)
    }

    /// The addresses of `resolved` that may be connected to, in resolver order. Each refused
    /// address is logged; when none is left the connection is refused as a whole.
    pub fn permitted(
        &self,
        target: &str,
        resolved: Vec<SocketAddr>,
    ) -> Result<Vec<SocketAddr>, Blocked> {
        let mut permitted = Vec::with_capacity(resolved.len());
        let mut refused = Vec::new();
        for addr in resolved {
            match self.check(addr.ip()) {
                Ok(()) => permitted.push(addr),
                Err(refusal) => {
                    warn!(
                        message = "Upstream address refused by the SSRF guard.",
                        event = "ssrf.blocked",
                        upstream = %self.upstream,
                        target,
                        address = %addr.ip(),
                        network = %refusal.network,
                        reason = refusal.what,
                    );
                    refused.push(format!("{} ({})", addr.ip(), refusal.network));
                }
            }
        }
        if permitted.is_empty() {
            return Err(Blocked {
                target: target.to_owned(),
                addresses: if refused.is_empty() {
                    "no address".to_owned()
                } else {
                    refused.join(", ")
                },
            });
        }
        Ok(permitted)
    }
}

/// Resolves a target host once. IP literals and legacy numeric IPv4 forms are read without DNS
/// (so the guard checks the address the connection will really use); names go to the system
/// resolver.
pub async fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if is_numeric_host(host) {
        return match parse_legacy_ipv4(host) {
            Some(v4) => Ok(vec![SocketAddr::new(IpAddr::V4(v4), port)]),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{host}` is neither a host name nor an IPv4 address"),
            )),
        };
    }
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    if resolved.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("`{host}` resolved to no address"),
        ));
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(allow: &[&str]) -> Upstream {
        serde_json::from_value(serde_json::json!({
            "name": "u",
            "targets": [{"url": "http://a:1"}],
            "allow_networks": allow,
        }))
        .unwrap()
    }

    fn guard(allow: &[&str], global_allow: &[&str], extra: &[&str]) -> Guard {
        let mut security = Security::default();
        security.ssrf.allow_networks = global_allow.iter().map(|s| s.to_string()).collect();
        security.ssrf.extra_blocked_networks = extra.iter().map(|s| s.to_string()).collect();
        Guard::new(&upstream(allow), &security)
    }

    fn refused(g: &Guard, addr: &str) -> bool {
        g.check(addr.parse().unwrap()).is_err()
    }

    /// One address inside each built-in range, and the range it must be refused as.
    const INSIDE: &[(&str, &str)] = &[
        ("169.254.169.254", "169.254.169.254/32"),
        ("fd00:ec2::254", "fd00:ec2::254/128"),
        ("0.0.0.0", "0.0.0.0/8"),
        ("0.1.2.3", "0.0.0.0/8"),
        ("127.0.0.1", "127.0.0.0/8"),
        ("127.255.255.254", "127.0.0.0/8"),
        ("10.0.0.1", "10.0.0.0/8"),
        ("10.255.255.255", "10.0.0.0/8"),
        ("172.16.0.1", "172.16.0.0/12"),
        ("172.31.255.255", "172.16.0.0/12"),
        ("192.168.1.1", "192.168.0.0/16"),
        ("100.64.0.1", "100.64.0.0/10"),
        ("100.127.255.255", "100.64.0.0/10"),
        ("169.254.1.1", "169.254.0.0/16"),
        ("224.0.0.1", "224.0.0.0/4"),
        ("239.255.255.250", "224.0.0.0/4"),
        ("255.255.255.255", "255.255.255.255/32"),
        ("::", "::/128"),
        ("::1", "::1/128"),
        ("fc00::1", "fc00::/7"),
        ("fd12:3456::1", "fc00::/7"),
        ("fe80::1", "fe80::/10"),
        ("febf::1", "fe80::/10"),
        ("ff02::1", "ff00::/8"),
        // Embedded IPv4 forms are judged by the IPv4 address.
        ("::ffff:127.0.0.1", "127.0.0.0/8"),
        ("::ffff:169.254.169.254", "169.254.169.254/32"),
        ("::10.1.2.3", "10.0.0.0/8"),
        ("64:ff9b::192.168.0.1", "192.168.0.0/16"),
    ];

    /// Addresses just outside the ranges, which must pass.
    const OUTSIDE: &[&str] = &[
        "1.1.1.1",
        "9.255.255.255",
        "11.0.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.167.255.255",
        "192.169.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "169.253.255.255",
        "169.255.0.0",
        "223.255.255.255",
        "240.0.0.1",
        "2001:db8::1",
        "fbff:ffff::1",
        "fec0::1",
        "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8",
    ];

    #[test]
    fn built_in_ranges_are_refused_by_default() {
        let g = guard(&[], &[], &[]);
        for (addr, network) in INSIDE {
            let refusal = g
                .check(addr.parse().unwrap())
                .expect_err(&format!("{addr} should be refused"));
            assert_eq!(refusal.network.to_string(), *network, "{addr}");
        }
        for addr in OUTSIDE {
            assert!(!refused(&g, addr), "{addr} should pass");
        }
    }

    #[test]
    fn allow_lists_of_upstream_and_global_settings_combine() {
        let g = guard(&["127.0.0.0/8"], &["10.1.0.0/16"], &[]);
        assert!(!refused(&g, "127.0.0.1"));
        assert!(!refused(&g, "::ffff:127.0.0.1"));
        assert!(!refused(&g, "10.1.2.3"));
        assert!(refused(&g, "10.2.0.1"));
        assert!(refused(&g, "::1"));
        assert!(refused(&g, "169.254.169.254"));
        // An IPv4-mapped allow entry means its IPv4 network.
        let g = guard(&["::ffff:192.168.0.0/112"], &[], &[]);
        assert!(!refused(&g, "192.168.3.4"));
    }

    #[test]
    fn extra_blocked_networks_and_disabling() {
        let g = guard(&[], &[], &["203.0.113.0/24", "64:ff9b::/96"]);
        assert!(refused(&g, "203.0.113.7"));
        assert!(refused(&g, "64:ff9b::8.8.8.8"));
        assert!(!refused(&g, "198.51.100.1"));
        let mut security = Security::default();
        security.ssrf.enabled = false;
        let off = Guard::new(&upstream(&[]), &security);
        assert!(!refused(&off, "169.254.169.254"));
    }

    #[test]
    fn permitted_keeps_only_allowed_addresses_in_order() {
        let g = guard(&[], &[], &[]);
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let kept = g
            .permitted(
                "h:80",
                vec![a("10.0.0.1:80"), a("1.1.1.1:80"), a("[::1]:80")],
            )
            .unwrap();
        assert_eq!(kept, vec![a("1.1.1.1:80")]);
        let blocked = g
            .permitted("h:80", vec![a("127.0.0.1:80"), a("[::1]:80")])
            .unwrap_err();
        assert!(blocked.addresses.contains("127.0.0.1 (127.0.0.0/8)"));
        assert!(blocked.addresses.contains("::1 (::1/128)"));
    }

    #[tokio::test]
    async fn numeric_host_forms_resolve_without_dns() {
        for host in ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "127.1"] {
            let addrs = resolve(host, 80).await.unwrap();
            assert_eq!(addrs, vec!["127.0.0.1:80".parse().unwrap()], "{host}");
        }
        assert!(resolve("1.2.3.999", 80).await.is_err());
        assert_eq!(
            resolve("::1", 8080).await.unwrap(),
            vec!["[::1]:8080".parse().unwrap()]
        );
    }
}

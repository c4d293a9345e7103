//! The client address used by rate limits, IP rules and the access log.
//!
//! The peer address is the client unless the peer is a trusted proxy; then `X-Forwarded-For` is
//! read from the right, skipping trusted proxies, and the first untrusted address is the client.
//! Reading from the right matters: everything left of the last trusted hop was written by the
//! client and can be forged.

use std::net::IpAddr;

use http::HeaderMap;

use flexgate_config::cidr::Cidr;

use crate::headers::X_FORWARDED_FOR;

/// Trusted proxy networks of one config version.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<Cidr>,
}

impl TrustedProxies {
    /// From the config's CIDR strings (validated already; invalid entries are skipped).
    pub fn new(networks: &[String]) -> TrustedProxies {
        TrustedProxies {
            networks: networks.iter().filter_map(|n| n.parse().ok()).collect(),
        }
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.networks.iter().any(|n| n.contains(addr))
    }

    /// The client address for a request that arrived from `peer` with `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.networks.is_empty() || !self.trusts(peer) {
            return canonical(peer);
        }
        let hops = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(addr) if self.trusts(addr) => continue,
                Ok(addr) => return canonical(addr),
                // A malformed entry ends the trustworthy part of the chain.
                Err(_) => break,
            }
        }
        canonical(peer)
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) become IPv4, so one rule covers both forms.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = TrustedProxies::new(&["10.0.0.0/8".into()]);
        let mut headers = HeaderMap::new();
        headers.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_static("1.2.3.4, 203.0.113.9, 10.0.0.2"),
        );
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            trusted.client_ip(peer, &headers),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let untrusted_peer: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(trusted.client_ip(untrusted_peer, &headers), untrusted_peer);
        assert_eq!(
            TrustedProxies::default().client_ip(peer, &headers),
            peer,
            "no trusted proxies: the peer is the client"
        );
    }

    #[test]
    fn mapped_addresses_are_canonical() {
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(canonical(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}

//! The address rules of the SSRF guard (`security.ssrf`): the networks blocked by default, how
//! IPv6 forms that embed an IPv4 address are reduced to it, and how the legacy numeric IPv4 host
//! forms (`2130706433`, `0177.0.0.1`, `0x7f.0.0.1`) are read.
//!
//! They live here, without any I/O, so that config validation (which warns about targets the guard
//! would refuse), the version 0 migration and the data plane's connector all apply the same table.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::cidr::Cidr;

/// A network the SSRF guard refuses unless an `allow_networks` entry covers the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockedNetwork {
    /// The network in CIDR notation.
    pub network: &'static str,
    /// What lives there, for messages.
    pub what: &'static str,
}

const fn blocked(network: &'static str, what: &'static str) -> BlockedNetwork {
    BlockedNetwork { network, what }
}

/// The built-in blocked list. More specific entries come first so that messages name the most
/// telling reason (the metadata address before the link-local network that contains it).
pub const BUILTIN_BLOCKED: &[BlockedNetwork] = &[
    blocked("169.254.169.254/32", "the cloud metadata service"),
    blocked("fd00:ec2::254/128", "the cloud metadata service (IPv6)"),
    blocked("0.0.0.0/8", "the \"this network\" range"),
    blocked("127.0.0.0/8", "the loopback network"),
    blocked("10.0.0.0/8", "a private network (RFC 1918)"),
    blocked("172.16.0.0/12", "a private network (RFC 1918)"),
    blocked("192.168.0.0/16", "a private network (RFC 1918)"),
    blocked("100.64.0.0/10", "the carrier-grade NAT range (RFC 6598)"),
    blocked("169.254.0.0/16", "the link-local network"),
    blocked("224.0.0.0/4", "the multicast range"),
    blocked("255.255.255.255/32", "the broadcast address"),
    blocked("::/128", "the unspecified address"),
    blocked("::1/128", "the loopback address"),
    blocked("fc00::/7", "a unique local network (ULA)"),
    blocked("fe80::/10", "the link-local network"),
    blocked("ff00::/8", "the multicast range"),
];

/// [`BUILTIN_BLOCKED`] parsed, in the same order.
pub fn builtin_blocked_networks() -> Vec<(Cidr, BlockedNetwork)> {
    // Every entry is a valid literal (a unit test checks it), so nothing is dropped here.
    BUILTIN_BLOCKED
        .iter()
        .filter_map(|b| b.network.parse().ok().map(|net| (net, *b)))
        .collect()
}

/// The well-known NAT64 prefix `64:ff9b::/96` (RFC 6052).
const NAT64_PREFIX: u128 = 0x0064_ff9b_0000_0000_0000_0000_0000_0000;

/// The IPv4 address an IPv6 address stands for, if any: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`, except `::` and `::1`, which are IPv6's own unspecified and
/// loopback addresses) and NAT64 (`64:ff9b::a.b.c.d`, which a NAT64 gateway turns into a
/// connection to `a.b.c.d`).
pub fn embedded_ipv4(addr: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(addr);
    let low = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    let high = bits >> 32;
    if high == 0xffff || (high << 32) == NAT64_PREFIX {
        return Some(low);
    }
    if high == 0 && bits > 1 {
        return Some(low);
    }
    None
}

/// `addr` with an embedded IPv4 address reduced to it (see [`embedded_ipv4`]).
pub fn canonical_ip(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => embedded_ipv4(v6).map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    }
}

/// `net` as an IPv4 network when it lies inside `::ffff:0:0/96` (so that `::ffff:10.0.0.0/104`
/// in an allow or block list means `10.0.0.0/8`); otherwise unchanged.
pub fn canonical_network(net: Cidr) -> Cidr {
    if let IpAddr::V6(v6) = net.network() {
        if net.prefix() >= 96 && (u128::from(v6) >> 32) == 0xffff {
            let v4 = Ipv4Addr::from((u128::from(v6) & 0xffff_ffff) as u32);
            if let Ok(mapped) = Cidr::new(IpAddr::V4(v4), net.prefix() - 96) {
                return mapped;
            }
        }
    }
    net
}

/// The built-in blocked network `addr` falls in, checking both the address as written and its
/// canonical form (so `::ffff:127.0.0.1` is loopback).
pub fn builtin_blocked_range(addr: IpAddr) -> Option<BlockedNetwork> {
    let canonical = canonical_ip(addr);
    builtin_blocked_networks()
        .into_iter()
        .find(|(net, _)| net.contains(canonical) || net.contains(addr))
        .map(|(_, b)| b)
}

/// Why an address is refused: the blocked network it falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The blocked network.
    pub network: Cidr,
    /// What it is (`"an operator-blocked network"` for `extra_blocked_networks`).
    pub what: &'static str,
}

/// The decision table of the guard for one upstream: blocked networks (built-in and
/// `security.ssrf.extra_blocked_networks`) minus allowed ones (`security.ssrf.allow_networks` and
/// the upstream's `allow_networks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRules {
    blocked: Vec<(Cidr, &'static str)>,
    allowed: Vec<Cidr>,
}

impl AddressRules {
    /// Builds the table. Entries that are not valid networks are skipped: validation reports
    /// them as errors, so a loaded config has none.
    pub fn new<'a>(
        extra_blocked: &'a [String],
        allowed: impl IntoIterator<Item = &'a String>,
    ) -> AddressRules {
        let mut blocked: Vec<(Cidr, &'static str)> = builtin_blocked_networks()
            .into_iter()
            .map(|(net, b)| (net, b.what))
            .collect();
        blocked.extend(
            extra_blocked
                .iter()
                .filter_map(|n| n.parse().ok())
                .map(|net| (canonical_network(net), "an operator-blocked network")),
        );
        let allowed = allowed
            .into_iter()
            .filter_map(|n| n.parse().ok())
            .map(canonical_network)
            .collect();
        AddressRules { blocked, allowed }
    }

    /// Whether a connection to `addr` is allowed. The address is matched as written and reduced
    /// to an embedded IPv4 address; allow entries only see the reduced form, so allowing `::/0`
    /// does not open `::ffff:10.0.0.1`. When both lists match, the more specific network decides
    /// and a tie goes to the allow entry: allowing `169.254.0.0/16` keeps the metadata address
    /// `169.254.169.254/32` blocked, allowing `127.0.0.0/8` opens loopback, and an extra blocked
    /// `10.0.0.5/32` stays blocked inside an allowed `10.0.0.0/8`.
    pub fn check(&self, addr: IpAddr) -> Result<(), Refusal> {
        let canonical = canonical_ip(addr);
        let Some((network, what)) = self
            .blocked
            .iter()
            .filter(|(net, _)| net.contains(canonical) || net.contains(addr))
            .max_by_key(|(net, _)| specificity(net))
        else {
            return Ok(());
        };
        let allowed = self
            .allowed
            .iter()
            .filter(|net| net.contains(canonical))
            .map(specificity)
            .max();
        if allowed.is_some_and(|allow| allow >= specificity(network)) {
            return Ok(());
        }
        Err(Refusal {
            network: *network,
            what,
        })
    }
}

/// Prefix length on one scale for both families (an IPv4 network as its IPv4-mapped IPv6 one).
fn specificity(net: &Cidr) -> u8 {
    if net.network().is_ipv4() {
        net.prefix() + 96
    } else {
        net.prefix()
    }
}

/// Whether a host name "ends in a number" (its last label is decimal digits or `0x` hex), which
/// URL parsers and `inet_aton` read as an IPv4 address rather than a DNS name.
pub fn is_numeric_host(host: &str) -> bool {
    let name = host.strip_suffix('.').unwrap_or(host);
    let last = name.rsplit('.').next().unwrap_or(name);
    if last.is_empty() {
        return false;
    }
    if let Some(hex) = last.strip_prefix("0x").or_else(|| last.strip_prefix("0X")) {
        return hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    last.bytes().all(|b| b.is_ascii_digit())
}

/// Reads the legacy numeric IPv4 forms that `inet_aton` and browsers accept: one to four parts,
/// each decimal, octal (leading `0`) or hex (`0x`), the last part filling the remaining bytes:
/// `2130706433`, `0177.0.0.1`, `0x7f.0.0.1`, `127.1`. `None` when `host` is not such a form.
pub fn parse_legacy_ipv4(host: &str) -> Option<Ipv4Addr> {
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() {
        return None;
    }
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        numbers.push(parse_legacy_part(part)?);
    }
    let (last, leading) = numbers.split_last()?;
    let mut value: u64 = 0;
    for (i, n) in leading.iter().enumerate() {
        if *n > 255 {
            return None;
        }
        value |= n << (24 - 8 * i);
    }
    let rest_bits = 32 - 8 * leading.len() as u32;
    if *last >= 1u64 << rest_bits {
        return None;
    }
    value |= last;
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

fn parse_legacy_part(part: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        // `0x` alone is zero for browsers; `inet_aton` agrees.
        return (radix == 16).then_some(0);
    }
    if digits.len() > 12 || !digits.bytes().all(|b| (b as char).is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// The addresses a target host stands for without asking DNS: an IP literal (with or without
/// brackets), a legacy numeric IPv4 form, or `localhost` (and names under `.localhost`, which
/// RFC 6761 reserves for loopback). `None` for other names, which only resolution can tell.
pub fn literal_addresses(host: &str) -> Option<Vec<IpAddr>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(vec![ip]);
    }
    if is_numeric_host(host) {
        return parse_legacy_ipv4(host).map(|v4| vec![IpAddr::V4(v4)]);
    }
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return Some(vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]);
    }
    None
}

/// The host of a URL (`http://host:port/…` or `http://[v6]:port/…`, brackets removed), or `None`
/// without a `scheme://`.
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').map(|(host, _)| host);
    }
    Some(
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    )
}

/// For a target host written as a number that is not a plain dotted quad (`2130706433`,
/// `0177.0.0.1`, `0x7f.0.0.1`, `127.1`): the message and a hint to write it out. Such forms are
/// refused in target URLs because different parsers read them differently.
pub fn non_canonical_ipv4(host: &str) -> Option<(String, Option<String>)> {
    if !is_numeric_host(host) || host.parse::<Ipv4Addr>().is_ok() {
        return None;
    }
    Some(match parse_legacy_ipv4(host) {
        Some(v4) => (
            format!("`{host}` is a non-standard form of the IPv4 address {v4}"),
            Some(format!("write it as `{v4}`")),
        ),
        None => (
            format!("`{host}` ends in a number but is not an IPv4 address"),
            Some("write IPv4 addresses as four decimal numbers, such as `10.0.0.1`".into()),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn builtin_list_parses_completely() {
        assert_eq!(builtin_blocked_networks().len(), BUILTIN_BLOCKED.len());
    }

    #[test]
    fn embedded_ipv4_forms() {
        assert_eq!(canonical_ip(ip("::ffff:127.0.0.1")), ip("127.0.0.1"));
        assert_eq!(canonical_ip(ip("::ffff:a9fe:a9fe")), ip("169.254.169.254"));
        assert_eq!(canonical_ip(ip("::10.0.0.1")), ip("10.0.0.1"));
        assert_eq!(canonical_ip(ip("64:ff9b::192.168.1.1")), ip("192.168.1.1"));
        assert_eq!(canonical_ip(ip("::1")), ip("::1"));
        assert_eq!(canonical_ip(ip("::")), ip("::"));
        assert_eq!(canonical_ip(ip("2001:db8::1")), ip("2001:db8::1"));
        let mapped: Cidr = "::ffff:10.0.0.0/104".parse().unwrap();
        assert_eq!(canonical_network(mapped).to_string(), "10.0.0.0/8");
    }

    #[test]
    fn legacy_ipv4_forms() {
        let v4 = |s: &str| parse_legacy_ipv4(s).map(|a| a.to_string());
        assert_eq!(v4("2130706433").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("0177.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("0x7f.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("0x7F000001").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("127.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("169.254.43518").as_deref(), Some("169.254.169.254"));
        assert_eq!(v4("10.0.0.1.").as_deref(), Some("10.0.0.1"));
        assert_eq!(v4("4294967296"), None);
        assert_eq!(v4("256.0.0.1"), None);
        assert_eq!(v4("08.0.0.1"), None);
        assert_eq!(v4("1.2.3.4.5"), None);
        assert_eq!(v4("example.com"), None);
        assert!(is_numeric_host("2130706433"));
        assert!(is_numeric_host("a.0x10"));
        assert!(!is_numeric_host("api.example.com"));
        assert!(!is_numeric_host("10.0.0.1x"));
    }

    #[test]
    fn blocked_ranges() {
        let what = |s: &str| builtin_blocked_range(ip(s)).map(|b| b.network);
        assert_eq!(what("169.254.169.254"), Some("169.254.169.254/32"));
        assert_eq!(what("169.254.1.1"), Some("169.254.0.0/16"));
        assert_eq!(what("::ffff:127.0.0.1"), Some("127.0.0.0/8"));
        assert_eq!(what("::1"), Some("::1/128"));
        assert_eq!(what("fd00:ec2::254"), Some("fd00:ec2::254/128"));
        assert_eq!(what("8.8.8.8"), None);
        assert_eq!(what("2606:4700::1111"), None);
    }

    #[test]
    fn allow_lists_open_blocked_networks() {
        let extra = vec!["203.0.113.0/24".to_owned()];
        let allow = vec!["127.0.0.0/8".to_owned(), "::/0".to_owned()];
        let rules = AddressRules::new(&extra, &allow);
        assert!(rules.check(ip("127.0.0.1")).is_ok());
        assert!(rules.check(ip("::ffff:127.0.0.1")).is_ok());
        assert!(rules.check(ip("8.8.8.8")).is_ok());
        let refused = rules.check(ip("::ffff:10.0.0.1")).unwrap_err();
        assert_eq!(refused.network.to_string(), "10.0.0.0/8");
        assert!(rules.check(ip("203.0.113.9")).is_err());
        assert!(rules.check(ip("169.254.169.254")).is_err());
        // `::/0` is less specific than `::1/128`.
        assert!(rules.check(ip("::1")).is_err());

        // The more specific network decides; ties go to the allow entry.
        let extra = vec!["10.0.0.5/32".to_owned()];
        let allow = vec!["10.0.0.0/8".to_owned(), "169.254.0.0/16".to_owned()];
        let rules = AddressRules::new(&extra, &allow);
        assert!(rules.check(ip("10.0.0.4")).is_ok());
        assert!(rules.check(ip("10.0.0.5")).is_err());
        assert!(rules.check(ip("169.254.1.1")).is_ok());
        let metadata = rules.check(ip("169.254.169.254")).unwrap_err();
        assert_eq!(metadata.network.to_string(), "169.254.169.254/32");
        let allow = vec!["169.254.169.254/32".to_owned(), "0.0.0.0/0".to_owned()];
        let rules = AddressRules::new(&[], &allow);
        assert!(rules.check(ip("169.254.169.254")).is_ok());
        assert!(
            rules.check(ip("10.0.0.1")).is_err(),
            "0.0.0.0/0 is not an off switch"
        );
    }

    #[test]
    fn literal_hosts() {
        assert_eq!(literal_addresses("[::1]"), Some(vec![ip("::1")]));
        assert_eq!(literal_addresses("0x7f.0.0.1"), Some(vec![ip("127.0.0.1")]));
        assert_eq!(literal_addresses("LocalHost").map(|v| v.len()), Some(2));
        assert_eq!(literal_addresses("api.example.com"), None);
        assert_eq!(url_host("http://[::1]:80/x"), Some("::1"));
        assert_eq!(url_host("https://a.example:8443"), Some("a.example"));
        assert_eq!(url_host("http://10.0.0.1"), Some("10.0.0.1"));
        assert_eq!(url_host("10.0.0.1"), None);
        assert!(non_canonical_ipv4("2130706433").is_some());
        assert!(non_canonical_ipv4("1.2.3.999").is_some());
        assert!(non_canonical_ipv4("10.0.0.1").is_none());
        assert!(non_canonical_ipv4("api.example.com").is_none());
    }
}

//! Which address a request comes from: the TCP peer, or, when the peer is one of the
//! trusted proxies (`TASKHUB_TRUSTED_PROXIES`), the client named by `X-Forwarded-For`.
//!
//! `X-Forwarded-For` is read right to left: each trusted proxy appends the address it got
//! the request from, so the first address that is not itself a trusted proxy is the client.
//! Anything a client wrote further left is ignored (it could be forged).

use std::net::IpAddr;

use anyhow::{bail, Context};
use axum::http::HeaderMap;

/// One IP network: an address and how many leading bits count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    bits: u8,
}

impl Net {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix(u32::from(net) as u128, 32, self.bits)
                    == prefix(u32::from(ip) as u128, 32, self.bits)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix(u128::from(net), 128, self.bits) == prefix(u128::from(ip), 128, self.bits)
            }
            _ => false,
        }
    }
}

fn prefix(value: u128, width: u8, bits: u8) -> u128 {
    if bits == 0 {
        0
    } else {
        value >> (width - bits)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The parsed `TASKHUB_TRUSTED_PROXIES` list.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<Net>);

impl TrustedProxies {
    /// Comma-separated IPs and CIDRs (`10.0.0.0/8`, `::1`); empty means none.
    pub fn parse(list: &str) -> anyhow::Result<Self> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (ip, bits) = match item.split_once('/') {
                Some((ip, bits)) => (ip, Some(bits)),
                None => (item, None),
            };
            let addr = canonical(
                ip.parse::<IpAddr>()
                    .with_context(|| format!("TASKHUB_TRUSTED_PROXIES: bad address {item:?}"))?,
            );
            let width = if addr.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => width,
                Some(b) => match b.parse::<u8>() {
                    Ok(b) if b <= width => b,
                    _ => bail!("TASKHUB_TRUSTED_PROXIES: bad prefix length in {item:?}"),
                },
            };
            nets.push(Net { addr, bits });
        }
        Ok(Self(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        // Later headers were appended by nearer proxies; read them last-first.
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>();
        for hop in hops.iter().rev().flat_map(|v| v.rsplit(',')) {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = canonical(ip);
            if !self.contains(client) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_ips_and_cidrs_and_refuses_garbage() {
        let t = TrustedProxies::parse(" 10.0.0.0/8, 127.0.0.1 ,fd00::/8").unwrap();
        assert!(t.contains(ip("10.1.2.3")));
        assert!(t.contains(ip("127.0.0.1")));
        assert!(t.contains(ip("::ffff:127.0.0.1")));
        assert!(!t.contains(ip("127.0.0.2")));
        assert!(t.contains(ip("fd12::1")));
        assert!(!t.contains(ip("fe80::1")));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_peer() {
        let none = TrustedProxies::default();
        let h = headers(&["203.0.113.9"]);
        assert_eq!(none.client_ip(ip("127.0.0.1"), &h), ip("127.0.0.1"));
        let t = TrustedProxies::parse("127.0.0.1,10.0.0.0/8").unwrap();
        assert_eq!(t.client_ip(ip("127.0.0.1"), &h), ip("203.0.113.9"));
        // Untrusted peer: its header is ignored.
        assert_eq!(t.client_ip(ip("198.51.100.1"), &h), ip("198.51.100.1"));
    }

    #[test]
    fn forwarded_for_is_read_right_to_left_past_trusted_hops() {
        let t = TrustedProxies::parse("127.0.0.1,10.0.0.0/8").unwrap();
        // The client forged the first entry; the proxy chain appended the rest.
        let h = headers(&["1.1.1.1, 203.0.113.9, 10.0.0.5"]);
        assert_eq!(t.client_ip(ip("127.0.0.1"), &h), ip("203.0.113.9"));
        let h = headers(&["1.1.1.1", "203.0.113.9", "10.0.0.5"]);
        assert_eq!(t.client_ip(ip("127.0.0.1"), &h), ip("203.0.113.9"));
        // Garbage stops the walk at the last good hop.
        let h = headers(&["nonsense, 10.0.0.5"]);
        assert_eq!(t.client_ip(ip("127.0.0.1"), &h), ip("10.0.0.5"));
        // No header: the proxy itself.
        assert_eq!(t.client_ip(ip("127.0.0.1"), &headers(&[])), ip("127.0.0.1"));
    }
}

//! The HTTP client for URLs that users give us (webhooks, reference images). Unless private
//! addresses are allowed (development default), it refuses to reach loopback, private,
//! link-local (cloud metadata), CGNAT, multicast and unspecified addresses, both for IP
//! literals and for every address a name resolves to, and it follows no redirects, so a
//! user cannot point the server at its own network.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// True for addresses a user-supplied URL must not reach.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let seg0 = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00
                || (seg0 & 0xffc0) == 0xfe80
        }
    }
}

/// Resolves names and keeps only public addresses.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| !is_private(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{} has no public address", name.as_str()).into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[derive(Clone)]
pub struct Outbound {
    http: reqwest::Client,
    allow_private: bool,
}

impl Outbound {
    /// Requests set their own time limits; `connect_timeout` bounds connecting.
    pub fn new(allow_private: bool, connect_timeout: Duration) -> anyhow::Result<Self> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("taskhub/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            b = b.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            http: b.build()?,
            allow_private,
        })
    }

    /// The client, if `url` is an http(s) URL it may reach (an IP literal is checked here;
    /// names are checked by the resolver).
    pub fn client_for(&self, url: &str) -> Result<&reqwest::Client, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("only http(s) URLs are allowed".into());
        }
        if !self.allow_private {
            let literal = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if literal.is_some_and(is_private) {
                return Err("the URL points at a private address".into());
            }
        }
        Ok(&self.http)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2606:4700::1111"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn literals_are_refused_unless_allowed() {
        let strict = Outbound::new(false, Duration::from_secs(1)).unwrap();
        assert!(strict.client_for("http://127.0.0.1:8080/hook").is_err());
        assert!(strict.client_for("http://[::1]/hook").is_err());
        assert!(strict.client_for("ftp://example.com/x").is_err());
        assert!(strict.client_for("https://example.com/hook").is_ok());
        let open = Outbound::new(true, Duration::from_secs(1)).unwrap();
        assert!(open.client_for("http://127.0.0.1:8080/hook").is_ok());
    }
}

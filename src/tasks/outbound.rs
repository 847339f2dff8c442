//! The HTTP client for URLs that users give us (webhooks, reference images). Unless private
//! addresses are allowed (development default), it refuses to reach loopback, private,
//! link-local (cloud metadata), CGNAT, multicast and unspecified addresses, both for IP
//! literals and for every address a name resolves to, and it follows no redirects, so a
//! user cannot point the server at its own network. IPv6 forms that carry an IPv4 address
//! (mapped `::ffff:0:0/96`, compatible `::/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are
//! judged by that address; Teredo `2001::/32` and site-local `fec0::/10` are refused outright.
//! The client ignores `HTTP(S)_PROXY`: a proxy would resolve names where the filter cannot
//! see them.

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
            if v6.is_loopback() || v6.is_unspecified() {
                return true;
            }
            if let Some(v4) = embedded_ipv4(v6) {
                return is_private(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg[0] & 0xffc0) == 0xfec0 // deprecated site-local fec0::/10
                || (seg[0] == 0x2001 && seg[1] == 0) // Teredo 2001::/32 (tunnels anywhere)
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation 2001:db8::/32
                || (seg[0] == 0x0100 && seg[1..4] == [0, 0, 0]) // discard-only 100::/64
        }
    }
}

/// The IPv4 address an IPv6 address stands for, if it is one of the forms that embed one:
/// mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d` (`::/96`), translated
/// `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` (`64:ff9b::/96`) or 6to4
/// `2002:AABB:CCDD::/48` (`2002::/16`).
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let seg = v6.segments();
    let o = v6.octets();
    let tail = || std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    if seg[..6] == [0; 6]
        || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
        || seg[..6] == [0, 0, 0, 0, 0xffff, 0]
    {
        return Some(tail());
    }
    if seg[0] == 0x2002 {
        return Some(std::net::Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
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
            .no_proxy()
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
            // IPv4-compatible ::/96, NAT64 64:ff9b::/96 and 6to4 2002::/16 embed an IPv4.
            "::127.0.0.1",
            "::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "2002:c0a8:0101::1",
            // Teredo and site-local.
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "fec0::1",
            "feff::1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "2606:4700::1111",
            "::8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:4860::8888",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn literals_are_refused_unless_allowed() {
        let strict = Outbound::new(false, Duration::from_secs(1)).unwrap();
        assert!(strict.client_for("http://127.0.0.1:8080/hook").is_err());
        assert!(strict.client_for("http://[::1]/hook").is_err());
        assert!(strict.client_for("http://[64:ff9b::7f00:1]/hook").is_err());
        assert!(strict.client_for("http://[2002:7f00:1::]/hook").is_err());
        assert!(strict.client_for("ftp://example.com/x").is_err());
        assert!(strict.client_for("https://example.com/hook").is_ok());
        let open = Outbound::new(true, Duration::from_secs(1)).unwrap();
        assert!(open.client_for("http://127.0.0.1:8080/hook").is_ok());
    }

    /// Runs [`proxy_env_child`] in a child process: it sets `HTTP_PROXY`, which must not leak
    /// into the other tests of this binary.
    #[test]
    fn the_client_ignores_proxy_variables() {
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "tasks::outbound::tests::proxy_env_child",
                "--ignored",
                "--nocapture",
            ])
            .env("TASKHUB_PROXY_CHILD", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
    }

    #[test]
    #[ignore = "run in a child process by the_client_ignores_proxy_variables"]
    fn proxy_env_child() {
        use std::io::{Read, Write};
        if std::env::var_os("TASKHUB_PROXY_CHILD").is_none() {
            return;
        }
        let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        proxy.set_nonblocking(true).unwrap();
        let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target_addr = target.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = target.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            conn.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .unwrap();
        });
        let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
        for var in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"] {
            std::env::set_var(var, &proxy_url);
        }
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outbound = Outbound::new(true, Duration::from_secs(2)).unwrap();
        let url = format!("http://{target_addr}/hook");
        let status = rt
            .block_on(async {
                let client = outbound.client_for(&url).unwrap();
                client
                    .get(&url)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
            })
            .map(|r| r.status().as_u16());
        assert_eq!(status.ok(), Some(204), "the request went somewhere else");
        server.join().unwrap();
        assert!(proxy.accept().is_err(), "the proxy was contacted");
    }
}

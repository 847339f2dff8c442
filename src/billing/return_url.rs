//! Where Stripe may send a buyer back to: a payment's `returnUrl` must be on an allowed origin
//! (`TASKHUB_PAYMENT_RETURN_ORIGINS`), or checkout links become open redirects (anyone could
//! make a genuine-looking payment page that ends on their own site).
//!
//! - Listed origins: `returnUrl` is an absolute http(s) URL on one of them, or a path
//!   (`/billing?tab=1`) resolved against the first.
//! - Nothing listed: in development, loopback origins (`localhost`, `127.0.0.1`, `[::1]`,
//!   any port); in production every `returnUrl` is refused until origins are configured.

use url::Url;

use crate::error::ApiError;

/// The absolute URL to send the buyer back to, or a 422 `invalidReturnUrl`.
pub fn check(raw: &str, allowed: &str, production: bool) -> Result<Url, ApiError> {
    let refuse = |why: String| ApiError::Unprocessable("invalidReturnUrl", why);
    if raw.len() > 2048 {
        return Err(refuse("returnUrl is longer than 2048 characters".into()));
    }
    let origins: Vec<Url> = allowed
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|s| Url::parse(s).ok())
        .collect();
    let url = if raw.starts_with('/') && !raw.starts_with("//") && !raw.starts_with("/\\") {
        let base = origins.first().ok_or_else(|| {
            refuse("a relative returnUrl needs TASKHUB_PAYMENT_RETURN_ORIGINS on the server".into())
        })?;
        base.join(raw)
            .map_err(|_| refuse("returnUrl is not a valid path".into()))?
    } else {
        Url::parse(raw).map_err(|_| refuse("returnUrl must be an http(s) URL or a path".into()))?
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("returnUrl must be an http(s) URL".into()));
    }
    let ok = if origins.is_empty() {
        !production && is_loopback(&url)
    } else {
        origins.iter().any(|o| o.origin() == url.origin())
    };
    if ok {
        Ok(url)
    } else if origins.is_empty() && production {
        Err(refuse(
            "no returnUrl origins are configured (TASKHUB_PAYMENT_RETURN_ORIGINS)".into(),
        ))
    } else {
        Err(refuse(format!(
            "returnUrl's origin {} is not allowed",
            url.origin().ascii_serialization()
        )))
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    fn code(r: Result<url::Url, crate::error::ApiError>) -> &'static str {
        r.map_or_else(|e| e.code(), |_| "ok")
    }

    #[test]
    fn only_listed_origins_pass() {
        let list = "https://app.example, http://localhost:3000";
        let u = check("https://app.example/billing?tab=1", list, true).unwrap();
        assert_eq!(u.as_str(), "https://app.example/billing?tab=1");
        assert!(check("http://localhost:3000/x", list, true).is_ok());
        for bad in [
            "https://evil.example/",
            "https://app.example.evil.example/",
            "http://app.example/",
            "https://app.example:8443/",
            "http://localhost:3001/",
            "javascript:alert(1)",
            "//evil.example/x",
        ] {
            assert_eq!(code(check(bad, list, true)), "invalidReturnUrl", "{bad}");
        }
    }

    #[test]
    fn paths_resolve_against_the_first_origin() {
        let u = check("/billing?tab=1", "https://app.example", true).unwrap();
        assert_eq!(u.as_str(), "https://app.example/billing?tab=1");
        assert_eq!(code(check("/x", "", false)), "invalidReturnUrl");
        assert_eq!(
            code(check("/\\evil.example", "https://app.example", true)),
            "invalidReturnUrl"
        );
    }

    #[test]
    fn empty_list_means_loopback_in_development_and_nothing_in_production() {
        assert!(check("http://localhost:8080/", "", false).is_ok());
        assert!(check("http://127.0.0.1/", "", false).is_ok());
        assert!(check("http://[::1]:9/", "", false).is_ok());
        assert_eq!(
            code(check("https://a.example/", "", false)),
            "invalidReturnUrl"
        );
        assert_eq!(
            code(check("http://localhost:8080/", "", true)),
            "invalidReturnUrl"
        );
    }
}

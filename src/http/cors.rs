//! Cross-origin access: which browser origins may call the REST API (tower-http's
//! `CorsLayer`) and open the WebSocket (checked on upgrade by `routes::ws`, with the same
//! list).
//!
//! - `TASKHUB_CORS_ORIGINS`: exact origins (`https://app.example.com`, `http://localhost:3000`),
//!   comma-separated; a path, a trailing slash or another spelling is refused at startup
//!   (an origin that never matches would fail silently). Empty (the default): no cross-origin
//!   access; pages served by this server itself always work.
//! - `*`: any origin, but then credentials (cookies, HTTP auth) are never allowed: browsers
//!   refuse that pair anyway. Production refuses to start with `*` and
//!   `TASKHUB_CORS_ALLOW_CREDENTIALS=true`; development warns and drops the credentials.
//!   The API authenticates with `Authorization: Bearer`, which needs no credentials mode.
//! - Preflights are answered by the layer before rate limiting, cached by the browser for
//!   `TASKHUB_CORS_MAX_AGE_SECS`; scripts may send `Idempotency-Key`, and responses expose
//!   the rate-limit headers, `Retry-After`, `X-Request-Id` and `Idempotent-Replayed` to them.

use std::time::Duration;

use anyhow::bail;
use axum::http::{header, HeaderName, HeaderValue, Method};
use serde::{Deserialize, Serialize};
use tower_http::cors::{AllowOrigin, CorsLayer};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CorsSettings {
    /// Comma-separated exact origins allowed to call the API and open the WebSocket from a
    /// browser, or `*` for any (then without credentials). Empty: same origin only.
    pub cors_origins: String,
    /// Send `Access-Control-Allow-Credentials: true` to the listed origins (only needed for
    /// cookies; bearer tokens do not need it). Refused with `*` in production.
    pub cors_allow_credentials: bool,
    /// `Access-Control-Max-Age`: how long a browser reuses a preflight answer. Chromium
    /// caps it at 7200.
    pub cors_max_age_secs: u64,
}

impl Default for CorsSettings {
    fn default() -> Self {
        Self {
            cors_origins: String::new(),
            cors_allow_credentials: false,
            cors_max_age_secs: 600,
        }
    }
}

/// The origins a browser may come from, besides the server's own.
#[derive(Clone, Debug, PartialEq)]
pub enum Origins {
    Any,
    List(Vec<HeaderValue>),
}

/// The parsed settings: what the layer and the WebSocket upgrade check.
#[derive(Clone, Debug)]
pub struct CorsPolicy {
    pub origins: Origins,
    pub credentials: bool,
    pub max_age: Duration,
}

/// Request headers a cross-origin script may send.
const ALLOW_HEADERS: [HeaderName; 5] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    HeaderName::from_static("x-api-key"),
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static(crate::tasks::idempotency::HEADER),
];

/// Response headers a cross-origin script may read (the rate limiter's, the request id, and
/// whether a task creation was a repeat under its `Idempotency-Key`).
const EXPOSE_HEADERS: [HeaderName; 5] = [
    HeaderName::from_static("x-ratelimit-limit"),
    HeaderName::from_static("x-ratelimit-remaining"),
    header::RETRY_AFTER,
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static(crate::tasks::idempotency::REPLAYED_HEADER),
];

impl CorsPolicy {
    /// Parses the settings; refuses what cannot be meant (see the module docs).
    pub fn new(s: &CorsSettings, production: bool) -> anyhow::Result<Self> {
        let entries: Vec<&str> = s
            .cors_origins
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        let mut credentials = s.cors_allow_credentials;
        let origins = if entries.contains(&"*") {
            if entries.len() > 1 {
                bail!("TASKHUB_CORS_ORIGINS: `*` cannot be combined with other origins");
            }
            if credentials && production {
                bail!(
                    "TASKHUB_CORS_ORIGINS=* with TASKHUB_CORS_ALLOW_CREDENTIALS=true: any site \
                     could act with a visitor's credentials; list the origins instead"
                );
            }
            if credentials {
                tracing::warn!("TASKHUB_CORS_ORIGINS=*: credentials are not allowed to any origin");
                credentials = false;
            }
            Origins::Any
        } else {
            let list = entries
                .iter()
                .map(|e| exact_origin(e))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Origins::List(list)
        };
        Ok(Self {
            origins,
            credentials,
            max_age: Duration::from_secs(s.cors_max_age_secs),
        })
    }

    /// The layer for the REST routes, or `None` when no other origin is allowed (then the
    /// server answers as if CORS did not exist: browsers allow same-origin pages only).
    pub fn layer(&self) -> Option<CorsLayer> {
        let allow = match &self.origins {
            Origins::Any => AllowOrigin::any(),
            Origins::List(l) if l.is_empty() => return None,
            Origins::List(l) => AllowOrigin::list(l.clone()),
        };
        Some(
            CorsLayer::new()
                .allow_origin(allow)
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers(ALLOW_HEADERS)
                .expose_headers(EXPOSE_HEADERS)
                .allow_credentials(self.credentials)
                .max_age(self.max_age),
        )
    }

    /// Whether a WebSocket upgrade with this `Origin` may go on: no `Origin` (not a browser),
    /// the server's own origin (its host and port are the request's `Host`), or one allowed.
    pub fn allows_socket(&self, origin: Option<&HeaderValue>, host: Option<&HeaderValue>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        match &self.origins {
            Origins::Any => return true,
            Origins::List(l) if l.iter().any(|o| o == origin) => return true,
            Origins::List(_) => {}
        }
        same_origin(origin, host)
    }
}

/// `entry` if it is an http(s) origin written the way browsers send it.
fn exact_origin(entry: &str) -> anyhow::Result<HeaderValue> {
    let url = url::Url::parse(entry)
        .map_err(|e| anyhow::anyhow!("TASKHUB_CORS_ORIGINS: {entry:?} is not an origin: {e}"))?;
    let canonical = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || canonical != entry {
        bail!(
            "TASKHUB_CORS_ORIGINS: {entry:?} is not an exact origin (scheme://host[:port], no \
             path or trailing slash{})",
            if url.has_host() && matches!(url.scheme(), "http" | "https") {
                format!("; did you mean {canonical}?")
            } else {
                String::new()
            }
        );
    }
    Ok(HeaderValue::from_str(entry)?)
}

/// Whether `origin` names the host and port the request was sent to.
fn same_origin(origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
    let (Ok(origin), Some(Ok(host))) = (origin.to_str(), host.map(|h| h.to_str())) else {
        return false;
    };
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    let (Some(o_host), Some(o_port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    let Ok(authority) = host.parse::<axum::http::uri::Authority>() else {
        return false;
    };
    let port = authority.port_u16().or(url.port_or_known_default());
    authority.host().eq_ignore_ascii_case(o_host) && port == Some(o_port)
}

#[cfg(test)]
#[path = "cors_tests.rs"]
mod tests;

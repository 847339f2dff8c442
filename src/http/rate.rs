//! REST rate limits (governor's GCRA, keyed): four classes of `/api` routes, each with its
//! own per-minute quota (bursts up to the quota, then one request per `60 s / quota`).
//!
//! | class | routes | key |
//! |---|---|---|
//! | auth | `/api/auth/*` except `me` and `logout` (register, login, refresh, test login) | client IP |
//! | task creation | `POST /api/video/tasks`, `POST /api/video/tasks/{id}/retry` | user |
//! | task queries | `GET /api/video/tasks…` | user |
//! | other | every other `/api/…` route | user |
//!
//! The compat adapters' routes (the Sora 2 API under its prefix, the AdsVideo API under
//! `/api/v1/`) get the classes of their native counterparts (`super::rate_compat`).
//!
//! "User" is the subject of a valid Bearer JWT or the owner of a valid `X-API-Key`; a
//! request with neither is keyed by its client IP (IPv6 by its /64, which one host usually
//! owns whole). Not limited: `/health`, `/ready`, `/`, `/ws` (the hub has its own limits),
//! `/docs`, `/openapi.json`, media, test pages, the built-in simulator and the Stripe
//! webhook (signed by Stripe, which retries). Limits are per node.
//!
//! A refused request gets 429 `rateLimited` in the normal envelope with `Retry-After`
//! (whole seconds); every limited response carries `X-RateLimit-Limit` (per minute) and
//! `X-RateLimit-Remaining`. Idle keys are pruned every minute, so memory follows the number
//! of clients active in the last minute or so.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::RequestExt;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use super::client_ip::TrustedProxies;
use super::HttpSettings;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Auth,
    TaskCreate,
    TaskQuery,
    /// Public reads a home page makes on every visit (showcase, recent users).
    PublicRead,
    /// Provider callbacks (`/api/providers/…`), per sending address.
    ProviderCallback,
    Other,
}

/// The class of a request, or `None` for routes that are not limited.
pub fn classify(method: &Method, path: &str) -> Option<Class> {
    let rest = path.strip_prefix("/api/")?;
    if rest == "payments/webhook/stripe" {
        return None;
    }
    // Provider callbacks: signed (or holding an unguessable token), sent in bursts by a few
    // provider addresses: a quota of their own per address, high by default, so a flood of
    // forged ones (each costs a signature check or a token lookup) is bounded.
    if rest.starts_with("providers/") {
        return Some(Class::ProviderCallback);
    }
    if let Some(v1) = rest.strip_prefix("v1/") {
        return Some(super::rate_compat::classify_adsvideo(method, v1));
    }
    if let Some(auth) = rest.strip_prefix("auth/") {
        return Some(match auth {
            "me" | "logout" => Class::Other,
            "google/config" => Class::PublicRead,
            _ => Class::Auth,
        });
    }
    if let Some(tasks) = rest.strip_prefix("video/tasks") {
        let tail = tasks.trim_end_matches('/');
        let is_tasks = tail.is_empty() || tail.starts_with('/');
        if is_tasks && *method == Method::POST {
            let id_then = tail.trim_start_matches('/');
            let action = id_then.split('/').nth(1);
            if tail.is_empty() || matches!(action, Some("retry" | "remix")) {
                return Some(Class::TaskCreate);
            }
        }
        if is_tasks && (*method == Method::GET || *method == Method::HEAD) {
            return Some(Class::TaskQuery);
        }
    }
    let is_read = *method == Method::GET || *method == Method::HEAD;
    if is_read && (rest.starts_with("showcase/") || rest == "users/recent") {
        return Some(Class::PublicRead);
    }
    Some(Class::Other)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum Key {
    Ip(IpAddr),
    User(String),
}

impl Key {
    /// An IP key; IPv6 addresses count by their /64.
    pub fn ip(ip: IpAddr) -> Self {
        match super::client_ip::canonical(ip) {
            IpAddr::V6(v6) => {
                let net = u128::from(v6) & !((1u128 << 64) - 1);
                Key::Ip(IpAddr::V6(Ipv6Addr::from(net)))
            }
            v4 => Key::Ip(v4),
        }
    }
}

/// One class's keyed limiter.
pub struct ClassLimiter<C: Clock = DefaultClock> {
    limiter: RateLimiter<Key, DashMapStateStore<Key>, C, StateInformationMiddleware>,
    per_min: u32,
}

impl<C: Clock> ClassLimiter<C> {
    /// `None` when `per_min` is 0 (no limit).
    pub fn new(per_min: u32, clock: C) -> Option<Self> {
        let quota = Quota::per_minute(NonZeroU32::new(per_min)?);
        let limiter: RateLimiter<_, _, _, StateInformationMiddleware> =
            RateLimiter::new(quota, DashMapStateStore::default(), clock);
        Some(Self { limiter, per_min })
    }

    /// Ok(requests left in the burst) or Err(how long until the next one is allowed).
    pub fn check(&self, key: &Key) -> Result<u32, Duration> {
        match self.limiter.check_key(key) {
            Ok(snapshot) => Ok(snapshot.remaining_burst_capacity()),
            Err(not_until) => Err(not_until.wait_time_from(self.limiter.clock().now())),
        }
    }

    /// Forgets keys whose state is back to full (the memory bound).
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    pub fn keys(&self) -> usize {
        self.limiter.len()
    }
}

/// The six limiters and the trusted-proxy list; shared by the middleware.
pub struct RateLimits {
    auth: Option<ClassLimiter>,
    task_create: Option<ClassLimiter>,
    task_query: Option<ClassLimiter>,
    public_read: Option<ClassLimiter>,
    provider_callback: Option<ClassLimiter>,
    other: Option<ClassLimiter>,
    proxies: TrustedProxies,
}

impl RateLimits {
    /// `Application::build` has already refused a bad `trusted_proxies`.
    pub fn new(settings: &HttpSettings) -> Self {
        let clock = DefaultClock::default;
        let proxies = TrustedProxies::parse(&settings.trusted_proxies).unwrap_or_else(|e| {
            tracing::error!(error = %e, "ignoring TASKHUB_TRUSTED_PROXIES");
            TrustedProxies::default()
        });
        Self {
            auth: ClassLimiter::new(settings.rate_auth_per_min, clock()),
            task_create: ClassLimiter::new(settings.rate_task_create_per_min, clock()),
            task_query: ClassLimiter::new(settings.rate_task_query_per_min, clock()),
            public_read: ClassLimiter::new(settings.rate_public_per_min, clock()),
            provider_callback: ClassLimiter::new(settings.rate_provider_per_min, clock()),
            other: ClassLimiter::new(settings.rate_other_per_min, clock()),
            proxies,
        }
    }

    fn limiter(&self, class: Class) -> Option<&ClassLimiter> {
        match class {
            Class::Auth => self.auth.as_ref(),
            Class::TaskCreate => self.task_create.as_ref(),
            Class::TaskQuery => self.task_query.as_ref(),
            Class::PublicRead => self.public_read.as_ref(),
            Class::ProviderCallback => self.provider_callback.as_ref(),
            Class::Other => self.other.as_ref(),
        }
    }

    fn prune(&self) {
        let all = [
            &self.auth,
            &self.task_create,
            &self.task_query,
            &self.public_read,
            &self.provider_callback,
            &self.other,
        ];
        for l in all.into_iter().flatten() {
            l.prune();
        }
    }

    /// Prunes every minute until shutdown or until the limits are dropped.
    pub fn spawn_pruning(self: &Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                match weak.upgrade() {
                    Some(limits) => limits.prune(),
                    None => return,
                }
            }
        });
    }
}

/// What the middleware needs: the limits and the app (JWT keys, store for API keys).
#[derive(Clone)]
pub struct RateState {
    pub limits: Arc<RateLimits>,
    pub app: AppState,
}

/// The rate-limit middleware (see the module doc).
pub async fn middleware(State(rs): State<RateState>, mut req: Request, next: Next) -> Response {
    let prefix = &rs.app.settings.compat_sora2.compat_sora2_prefix;
    let class = classify(req.method(), req.uri().path())
        .or_else(|| super::rate_compat::classify_sora2(req.method(), req.uri().path(), prefix));
    let Some(class) = class else {
        return next.run(req).await;
    };
    let Some(limiter) = rs.limits.limiter(class) else {
        return next.run(req).await;
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let ip = rs.limits.proxies.client_ip(peer, req.headers());
    let key = match class {
        Class::Auth | Class::ProviderCallback => Key::ip(ip),
        _ => match user_of(&mut req, &rs.app).await {
            Some(user) => Key::User(user),
            None => Key::ip(ip),
        },
    };
    match limiter.check(&key) {
        Ok(remaining) => {
            let mut resp = next.run(req).await;
            set_headers(&mut resp, limiter.per_min, remaining);
            resp
        }
        Err(wait) => {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            metrics::counter!("taskhub_http_rate_limited_total").increment(1);
            let mut resp = ApiError::RateLimited(format!("too many requests; retry in {secs} s"))
                .into_response();
            set_headers(&mut resp, limiter.per_min, 0);
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
            resp
        }
    }
}

fn set_headers(resp: &mut Response, limit: u32, remaining: u32) {
    let h = resp.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
}

/// The user a request is made by, when its Bearer JWT or API key is valid. A key found
/// valid is remembered in the request's extensions, so the handler's `AuthUser` does not
/// look it up again.
async fn user_of(req: &mut Request, app: &AppState) -> Option<String> {
    let headers = req.headers();
    if let Some(auth) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let token = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))?;
        return app.jwt.verify(token.trim()).ok().map(|c| c.sub);
    }
    headers.get("x-api-key")?;
    let user = req
        .extract_parts_with_state::<AuthUser, AppState>(app)
        .await
        .ok()?;
    let id = user.id.clone();
    req.extensions_mut().insert(user);
    Some(id)
}

#[cfg(test)]
#[path = "rate_tests.rs"]
mod tests;

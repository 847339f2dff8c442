//! [`ViewerOf`]: who is looking at a public page, for counting a showcase view once per viewer:
//! the signed-in user (a valid token), else the client address (`X-Forwarded-For` only from
//! `TASKHUB_TRUSTED_PROXIES`, as for rate limits). Never refuses. Shared by the native
//! showcase route and the Sora 2 adapter's.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::client_ip::{canonical, TrustedProxies};
use crate::auth::AuthUser;
use crate::showcase::Viewer;
use crate::state::AppState;

pub struct ViewerOf(pub Viewer);

impl FromRequestParts<AppState> for ViewerOf {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        if let Ok(user) = AuthUser::from_request_parts(parts, state).await {
            return Ok(Self(Viewer::User(user.id)));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        let ip = TrustedProxies::parse(&state.settings.http.trusted_proxies)
            .map_or(peer, |p| p.client_ip(peer, &parts.headers));
        Ok(Self(Viewer::Ip(canonical(ip))))
    }
}

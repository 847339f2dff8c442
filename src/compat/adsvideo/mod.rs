//! The AdsVideo backend's `/api/v1` API (its reference: `adsvideo-api-v1.md`), so its
//! frontend runs unchanged against taskhub: Google sign-in and tokens, the profile and
//! credits, videos (taskhub tasks), the showcase, and uploads. Each handler parses the
//! reference's request, calls one taskhub service, and answers in the reference's shapes
//! ([`dto`]) with integer ids ([`crate::compat::ids`]) and `{"detail"}` errors. Every choice
//! where the reference was open is listed in `docs/compat.md` ("AdsVideo /api/v1").

mod auth;
pub mod docs;
pub mod dto;
mod showcase;
mod uploads;
mod users;
mod videos;

use axum::Router;

use super::detail::{Detail, DetailResult};
use super::ids::{self, Kind};
use crate::state::AppState;

/// Where this API is mounted.
pub const PREFIX: &str = "/api/v1";

/// The adapter's routes under [`PREFIX`] (uploads bounded by `max_upload_bytes`).
pub fn router(max_upload_bytes: usize) -> Router<AppState> {
    let api = Router::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(videos::router())
        .merge(showcase::router())
        .merge(uploads::router(max_upload_bytes))
        .fallback(not_found);
    Router::new().nest(PREFIX, api)
}

/// An unknown path under the prefix, in this API's shape.
async fn not_found() -> Detail {
    Detail::not_found("Not Found")
}

/// An integer query parameter: absent or empty means `default`; anything else must be a
/// whole number in `min..=max` (422 naming it, as FastAPI answers).
fn int_param(name: &str, raw: Option<&str>, default: i64, min: i64, max: i64) -> DetailResult<i64> {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(default);
    };
    match raw.parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(Detail::field(
            "query",
            name,
            format!("must be a whole number from {min} to {max}"),
            "value_error",
        )),
    }
}

/// The caller's integer id.
async fn user_number(state: &AppState, user_id: &str) -> DetailResult<i64> {
    Ok(ids::number(&state.store, Kind::User, user_id).await?)
}

/// The caller's live account (a token whose account is gone is 401).
async fn live_user(state: &AppState, user_id: &str) -> DetailResult<crate::store::User> {
    match state.store.get_user(user_id).await {
        Ok(u) => Ok(u),
        Err(crate::store::StoreError::NotFound) => Err(gone()),
        Err(e) => Err(e.into()),
    }
}

/// A valid token whose account was deleted meanwhile.
fn gone() -> Detail {
    Detail::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "Could not validate credentials",
    )
}

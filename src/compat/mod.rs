//! Thin adapters for the APIs of the backends taskhub replaces, so their frontends run
//! unchanged: each maps its request DTOs to taskhub's services and the answers back to its
//! own shapes, and adds no business rule of its own (`docs/compat.md` lists every choice
//! made where a reference was open).
//!
//! - [`detail`]: the `{"detail": …}` error shape both share, and extractors that reject with it;
//! - [`envelope`]: refusals made outside the handlers, rewritten to the `{"detail"}` shape;
//! - [`form`]: the multipart upload forms both read;
//! - [`ids`]: integer aliases of native ids, for APIs that number things;
//! - [`sora2`]: the Sora 2 platform API, under `TASKHUB_COMPAT_SORA2_PREFIX`;
//! - [`adsvideo`]: the AdsVideo backend's API, at `/api/v1`.

pub mod adsvideo;
pub mod detail;
pub mod envelope;
pub mod form;
pub mod ids;
pub mod sora2;

use axum::Router;

use crate::config::Settings;
use crate::state::AppState;

/// Every adapter's routes, under their own prefixes.
pub fn router(settings: &Settings) -> Router<AppState> {
    Router::new()
        .merge(sora2::router(settings))
        .merge(adsvideo::router(settings.max_upload_bytes))
}

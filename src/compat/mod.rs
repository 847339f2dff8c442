//! Thin adapters for the APIs of the backends taskhub replaces, so their frontends run
//! unchanged: each maps its request DTOs to taskhub's services and the answers back to its
//! own shapes, and adds no business rule of its own (`docs/compat.md` lists every choice
//! made where a reference was open).
//!
//! - [`detail`]: the `{"detail": …}` error shape both share, and extractors that reject with it;
//! - [`ids`]: integer aliases of native ids, for APIs that number things;
//! - [`sora2`]: the Sora 2 platform API, under `TASKHUB_COMPAT_SORA2_PREFIX`.

pub mod detail;
pub mod ids;
pub mod sora2;

use axum::Router;

use crate::config::Settings;
use crate::state::AppState;

/// Every adapter's routes, under their own prefixes.
pub fn router(settings: &Settings) -> Router<AppState> {
    Router::new().merge(sora2::router(settings))
}

//! The Sora 2 platform API (`/work/shared/reference/sora2-platform-api.md`), mounted under
//! `TASKHUB_COMPAT_SORA2_PREFIX` (default `/compat/sora2`: its paths collide with taskhub's
//! own). Each resource maps its request DTOs onto taskhub's services and the answers back to
//! the reference's shapes; errors are `{"detail": …}`. `docs/compat.md` lists the mapping and
//! every choice made where the reference was open.
//!
//! - [`auth`]: Google sign-in by code, refresh, logout, me, test login;
//! - [`videos`]: text-to-video, image-to-video, the video API's task status;
//! - [`uploads`]: the file upload (the uploads service);
//! - [`tasks`]: one task, the list, cancel, retry;
//! - [`payments`]: packages, Stripe checkout, status, webhook, admin refund;
//! - [`users`]: profile, credits, the ledger, account deletion;
//! - [`showcase`]: the public showcase with view counts;
//! - [`keys`]: the `X-API-Key` check; [`dto`]: shared shapes; [`docs`]: its OpenAPI part;
//! - [`settings`]: its settings.

mod auth;
pub mod docs;
mod dto;
mod keys;
mod payments;
pub mod settings;
mod showcase;
mod tasks;
mod uploads;
mod users;
mod videos;

use axum::Router;

use crate::config::Settings;
use crate::state::AppState;

/// The adapter's routes under its prefix (`Settings::compat_sora2`; startup has refused an
/// unusable one, which mounts nothing here).
pub fn router(settings: &Settings) -> Router<AppState> {
    let Ok(prefix) = settings.compat_sora2.checked_prefix() else {
        return Router::new();
    };
    let api = Router::new()
        .merge(auth::router())
        .merge(videos::router())
        .merge(tasks::router())
        .merge(payments::router())
        .merge(users::router())
        .merge(showcase::router())
        .merge(uploads::router(settings.max_upload_bytes));
    Router::new().nest(prefix, api)
}

//! `AppState`: cheap-to-clone handles shared by every handler and background task.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::auth::jwt::JwtKeys;
use crate::bus::Bus;
use crate::config::Settings;
use crate::hub::Hub;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub bus: Arc<dyn Bus>,
    pub jwt: JwtKeys,
    /// Providers, media storage and webhooks (driving tasks).
    pub video: Arc<crate::tasks::services::VideoServices>,
    /// The payment use cases.
    pub payments: crate::billing::service::Payments,
    /// The task use cases and the poller's handles.
    pub tasks: crate::tasks::TaskContext,
    /// This node's WebSocket hub.
    pub hub: Hub,
    /// Google sign-in: ID token verification and code exchange.
    pub google: Arc<crate::auth::google::GoogleAuth>,
    /// Cancelled once on shutdown; every long-running task watches it.
    pub shutdown: CancellationToken,
}

/// The task context of this state's handles (a state whose bus or shutdown token was
/// swapped, as tests do, gives a context with the swapped ones).
impl From<AppState> for crate::tasks::TaskContext {
    fn from(state: AppState) -> Self {
        Self {
            settings: state.tasks.settings,
            store: state.store,
            bus: state.bus,
            video: state.video,
            shutdown: state.shutdown,
        }
    }
}

/// The account use cases over this state's handles.
impl From<&AppState> for crate::accounts::Accounts {
    fn from(state: &AppState) -> Self {
        Self {
            store: state.store.clone(),
            bus: state.bus.clone(),
            tasks: state.clone().into(),
            payments: state.payments.clone(),
            hash_queue: state.settings.http.hash_queue(),
            uploads: state.into(),
        }
    }
}

/// The upload use cases over this state's handles.
impl From<&AppState> for crate::uploads::Uploads {
    fn from(state: &AppState) -> Self {
        let s = &state.settings;
        Self {
            store: state.store.clone(),
            media: state.video.media.clone(),
            limits: crate::uploads::Limits {
                min_bytes: s.uploads.upload_min_bytes,
                max_bytes: s.max_upload_bytes as u64,
                quota_bytes: s.uploads.upload_quota_bytes,
                max_pixels: s.uploads.upload_max_pixels,
                fit_concurrency: s.uploads.upload_fit_concurrency,
            },
        }
    }
}

impl AppState {
    /// Logins (token pairs, refresh rotation, logout) over this state's store and keys.
    pub fn sessions(&self) -> crate::auth::sessions::Sessions<'_> {
        crate::auth::sessions::Sessions {
            store: &self.store,
            jwt: &self.jwt,
            refresh_ttl_ms: (self.settings.refresh_token_ttl_secs as i64).saturating_mul(1000),
        }
    }
}

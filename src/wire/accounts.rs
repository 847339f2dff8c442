//! Google sign-in and account deletion as clients see them.

use serde::Serialize;
use utoipa::ToSchema;

use super::{TokensView, UserView};

/// `POST /api/auth/google`: a new login, like `POST /api/auth/login`, and whether the
/// account was created by this sign-in.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoogleSignInView {
    /// A JWT for `Authorization: Bearer` and the WebSocket's `?token=`.
    pub access_token: String,
    /// Single use: `POST /api/auth/refresh` spends it for a new pair.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds the access token is valid.
    pub expires_in: i64,
    pub user: UserView,
    /// True when this sign-in created the account (false: an existing account, found by
    /// its Google id or linked by its verified email).
    pub created: bool,
}

impl GoogleSignInView {
    pub fn new(tokens: TokensView, created: bool) -> Self {
        Self {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: tokens.token_type,
            expires_in: tokens.expires_in,
            user: tokens.user,
            created,
        }
    }
}

/// `GET /api/auth/google/config`: what a browser needs to start Google sign-in.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoogleConfigView {
    /// False: `POST /api/auth/google` answers 503 `googleNotConfigured`.
    pub configured: bool,
    /// The OAuth client id (public), when configured.
    pub client_id: Option<String>,
    /// Where to send the browser for the authorization code, when known.
    pub authorization_endpoint: Option<String>,
    /// True in development against the fake issuer at `/dev/fake-google/`.
    pub fake: bool,
}

/// `DELETE /api/users/account`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountDeletedView {
    /// Always true.
    pub deleted: bool,
    /// Open tasks that were cancelled (their credits refunded).
    pub cancelled_tasks: usize,
    /// A renewing Stripe subscription was set to end with its paid period (no further charge).
    pub subscription_stopped: bool,
}

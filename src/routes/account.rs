//! `DELETE /api/users/account`: deletes the caller's account after re-authentication (its
//! password, or a Google sign-in within the last [`GOOGLE_REAUTH_WINDOW_MS`]).
//!
//! Order: the store marks the account deleted, erases its personal fields and revokes its
//! logins and keys in one transaction (from then on nothing of it is accepted); then every
//! node closes its sockets (through the bus); then its open tasks are cancelled with
//! refunds and all its tasks anonymised, their files removed. The ledger rows stay, on the
//! tombstone row.

use axum::extract::State;
use axum::routing::delete;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::auth_user::AnyAccount;
use super::extract::ApiJson;
use crate::auth::password;
use crate::domain::time::now_ms;
use crate::error::{ok, ApiError, ApiResult};
use crate::state::AppState;
use crate::store::StoreError;
use crate::wire::{AccountDeletedView, Envelope, ErrorEnvelope};

/// How recent a Google sign-in must be to stand in for a password.
pub const GOOGLE_REAUTH_WINDOW_MS: i64 = 10 * 60 * 1000;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/users/account", delete(delete_account))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = DeleteAccount)]
pub(crate) struct DeleteAccountBody {
    /// The account's password. Without it (or for an account with no password), a Google
    /// sign-in within the last 10 minutes is required.
    #[schema(max_length = 128)]
    password: Option<String>,
}

/// Delete the caller's account.
#[utoipa::path(delete, path = "/api/users/account", tag = "users",
    request_body = DeleteAccountBody,
    responses(
        (status = 200, description = "Deleted", body = Envelope<AccountDeletedView>),
        (status = 401, description = "no valid token", body = ErrorEnvelope),
        (status = 403, description = "reauthenticationRequired: wrong or missing password and no Google sign-in in the last 10 minutes", body = ErrorEnvelope),
        (status = 404, description = "the account is already deleted", body = ErrorEnvelope),
    ))]
async fn delete_account(
    State(state): State<AppState>,
    AnyAccount(user, _): AnyAccount,
    ApiJson(body): ApiJson<DeleteAccountBody>,
) -> ApiResult<Json<Value>> {
    let gone = |e: StoreError| match e {
        StoreError::NotFound => ApiError::not_found("account"),
        other => other.into(),
    };
    let facts = state.store.reauth_facts(&user.id).await.map_err(gone)?;
    reauthenticate(&state, body.password, facts).await?;
    let deleted = state.store.delete_account(&user.id).await.map_err(gone)?;
    if let Err(e) = state.bus.close_user(&user.id).await {
        tracing::warn!(error = %e, "could not tell other nodes to close a deleted user's sockets");
    }
    let cancelled = state.tasks.purge_user(&user, &deleted.open_tasks).await?;
    tracing::info!(user_id = %user.id, cancelled, "account deleted");
    Ok(ok(AccountDeletedView {
        deleted: true,
        cancelled_tasks: cancelled,
    }))
}

/// The password if one is given (and the account has one), else a recent Google sign-in.
async fn reauthenticate(
    state: &AppState,
    given: Option<String>,
    facts: crate::store::ReauthFacts,
) -> ApiResult<()> {
    let refuse = |m: &str| ApiError::Forbidden("reauthenticationRequired", m.to_string());
    if let Some(pw) = given.filter(|p| !p.is_empty()) {
        let queue = state.settings.http.hash_queue();
        if pw.chars().count() > 128 || facts.password_hash.is_empty() {
            return Err(refuse("the password is wrong"));
        }
        return match password::verify(pw, facts.password_hash, queue).await? {
            true => Ok(()),
            false => Err(refuse("the password is wrong")),
        };
    }
    match facts.google_login_at {
        Some(at) if now_ms() - at <= GOOGLE_REAUTH_WINDOW_MS => Ok(()),
        _ => Err(refuse(
            "confirm with your password, or sign in with Google again (within 10 minutes)",
        )),
    }
}

//! `DELETE /api/users/account`: deletes the caller's account after re-authentication (its
//! password, or a recent Google sign-in); the use case is [`crate::accounts::Accounts`].

use axum::extract::State;
use axum::routing::delete;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::auth_user::AnyAccount;
use super::extract::ApiJson;
use crate::accounts::Accounts;
use crate::error::{ok, ApiResult};
use crate::state::AppState;
use crate::wire::{AccountDeletedView, Envelope, ErrorEnvelope};

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
    let done = Accounts::from(&state).delete(&user, body.password).await?;
    Ok(ok(AccountDeletedView {
        deleted: true,
        cancelled_tasks: done.cancelled_tasks,
        subscription_stopped: done.subscription_stopped,
    }))
}

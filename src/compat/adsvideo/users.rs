//! `/api/v1/users`: the profile (name and avatar, under the native profile rules), credits,
//! and the public list of recent users.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::user_out;
use super::dto::{CreditsOut, DetailBody, UserOut};
use super::user_number;
use crate::compat::detail::{DJson, DUser, Detail, DetailResult};
use crate::domain::profile_rules as rules;
use crate::state::AppState;
use crate::store::{ProfileChange, StoreError};

/// As many as the native list shows.
const RECENT_USERS: i64 = 5;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/profile", get(get_profile).patch(patch_profile))
        .route("/users/credits", get(credits))
        .route("/users/recent", get(recent))
}

/// The signed-in user's profile.
#[utoipa::path(get, path = "/api/v1/users/profile", tag = "AdsVideo v1",
    responses(
        (status = 200, description = "The profile", body = UserOut),
        (status = 401, description = "no valid token", body = DetailBody),
    ))]
pub(super) async fn get_profile(
    State(state): State<AppState>,
    DUser(auth): DUser,
) -> DetailResult<Json<UserOut>> {
    Ok(Json(user_out(&state, &auth.id).await?))
}

/// `null` or absent leaves a field as it is.
#[derive(Deserialize, ToSchema)]
#[schema(as = AdsVideoProfilePatch)]
pub(super) struct PatchBody {
    /// 1 to 50 characters after trimming white space, no control or bidi-override
    /// characters (the native profile's rule and pattern).
    #[schema(
        nullable,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069](?:[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]{0,48}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    name: Option<String>,
    /// An http(s) URL on a host name (not an address), without credentials, at most 2048
    /// bytes (the native profile's rule and pattern).
    #[schema(
        nullable,
        max_length = 2048,
        pattern = r"^https?://([A-Za-z0-9]+(-+[A-Za-z0-9]+)*\.)*[A-Za-z]([A-Za-z0-9]*(-+[A-Za-z0-9]+)*)?(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(/[!-~]*)?$"
    )]
    avatar_url: Option<String>,
}

/// Change the name or the avatar.
#[utoipa::path(patch, path = "/api/v1/users/profile", tag = "AdsVideo v1",
    request_body = PatchBody,
    responses(
        (status = 200, description = "The profile as changed", body = UserOut),
        (status = 401, description = "no valid token", body = DetailBody),
        (status = 422, description = "a bad name or avatar URL", body = DetailBody),
    ))]
pub(super) async fn patch_profile(
    State(state): State<AppState>,
    DUser(auth): DUser,
    DJson(body): DJson<PatchBody>,
) -> DetailResult<Json<UserOut>> {
    let bad = |field: &str, why: &str| Detail::field("body", field, why, "value_error");
    let mut change = ProfileChange::default();
    if let Some(name) = body.name {
        change.display_name = Some(Some(
            rules::display_name(&name).map_err(|w| bad("name", w))?,
        ));
    }
    if let Some(url) = body.avatar_url {
        let url = rules::avatar_url(&url).map_err(|w| bad("avatar_url", w))?;
        change.avatar_url = Some(Some(url));
    }
    match state.store.update_profile(&auth.id, &change).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Err(super::gone()),
        Err(e) => return Err(e.into()),
    }
    Ok(Json(user_out(&state, &auth.id).await?))
}

/// The signed-in user's balance.
#[utoipa::path(get, path = "/api/v1/users/credits", tag = "AdsVideo v1",
    responses(
        (status = 200, description = "The balance", body = CreditsOut),
        (status = 401, description = "no valid token", body = DetailBody),
    ))]
pub(super) async fn credits(
    State(state): State<AppState>,
    DUser(auth): DUser,
) -> DetailResult<Json<CreditsOut>> {
    let user = super::live_user(&state, &auth.id).await?;
    let credits = state.store.credit_summary(&user.id).await?.credits;
    Ok(Json(CreditsOut {
        credits: credits as f64,
        user_id: user_number(&state, &user.id).await?,
    }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoRecentUser)]
pub(super) struct RecentUserOut {
    name: String,
    avatar_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoRecentUsers)]
pub(super) struct RecentUsersOut {
    /// The newest users who opted in to be listed (name and avatar only).
    users: Vec<RecentUserOut>,
    /// How many users there are.
    total: i64,
}

/// Public: the newest five users who chose to be listed, and how many users there are.
#[utoipa::path(get, path = "/api/v1/users/recent", tag = "AdsVideo v1", security(()),
    responses((status = 200, description = "The list and the count", body = RecentUsersOut)))]
pub(super) async fn recent(State(state): State<AppState>) -> DetailResult<Json<RecentUsersOut>> {
    let (total, users) = state.store.recent_users(RECENT_USERS).await?;
    Ok(Json(RecentUsersOut {
        users: users
            .into_iter()
            .map(|u| RecentUserOut {
                name: u.display_name,
                avatar_url: u.avatar_url,
            })
            .collect(),
        total,
    }))
}

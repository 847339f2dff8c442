//! `GET`/`PATCH /api/users/profile` (the user's display name, avatar, language and opt-in to
//! the public list) and `GET /api/users/recent` (public: how many users, and the newest who
//! opted in, by display name and avatar only).
//!
//! Each field's rule is the documented pattern, checked here character by character (see
//! [`rules`]), so what the OpenAPI document promises is exactly what is accepted.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::extract::ApiJson;
use crate::auth::AuthUser;
use crate::error::{ok, ApiError, ApiResult, FieldErrors};
use crate::state::AppState;
use crate::store::{ProfileChange, StoreError};
use crate::wire::{Envelope, ErrorEnvelope, ProfileView, RecentUserView, RecentUsersView};

pub use crate::domain::profile_rules as rules;

/// Users in the public list: the issue's "last 5".
pub const RECENT_USERS: i64 = 5;
/// The list changes only when someone signs up or opts in: a browser or proxy may reuse an
/// answer this long, so a busy landing page does not query the database per view.
const RECENT_CACHE: &str = "public, max-age=30";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users/profile", get(get_profile).patch(patch_profile))
        .route("/api/users/recent", get(recent))
}

/// The body of `PATCH /api/users/profile`, for the document only: the body is read as a
/// JSON object by [`parse_patch`], field by field, so `null` and "absent" differ, a JSON array
/// is not taken for the fields in order, and every error names its field.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = ProfilePatch)]
#[allow(dead_code)]
pub(crate) struct PatchBody {
    /// 1 to 50 characters after trimming white space, no control or bidi-override
    /// characters; `null` clears it.
    #[schema(value_type = Option<String>, nullable,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069](?:[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]{0,48}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$")]
    display_name: Option<String>,
    /// An http(s) URL on a host name (not an address), without credentials, at most 2048
    /// bytes; `null` clears it.
    #[schema(value_type = Option<String>, nullable, max_length = 2048,
        pattern = r"^https?://([A-Za-z0-9]+(-+[A-Za-z0-9]+)*\.)*[A-Za-z]([A-Za-z0-9]*(-+[A-Za-z0-9]+)*)?(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(/[!-~]*)?$")]
    avatar_url: Option<String>,
    #[serde(default)]
    #[schema(value_type = String, pattern = "^(en|zh-CN|zh-TW|ja|ko)$")]
    language: Option<String>,
    /// Be listed in `GET /api/users/recent` (with the display name and avatar).
    #[serde(default)]
    #[schema(value_type = bool)]
    show_in_recent: Option<bool>,
}

type FieldResult<T> = Result<T, &'static str>;

/// A string or `null` (which clears the field).
fn nullable_str(v: Value) -> FieldResult<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err("a string or null"),
    }
}

/// The body as a change, or a 422 naming every bad or unknown field (nothing is changed
/// then: all or nothing).
fn parse_patch(body: Map<String, Value>) -> ApiResult<ProfileChange> {
    let mut c = ProfileChange::default();
    let mut errors: FieldErrors = Vec::new();
    for (key, value) in body {
        let outcome: FieldResult<()> = match key.as_str() {
            "displayName" => nullable_str(value)
                .and_then(|v| v.map(|s| rules::display_name(&s)).transpose())
                .map(|v| c.display_name = Some(v)),
            "avatarUrl" => nullable_str(value)
                .and_then(|v| v.map(|s| rules::avatar_url(&s)).transpose())
                .map(|v| c.avatar_url = Some(v)),
            "language" => match value {
                Value::String(l) if rules::LANGUAGES.contains(&l.as_str()) => {
                    c.language = Some(l);
                    Ok(())
                }
                _ => Err("one of en, zh-CN, zh-TW, ja, ko"),
            },
            "showInRecent" => match value {
                Value::Bool(b) => {
                    c.show_in_recent = Some(b);
                    Ok(())
                }
                _ => Err("true or false"),
            },
            _ => Err("unknown field; this route accepts only its documented fields"),
        };
        if let Err(why) = outcome {
            errors.push((key.chars().take(100).collect(), why.to_string()));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(c)
}

/// The signed-in user's profile.
#[utoipa::path(get, path = "/api/users/profile", tag = "profile",
    responses((status = 200, description = "The profile", body = Envelope<ProfileView>)))]
async fn get_profile(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Value>> {
    let user = state.store.get_user(&auth.id).await.map_err(gone)?;
    Ok(ok(ProfileView::from(&user)))
}

/// Change some profile fields; the others stay. An empty object changes nothing.
#[utoipa::path(patch, path = "/api/users/profile", tag = "profile",
    request_body = PatchBody,
    responses(
        (status = 200, description = "The profile as changed", body = Envelope<ProfileView>),
        (status = 422, description = "`validationFailed`: `error.fields` names each bad or unknown field", body = ErrorEnvelope),
    ))]
async fn patch_profile(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let change = parse_patch(body)?;
    let user = state
        .store
        .update_profile(&auth.id, &change)
        .await
        .map_err(gone)?;
    Ok(ok(ProfileView::from(&user)))
}

/// A valid token whose user was deleted: 401, as `/api/auth/me` answers.
fn gone(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::Unauthorized("user no longer exists".into()),
        other => other.into(),
    }
}

/// Public: how many users there are, and the newest five who chose to be listed (display
/// name and avatar only). Cacheable for 30 seconds.
#[utoipa::path(get, path = "/api/users/recent", tag = "profile", security(()),
    responses((status = 200, description = "The count and the list", body = Envelope<RecentUsersView>,
        headers(("Cache-Control" = String, description = "`public, max-age=30`")))))]
async fn recent(State(state): State<AppState>) -> ApiResult<Response> {
    let (total, users) = state.store.recent_users(RECENT_USERS).await?;
    let mut resp = ok(RecentUsersView {
        total_users: total,
        users: users.into_iter().map(RecentUserView::from).collect(),
    })
    .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(RECENT_CACHE),
    );
    Ok(resp)
}

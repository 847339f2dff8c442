//! `/api/auth`: Google sign-in by authorization code, refresh, logout, me, and development's
//! test login, over `auth::sessions` (the same logins as the native `/api/auth`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::super::detail::{DJson, DQuery, DUser, Detail, DetailResult};
use super::dto::{DetailOut, MessageOut};
use crate::auth::sessions::{google_user, test_user, valid_email, TokenPair};
use crate::error::ApiError;
use crate::state::AppState;

/// Longest authorization code or redirect URI accepted (Google's codes are ~100 chars).
const MAX_CODE_CHARS: usize = 2048;
/// The redirect URI of Google's popup code flow, used when the frontend sends none.
const POPUP_REDIRECT: &str = "postmessage";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/google/login", post(google_login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
        .route("/api/auth/test/login", post(test_login))
}

/// The token answer of every sign-in.
#[derive(Serialize, ToSchema)]
#[schema(as = Sora2Tokens)]
pub struct TokensOut {
    access_token: String,
    refresh_token: String,
    #[schema(pattern = "^bearer$")]
    token_type: String,
    /// Seconds until the access token expires.
    expires_in: i64,
}

impl From<TokenPair> for TokensOut {
    fn from(p: TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            refresh_token: p.refresh_token,
            token_type: "bearer".into(),
            expires_in: p.expires_in,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = Sora2GoogleLogin)]
pub struct GoogleLoginBody {
    /// The authorization code from Google.
    #[schema(min_length = 1, max_length = 2048)]
    code: String,
    /// The redirect URI the code was requested with (default `postmessage`, Google's popup flow).
    #[schema(min_length = 1, max_length = 2048)]
    redirect_uri: Option<String>,
}

/// Sign in with a Google authorization code; creates the account on first use.
#[utoipa::path(post, path = "/compat/sora2/api/auth/google/login", tag = "Sora 2 compat", security(()),
    request_body = GoogleLoginBody,
    responses(
        (status = 200, description = "Signed in", body = TokensOut),
        (status = 401, description = "Invalid authorization code", body = DetailOut),
        (status = 409, description = "the email's account is linked to another Google account", body = DetailOut),
        (status = 422, description = "code or redirect_uri missing or too long", body = DetailOut),
        (status = 503, description = "Google sign-in is not configured or Google is unreachable", body = DetailOut),
    ))]
async fn google_login(
    State(state): State<AppState>,
    DJson(body): DJson<GoogleLoginBody>,
) -> DetailResult<Json<TokensOut>> {
    let google = &state.google;
    google.configured().map_err(ApiError::from)?;
    let redirect = body.redirect_uri.as_deref().unwrap_or(POPUP_REDIRECT);
    for (field, v) in [("code", body.code.as_str()), ("redirect_uri", redirect)] {
        if v.is_empty() || v.len() > MAX_CODE_CHARS {
            return Err(Detail::field(
                "body",
                field,
                "1 to 2048 characters",
                "value_error",
            ));
        }
    }
    let id_token = google
        .exchange_code(&body.code, redirect, None)
        .await
        .map_err(ApiError::from)?;
    let bonus = state
        .settings
        .billing
        .signup_bonus(crate::domain::time::now_ms());
    let (user, _) = google_user(google, &state.store, &id_token, bonus).await?;
    Ok(Json(state.sessions().start(&user).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = Sora2Refresh)]
pub struct RefreshBody {
    refresh_token: String,
}

/// Spend a refresh token for a new pair (a spent one revokes the login).
#[utoipa::path(post, path = "/compat/sora2/api/auth/refresh", tag = "Sora 2 compat", security(()),
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new token pair", body = TokensOut),
        (status = 401, description = "invalid, expired or reused refresh token", body = DetailOut),
    ))]
async fn refresh(
    State(state): State<AppState>,
    DJson(body): DJson<RefreshBody>,
) -> DetailResult<Json<TokensOut>> {
    let (_, pair) = state.sessions().rotate(&body.refresh_token).await?;
    Ok(Json(pair.into()))
}

#[derive(Deserialize, ToSchema, Default)]
#[schema(as = Sora2Logout)]
pub struct LogoutBody {
    /// When sent, this login's refresh token is revoked too.
    refresh_token: Option<String>,
}

/// Log out (the access token lapses by itself; a refresh token sent along is revoked).
#[utoipa::path(post, path = "/compat/sora2/api/auth/logout", tag = "Sora 2 compat",
    request_body(content = Option<LogoutBody>, description = "optional"),
    responses((status = 200, description = "Logged out", body = MessageOut)))]
async fn logout(
    State(state): State<AppState>,
    DUser(_): DUser,
    body: axum::body::Bytes,
) -> DetailResult<Json<MessageOut>> {
    // The reference sends no body; one with a refresh token revokes that login.
    let body: LogoutBody = serde_json::from_slice(&body).unwrap_or_default();
    if let Some(t) = body.refresh_token {
        state.sessions().end(&t).await?;
    }
    Ok(Json(MessageOut::new("Successfully logged out")))
}

/// The signed-in user.
#[derive(Serialize, ToSchema)]
#[schema(as = Sora2Me)]
pub struct MeOut {
    id: String,
    email: String,
    username: String,
    credits: i64,
    avatar_url: Option<String>,
    is_verified: bool,
}

/// The signed-in user with their balance.
#[utoipa::path(get, path = "/compat/sora2/api/auth/me", tag = "Sora 2 compat",
    responses((status = 200, description = "The user", body = MeOut)))]
async fn me(State(state): State<AppState>, DUser(auth): DUser) -> DetailResult<Json<MeOut>> {
    let user = super::users::live_user(&state, &auth.id).await?;
    let credits = state.store.credit_summary(&user.id).await?.credits;
    Ok(Json(MeOut {
        id: user.id,
        email: user.email,
        username: user.display_name.unwrap_or(user.username),
        credits,
        avatar_url: user.avatar_url,
        is_verified: true,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TestLoginQuery {
    /// Default `test@example.com`.
    #[param(
        pattern = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$",
        max_length = 254
    )]
    email: Option<String>,
}

/// Development only: sign in as an email, creating the user (403 in production).
#[utoipa::path(post, path = "/compat/sora2/api/auth/test/login", tag = "Sora 2 compat", security(()),
    params(TestLoginQuery),
    responses(
        (status = 200, description = "Signed in", body = TokensOut),
        (status = 403, description = "Not available in production", body = DetailOut),
        (status = 422, description = "not a valid email address", body = DetailOut),
    ))]
async fn test_login(
    State(state): State<AppState>,
    query: DetailResult<DQuery<TestLoginQuery>>,
) -> DetailResult<Json<TokensOut>> {
    if state.settings.is_production() {
        return Err(Detail::new(
            StatusCode::FORBIDDEN,
            "Test login is not available in production",
        ));
    }
    let DQuery(q) = query?;
    let email = q
        .email
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "test@example.com".into())
        .trim()
        .to_lowercase();
    if !valid_email(&email) {
        return Err(Detail::field(
            "query",
            "email",
            "not a valid email address",
            "value_error",
        ));
    }
    let bonus = state
        .settings
        .billing
        .signup_bonus(crate::domain::time::now_ms());
    let queue = state.settings.http.hash_queue();
    let user = test_user(&state.store, &email, bonus, queue).await?;
    Ok(Json(state.sessions().start(&user).await?.into()))
}

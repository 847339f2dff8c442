//! `/api/v1/auth`: Google sign-in by authorization code, refresh, me, logout (over
//! `auth::sessions`, the same logins as the native `/api/auth`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

use super::dto::{DetailBody, TokensOut, UserOut};
use super::{live_user, user_number};
use crate::auth::sessions::{google_user, TokenPair};
use crate::compat::detail::{DJson, DUser, Detail, DetailResult};
use crate::error::ApiError;
use crate::state::AppState;

/// Longest authorization code or redirect URI accepted (as natively).
const MAX_CODE_CHARS: usize = 2048;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/google", post(google))
        .route("/auth/refresh", post(refresh))
        .route("/auth/me", get(me))
        .route("/auth/logout", post(logout))
}

fn tokens(t: TokenPair) -> Json<TokensOut> {
    Json(TokensOut {
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        token_type: "bearer".into(),
        expires_in: t.expires_in,
    })
}

#[derive(Deserialize, ToSchema)]
#[schema(as = AdsVideoGoogleLogin)]
pub(super) struct GoogleBody {
    /// The authorization code Google sent the frontend's callback.
    #[schema(min_length = 1, max_length = 2048)]
    code: String,
    /// The redirect URI the code was requested with.
    #[schema(min_length = 1, max_length = 2048)]
    redirect_uri: String,
    /// The PKCE verifier, when the code was requested with a challenge (not in the reference).
    #[schema(pattern = "^[A-Za-z0-9._~-]{43,128}$")]
    code_verifier: Option<String>,
}

/// Exchange a Google authorization code for tokens (the account is created on first use).
#[utoipa::path(post, path = "/api/v1/auth/google", tag = "AdsVideo v1", security(()),
    request_body = GoogleBody,
    responses(
        (status = 200, description = "Signed in", body = TokensOut),
        (status = 401, description = "the code could not be exchanged, or its ID token was refused", body = DetailBody),
        (status = 409, description = "the email's account is linked to another Google account", body = DetailBody),
        (status = 422, description = "a missing or too long field", body = DetailBody),
        (status = 503, description = "Google sign-in is not configured or Google is unreachable", body = DetailBody),
    ))]
pub(super) async fn google(
    State(state): State<AppState>,
    DJson(body): DJson<GoogleBody>,
) -> DetailResult<Json<TokensOut>> {
    state.google.configured().map_err(ApiError::from)?;
    for (field, value) in [("code", &body.code), ("redirect_uri", &body.redirect_uri)] {
        if value.is_empty() || value.len() > MAX_CODE_CHARS {
            let msg = "1 to 2048 characters";
            return Err(Detail::field("body", field, msg, "value_error"));
        }
    }
    if let Some(v) = &body.code_verifier {
        let ok = (43..=128).contains(&v.len())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
        if !ok {
            let msg = "43 to 128 characters of A-Z a-z 0-9 - . _ ~";
            return Err(Detail::field("body", "code_verifier", msg, "value_error"));
        }
    }
    let id_token = state
        .google
        .exchange_code(
            &body.code,
            &body.redirect_uri,
            body.code_verifier.as_deref(),
        )
        .await
        .map_err(ApiError::from)?;
    let bonus = state
        .settings
        .billing
        .signup_bonus(crate::domain::time::now_ms());
    let (user, _) = google_user(&state.google, &state.store, &id_token, bonus).await?;
    Ok(tokens(state.sessions().start(&user).await?))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = AdsVideoRefresh)]
pub(super) struct RefreshBody {
    refresh_token: String,
}

/// Spend a refresh token for a new pair (single use: reusing one revokes its login).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "AdsVideo v1", security(()),
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new token pair", body = TokensOut),
        (status = 401, description = "invalid, expired or reused refresh token", body = DetailBody),
        (status = 422, description = "no `refresh_token`", body = DetailBody),
    ))]
pub(super) async fn refresh(
    State(state): State<AppState>,
    DJson(body): DJson<RefreshBody>,
) -> DetailResult<Json<TokensOut>> {
    let (_, pair) = state.sessions().rotate(&body.refresh_token).await?;
    Ok(tokens(pair))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "AdsVideo v1",
    responses(
        (status = 200, description = "The user", body = UserOut),
        (status = 401, description = "no valid token", body = DetailBody),
    ))]
pub(super) async fn me(
    State(state): State<AppState>,
    DUser(auth): DUser,
) -> DetailResult<Json<UserOut>> {
    Ok(Json(user_out(&state, &auth.id).await?))
}

/// The user as this API shows them: integer id, name, credits.
pub(super) async fn user_out(state: &AppState, user_id: &str) -> DetailResult<UserOut> {
    let user = live_user(state, user_id).await?;
    let credits = state.store.credit_summary(&user.id).await?.credits;
    let id = user_number(state, &user.id).await?;
    Ok(UserOut::new(id, &user, credits))
}

#[derive(Deserialize)]
struct LogoutBody {
    /// Optional (not in the reference): this login's refresh token, revoked.
    refresh_token: Option<String>,
}

/// Sign out. The reference's client just drops its tokens (and sends no body); a JSON body
/// `{"refresh_token"}` (not in the reference, so not documented here) is revoked as well.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "AdsVideo v1",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "no valid token", body = DetailBody),
        (status = 413, description = "a body over the limit", body = DetailBody),
    ))]
pub(super) async fn logout(
    State(state): State<AppState>,
    DUser(_): DUser,
    body: Result<Bytes, BytesRejection>,
) -> DetailResult<StatusCode> {
    let body = body.map_err(|e| Detail::new(e.status(), e.body_text()))?;
    // No body, or one without a usable token: nothing to revoke (not an error, as the
    // reference takes no body at all).
    if let Ok(LogoutBody {
        refresh_token: Some(token),
    }) = serde_json::from_slice::<LogoutBody>(&body)
    {
        state.sessions().end(&token).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

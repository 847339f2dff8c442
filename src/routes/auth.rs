//! `/api/auth`: register, login, refresh (rotating), logout, me, and development test login.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::auth::password;
use crate::auth::sessions::TokenPair;
use crate::auth::AuthUser;
use crate::error::{ok, ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{NewUser, User};
use crate::wire::{Envelope, ErrorEnvelope, MeView, RevokedView, TokensView, UserView};

use super::extract::{ApiJson, ApiQuery};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
        .route("/api/auth/test/login", post(test_login).get(test_login))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Register)]
pub(crate) struct RegisterBody {
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,32}$")]
    username: String,
    #[schema(
        pattern = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$",
        max_length = 254
    )]
    email: String,
    #[schema(min_length = 8, max_length = 128)]
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Login)]
pub(crate) struct LoginBody {
    /// Username or email (also accepted as `username` or `email`).
    #[serde(alias = "username", alias = "email")]
    login: String,
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Refresh)]
pub(crate) struct RefreshBody {
    refresh_token: String,
}

const BAD_LOGIN: &str = "invalid username/email or password";

/// Register; 201 with tokens.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", security(()),
    request_body = RegisterBody,
    responses(
        (status = 201, description = "The new user, signed in", body = Envelope<TokensView>),
        (status = 409, description = "username or email taken", body = ErrorEnvelope),
    ))]
async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let username = body.username.trim();
    let email = body.email.trim();
    let mut errors = Vec::new();
    if !(3..=32).contains(&username.chars().count())
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        errors.push((
            "username".into(),
            "3 to 32 characters: letters, digits, _ - .".into(),
        ));
    }
    if !valid_email(email) {
        errors.push(("email".into(), "not a valid email address".into()));
    }
    if !(8..=128).contains(&body.password.chars().count()) {
        errors.push(("password".into(), "8 to 128 characters".into()));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let hash = password::hash(body.password, state.settings.http.hash_queue()).await?;
    let user = state
        .store
        .create_user_with_bonus(
            NewUser {
                username,
                email,
                password_hash: &hash,
            },
            state
                .settings
                .billing
                .signup_bonus(crate::domain::time::now_ms()),
        )
        .await?;
    Ok((StatusCode::CREATED, issue_tokens(&state, &user).await?))
}

/// Log in by username or email.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", security(()),
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = Envelope<TokensView>),
        (status = 401, description = "unknown user or wrong password", body = ErrorEnvelope),
    ))]
async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Json<Value>> {
    let user = state.store.find_user_by_login(body.login.trim()).await?;
    let Some(user) = user else {
        // Same work and the same answer as a wrong password.
        // A full hashing queue answers busy here as it would for a known user.
        let queue = state.settings.http.hash_queue();
        let dummy = password::dummy_hash(queue).await?.to_string();
        password::verify(body.password, dummy, queue).await?;
        return Err(ApiError::Unauthorized(BAD_LOGIN.into()));
    };
    let queue = state.settings.http.hash_queue();
    // A Google-only account has no password: the same work and answer as a wrong one.
    let no_password = user.password_hash.is_empty();
    let hash = if no_password {
        password::dummy_hash(queue).await?.to_string()
    } else {
        user.password_hash.clone()
    };
    if !password::verify(body.password, hash, queue).await? || no_password {
        return Err(ApiError::Unauthorized(BAD_LOGIN.into()));
    }
    issue_tokens(&state, &user).await
}

/// Rotate a refresh token (reusing a spent one revokes the login).
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", security(()),
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new token pair", body = Envelope<TokensView>),
        (status = 401, description = "invalid, expired or reused refresh token", body = ErrorEnvelope),
    ))]
async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> ApiResult<Json<Value>> {
    let (user, pair) = state.sessions().rotate(&body.refresh_token).await?;
    Ok(ok(token_view(&user, pair)))
}

/// Revoke the login of a refresh token.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(()),
    request_body = RefreshBody,
    responses((status = 200, description = "Whether a live login was revoked", body = Envelope<RevokedView>)))]
async fn logout(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> ApiResult<Json<Value>> {
    let revoked = state.sessions().end(&body.refresh_token).await?;
    Ok(ok(RevokedView { revoked }))
}

/// The signed-in user, with their profile, credits and plan.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    responses((status = 200, description = "The user", body = Envelope<MeView>)))]
async fn me(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Value>> {
    let user = state
        .store
        .get_user(&auth.id)
        .await
        .map_err(|_| ApiError::Unauthorized("user no longer exists".into()))?;
    let credits = state.store.credit_summary(&user.id).await?.credits;
    let plan = state.store.get_subscription(&user.id).await?.plan;
    Ok(ok(MeView {
        user: UserView::from(&user),
        show_in_recent: user.show_in_recent != 0,
        credits,
        plan,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct TestLoginQuery {
    #[param(
        pattern = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$",
        max_length = 254
    )]
    email: String,
}

/// Development only: sign in as an email, creating the user (403 in production).
#[utoipa::path(method(post, get), path = "/api/auth/test/login", tag = "auth", security(()),
    params(TestLoginQuery),
    responses(
        (status = 200, description = "Signed in", body = Envelope<TokensView>),
        (status = 400, description = "no `email` in the query", body = ErrorEnvelope),
        (status = 403, description = "production", body = ErrorEnvelope),
        (status = 422, description = "not a valid email address", body = ErrorEnvelope),
    ))]
async fn test_login(
    State(state): State<AppState>,
    query: ApiResult<ApiQuery<TestLoginQuery>>,
) -> ApiResult<Json<Value>> {
    if state.settings.is_production() {
        return Err(ApiError::Forbidden(
            "forbidden",
            "test login is disabled in production".into(),
        ));
    }
    let ApiQuery(q) = query?;
    let email = q.email.trim().to_lowercase();
    if !valid_email(&email) {
        return Err(ApiError::field("email", "not a valid email address"));
    }
    let bonus = state
        .settings
        .billing
        .signup_bonus(crate::domain::time::now_ms());
    let queue = state.settings.http.hash_queue();
    let user = crate::auth::sessions::test_user(&state.store, &email, bonus, queue).await?;
    issue_tokens(&state, &user).await
}

/// Starts a new login (a new refresh-token family) for `user`.
async fn issue_tokens(state: &AppState, user: &User) -> ApiResult<Json<Value>> {
    Ok(ok(new_login(state, user).await?))
}

/// A new login (a new refresh-token family) for `user`, as its token pair.
pub(super) async fn new_login(state: &AppState, user: &User) -> ApiResult<TokensView> {
    let pair = state.sessions().start(user).await?;
    Ok(token_view(user, pair))
}

fn token_view(user: &User, pair: TokenPair) -> TokensView {
    TokensView {
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        token_type: "bearer".into(),
        expires_in: pair.expires_in,
        user: UserView::from(user),
    }
}

pub(super) use crate::auth::sessions::valid_email;

#[cfg(test)]
mod tests {
    use super::valid_email;

    #[test]
    fn emails_follow_the_documented_pattern() {
        for good in ["a@b.co", "first.last+tag@mail.example.org", "x_y%z@a-b.c-d"] {
            assert!(valid_email(good), "{good}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@.co", "a@b.", "a@b..co", "a b@c.de", "a@b@c.de", "-x@6.3d*",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
        assert!(!valid_email(&format!("{}@b.co", "a".repeat(250))));
    }
}

//! The [`AuthUser`] of a REST request, from `Authorization: Bearer <jwt>` or, where API keys
//! are on (`TASKHUB_API_KEYS`), from `X-API-Key: <key>`. A bearer token of a deleted account
//! is refused (401) from the moment of deletion: each request checks the account is live.
//! [`AnyAccount`] skips that check (account deletion answers 404 for a deleted one).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AnyAccount(user, by_key) = AnyAccount::from_request_parts(parts, state).await?;
        // API keys are looked up with their (live) user and revoked on deletion.
        if !by_key && !state.store.user_is_live(&user.id).await? {
            return Err(ApiError::Unauthorized("this account was deleted".into()));
        }
        Ok(user)
    }
}

/// The caller by token or key, whether or not the account still exists; `.1` is true when
/// it came from an API key.
pub(super) struct AnyAccount(pub AuthUser, pub bool);

impl FromRequestParts<AppState> for AnyAccount {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state).await
    }
}

async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<AnyAccount, ApiError> {
    // Already authenticated by the rate-limit middleware (an API key it looked up).
    if let Some(user) = parts.extensions.get::<AuthUser>() {
        return Ok(AnyAccount(user.clone(), true));
    }
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(header) = header else {
        if let Some(key) = parts.headers.get("x-api-key") {
            let user = from_api_key(key.to_str().unwrap_or(""), state).await?;
            return Ok(AnyAccount(user, true));
        }
        return Err(ApiError::Unauthorized(
            "missing Authorization: Bearer token".into(),
        ));
    };
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::Unauthorized("expected a Bearer token".into()))?;
    let claims = state
        .jwt
        .verify(token.trim())
        .map_err(|_| ApiError::Unauthorized("invalid or expired token".into()))?;
    Ok(AnyAccount(
        AuthUser {
            id: claims.sub,
            username: claims.name,
        },
        false,
    ))
}

/// Looks the key up by its hash; unknown, revoked and malformed keys look the same.
async fn from_api_key(key: &str, state: &AppState) -> Result<AuthUser, ApiError> {
    if !state.settings.billing.api_keys {
        return Err(ApiError::Unauthorized(
            "X-API-Key is not accepted on this server; use a Bearer token".into(),
        ));
    }
    let key = key.trim();
    if key.is_empty() || key.len() > 200 {
        return Err(ApiError::Unauthorized("invalid API key".into()));
    }
    match state
        .store
        .user_for_api_key(&crate::auth::token_hash(key))
        .await?
    {
        Some((id, username)) => Ok(AuthUser { id, username }),
        None => Err(ApiError::Unauthorized("invalid API key".into())),
    }
}

//! The [`AuthUser`] of a REST request, from `Authorization: Bearer <jwt>` or, where API keys
//! are on (`TASKHUB_API_KEYS`), from `X-API-Key: <key>`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Already authenticated by the rate-limit middleware (an API key it looked up).
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(header) = header else {
            if let Some(key) = parts.headers.get("x-api-key") {
                return from_api_key(key.to_str().unwrap_or(""), state).await;
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
        Ok(AuthUser {
            id: claims.sub,
            username: claims.name,
        })
    }
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

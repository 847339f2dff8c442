//! `AuthUser`: the signed-in user of a REST request, from `Authorization: Bearer <jwt>`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller. Handlers that take it answer 401 without a valid token.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub id: String,
    pub username: String,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(header) = header else {
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

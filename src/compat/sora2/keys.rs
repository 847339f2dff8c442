//! `X-API-Key` where the Sora 2 reference requires one ("Bearer token + API key" on uploads
//! and task creation, "API key" on the two task reads). A frontend in the field sends one
//! deployment-wide key it was configured with, so the adapter accepts the keys listed in
//! `TASKHUB_COMPAT_SORA2_API_KEYS` (compared in constant time), or a taskhub user API key.
//! The key never says who the caller is on its own: the user comes from the bearer token (or
//! from a user API key), so a task is never shown to anyone but its owner. With no keys
//! configured the check is off and these endpoints need only the caller.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use sha2::{Digest, Sha256};

use super::super::detail::{DUser, Detail};
use crate::auth::AuthUser;
use crate::state::AppState;

/// The caller of an endpoint that needs an API key: the deployment key checked (when keys
/// are configured), then the signed-in user.
pub struct KeyedUser(pub AuthUser);

impl FromRequestParts<AppState> for KeyedUser {
    type Rejection = Detail;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Detail> {
        let keys = state.settings.compat_sora2.api_keys();
        let sent = parts
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        let bearer = parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION);
        let deployment = sent.is_some_and(|k| is_deployment_key(&keys, k));
        // A user API key (no bearer token) identifies the caller and stands for the key too.
        let by_user_key = sent.is_some() && !bearer;
        if !keys.is_empty() && !deployment && !by_user_key {
            return Err(Detail::new(
                StatusCode::FORBIDDEN,
                "Invalid or missing API key",
            ));
        }
        let DUser(user) = DUser::from_request_parts(parts, state).await?;
        Ok(Self(user))
    }
}

/// Whether `sent` is one of `keys`, every key compared in constant time (by digest, so the
/// lengths do not show either).
fn is_deployment_key(keys: &[&str], sent: &str) -> bool {
    let sent = Sha256::digest(sent.as_bytes());
    keys.iter().fold(false, |found, key| {
        let key = Sha256::digest(key.as_bytes());
        let diff = key
            .iter()
            .zip(sent.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        found | (diff == 0)
    })
}

#[cfg(test)]
mod tests {
    use super::is_deployment_key;

    #[test]
    fn keys_match_exactly() {
        let keys = ["FAKE-key-one", "FAKE-key-two"];
        assert!(is_deployment_key(&keys, "FAKE-key-two"));
        assert!(!is_deployment_key(&keys, "FAKE-key-tw"));
        assert!(!is_deployment_key(&keys, ""));
        assert!(!is_deployment_key(&[], "FAKE-key-one"));
    }
}

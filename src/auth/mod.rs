//! Authentication: access JWTs, password hashing, opaque tokens, and [`AuthUser`] (its
//! extractor is the HTTP edge's: `routes/auth_user.rs`).

pub mod google;
pub mod google_settings;
pub mod hash_memory;
pub mod jwt;
pub mod password;
pub mod sessions;

/// The authenticated caller. Handlers that take it answer 401 without a valid token or key.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub id: String,
    pub username: String,
}

use rand::distr::Alphanumeric;
use rand::RngExt;
use sha2::{Digest, Sha256};

/// The caller's account if it is an admin; anyone else (or a deleted account) is 403.
pub async fn require_admin(
    store: &crate::store::Store,
    user: &AuthUser,
) -> crate::error::ApiResult<crate::store::User> {
    use crate::error::ApiError;
    match store.get_user(&user.id).await {
        Ok(u) if u.is_admin() => Ok(u),
        Ok(_) | Err(crate::store::StoreError::NotFound) => Err(ApiError::Forbidden(
            "forbidden",
            "this needs an admin account".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// A random URL-safe token of `len` characters from the OS-seeded CSPRNG.
pub fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// SHA-256 hex of a high-entropy token (refresh tokens, API keys). Such tokens need no
/// slow hash: they are random, not guessable passwords.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

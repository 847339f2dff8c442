//! Logins, for every API that signs people in (the native `/api/auth` and the compat
//! adapters): a token pair for a user (a new refresh-token family), rotating a refresh token,
//! ending a login; and the two sign-ins that end in one besides a password: Google (by ID
//! token) and development's test login (find or create by email).

use super::google::GoogleAuth;
use super::jwt::JwtKeys;
use super::password::{self, Queue};
use super::{random_token, token_hash};
use crate::error::{ApiError, ApiResult};
use crate::store::{GoogleIdentity, NewUser, RefreshOutcome, SignupBonus, Store, User};

/// The handles a login needs.
pub struct Sessions<'a> {
    pub store: &'a Store,
    pub jwt: &'a JwtKeys,
    /// Refresh token lifetime, in milliseconds.
    pub refresh_ttl_ms: i64,
}

/// An access token and the refresh token of its login.
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds the access token is valid.
    pub expires_in: i64,
}

impl Sessions<'_> {
    /// A new login (a new refresh-token family) for `user`.
    pub async fn start(&self, user: &User) -> ApiResult<TokenPair> {
        let refresh = random_token(48);
        let family = uuid::Uuid::new_v4().to_string();
        self.store
            .insert_refresh_token(
                &user.id,
                &family,
                &token_hash(&refresh),
                self.refresh_ttl_ms,
            )
            .await?;
        self.pair(user, refresh)
    }

    /// Spends `refresh` for a new pair of the same login (reusing a spent one revokes the
    /// login: 401 either way).
    pub async fn rotate(&self, refresh: &str) -> ApiResult<(User, TokenPair)> {
        let new_token = random_token(48);
        let outcome = self
            .store
            .rotate_refresh_token(
                &token_hash(refresh),
                &token_hash(&new_token),
                self.refresh_ttl_ms,
            )
            .await?;
        match outcome {
            RefreshOutcome::Rotated { user_id } => {
                let user = self.store.get_user(&user_id).await?;
                let pair = self.pair(&user, new_token)?;
                Ok((user, pair))
            }
            RefreshOutcome::Invalid => Err(ApiError::Unauthorized(
                "invalid or expired refresh token".into(),
            )),
            RefreshOutcome::Reused => Err(ApiError::Unauthorized(
                "refresh token was already used; this login has been revoked, sign in again".into(),
            )),
        }
    }

    /// Revokes the login of `refresh`; whether a live one was revoked.
    pub async fn end(&self, refresh: &str) -> ApiResult<bool> {
        Ok(self
            .store
            .revoke_refresh_token(&token_hash(refresh))
            .await?)
    }

    fn pair(&self, user: &User, refresh: String) -> ApiResult<TokenPair> {
        let (access, _) = self.jwt.issue(&user.id, &user.username)?;
        Ok(TokenPair {
            access_token: access,
            refresh_token: refresh,
            expires_in: self.jwt.ttl_secs(),
        })
    }
}

/// The account of a verified Google ID token: found by its Google id, linked by its verified
/// email, or created (with the signup bonus); `.1` is true when created.
pub async fn google_user(
    google: &GoogleAuth,
    store: &Store,
    id_token: &str,
    bonus: Option<SignupBonus>,
) -> ApiResult<(User, bool)> {
    let claims = google.verify_id_token(id_token).await?;
    let username = username_for(&claims.email);
    let identity = GoogleIdentity {
        sub: &claims.sub,
        email: &claims.email,
        username: &username,
    };
    Ok(store.google_sign_in(&identity, bonus).await?)
}

/// Development's test login: the account of `email` (lowercase, already checked), created
/// with a random password and the signup bonus when there is none.
pub async fn test_user(
    store: &Store,
    email: &str,
    bonus: Option<SignupBonus>,
    queue: Queue,
) -> ApiResult<User> {
    if let Some(u) = store.find_user_by_login(email).await? {
        return Ok(u);
    }
    let username = username_for(email);
    let hash = password::hash(random_token(32), queue).await?;
    let new = NewUser {
        username: &username,
        email,
        password_hash: &hash,
    };
    Ok(store.create_user_with_bonus(new, bonus).await?)
}

/// A username for a new account: the email's local part (letters and digits, at most 20)
/// and a random suffix.
pub fn username_for(email: &str) -> String {
    let local: String = email
        .split('@')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect();
    let local = if local.is_empty() { "user" } else { &local };
    format!("{local}_{}", random_token(6).to_lowercase())
}

/// The documented pattern `^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`, at most
/// 254 characters: what the OpenAPI document promises is exactly what is accepted.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c));
    let labels_ok = domain.split('.').count() >= 2
        && domain
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    email.len() <= 254 && local_ok && labels_ok
}

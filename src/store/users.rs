//! Users and their rotating refresh tokens.

use super::{Store, StoreError, StoreResult};
use crate::domain::time::now_ms;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Shown instead of the username where a name is shown; `None` until set.
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    /// `en`, `zh-CN`, `zh-TW`, `ja` or `ko`.
    pub language: String,
    /// 1: listed in `GET /api/users/recent` (opt-in), else 0.
    pub show_in_recent: i64,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
}

/// Why a refresh token was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Rotated: the old token is spent, the new one stored. Carries the user id.
    Rotated { user_id: String },
    /// Unknown, expired or revoked.
    Invalid,
    /// A token that was already rotated was presented again: its whole login was revoked.
    Reused,
}

pub(super) const USER_COLS: &str =
    "id, username, email, password_hash, role, created_at, updated_at, \
     display_name, avatar_url, language, show_in_recent";
/// The columns a new user is inserted with (the profile columns take their defaults).
const INSERT_COLS: &str = "id, username, email, password_hash, role, created_at, updated_at";

impl Store {
    /// Creates a user; a taken username or email is a `Conflict` naming which.
    pub async fn create_user(&self, new: NewUser<'_>) -> StoreResult<User> {
        self.create_user_with_bonus(new, None).await
    }

    /// Creates a user and, in the same transaction, grants the signup bonus (a `bonus` lot
    /// and ledger row).
    pub async fn create_user_with_bonus(
        &self,
        new: NewUser<'_>,
        bonus: Option<super::SignupBonus>,
    ) -> StoreResult<User> {
        let now = now_ms();
        let id = uuid::Uuid::now_v7().to_string();
        let email = new.email.to_lowercase();
        let taken: Option<(String, String)> = sqlx::query_as(
            "SELECT username, email FROM users WHERE username = $1 OR email = $2 LIMIT 1",
        )
        .bind(new.username)
        .bind(&email)
        .fetch_optional(self.pool())
        .await?;
        if let Some((username, _)) = taken {
            let what = if username == new.username {
                "username"
            } else {
                "email"
            };
            return Err(StoreError::Conflict(format!(
                "{what} is already registered"
            )));
        }
        let q = format!(
            "INSERT INTO users ({INSERT_COLS}) VALUES ($1, $2, $3, $4, 'user', $5, $5) RETURNING {USER_COLS}"
        );
        // The insert is the transaction's first statement: it takes the write lock first.
        let mut tx = self.pool().begin().await?;
        let user = sqlx::query_as::<_, User>(&q)
            .bind(&id)
            .bind(new.username)
            .bind(&email)
            .bind(new.password_hash)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => {
                    StoreError::Conflict("username or email is already registered".into())
                }
                other => other,
            })?;
        if let Some(b) = bonus.filter(|b| b.credits > 0) {
            let r = super::Reference {
                kind: "signup",
                id: &user.id,
                description: format!("signup bonus: {} credits", b.credits),
                task_id: None,
                payment_id: None,
            };
            let origin = crate::domain::credits::Origin::Bonus;
            super::ledger::grant(&mut tx, &user.id, origin, b.credits, b.expires_at, &r, now)
                .await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    pub async fn get_user(&self, id: &str) -> StoreResult<User> {
        let q = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
        Ok(sqlx::query_as(&q).bind(id).fetch_one(self.pool()).await?)
    }

    /// Finds a user by username or (case-insensitively) by email.
    pub async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        let q = format!("SELECT {USER_COLS} FROM users WHERE username = $1 OR email = $2 LIMIT 1");
        Ok(sqlx::query_as(&q)
            .bind(login)
            .bind(login.to_lowercase())
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn set_user_role(&self, email: &str, role: &str) -> StoreResult<User> {
        let q = format!(
            "UPDATE users SET role = $1, updated_at = $2 WHERE email = $3 RETURNING {USER_COLS}"
        );
        Ok(sqlx::query_as(&q)
            .bind(role)
            .bind(now_ms())
            .bind(email.to_lowercase())
            .fetch_one(self.pool())
            .await?)
    }

    /// Stores a new refresh token (by hash) in `family_id`, the login it belongs to.
    pub async fn insert_refresh_token(
        &self,
        user_id: &str,
        family_id: &str,
        token_hash: &str,
        ttl_ms: i64,
    ) -> StoreResult<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(user_id)
        .bind(family_id)
        .bind(token_hash)
        .bind(now)
        .bind(now + ttl_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Spends `old_hash` and stores `new_hash` in the same login, atomically. Presenting a
    /// spent token again revokes the whole login (a stolen token was probably replayed).
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        ttl_ms: i64,
    ) -> StoreResult<RefreshOutcome> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        // Claim the token first: the write locks the row, so two concurrent rotations of the
        // same token cannot both succeed.
        let claimed: Option<(String, String)> = sqlx::query_as(
            "UPDATE refresh_tokens SET used_at = $1
             WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1
             RETURNING user_id, family_id",
        )
        .bind(now)
        .bind(old_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user_id, family_id)) = claimed else {
            let seen: Option<(String, Option<i64>)> = sqlx::query_as(
                "SELECT family_id, used_at FROM refresh_tokens WHERE token_hash = $1",
            )
            .bind(old_hash)
            .fetch_optional(&mut *tx)
            .await?;
            return match seen {
                Some((family, Some(_))) => {
                    revoke_family(&mut tx, &family, now).await?;
                    tx.commit().await?;
                    Ok(RefreshOutcome::Reused)
                }
                _ => Ok(RefreshOutcome::Invalid),
            };
        };
        sqlx::query(
            "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&user_id)
        .bind(&family_id)
        .bind(new_hash)
        .bind(now)
        .bind(now + ttl_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RefreshOutcome::Rotated { user_id })
    }

    /// Revokes the login that `token_hash` belongs to. Unknown tokens are ignored.
    pub async fn revoke_refresh_token(&self, token_hash: &str) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let now = now_ms();
        let family: Option<(String,)> = sqlx::query_as(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE token_hash = $2 RETURNING family_id",
        )
        .bind(now)
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((family,)) = &family {
            revoke_family(&mut tx, family, now).await?;
        }
        tx.commit().await?;
        Ok(family.is_some())
    }
}

async fn revoke_family(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    family_id: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(family_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

//! Google-linked accounts and account deletion: finding or creating the user of a Google
//! identity, the re-authentication facts deletion needs, and the deletion's store steps
//! (tombstone with erased personal fields, revoked logins and keys, anonymised tasks).

use super::users::USER_COLS;
use super::{NewUser, SignupBonus, Store, StoreError, StoreResult, User};
use crate::domain::time::now_ms;

/// A Google identity whose ID token was verified (email verified by Google).
pub struct GoogleIdentity<'a> {
    pub sub: &'a str,
    /// Lower-case.
    pub email: &'a str,
    /// Username for a new account (the caller makes it unique enough).
    pub username: &'a str,
}

/// What [`Store::delete_account`] found about the user, for the cleanup after it.
#[derive(Debug, Default)]
pub struct DeletedAccount {
    /// Tasks still open when the account was deleted (to cancel at the provider).
    pub open_tasks: Vec<String>,
}

/// What deletion checks before it erases anything.
#[derive(Debug)]
pub struct ReauthFacts {
    pub password_hash: String,
    pub google_login_at: Option<i64>,
}

impl Store {
    /// The live user of `identity`, linking a live account with the same email, or a new
    /// account (no password) with the signup bonus. `(user, created)`. An email account
    /// linked to another Google account is a `Conflict`.
    pub async fn google_sign_in(
        &self,
        identity: &GoogleIdentity<'_>,
        bonus: Option<SignupBonus>,
    ) -> StoreResult<(User, bool)> {
        if let Some(user) = self.link_google(identity).await? {
            return Ok((user, false));
        }
        let new = NewUser {
            username: identity.username,
            email: identity.email,
            password_hash: "",
        };
        match self.create_user_with_bonus(new, bonus).await {
            Ok(_) => {}
            // A concurrent first sign-in of the same person created it: link to that one.
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        match self.link_google(identity).await? {
            Some(user) => Ok((user, true)),
            None => Err(StoreError::Conflict(
                "this email belongs to an account that cannot be linked".into(),
            )),
        }
    }

    /// Finds the live user by Google `sub`, else by email (linking it); notes the login.
    async fn link_google(&self, identity: &GoogleIdentity<'_>) -> StoreResult<Option<User>> {
        let now = now_ms();
        let q = format!(
            "UPDATE users SET google_login_at = $2 WHERE google_sub = $1 AND deleted_at IS NULL
             RETURNING {USER_COLS}"
        );
        let found: Option<User> = sqlx::query_as(&q)
            .bind(identity.sub)
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
        if found.is_some() {
            return Ok(found);
        }
        let linked_elsewhere: Option<(Option<String>,)> =
            sqlx::query_as("SELECT google_sub FROM users WHERE email = $1 AND deleted_at IS NULL")
                .bind(identity.email)
                .fetch_optional(self.pool())
                .await?;
        if let Some((Some(_),)) = linked_elsewhere {
            return Err(StoreError::Conflict(
                "this email's account is linked to another Google account".into(),
            ));
        }
        let q = format!(
            "UPDATE users SET google_sub = $1, google_login_at = $3, updated_at = $3
             WHERE email = $2 AND google_sub IS NULL AND deleted_at IS NULL RETURNING {USER_COLS}"
        );
        Ok(sqlx::query_as(&q)
            .bind(identity.sub)
            .bind(identity.email)
            .bind(now)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Whether `user_id` is an account that was not deleted.
    pub async fn user_is_live(&self, user_id: &str) -> StoreResult<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM users WHERE id = $1 AND deleted_at IS NULL")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.is_some())
    }

    /// The password hash (empty for Google-only accounts) and last Google sign-in of a live
    /// user; `NotFound` for a deleted or unknown one.
    pub async fn reauth_facts(&self, user_id: &str) -> StoreResult<ReauthFacts> {
        let row: Option<(String, Option<i64>)> = sqlx::query_as(
            "SELECT password_hash, google_login_at FROM users WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?;
        let (password_hash, google_login_at) = row.ok_or(StoreError::NotFound)?;
        Ok(ReauthFacts {
            password_hash,
            google_login_at,
        })
    }

    /// Deletes the account in one transaction: marks it deleted, erases its personal fields
    /// (the row stays, so ledger rows keep their user), revokes every refresh token and API
    /// key. From its commit on, no sign-in, refresh, key or access token of it works.
    /// `NotFound` if it is already deleted.
    pub async fn delete_account(&self, user_id: &str) -> StoreResult<DeletedAccount> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let tomb = format!("deleted-{user_id}");
        let done = sqlx::query(
            "UPDATE users SET deleted_at = $2, updated_at = $2, username = $3, email = $4,
                password_hash = '', google_sub = NULL, google_login_at = NULL
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .bind(&tomb)
        .bind(format!("{tomb}@deleted.invalid"))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let open: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM tasks WHERE user_id = $1
               AND status NOT IN ('completed', 'failed', 'cancelled') ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(DeletedAccount {
            open_tasks: open.into_iter().map(|(id,)| id).collect(),
        })
    }

    /// Anonymises a deleted user's tasks: prompts, URLs and image references erased, event
    /// logs removed. The rows stay (with their credit figures) for the ledger. Returns each
    /// task's id and former upload path, whose files the caller removes.
    pub async fn erase_user_tasks(
        &self,
        user_id: &str,
    ) -> StoreResult<Vec<(String, Option<String>)>> {
        let mut tx = self.pool().begin().await?;
        let tasks: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT id, input_image FROM tasks WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
        sqlx::query(
            "UPDATE tasks SET prompt = '', webhook_url = NULL, reference_image_url = NULL,
                input_image = NULL, video_url = NULL, thumbnail_url = NULL, message = NULL
             WHERE user_id = $1",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM task_events WHERE task_id IN (SELECT id FROM tasks WHERE user_id = $1)",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        super::webhooks::forget_user(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(tasks)
    }
}

//! Profiles: the user's own display name, avatar, language and opt-in to the public list of
//! recent users; and that list. Values arrive validated (`routes::profile`); this only
//! stores and reads them.

use super::users::USER_COLS;
use super::{Store, StoreResult, User};
use crate::domain::time::now_ms;

/// A change to one nullable profile field: `None` leaves it as it is.
pub type Change<T> = Option<T>;

/// What a `PATCH /api/users/profile` changes; every `None` is left as it is.
#[derive(Debug, Default)]
pub struct ProfileChange {
    /// `Some(None)` clears the display name.
    pub display_name: Change<Option<String>>,
    /// `Some(None)` clears the avatar.
    pub avatar_url: Change<Option<String>>,
    pub language: Change<String>,
    pub show_in_recent: Change<bool>,
}

impl ProfileChange {
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none()
            && self.avatar_url.is_none()
            && self.language.is_none()
            && self.show_in_recent.is_none()
    }
}

/// One entry of the public list: a name and an avatar, nothing that identifies an account.
#[derive(Debug, sqlx::FromRow)]
pub struct RecentUser {
    pub display_name: String,
    pub avatar_url: Option<String>,
}

impl Store {
    /// Applies `change` to the user's profile in one statement and returns the user as stored
    /// (an empty change only reads it).
    pub async fn update_profile(&self, user_id: &str, change: &ProfileChange) -> StoreResult<User> {
        if change.is_empty() {
            return self.get_user(user_id).await;
        }
        // Each column is set to the given value, or to itself when its flag is 0, so one
        // statement with fixed placeholders serves every combination of fields.
        let q = format!(
            "UPDATE users SET
               display_name = CASE WHEN $1 = 1 THEN $2 ELSE display_name END,
               avatar_url = CASE WHEN $3 = 1 THEN $4 ELSE avatar_url END,
               language = COALESCE($5, language),
               show_in_recent = COALESCE($6, show_in_recent),
               updated_at = $7
             WHERE id = $8 RETURNING {USER_COLS}"
        );
        let flag = |c: &Change<Option<String>>| i64::from(c.is_some());
        Ok(sqlx::query_as(&q)
            .bind(flag(&change.display_name))
            .bind(change.display_name.clone().flatten())
            .bind(flag(&change.avatar_url))
            .bind(change.avatar_url.clone().flatten())
            .bind(change.language.clone())
            .bind(change.show_in_recent.map(i64::from))
            .bind(now_ms())
            .bind(user_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// How many users there are, and the newest `limit` who opted in to the public list and
    /// have a display name (a username is a login name: it is never listed instead).
    pub async fn recent_users(&self, limit: i64) -> StoreResult<(i64, Vec<RecentUser>)> {
        let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await?;
        let users = sqlx::query_as(
            "SELECT display_name, avatar_url FROM users
             WHERE show_in_recent = 1 AND display_name IS NOT NULL
             ORDER BY created_at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok((total, users))
    }
}

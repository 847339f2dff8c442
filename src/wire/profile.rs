//! Profiles as their owner sees them, `GET /api/auth/me`'s answer, and the public list of
//! recent users (names and avatars only: never an id, a username or an email).

use serde::Serialize;
use utoipa::ToSchema;

use super::UserView;
use crate::domain::time::rfc3339;
use crate::store::{RecentUser, User};

/// `GET`/`PATCH /api/users/profile`: what the user shows of themselves.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView {
    pub username: String,
    /// 1 to 50 characters; `null` until set.
    pub display_name: Option<String>,
    /// An http(s) URL; `null` until set.
    pub avatar_url: Option<String>,
    /// `en`, `zh-CN`, `zh-TW`, `ja` or `ko`.
    pub language: String,
    /// Listed in `GET /api/users/recent` (needs a display name too). Off until turned on.
    pub show_in_recent: bool,
    pub updated_at: String,
}

impl From<&User> for ProfileView {
    fn from(u: &User) -> Self {
        Self {
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            avatar_url: u.avatar_url.clone(),
            language: u.language.clone(),
            show_in_recent: u.show_in_recent != 0,
            updated_at: rfc3339(u.updated_at),
        }
    }
}

/// `GET /api/auth/me`: the user, their profile, balance and plan.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeView {
    #[serde(flatten)]
    pub user: UserView,
    pub show_in_recent: bool,
    /// Credits available now (as `GET /api/users/credits`).
    pub credits: i64,
    /// `free`, `basic` or `pro`.
    pub plan: String,
}

/// One user of the public list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecentUserView {
    pub display_name: String,
    pub avatar_url: Option<String>,
}

impl From<RecentUser> for RecentUserView {
    fn from(u: RecentUser) -> Self {
        Self {
            display_name: u.display_name,
            avatar_url: u.avatar_url,
        }
    }
}

/// `GET /api/users/recent`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecentUsersView {
    /// Every registered user, listed or not.
    pub total_users: i64,
    /// The newest users who opted in, newest first (at most 5).
    pub users: Vec<RecentUserView>,
}

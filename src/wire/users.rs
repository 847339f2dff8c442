//! Users, tokens, API keys, credits and the credit ledger as clients see them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::time::rfc3339;
use crate::store::{ApiKey, CreditTransaction, User};

/// What a client may see of a user.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub email: String,
    /// `user` or `admin`.
    pub role: String,
    pub created_at: String,
    /// 1 to 50 characters; `null` until set (`PATCH /api/users/profile`).
    pub display_name: Option<String>,
    /// An http(s) URL; `null` until set.
    pub avatar_url: Option<String>,
    /// `en`, `zh-CN`, `zh-TW`, `ja` or `ko`.
    pub language: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            role: u.role.clone(),
            created_at: rfc3339(u.created_at),
            display_name: u.display_name.clone(),
            avatar_url: u.avatar_url.clone(),
            language: u.language.clone(),
        }
    }
}

/// A new login: register, login, refresh, test login.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokensView {
    /// A JWT for `Authorization: Bearer` and the WebSocket's `?token=`.
    pub access_token: String,
    /// Single use: `POST /api/auth/refresh` spends it for a new pair.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds the access token is valid.
    pub expires_in: i64,
    pub user: UserView,
}

/// `POST /api/auth/logout`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedView {
    /// Whether a live login was revoked.
    pub revoked: bool,
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The key's first characters.
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            created_at: rfc3339(k.created_at),
            last_used_at: k.last_used_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

/// `GET /api/users/api-keys`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub items: Vec<ApiKeyView>,
}

/// A new API key: the only time its secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewApiKeyView {
    #[serde(flatten)]
    pub key_info: ApiKeyView,
    /// The secret (`thk_…`), for `X-API-Key`.
    pub key: String,
    pub notice: String,
}

/// A user's plan.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView {
    /// `free`, `basic` or `pro`.
    pub plan: String,
    /// `active`, `cancelled` or `expired`.
    pub status: String,
    pub ends_at: Option<String>,
    pub can_generate: bool,
    pub monthly_credits: i64,
}

/// `GET /api/users/credits`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreditsView {
    pub credits: i64,
    pub total_earned: i64,
    pub total_spent: i64,
    pub total_expired: i64,
    pub total_reversed: i64,
    pub subscription: SubscriptionView,
}

/// `PUT /api/admin/users/{userId}/plan`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanSetView {
    pub user_id: String,
    pub subscription: SubscriptionView,
    pub credits_granted: i64,
}

/// One movement of the credit ledger.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreditTransactionView {
    pub id: String,
    /// The user's ledger sequence number.
    pub seq: i64,
    /// `earned`, `spent`, `purchased`, `refunded`, `bonus`, `expired` or `reversed`.
    #[serde(rename = "type")]
    pub tx_type: String,
    /// Positive: credits in; negative: credits out.
    pub amount: i64,
    pub balance_before: i64,
    pub balance_after: i64,
    pub reference_type: String,
    pub reference_id: String,
    pub description: Option<String>,
    pub task_id: Option<String>,
    pub payment_id: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
}

impl From<&CreditTransaction> for CreditTransactionView {
    fn from(t: &CreditTransaction) -> Self {
        Self {
            id: t.id.clone(),
            seq: t.seq,
            tx_type: t.tx_type.clone(),
            amount: t.amount,
            balance_before: t.balance_before,
            balance_after: t.balance_after,
            reference_type: t.reference_type.clone(),
            reference_id: t.reference_id.clone(),
            description: t.description.clone(),
            task_id: t.task_id.clone(),
            payment_id: t.payment_id.clone(),
            created_at: rfc3339(t.created_at),
            expires_at: t.expires_at.map(rfc3339),
        }
    }
}

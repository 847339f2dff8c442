//! Wire types: the JSON bodies the REST routes (and the hub's `taskStatus` snapshot) send,
//! as serde structs with camelCase names. The OpenAPI document (`routes::docs`) is generated
//! from these same types, so what is served and what is documented cannot drift apart.
//!
//! This module may import `store` (rows), `media` (URL signing) and `domain` only: it
//! shapes values, it decides nothing.

mod accounts;
mod callbacks;
mod object_body;
mod payments;
mod profile;
mod showcase;
mod subscriptions;
mod tasks;
mod uploads;
mod users;
mod webhooks;

use serde::Serialize;
use utoipa::ToSchema;

pub use accounts::{AccountDeletedView, GoogleConfigView, GoogleSignInView};
pub use callbacks::ProviderWebhookReceipt;
pub use object_body::ObjectBody;
pub use payments::{
    PackageView, PackagesView, PaymentView, RefundView, StripeRefundView, WebhookReceipt,
};
pub use profile::{MeView, ProfileView, RecentUserView, RecentUsersView};
pub use showcase::{HeroVideoView, ItemsView, ShowcaseChanged, ShowcaseVideoView, TrialImageView};
pub use subscriptions::{SubscriptionCheckoutView, UserSubscriptionView};
pub use tasks::{
    EventFrame, ModelView, ModelsView, PriceTable, TaskContent, TaskDeleted, TaskEvents,
    TaskStatsView, TaskView,
};
pub use uploads::{UploadDeleted, UploadValidView, UploadView};
pub use users::{
    ApiKeyList, ApiKeyView, CreditTransactionView, CreditsView, NewApiKeyView, PlanSetView,
    RevokedView, SubscriptionView, TokensView, UserView,
};
pub use webhooks::{
    secret_prefix, NewWebhookSecret, TaskWebhooks, WebhookAttemptView, WebhookDeliveryView,
    WebhookSecretInfo,
};

/// `{"success": true, "data": …}`: every successful JSON answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `true`.
    pub success: bool,
    pub data: T,
}

impl<T> Envelope<T> {
    pub fn new(data: T) -> Self {
        Self {
            success: true,
            data,
        }
    }
}

/// `{"success": false, "error": …}`: every refusal and failure (PROTOCOL §4).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always `false`.
    pub success: bool,
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Machine-readable: `validationFailed`, `notFound`, `rateLimited`, `busy`, …
    pub code: String,
    pub message: String,
    /// With `validationFailed`: what is wrong with each field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<std::collections::BTreeMap<String, String>>,
    /// `GET /ready` only: which dependency is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<ReadyChecks>,
    /// The `X-Request-Id` of the request (added on the way out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_string(),
            message: message.into(),
            fields: None,
            checks: None,
            request_id: None,
        }
    }
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// Always `ok`.
    pub status: String,
    pub version: String,
}

/// `GET /ready`: `up` or `down` for each dependency.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyChecks {
    pub database: String,
    pub bus: String,
}

/// One page of a list, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// Items on every page.
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
}

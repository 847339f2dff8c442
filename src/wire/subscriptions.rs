//! Plans bought through Stripe, as clients see them: an opened subscription checkout and
//! the user's subscription.

use serde::Serialize;
use utoipa::ToSchema;

/// `POST /api/payments/subscriptions/checkout`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionCheckoutView {
    /// `basic` or `pro`.
    pub plan: String,
    /// Always `pending`: the plan starts when Stripe reports the first invoice paid.
    pub status: String,
    /// Stripe Checkout's page; send the user there.
    pub checkout_url: String,
    pub session_id: String,
}

/// `GET /api/users/subscription`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSubscriptionView {
    /// `free`, `basic` or `pro`.
    pub plan: String,
    /// The plan's status: `active`, `cancelled` or `expired`.
    pub status: String,
    /// When the paid period ends (RFC 3339); `null` for a plan with no end.
    pub current_period_end: Option<String>,
    /// The subscription ends at `currentPeriodEnd` instead of renewing.
    pub cancel_at_period_end: bool,
    pub monthly_credits: i64,
    pub can_generate: bool,
    /// Why generating is refused (`subscriptionRequired` or `subscriptionExpired`), if it is.
    pub refusal: Option<String>,
    /// The Stripe subscription's state: `pending` (checkout opened), `active`, `past_due`
    /// (a renewal payment failed), `cancelled` or `lapsed`; `null` when the user never
    /// subscribed through Stripe.
    pub billing_status: Option<String>,
}

//! Payments, credit packages, refunds and the Stripe webhook's receipt as clients see them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::money::to_major;
use crate::domain::time::rfc3339;
use crate::store::Payment;

/// A credit package purchase.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    pub payment_id: String,
    /// `pending`, `processing`, `completed`, `failed`, `expired`, `partially_refunded` or
    /// `refunded`.
    pub status: String,
    /// In the currency's major unit (`9.9`).
    pub amount: f64,
    pub currency: String,
    pub credits_purchased: i64,
    pub package: String,
    /// `stripe` or `local` (development only).
    pub provider: String,
    /// Stripe Checkout's page, once opened.
    pub payment_url: Option<String>,
    pub refunded_amount: f64,
    pub credits_reversed: i64,
    pub credits_unrecovered: i64,
    pub created_at: String,
    pub completed_at: Option<String>,
    /// Local test payments only (development): always `true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_mode: Option<bool>,
    /// Local test payments only: says no money moves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// Local test payments, on creation: where to complete it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_complete_url: Option<String>,
    /// `dev-complete` only: the credits granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits_granted: Option<i64>,
}

impl PaymentView {
    pub fn new(p: &Payment) -> Self {
        let major = to_major;
        let cur = p.currency.to_ascii_uppercase();
        Self {
            payment_id: p.id.clone(),
            status: p.status.clone(),
            amount: major(p.amount_minor, &cur),
            credits_purchased: p.credits,
            package: p.package.clone(),
            provider: p.provider.clone(),
            payment_url: p.payment_url.clone(),
            refunded_amount: major(p.refunded_minor, &cur),
            credits_reversed: p.credits_reversed,
            credits_unrecovered: p.credits_unrecovered,
            created_at: rfc3339(p.created_at),
            completed_at: p.completed_at.map(rfc3339),
            currency: cur,
            dev_mode: None,
            notice: None,
            dev_complete_url: None,
            credits_granted: None,
        }
    }
}

/// A credit package on sale.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageView {
    pub id: String,
    pub name: String,
    pub credits: i64,
    /// In the currency's major unit.
    pub price: f64,
    pub price_minor: i64,
    pub currency: String,
}

/// `GET /api/payments/packages`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackagesView {
    pub packages: Vec<PackageView>,
    pub currency: String,
    pub payments_configured: bool,
    pub local_test_payments: bool,
}

/// The money part of a refund at Stripe.
#[derive(Debug, Serialize, ToSchema)]
pub struct StripeRefundView {
    pub id: String,
    pub status: Option<String>,
    pub amount: f64,
}

/// `POST /api/payments/stripe/refund`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    pub payment: PaymentView,
    /// `null` for a local test payment (no money to refund).
    pub refund: Option<StripeRefundView>,
    pub amount: f64,
    pub credits_owed: i64,
    pub credits_reversed: i64,
    pub credits_already_spent: i64,
    pub already_recorded: bool,
    pub message: String,
}

/// What the Stripe webhook did with an event; only `received` is always there.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookReceipt {
    pub received: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits_granted: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub already_settled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits_reversed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits_unrecovered: Option<i64>,
    /// Why the event was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// The Stripe subscription a subscription event was about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// The user's plan after a subscription event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

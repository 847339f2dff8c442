//! `POST /api/payments/stripe/refund` (admin only): refunds all or part of a payment at
//! Stripe and takes the matching credits back from the payment's own lot.
//!
//! When the user has already spent some of those credits the route says so before any money
//! moves (409 naming how many), and refunds anyway only with `"force": true`, recording the
//! spent part as unrecovered. Credits are never taken from other lots and a balance never
//! goes negative.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::extract::ApiJson;
use crate::auth::AuthUser;
use crate::billing::service::RefundInput;
use crate::domain::money::to_major;
use crate::error::{ok, ApiResult};
use crate::state::AppState;
use crate::store::Reversal;
use crate::wire::{Envelope, ErrorEnvelope, PaymentView, RefundView, StripeRefundView};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = Refund)]
pub(super) struct RefundBody {
    payment_id: String,
    /// In the payment's currency (`4.95`); absent means everything still refundable.
    #[schema(minimum = 0.01)]
    amount: Option<f64>,
    /// Refund even when the user has spent some of the credits it takes back.
    #[serde(default)]
    force: bool,
}

/// Admin: refund a payment in full or part and take the credits back.
#[utoipa::path(post, path = "/api/payments/stripe/refund", tag = "admin",
    request_body = RefundBody,
    responses(
        (status = 200, description = "The refund and the credits taken back", body = Envelope<RefundView>),
        (status = 400, description = "Stripe refused the refund", body = ErrorEnvelope),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
        (status = 404, description = "no such payment", body = ErrorEnvelope),
        (status = 409, description = "nothing left to refund, or the user spent the credits (send `force`)", body = ErrorEnvelope),
        (status = 503, description = "`paymentsNotConfigured`, or Stripe unreachable", body = ErrorEnvelope),
    ))]
pub(super) async fn refund(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<RefundBody>,
) -> ApiResult<Json<Value>> {
    let input = RefundInput {
        payment_id: body.payment_id,
        amount: body.amount,
        force: body.force,
    };
    let done = state.payments.refund(&user, &input).await?;
    let cur = done.payment.currency.to_ascii_uppercase();
    let amount = to_major(done.amount_minor, &cur);
    let rev = &done.reversal;
    let refund = done.stripe.as_ref().map(|r| StripeRefundView {
        id: r.id.clone(),
        status: r.status.clone(),
        amount: to_major(r.amount, &cur),
    });
    Ok(ok(RefundView {
        payment: PaymentView::new(&done.payment),
        refund,
        amount,
        credits_owed: rev.owed,
        credits_reversed: rev.reversed,
        credits_already_spent: rev.unrecovered,
        already_recorded: !rev.applied,
        message: message(rev, amount, &cur),
    }))
}

fn message(rev: &Reversal, amount: f64, cur: &str) -> String {
    if !rev.applied {
        "this refund was already recorded (Stripe's webhook arrived first)".to_string()
    } else if rev.unrecovered > 0 {
        format!(
            "refunded {amount} {cur}; the user had already spent {} of these credits, so only {} were taken back",
            rev.unrecovered, rev.reversed
        )
    } else {
        format!(
            "refunded {amount} {cur}; {} credits taken back",
            rev.reversed
        )
    }
}

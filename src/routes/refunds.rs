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
use serde_json::{json, Value};

use super::extract::ApiJson;
use super::payments::{not_configured, stripe_error};
use super::users::require_admin;
use crate::auth::AuthUser;
use crate::billing::prices::{to_major, to_minor};
use crate::billing::stripe;
use crate::error::{ok, ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{Payment, Reversal, StoreError};
use crate::wire::{Envelope, ErrorEnvelope, RefundView};

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
    require_admin(&state, &user).await?;
    if !state.settings.billing.stripe_configured() && state.settings.is_production() {
        return Err(not_configured("STRIPE_SECRET_KEY"));
    }
    let p = super::payments::visible_payment(&state, &user, &body.payment_id).await?;
    let amount = amount_to_refund(&p, body.amount)?;
    let total = p.refunded_minor + amount;
    let (owed, recoverable) = state.store.reversal_preview(&p, total).await?;
    let spent = owed - recoverable;
    if spent > 0 && !body.force {
        return Err(ApiError::Conflict(format!(
            "the user has already spent {spent} of the {owed} credits this refund takes back \
             (only {recoverable} are left to take); send \"force\": true to refund anyway"
        )));
    }
    let stripe_refund = refund_money(&state, &p, amount, total).await?;
    let mut tx = state.store.begin().await?;
    let (payment, rev) = state.store.reverse_payment(&mut tx, &p.id, total).await?;
    tx.commit().await.map_err(StoreError::from)?;
    let cur = p.currency.to_ascii_uppercase();
    Ok(ok(json!({
        "payment": payment.to_json(),
        "refund": stripe_refund,
        "amount": to_major(amount, &cur),
        "creditsOwed": rev.owed,
        "creditsReversed": rev.reversed,
        "creditsAlreadySpent": rev.unrecovered,
        "alreadyRecorded": !rev.applied,
        "message": message(&rev, to_major(amount, &cur), &cur),
    })))
}

/// The amount to refund in minor units: `requested` (in the currency) or all that is left.
fn amount_to_refund(p: &Payment, requested: Option<f64>) -> ApiResult<i64> {
    let cur = p.currency.to_ascii_uppercase();
    let refundable = p.refundable_minor();
    if refundable <= 0 {
        return Err(ApiError::Conflict(format!(
            "payment is {}: nothing to refund",
            p.status
        )));
    }
    let Some(a) = requested else {
        return Ok(refundable);
    };
    to_minor(a, &cur)
        .filter(|m| (1..=refundable).contains(m))
        .ok_or_else(|| {
            ApiError::field(
                "amount",
                format!("between 0.01 and {} {cur}", to_major(refundable, &cur)),
            )
        })
}

/// Refunds the money at Stripe (a local test payment, in development, has none to refund).
async fn refund_money(
    state: &AppState,
    p: &Payment,
    amount: i64,
    total: i64,
) -> ApiResult<Option<Value>> {
    if p.provider != "stripe" {
        if state.settings.is_production() {
            return Err(ApiError::Conflict(
                "local test payments cannot be refunded in production".into(),
            ));
        }
        return Ok(None);
    }
    let b = &state.settings.billing;
    if !b.stripe_configured() {
        return Err(not_configured("STRIPE_SECRET_KEY"));
    }
    let intent = p.stripe_payment_intent.as_deref().ok_or_else(|| {
        ApiError::Conflict("Stripe has not reported this payment's payment intent".into())
    })?;
    let key = format!("refund_{}_{total}", p.id);
    let r = stripe::create_refund(b, intent, amount, &p.id, &key)
        .await
        .map_err(stripe_error)?;
    let cur = p.currency.to_ascii_uppercase();
    Ok(Some(
        json!({"id": r.id, "status": r.status, "amount": to_major(r.amount, &cur)}),
    ))
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

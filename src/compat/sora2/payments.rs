//! `/api/payments`: packages (taskhub's configured ones, in the reference's keyed shape),
//! Stripe Checkout, a payment's status, the Stripe webhook (the native handler: same
//! signature check, each event once) and the admin refund, over `billing::service::Payments`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::super::detail::{DJson, DQuery, DUser, Detail, DetailResult};
use super::dto::{time, DetailOut};
use crate::billing::service::{CheckoutInput, RefundInput};
use crate::domain::money::to_major;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Payment;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/payments/packages", get(packages))
        .route("/api/payments/stripe/create", post(create))
        .route("/api/payments/stripe/refund", post(refund))
        .route("/api/payments/webhook/stripe", post(webhook))
        .route("/api/payments/{payment_id}", get(one))
}

#[derive(Serialize, ToSchema)]
#[schema(as = Sora2Package)]
pub struct PackageOut {
    name: String,
    credits: i64,
    price: f64,
    currency: String,
    /// Price per credit, to 4 decimals.
    unit_price: f64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Sora2Packages)]
pub struct PackagesOut {
    /// By package id (`trial`, `standard`, … as configured).
    packages: BTreeMap<String, PackageOut>,
    /// What one credit is worth (`TASKHUB_COMPAT_SORA2_CREDIT_VALUE`).
    credit_value_rmb: f64,
}

/// The credit packages on sale.
#[utoipa::path(get, path = "/compat/sora2/api/payments/packages", tag = "Sora 2 compat", security(()),
    responses((status = 200, description = "The packages", body = PackagesOut)))]
async fn packages(State(state): State<AppState>) -> Json<PackagesOut> {
    let b = &state.settings.billing;
    let cur = b.currency_upper();
    let packages = b
        .credit_packages
        .iter()
        .map(|p| {
            let price = to_major(p.price_minor, &cur);
            let unit = if p.credits > 0 {
                price / p.credits as f64
            } else {
                0.0
            };
            let out = PackageOut {
                name: p.name.clone(),
                credits: p.credits,
                price,
                currency: cur.clone(),
                unit_price: (unit * 10_000.0).round() / 10_000.0,
            };
            (p.id.clone(), out)
        })
        .collect();
    Json(PackagesOut {
        packages,
        credit_value_rmb: state.settings.compat_sora2.compat_sora2_credit_value,
    })
}

/// The reference's payment status: `pending`, `succeeded`, `failed`, `refunded` or
/// `partial_refunded`.
fn status(native: &str) -> &'static str {
    match native {
        "completed" => "succeeded",
        "failed" | "expired" => "failed",
        "refunded" => "refunded",
        "partially_refunded" => "partial_refunded",
        _ => "pending",
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Sora2Payment)]
pub struct PaymentOut {
    payment_id: String,
    #[schema(pattern = "^(pending|succeeded|failed|refunded|partial_refunded)$")]
    status: String,
    amount: f64,
    currency: String,
    credits_purchased: i64,
    payment_url: Option<String>,
    created_at: String,
    paid_at: Option<String>,
}

impl From<&Payment> for PaymentOut {
    fn from(p: &Payment) -> Self {
        let cur = p.currency.to_ascii_uppercase();
        Self {
            payment_id: p.id.clone(),
            status: status(&p.status).into(),
            amount: to_major(p.amount_minor, &cur),
            currency: cur,
            credits_purchased: p.credits,
            payment_url: p.payment_url.clone(),
            created_at: time(p.created_at),
            paid_at: p.completed_at.map(time),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = Sora2CreatePayment)]
pub struct CreateBody {
    /// A package id of `GET /api/payments/packages`.
    package: String,
    /// Where Stripe sends the buyer back: an http(s) URL on an allowed origin
    /// (`TASKHUB_PAYMENT_RETURN_ORIGINS`), or a path; default `/`.
    #[schema(max_length = 2048)]
    return_url: Option<String>,
}

/// Start a Stripe Checkout payment for a package.
#[utoipa::path(post, path = "/compat/sora2/api/payments/stripe/create", tag = "Sora 2 compat",
    request_body = CreateBody,
    responses(
        (status = 200, description = "The pending payment and its `payment_url`", body = PaymentOut),
        (status = 400, description = "Invalid package, or Stripe refused the request", body = DetailOut),
        (status = 422, description = "return_url not allowed", body = DetailOut),
        (status = 503, description = "payments are not configured, or Stripe is unreachable", body = DetailOut),
    ))]
async fn create(
    State(state): State<AppState>,
    DUser(user): DUser,
    DJson(body): DJson<CreateBody>,
) -> DetailResult<Json<PaymentOut>> {
    let input = CheckoutInput {
        package: body.package,
        return_url: body.return_url.unwrap_or_else(|| "/".into()),
        local_test: false,
    };
    match state.payments.checkout(&user.id, &input).await {
        Ok(p) => Ok(Json(PaymentOut::from(&p))),
        Err(ApiError::Validation(f)) if f.iter().any(|(n, _)| n == "package") => Err(
            Detail::bad_request(format!("Invalid package: {}", input.package)),
        ),
        Err(e) => Err(e.into()),
    }
}

/// One of the caller's payments (any, for an admin).
#[utoipa::path(get, path = "/compat/sora2/api/payments/{payment_id}", tag = "Sora 2 compat",
    params(("payment_id" = String, Path, description = "The payment's id")),
    responses(
        (status = 200, description = "The payment", body = PaymentOut),
        (status = 404, description = "Payment not found", body = DetailOut),
    ))]
async fn one(
    State(state): State<AppState>,
    DUser(user): DUser,
    Path(id): Path<String>,
) -> DetailResult<Json<PaymentOut>> {
    match state.payments.visible(&user, &id).await {
        Ok(p) => Ok(Json(PaymentOut::from(&p))),
        Err(ApiError::NotFound(_)) => Err(Detail::not_found("Payment not found")),
        Err(e) => Err(e.into()),
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Sora2WebhookReceipt)]
pub struct ReceivedOut {
    received: bool,
}

/// Stripe's webhook (the native handler: `Stripe-Signature` verified, each event once).
#[utoipa::path(post, path = "/compat/sora2/api/payments/webhook/stripe", tag = "Sora 2 compat", security(()),
    params(("Stripe-Signature" = String, Header, description = "Stripe's signature of the body")),
    request_body(content = Object, content_type = "application/json", description = "A Stripe event"),
    responses(
        (status = 200, description = "Received", body = ReceivedOut),
        (status = 400, description = "missing or invalid signature, or not a Stripe event", body = DetailOut),
        (status = 503, description = "STRIPE_WEBHOOK_SECRET is unset", body = DetailOut),
    ))]
async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> DetailResult<Json<ReceivedOut>> {
    let sig = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    state.payments.stripe_webhook(sig, &body).await?;
    Ok(Json(ReceivedOut { received: true }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RefundQuery {
    payment_id: String,
    /// Kept in the log only (taskhub stores no refund reason).
    #[param(max_length = 500)]
    reason: Option<String>,
    /// In the payment's currency; absent means everything still refundable.
    #[param(minimum = 0.01)]
    amount: Option<f64>,
    /// Refund even when the user has spent some of the credits it takes back (taskhub's rule).
    force: Option<bool>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Sora2Refund)]
pub struct RefundOut {
    success: bool,
    /// Stripe's refund id (null for a development-only local payment).
    refund_id: Option<String>,
    amount: f64,
    credits_refunded: i64,
    message: String,
}

/// Admin: refund a payment in full or part and take its credits back.
#[utoipa::path(post, path = "/compat/sora2/api/payments/stripe/refund", tag = "Sora 2 compat",
    params(RefundQuery),
    responses(
        (status = 200, description = "Refunded", body = RefundOut),
        (status = 400, description = "Cannot refund: nothing left, the user spent the credits (send force=true), or Stripe refused", body = DetailOut),
        (status = 403, description = "Only administrators can issue refunds", body = DetailOut),
        (status = 404, description = "Payment not found", body = DetailOut),
        (status = 422, description = "payment_id missing, or amount not a number", body = DetailOut),
        (status = 503, description = "payments are not configured, or Stripe is unreachable", body = DetailOut),
    ))]
async fn refund(
    State(state): State<AppState>,
    DUser(admin): DUser,
    DQuery(q): DQuery<RefundQuery>,
) -> DetailResult<Json<RefundOut>> {
    if let Some(reason) = q.reason.as_deref() {
        tracing::info!(payment_id = %q.payment_id, reason, "refund requested");
    }
    let input = RefundInput {
        payment_id: q.payment_id,
        amount: q.amount,
        force: q.force.unwrap_or(false),
    };
    let done = match state.payments.refund(&admin, &input).await {
        Ok(done) => done,
        Err(ApiError::NotFound(_)) => return Err(Detail::not_found("Payment not found")),
        Err(ApiError::Forbidden(..)) => {
            let m = "Only administrators can issue refunds";
            return Err(Detail::new(axum::http::StatusCode::FORBIDDEN, m));
        }
        Err(ApiError::Conflict(m) | ApiError::ConflictCode(_, m)) => {
            return Err(Detail::bad_request(m))
        }
        Err(e) => return Err(e.into()),
    };
    let cur = done.payment.currency.to_ascii_uppercase();
    Ok(Json(RefundOut {
        success: true,
        refund_id: done.stripe.map(|r| r.id),
        amount: to_major(done.amount_minor, &cur),
        credits_refunded: done.reversal.reversed,
        message: "Refund processed successfully".into(),
    }))
}

//! `/api/payments`: packages, Stripe Checkout, payment status, the Stripe webhook, admin
//! refunds, and (development only) completing a payment locally.
//!
//! Without `STRIPE_SECRET_KEY` the Stripe routes answer 503 `paymentsNotConfigured`. In
//! development, `{"localTest": true}` on create makes a local test payment (no Stripe, no
//! money) that `POST /api/payments/{paymentId}/dev-complete` completes; both answers say so.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::extract::ApiJson;
use crate::auth::AuthUser;
use crate::billing::service::CheckoutInput;
use crate::error::{ok, ApiResult};
use crate::state::AppState;
use crate::wire::{
    Envelope, ErrorEnvelope, PackageView, PackagesView, PaymentView, WebhookReceipt,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/payments/packages", get(packages))
        .route("/api/payments/stripe/create", post(create))
        .route("/api/payments/stripe/refund", post(super::refunds::refund))
        .route("/api/payments/webhook/stripe", post(stripe_webhook))
        .route("/api/payments/{payment_id}", get(get_one))
        .route(
            "/api/payments/{payment_id}/dev-complete",
            post(dev_complete),
        )
}

pub(super) const DEV_NOTICE: &str =
    "DEVELOPMENT ONLY: local test payment, Stripe is not involved and no money moves";

/// Credit packages and prices.
#[utoipa::path(get, path = "/api/payments/packages", tag = "payments", security(()),
    responses((status = 200, description = "The packages", body = Envelope<PackagesView>)))]
async fn packages(State(state): State<AppState>) -> Json<Value> {
    let b = &state.settings.billing;
    let cur = b.currency_upper();
    let packages = b
        .credit_packages
        .iter()
        .map(|p| PackageView {
            id: p.id.clone(),
            name: p.name.clone(),
            credits: p.credits,
            price: crate::domain::money::to_major(p.price_minor, &cur),
            price_minor: p.price_minor,
            currency: cur.clone(),
        })
        .collect();
    ok(PackagesView {
        packages,
        currency: cur,
        payments_configured: b.stripe_configured(),
        local_test_payments: !state.settings.is_production(),
    })
}

/// In the document, `package` and `returnUrl` are filled in from the settings
/// (`routes::docs_settings`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = CreatePayment)]
pub(super) struct CreateBody {
    package: String,
    return_url: String,
    /// Development only: a local payment that `dev-complete` completes; no Stripe, no money.
    #[serde(default)]
    local_test: bool,
}

/// Start a Stripe Checkout payment (503 `paymentsNotConfigured` without Stripe keys).
#[utoipa::path(post, path = "/api/payments/stripe/create", tag = "payments",
    request_body = CreateBody,
    responses(
        (status = 201, description = "The pending payment and its `paymentUrl`", body = Envelope<PaymentView>),
        (status = 400, description = "Stripe refused the request", body = ErrorEnvelope),
        (status = 403, description = "`localTest` in production", body = ErrorEnvelope),
        (status = 422, description = "unknown package, or `invalidReturnUrl`", body = ErrorEnvelope),
        (status = 503, description = "`paymentsNotConfigured`, or Stripe unreachable (`unavailable`)", body = ErrorEnvelope),
    ))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input = CheckoutInput {
        package: body.package,
        return_url: body.return_url,
        local_test: body.local_test,
    };
    let payment = state.payments.checkout(&user.id, &input).await?;
    let mut data = PaymentView::new(&payment);
    if input.local_test {
        data.dev_mode = Some(true);
        data.notice = Some(DEV_NOTICE.into());
        data.dev_complete_url = Some(format!("/api/payments/{}/dev-complete", payment.id));
    }
    Ok((StatusCode::CREATED, ok(data)))
}

/// One of the user's payments (any payment, for an admin).
#[utoipa::path(get, path = "/api/payments/{paymentId}", tag = "payments", params(("paymentId" = String, Path, description = "The payment's `paymentId`")),
    responses(
        (status = 200, description = "The payment", body = Envelope<PaymentView>),
        (status = 404, description = "no such payment of this user", body = ErrorEnvelope),
    ))]
async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(ok(PaymentView::new(
        &state.payments.visible(&user, &id).await?,
    )))
}

/// Stripe's webhook (`Stripe-Signature` verified, each event handled once).
#[utoipa::path(post, path = "/api/payments/webhook/stripe", tag = "payments", security(()),
    params(("Stripe-Signature" = String, Header, description = "Stripe's signature of the body")),
    request_body(content = Object, content_type = "application/json", description = "A Stripe event"),
    responses(
        (status = 200, description = "Received", body = Envelope<WebhookReceipt>),
        (status = 400, description = "missing or invalid signature, or not a Stripe event", body = ErrorEnvelope),
        (status = 503, description = "`paymentsNotConfigured`: STRIPE_WEBHOOK_SECRET is unset", body = ErrorEnvelope),
    ))]
async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let sig = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let outcome = state.payments.stripe_webhook(sig, &body).await?;
    Ok(ok(outcome.receipt()))
}

/// Development only: complete a local test payment (`localTest`); no money moves.
///
/// See [`Payments::dev_complete`].
///
/// [`Payments::dev_complete`]: crate::billing::service::Payments::dev_complete
#[utoipa::path(post, path = "/api/payments/{paymentId}/dev-complete", tag = "payments", params(("paymentId" = String, Path, description = "The payment's `paymentId`")),
    responses(
        (status = 200, description = "The completed payment and the credits granted", body = Envelope<PaymentView>),
        (status = 403, description = "production, or `notLocalTestPayment`", body = ErrorEnvelope),
        (status = 404, description = "no such payment of this user", body = ErrorEnvelope),
        (status = 409, description = "the payment is already settled", body = ErrorEnvelope),
    ))]
async fn dev_complete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let p = state.payments.dev_complete(&user, &id).await?;
    let mut data = PaymentView::new(&p);
    data.dev_mode = Some(true);
    data.notice = Some("DEVELOPMENT ONLY: completed locally without Stripe; no money moved".into());
    data.credits_granted = Some(p.credits);
    Ok(ok(data))
}

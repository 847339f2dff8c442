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
use serde_json::{json, Value};

use super::extract::ApiJson;
use super::users::require_admin;
use crate::auth::AuthUser;
use crate::billing::stripe::{self, CheckoutRequest, StripeError};
use crate::billing::{expiry_after, webhook, CreditPackage};
use crate::error::{ok, ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{now_ms, Completion, NewPayment, Payment, StoreError};
use crate::wire::{Envelope, ErrorEnvelope, PackagesView, PaymentView, WebhookReceipt};

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

pub(super) fn not_configured(what: &str) -> ApiError {
    ApiError::Unavailable(
        "paymentsNotConfigured",
        format!("payments are not configured on this server ({what} is unset)"),
    )
}

pub(super) fn stripe_error(e: StripeError) -> ApiError {
    tracing::warn!(error = %e, "Stripe call failed");
    match e {
        StripeError::Api { status, message } if (400..500).contains(&status) => {
            ApiError::BadRequest(format!("Stripe refused the request: {message}"))
        }
        other => ApiError::Unavailable("unavailable", format!("payment provider: {other}")),
    }
}

/// Credit packages and prices.
#[utoipa::path(get, path = "/api/payments/packages", tag = "payments", security(()),
    responses((status = 200, description = "The packages", body = Envelope<PackagesView>)))]
async fn packages(State(state): State<AppState>) -> Json<Value> {
    let b = &state.settings.billing;
    let list: Vec<Value> = b
        .credit_packages
        .iter()
        .map(|p| b.package_json(p))
        .collect();
    ok(json!({
        "packages": list,
        "currency": b.currency_upper(),
        "paymentsConfigured": b.stripe_configured(),
        "localTestPayments": !state.settings.is_production(),
    }))
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

/// `returnUrl` with `paymentId` and `status` added to its query.
fn return_to(base: &url::Url, payment_id: &str, status: &str) -> String {
    let mut u = base.clone();
    u.query_pairs_mut()
        .append_pair("paymentId", payment_id)
        .append_pair("status", status);
    u.to_string()
}

/// The package and return URL of a create request, after the configuration checks.
fn check_create<'a>(
    state: &'a AppState,
    body: &CreateBody,
) -> ApiResult<(&'a CreditPackage, url::Url)> {
    let b = &state.settings.billing;
    if body.local_test && state.settings.is_production() {
        return Err(ApiError::Forbidden(
            "forbidden",
            "localTest payments exist in development only".into(),
        ));
    }
    if !body.local_test && !b.stripe_configured() {
        let mut e = not_configured("STRIPE_SECRET_KEY");
        if let (false, ApiError::Unavailable(_, m)) = (state.settings.is_production(), &mut e) {
            m.push_str("; in development, send \"localTest\": true for a local test payment");
        }
        return Err(e);
    }
    let package = b.package(&body.package).ok_or_else(|| {
        let ids: Vec<_> = b.credit_packages.iter().map(|p| p.id.as_str()).collect();
        ApiError::field("package", format!("one of {}", ids.join(", ")))
    })?;
    let return_url = url::Url::parse(&body.return_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && body.return_url.len() <= 2048)
        .map(|u| u.to_string())
        .or_else(|| {
            body.return_url
                .starts_with('/')
                .then(|| body.return_url.clone())
        })
        .ok_or_else(|| ApiError::field("returnUrl", "must be an http(s) URL or a path"))?;
    let return_url = crate::billing::return_url::check(
        &return_url,
        &b.payment_return_origins,
        state.settings.is_production(),
    )?;
    Ok((package, return_url))
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
    let (package, return_url) = check_create(&state, &body)?;
    let payment = state
        .store
        .insert_payment(NewPayment {
            user_id: &user.id,
            package: &package.id,
            credits: package.credits,
            amount_minor: package.price_minor,
            currency: &state.settings.billing.payment_currency,
            provider: if body.local_test { "local" } else { "stripe" },
        })
        .await?;
    if body.local_test {
        let mut data = payment.to_json();
        data["devMode"] = json!(true);
        data["notice"] = json!(DEV_NOTICE);
        data["devCompleteUrl"] = json!(format!("/api/payments/{}/dev-complete", payment.id));
        return Ok((StatusCode::CREATED, ok(data)));
    }
    let payment = start_checkout(&state, &payment, package, &return_url).await?;
    Ok((StatusCode::CREATED, ok(payment.to_json())))
}

/// Opens the Checkout Session for a pending payment; a refused or failed call marks the
/// payment `failed`.
async fn start_checkout(
    state: &AppState,
    payment: &Payment,
    package: &CreditPackage,
    return_url: &url::Url,
) -> ApiResult<Payment> {
    let b = &state.settings.billing;
    let req = CheckoutRequest {
        payment_id: &payment.id,
        user_id: &payment.user_id,
        package,
        currency: &b.payment_currency,
        success_url: return_to(return_url, &payment.id, "success"),
        cancel_url: return_to(return_url, &payment.id, "cancelled"),
    };
    match stripe::create_checkout_session(b, &req).await {
        Ok(session) => {
            let url = session.url.unwrap_or_default();
            Ok(state
                .store
                .set_checkout(&payment.id, &session.id, &url)
                .await?)
        }
        Err(e) => {
            let mut tx = state.store.begin().await?;
            state
                .store
                .set_payment_status(&mut tx, &payment.id, &["pending"], "failed")
                .await?;
            tx.commit().await.map_err(StoreError::from)?;
            Err(stripe_error(e))
        }
    }
}

/// The caller's payment (any payment for an admin); others' look missing.
pub(super) async fn visible_payment(
    state: &AppState,
    user: &AuthUser,
    id: &str,
) -> ApiResult<Payment> {
    let p = match state.store.get_payment(id).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("payment")),
        other => other?,
    };
    if p.user_id != user.id && require_admin(state, user).await.is_err() {
        return Err(ApiError::not_found("payment"));
    }
    Ok(p)
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
    Ok(ok(visible_payment(&state, &user, &id).await?.to_json()))
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
    let b = &state.settings.billing;
    if b.stripe_webhook_secret.is_empty() {
        return Err(not_configured("STRIPE_WEBHOOK_SECRET"));
    }
    let sig = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::BadRequest("missing Stripe-Signature header".into()))?;
    let now = now_ms() / 1000;
    stripe::verify_signature(
        &body,
        sig,
        b.stripe_webhook_secret.expose(),
        now,
        b.stripe_webhook_tolerance_secs,
    )
    .map_err(|e| ApiError::BadRequest(format!("webhook rejected: {e}")))?;
    let event: webhook::Event = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("not a Stripe event: {e}")))?;
    let outcome = webhook::handle(&state.store, b, &event).await?;
    Ok(ok(outcome.to_json()))
}

/// Development only: completes a pending local test payment (`localTest`, provider `local`)
/// here, as a paid Checkout Session would; a Stripe payment is refused (403
/// `notLocalTestPayment`), whatever its state at Stripe.
/// Development only: complete a local test payment (`localTest`); no money moves.
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
    if state.settings.is_production() {
        return Err(ApiError::Forbidden(
            "forbidden",
            "dev-complete is disabled in production".into(),
        ));
    }
    let p = visible_payment(&state, &user, &id).await?;
    if p.provider != "local" {
        return Err(ApiError::Forbidden(
            "notLocalTestPayment",
            "dev-complete completes local test payments only; this payment goes through Stripe"
                .into(),
        ));
    }
    let expires = expiry_after(now_ms(), state.settings.billing.purchased_credit_days);
    let mut tx = state.store.begin().await?;
    let done = state
        .store
        .complete_payment(&mut tx, &p.id, None, expires)
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    let Completion::Granted(p) = done else {
        return Err(ApiError::Conflict(format!(
            "payment is already {}",
            p.status
        )));
    };
    let p = state.store.get_payment(&p.id).await?;
    let mut data = p.to_json();
    data["devMode"] = json!(true);
    data["notice"] = json!("DEVELOPMENT ONLY: completed locally without Stripe; no money moved");
    data["creditsGranted"] = json!(p.credits);
    Ok(ok(data))
}

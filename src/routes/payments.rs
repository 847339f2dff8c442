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
use crate::auth::AuthUser;
use crate::billing::service::CheckoutInput;
use crate::error::{ok, ApiResult};
use crate::state::AppState;

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    package: String,
    return_url: String,
    #[serde(default)]
    local_test: bool,
}

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
    let mut data = payment.to_json();
    if input.local_test {
        data["devMode"] = json!(true);
        data["notice"] = json!(DEV_NOTICE);
        data["devCompleteUrl"] = json!(format!("/api/payments/{}/dev-complete", payment.id));
    }
    Ok((StatusCode::CREATED, ok(data)))
}

async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(ok(state.payments.visible(&user, &id).await?.to_json()))
}

async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let sig = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let outcome = state.payments.stripe_webhook(sig, &body).await?;
    Ok(ok(outcome.to_json()))
}

/// Development only: completes a pending local test payment (see [`Payments::dev_complete`]).
///
/// [`Payments::dev_complete`]: crate::billing::service::Payments::dev_complete
async fn dev_complete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let p = state.payments.dev_complete(&user, &id).await?;
    let mut data = p.to_json();
    data["devMode"] = json!(true);
    data["notice"] = json!("DEVELOPMENT ONLY: completed locally without Stripe; no money moved");
    data["creditsGranted"] = json!(p.credits);
    Ok(ok(data))
}

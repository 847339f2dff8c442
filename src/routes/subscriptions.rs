//! Plans people buy: `POST /api/payments/subscriptions/checkout` (Stripe Checkout in
//! subscription mode), `GET /api/users/subscription` and
//! `POST /api/users/subscription/cancel` (ends at the period's end). The Stripe events that
//! start, renew and end a plan arrive at the payments webhook.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::extract::ApiJson;
use crate::auth::AuthUser;
use crate::billing::subscriptions::{SubscribeInput, SubscriptionState};
use crate::domain::time::{now_ms, rfc3339};
use crate::error::{ok, ApiResult};
use crate::state::AppState;
use crate::wire::{Envelope, ErrorEnvelope, SubscriptionCheckoutView, UserSubscriptionView};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/payments/subscriptions/checkout", post(checkout))
        .route("/api/users/subscription", get(current))
        .route("/api/users/subscription/cancel", post(cancel))
}

/// In the document, `returnUrl` is filled in from the settings (`routes::docs_settings`).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = SubscriptionCheckout)]
pub(super) struct CheckoutBody {
    #[schema(pattern = "^(basic|pro)$")]
    plan: String,
    return_url: String,
}

/// Subscribe to a plan through Stripe Checkout (the plan starts when the first invoice is
/// paid).
#[utoipa::path(post, path = "/api/payments/subscriptions/checkout", tag = "payments",
    request_body = CheckoutBody,
    responses(
        (status = 201, description = "The Checkout Session to send the user to", body = Envelope<SubscriptionCheckoutView>),
        (status = 400, description = "Stripe refused the request", body = ErrorEnvelope),
        (status = 409, description = "`alreadySubscribed`: the user is on an active paid plan", body = ErrorEnvelope),
        (status = 422, description = "plan not basic or pro, or `invalidReturnUrl`", body = ErrorEnvelope),
        (status = 503, description = "`paymentsNotConfigured`, `subscriptionsNotConfigured` (no Price for the plan), or Stripe unreachable (`unavailable`)", body = ErrorEnvelope),
    ))]
async fn checkout(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<CheckoutBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input = SubscribeInput {
        plan: body.plan,
        return_url: body.return_url,
    };
    let started = state.payments.subscribe(&user.id, &input).await?;
    let data = SubscriptionCheckoutView {
        plan: started.plan.as_str().into(),
        status: "pending".into(),
        checkout_url: started.checkout_url,
        session_id: started.session_id,
    };
    Ok((StatusCode::CREATED, ok(data)))
}

fn view(state: &AppState, s: &SubscriptionState) -> UserSubscriptionView {
    let b = &state.settings.billing;
    let refusal = crate::billing::plans::check_can_generate(b, &s.plan, now_ms())
        .err()
        .map(|e| e.code().to_string());
    UserSubscriptionView {
        plan: s.plan.plan.clone(),
        status: s.plan.status.clone(),
        current_period_end: s.plan.ends_at.map(rfc3339),
        cancel_at_period_end: s.stripe.as_ref().is_some_and(|r| {
            r.cancel_at_period_end != 0 && matches!(r.status.as_str(), "active" | "past_due")
        }),
        monthly_credits: b.monthly_credits(&s.plan.plan),
        can_generate: refusal.is_none(),
        refusal,
        billing_status: s.stripe.as_ref().map(|r| r.status.clone()),
    }
}

/// The user's plan, its period and whether they can generate.
#[utoipa::path(get, path = "/api/users/subscription", tag = "credits",
    responses((status = 200, description = "The subscription", body = Envelope<UserSubscriptionView>)))]
async fn current(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Value>> {
    let s = state.payments.subscription(&user.id).await?;
    Ok(ok(view(&state, &s)))
}

/// End the Stripe subscription at the end of the paid period (the plan stays until then).
#[utoipa::path(post, path = "/api/users/subscription/cancel", tag = "credits",
    responses(
        (status = 200, description = "The subscription, `cancelAtPeriodEnd: true`", body = Envelope<UserSubscriptionView>),
        (status = 400, description = "Stripe refused the request", body = ErrorEnvelope),
        (status = 409, description = "`noSubscription`: no live Stripe subscription", body = ErrorEnvelope),
        (status = 503, description = "`paymentsNotConfigured`, or Stripe unreachable (`unavailable`)", body = ErrorEnvelope),
    ))]
async fn cancel(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Value>> {
    let s = state.payments.cancel_subscription(&user.id).await?;
    Ok(ok(view(&state, &s)))
}

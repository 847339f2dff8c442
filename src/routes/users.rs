//! `/api/users`: credits, the credit ledger, API keys; and the admin route that sets a
//! user's plan (`PUT /api/admin/users/{userId}/plan`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiJson, ApiQuery};
use super::tasks::paging;
use crate::auth::{random_token, token_hash, AuthUser};
use crate::domain::credits::TxType;
use crate::domain::plans::{Subscription, PLANS, STATUSES};
use crate::domain::time::{now_ms, rfc3339};
use crate::error::{ok, ApiError, ApiResult};
use crate::state::AppState;
use crate::store::StoreError;
use crate::wire::{
    ApiKeyList, ApiKeyView, CreditTransactionView, CreditsView, Envelope, ErrorEnvelope,
    NewApiKeyView, Paged, PlanSetView, SubscriptionView,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users/credits", get(credits))
        .route("/api/users/credits/transactions", get(transactions))
        .route("/api/users/api-keys", get(list_keys).post(create_key))
        .route("/api/users/api-keys/{key_id}", delete(revoke_key))
        .route("/api/admin/users/{user_id}/plan", put(set_plan))
}

/// What the credits and plan routes show about a plan.
fn subscription_view(state: &AppState, sub: &Subscription) -> SubscriptionView {
    let b = &state.settings.billing;
    SubscriptionView {
        plan: sub.plan.clone(),
        status: sub.status.clone(),
        ends_at: sub.ends_at.map(rfc3339),
        can_generate: crate::billing::plans::check_can_generate(b, sub, now_ms()).is_ok(),
        monthly_credits: b.monthly_credits(&sub.plan),
    }
}

/// Balance and plan.
#[utoipa::path(get, path = "/api/users/credits", tag = "credits",
    responses((status = 200, description = "Balance, totals and plan", body = Envelope<CreditsView>)))]
async fn credits(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Value>> {
    let s = state.store.credit_summary(&user.id).await?;
    let sub = state.store.get_subscription(&user.id).await?;
    Ok(ok(CreditsView {
        credits: s.credits,
        total_earned: s.total_earned,
        total_spent: s.total_spent,
        total_expired: s.total_expired,
        total_reversed: s.total_reversed,
        subscription: subscription_view(&state, &sub),
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct TxQuery {
    /// Default 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000)]
    page: Option<String>,
    /// Default 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
    /// Only this kind of movement.
    #[serde(rename = "type")]
    #[param(value_type = Option<String>, pattern = "^(earned|spent|purchased|refunded|bonus|expired)?$")]
    tx_type: Option<String>,
}

/// The credit ledger, newest first.
#[utoipa::path(get, path = "/api/users/credits/transactions", tag = "credits",
    params(TxQuery),
    responses(
        (status = 200, description = "One page of the ledger", body = Envelope<Paged<CreditTransactionView>>),
        (status = 400, description = "page, pageSize or type out of range", body = ErrorEnvelope),
    ))]
async fn transactions(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<TxQuery>,
) -> ApiResult<Json<Value>> {
    let (page, page_size) = paging(q.page.as_deref(), q.page_size.as_deref())?;
    let tx_type = match q.tx_type.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(t) => Some(TxType::parse(t).ok_or_else(|| {
            ApiError::BadRequest(
                "type must be one of earned, spent, purchased, refunded, bonus, expired".into(),
            )
        })?),
    };
    let (items, total) = state
        .store
        .list_credit_transactions(&user.id, tx_type, page, page_size)
        .await?;
    Ok(ok(Paged {
        items: items.iter().map(CreditTransactionView::from).collect(),
        total,
        page,
        page_size,
    }))
}

/// Key management needs a signed-in session: a key cannot mint or revoke keys.
fn keys_allowed(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    if !state.settings.billing.api_keys {
        return Err(ApiError::Forbidden(
            "forbidden",
            "API keys are turned off on this server".into(),
        ));
    }
    if headers.get(axum::http::header::AUTHORIZATION).is_none() {
        return Err(ApiError::Forbidden(
            "forbidden",
            "API keys are managed with a bearer token, not with an API key".into(),
        ));
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewApiKey)]
pub(crate) struct NewKeyBody {
    /// 1 to 64 characters, not blank.
    #[schema(min_length = 1, max_length = 64, pattern = r"\S")]
    name: String,
}

/// Create an API key; the secret is shown once. Needs a bearer token, not an API key.
#[utoipa::path(post, path = "/api/users/api-keys", tag = "credits",
    request_body = NewKeyBody,
    responses(
        (status = 201, description = "The key and its secret", body = Envelope<NewApiKeyView>),
        (status = 403, description = "API keys are off, or the request used an API key", body = ErrorEnvelope),
        (status = 409, description = "the user holds the most keys allowed", body = ErrorEnvelope),
    ))]

async fn create_key(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewKeyBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    keys_allowed(&state, &headers)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::field("name", "1 to 64 characters"));
    }
    let key = format!("thk_{}", random_token(40));
    let prefix: String = key.chars().take(10).collect();
    let stored = state
        .store
        .create_api_key(&user.id, name, &prefix, &token_hash(&key))
        .await?;
    let data = NewApiKeyView {
        key_info: ApiKeyView::from(&stored),
        key,
        notice: "store this key now: it is shown only once".into(),
    };
    Ok((StatusCode::CREATED, ok(data)))
}

/// The user's API keys (never the secret).
#[utoipa::path(get, path = "/api/users/api-keys", tag = "credits",
    responses(
        (status = 200, description = "The keys", body = Envelope<ApiKeyList>),
        (status = 403, description = "API keys are off, or the request used an API key", body = ErrorEnvelope),
    ))]
async fn list_keys(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    keys_allowed(&state, &headers)?;
    let keys = state.store.list_api_keys(&user.id).await?;
    Ok(ok(ApiKeyList {
        items: keys.iter().map(ApiKeyView::from).collect(),
    }))
}

/// Revoke an API key.
#[utoipa::path(delete, path = "/api/users/api-keys/{keyId}", tag = "credits",
    params(("keyId" = String, Path, description = "The key's `id`")),
    responses(
        (status = 200, description = "The revoked key", body = Envelope<ApiKeyView>),
        (status = 403, description = "API keys are off, or the request used an API key", body = ErrorEnvelope),
        (status = 404, description = "no such key of this user", body = ErrorEnvelope),
    ))]
async fn revoke_key(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    keys_allowed(&state, &headers)?;
    match state.store.revoke_api_key(&user.id, &id).await {
        Ok(k) => Ok(ok(ApiKeyView::from(&k))),
        Err(StoreError::NotFound) => Err(ApiError::not_found("API key")),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = SetPlan)]
pub(crate) struct PlanBody {
    #[schema(pattern = "^(free|basic|pro)$")]
    plan: String,
    #[serde(default = "active")]
    #[schema(pattern = "^(active|cancelled|expired)$")]
    status: String,
    /// RFC 3339; absent means the plan never ends.
    #[schema(format = DateTime)]
    ends_at: Option<String>,
    /// Grant the plan's monthly credits now (default: when the plan is active).
    grant_credits: Option<bool>,
}

fn active() -> String {
    "active".into()
}

fn parse_plan(body: &PlanBody) -> ApiResult<Subscription> {
    let mut errors = Vec::new();
    if !PLANS.contains(&body.plan.as_str()) {
        errors.push(("plan".into(), format!("one of {}", PLANS.join(", "))));
    }
    if !STATUSES.contains(&body.status.as_str()) {
        errors.push(("status".into(), format!("one of {}", STATUSES.join(", "))));
    }
    let ends_at = match body
        .ends_at
        .as_deref()
        .map(chrono::DateTime::parse_from_rfc3339)
    {
        None => None,
        Some(Ok(t)) => Some(t.timestamp_millis()),
        Some(Err(_)) => {
            errors.push(("endsAt".into(), "an RFC 3339 time".into()));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(Subscription {
        plan: body.plan.clone(),
        status: body.status.clone(),
        ends_at,
    })
}

/// Admin: set a user's plan, status and end date.
#[utoipa::path(put, path = "/api/admin/users/{userId}/plan", tag = "admin",
    params(("userId" = String, Path, description = "The user's id")),
    request_body = PlanBody,
    responses(
        (status = 200, description = "The plan set and the credits granted", body = Envelope<PlanSetView>),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
        (status = 404, description = "no such user", body = ErrorEnvelope),
    ))]
async fn set_plan(
    State(state): State<AppState>,
    admin: AuthUser,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<PlanBody>,
) -> ApiResult<Json<Value>> {
    crate::auth::require_admin(&state.store, &admin).await?;
    let sub = parse_plan(&body)?;
    let b = &state.settings.billing;
    let grant = body.grant_credits.unwrap_or(sub.status == "active");
    let credits = if grant {
        b.monthly_credits(&sub.plan)
    } else {
        0
    };
    match state.store.set_subscription(&user_id, &sub, credits).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("user")),
        other => other?,
    }
    Ok(ok(PlanSetView {
        user_id,
        subscription: subscription_view(&state, &sub),
        credits_granted: credits,
    }))
}

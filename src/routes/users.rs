//! `/api/users`: credits, the credit ledger, API keys; and the admin route that sets a
//! user's plan (`PUT /api/admin/users/{userId}/plan`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{ApiJson, ApiQuery};
use super::tasks::paging;
use crate::auth::{random_token, token_hash, AuthUser};
use crate::domain::credits::TxType;
use crate::domain::plans::{Subscription, PLANS, STATUSES};
use crate::domain::time::now_ms;
use crate::error::{ok, ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{StoreError, User};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users/credits", get(credits))
        .route("/api/users/credits/transactions", get(transactions))
        .route("/api/users/api-keys", get(list_keys).post(create_key))
        .route("/api/users/api-keys/{key_id}", delete(revoke_key))
        .route("/api/admin/users/{user_id}/plan", put(set_plan))
}

/// The caller, if an admin; 403 otherwise.
pub(super) async fn require_admin(state: &AppState, user: &AuthUser) -> ApiResult<User> {
    crate::auth::require_admin(&state.store, user).await
}

async fn credits(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Value>> {
    let s = state.store.credit_summary(&user.id).await?;
    let sub = state.store.get_subscription(&user.id).await?;
    Ok(ok(json!({
        "credits": s.credits,
        "totalEarned": s.total_earned,
        "totalSpent": s.total_spent,
        "totalExpired": s.total_expired,
        "totalReversed": s.total_reversed,
        "subscription": state.settings.billing.subscription_json(&sub, now_ms()),
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TxQuery {
    page: Option<String>,
    page_size: Option<String>,
    #[serde(rename = "type")]
    tx_type: Option<String>,
}

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
    let items: Vec<Value> = items.iter().map(|t| t.to_json()).collect();
    Ok(ok(
        json!({ "items": items, "total": total, "page": page, "pageSize": page_size }),
    ))
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

#[derive(Deserialize)]
struct NewKeyBody {
    name: String,
}

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
    let mut data = stored.to_json();
    data["key"] = json!(key);
    data["notice"] = json!("store this key now: it is shown only once");
    Ok((StatusCode::CREATED, ok(data)))
}

async fn list_keys(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    keys_allowed(&state, &headers)?;
    let keys = state.store.list_api_keys(&user.id).await?;
    let items: Vec<Value> = keys.iter().map(|k| k.to_json()).collect();
    Ok(ok(json!({ "items": items })))
}

async fn revoke_key(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    keys_allowed(&state, &headers)?;
    match state.store.revoke_api_key(&user.id, &id).await {
        Ok(k) => Ok(ok(k.to_json())),
        Err(StoreError::NotFound) => Err(ApiError::not_found("API key")),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PlanBody {
    plan: String,
    #[serde(default = "active")]
    status: String,
    /// RFC 3339; absent means the plan never ends.
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

async fn set_plan(
    State(state): State<AppState>,
    admin: AuthUser,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<PlanBody>,
) -> ApiResult<Json<Value>> {
    require_admin(&state, &admin).await?;
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
    Ok(ok(json!({
        "userId": user_id,
        "subscription": b.subscription_json(&sub, now_ms()),
        "creditsGranted": credits,
    })))
}

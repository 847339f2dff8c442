//! `/api/users`: profile (get, update), credits with totals from the ledger, the ledger
//! page by page, and account deletion (taskhub's: at once, after re-authentication).

use axum::extract::State;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::super::detail::{DJson, DQuery, DUser, Detail, DetailResult};
use super::dto::{page_param, time, DetailOut, MessageOut};
use crate::accounts::Accounts;
use crate::domain::credits::TxType;
use crate::domain::profile_rules as rules;
use crate::state::AppState;
use crate::store::{CreditTransaction, ProfileChange, StoreError, User};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users/profile", get(profile).put(update_profile))
        .route("/api/users/credits", get(credits))
        .route("/api/users/credits/transactions", get(transactions))
        .route("/api/users/account", delete(delete_account))
}

/// The caller's account; a token whose account is gone is 404, as the reference answers.
pub(super) async fn live_user(state: &AppState, id: &str) -> DetailResult<User> {
    match state.store.get_user(id).await {
        Ok(u) => Ok(u),
        Err(StoreError::NotFound) => Err(Detail::not_found("User not found")),
        Err(e) => Err(e.into()),
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Sora2Profile)]
pub struct ProfileOut {
    id: String,
    email: String,
    /// The display name, or the account's username until one is set.
    username: String,
    avatar_url: Option<String>,
    /// taskhub keeps no region: always null.
    region: Option<String>,
    #[schema(pattern = "^(zh-CN|zh-TW|en|ja|ko)$")]
    language: String,
    credits: i64,
    created_at: String,
    /// taskhub keeps no last sign-in time: always null.
    last_login_at: Option<String>,
}

async fn profile_out(state: &AppState, user: User) -> DetailResult<ProfileOut> {
    let credits = state.store.credit_summary(&user.id).await?.credits;
    Ok(ProfileOut {
        id: user.id,
        email: user.email,
        username: user.display_name.unwrap_or(user.username),
        avatar_url: user.avatar_url,
        region: None,
        language: user.language,
        credits,
        created_at: time(user.created_at),
        last_login_at: None,
    })
}

/// The caller's profile.
#[utoipa::path(get, path = "/compat/sora2/api/users/profile", tag = "Sora 2 compat",
    responses(
        (status = 200, description = "The profile", body = ProfileOut),
        (status = 404, description = "User not found", body = DetailOut),
    ))]
async fn profile(
    State(state): State<AppState>,
    DUser(auth): DUser,
) -> DetailResult<Json<ProfileOut>> {
    let user = live_user(&state, &auth.id).await?;
    Ok(Json(profile_out(&state, user).await?))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = Sora2ProfileUpdate)]
pub struct ProfileBody {
    /// The display name: 1 to 50 characters, no control characters (taskhub's rule).
    #[schema(min_length = 1, max_length = 50)]
    username: Option<String>,
    /// An http(s) URL on a host name, at most 2048 bytes.
    #[schema(max_length = 2048)]
    avatar_url: Option<String>,
    #[schema(pattern = "^(zh-CN|zh-TW|en|ja|ko)$")]
    language: Option<String>,
}

/// Change the display name, avatar or language; absent fields stay.
#[utoipa::path(put, path = "/compat/sora2/api/users/profile", tag = "Sora 2 compat",
    request_body = ProfileBody,
    responses(
        (status = 200, description = "The profile as changed", body = ProfileOut),
        (status = 400, description = "Invalid language, username or avatar_url", body = DetailOut),
        (status = 404, description = "User not found", body = DetailOut),
    ))]
async fn update_profile(
    State(state): State<AppState>,
    DUser(auth): DUser,
    DJson(body): DJson<ProfileBody>,
) -> DetailResult<Json<ProfileOut>> {
    let bad = |what: &str, why: &str| Detail::bad_request(format!("Invalid {what}: {why}"));
    let mut change = ProfileChange::default();
    if let Some(name) = body.username {
        let name = rules::display_name(&name).map_err(|why| bad("username", why))?;
        change.display_name = Some(Some(name));
    }
    if let Some(url) = body.avatar_url {
        let url = rules::avatar_url(&url).map_err(|why| bad("avatar_url", why))?;
        change.avatar_url = Some(Some(url));
    }
    if let Some(lang) = body.language {
        if !rules::LANGUAGES.contains(&lang.as_str()) {
            return Err(bad("language", "one of zh-CN, zh-TW, en, ja, ko"));
        }
        change.language = Some(lang);
    }
    let user = match state.store.update_profile(&auth.id, &change).await {
        Err(StoreError::NotFound) => return Err(Detail::not_found("User not found")),
        other => other?,
    };
    Ok(Json(profile_out(&state, user).await?))
}

#[derive(Serialize, ToSchema)]
#[schema(as = Sora2Credits)]
pub struct CreditsOut {
    user_id: String,
    credits: i64,
    /// Bonus, purchased and earned credits received.
    total_earned: i64,
    /// Spent on tasks, net of task refunds.
    total_spent: i64,
}

/// Balance and totals, from the ledger.
#[utoipa::path(get, path = "/compat/sora2/api/users/credits", tag = "Sora 2 compat",
    responses((status = 200, description = "Balance and totals", body = CreditsOut)))]
async fn credits(
    State(state): State<AppState>,
    DUser(auth): DUser,
) -> DetailResult<Json<CreditsOut>> {
    let s = state.store.credit_summary(&auth.id).await?;
    Ok(Json(CreditsOut {
        user_id: auth.id,
        credits: s.credits,
        total_earned: s.total_earned,
        total_spent: s.total_spent,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TxQuery {
    /// Default 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000)]
    page: Option<String>,
    /// Default 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
    /// Only this kind of movement.
    #[param(value_type = Option<String>, pattern = "^(earned|spent|purchased|refunded|bonus|expired)?$")]
    transaction_type: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Sora2Transaction)]
pub struct TransactionOut {
    id: String,
    /// `earned`, `spent`, `purchased`, `refunded`, `bonus`; also taskhub's `expired` and
    /// `reversed` (credits taken back by a payment refund).
    transaction_type: String,
    amount: i64,
    balance_before: i64,
    balance_after: i64,
    reference_type: String,
    reference_id: String,
    description: Option<String>,
    task_id: Option<String>,
    payment_order_id: Option<String>,
    created_at: String,
    expires_at: Option<String>,
    is_expired: bool,
}

impl TransactionOut {
    fn new(t: &CreditTransaction, now: i64) -> Self {
        Self {
            id: t.id.clone(),
            transaction_type: t.tx_type.clone(),
            amount: t.amount,
            balance_before: t.balance_before,
            balance_after: t.balance_after,
            reference_type: t.reference_type.clone(),
            reference_id: t.reference_id.clone(),
            description: t.description.clone(),
            task_id: t.task_id.clone(),
            payment_order_id: t.payment_id.clone(),
            created_at: time(t.created_at),
            expires_at: t.expires_at.map(time),
            is_expired: t.expires_at.is_some_and(|e| e <= now),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Sora2Transactions)]
pub struct TransactionsOut {
    total: i64,
    page: i64,
    page_size: i64,
    transactions: Vec<TransactionOut>,
}

/// The credit ledger, newest first.
#[utoipa::path(get, path = "/compat/sora2/api/users/credits/transactions", tag = "Sora 2 compat",
    params(TxQuery),
    responses(
        (status = 200, description = "One page of the ledger", body = TransactionsOut),
        (status = 422, description = "page, page_size or transaction_type out of range", body = DetailOut),
    ))]
async fn transactions(
    State(state): State<AppState>,
    DUser(auth): DUser,
    DQuery(q): DQuery<TxQuery>,
) -> DetailResult<Json<TransactionsOut>> {
    let page = page_param("page", q.page.as_deref(), 1, 1_000_000)?;
    let page_size = page_param("page_size", q.page_size.as_deref(), 20, 100)?;
    let tx_type = match q.transaction_type.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(t) => Some(TxType::parse(t).ok_or_else(|| {
            let m = "one of earned, spent, purchased, refunded, bonus, expired";
            Detail::field("query", "transaction_type", m, "value_error")
        })?),
    };
    let (items, total) = state
        .store
        .list_credit_transactions(&auth.id, tx_type, page, page_size)
        .await?;
    let now = crate::domain::time::now_ms();
    Ok(Json(TransactionsOut {
        total,
        page,
        page_size,
        transactions: items.iter().map(|t| TransactionOut::new(t, now)).collect(),
    }))
}

#[derive(Deserialize, ToSchema, Default)]
#[schema(as = Sora2DeleteAccount)]
pub struct DeleteBody {
    /// The account's password; without it, a Google sign-in within the last 10 minutes.
    #[schema(max_length = 128)]
    password: Option<String>,
}

/// Delete the caller's account at once (taskhub's deletion; see docs/compat.md).
#[utoipa::path(delete, path = "/compat/sora2/api/users/account", tag = "Sora 2 compat",
    request_body(content = Option<DeleteBody>, description = "optional"),
    responses(
        (status = 200, description = "Deleted", body = MessageOut),
        (status = 403, description = "re-authentication needed: no password and no Google sign-in in the last 10 minutes", body = DetailOut),
        (status = 404, description = "the account is already deleted", body = DetailOut),
    ))]
async fn delete_account(
    State(state): State<AppState>,
    DUser(auth): DUser,
    body: axum::body::Bytes,
) -> DetailResult<Json<MessageOut>> {
    let body: DeleteBody = serde_json::from_slice(&body).unwrap_or_default();
    Accounts::from(&state).delete(&auth, body.password).await?;
    Ok(Json(MessageOut::new(
        "Account deleted. Your data has been erased.",
    )))
}

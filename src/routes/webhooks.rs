//! Outgoing webhooks: a task's deliveries and their attempts
//! (`GET /api/video/tasks/{videoId}/webhooks`), and the user's Standard Webhooks signing
//! secret (`GET`/`POST /api/users/webhook-secret`; the secret is shown only when made).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::auth::AuthUser;
use crate::domain::time::{now_ms, rfc3339};
use crate::error::{ok, ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::{
    secret_prefix, Envelope, ErrorEnvelope, NewWebhookSecret, TaskWebhooks, WebhookDeliveryView,
    WebhookSecretInfo,
};

/// Messages listed per task: a task sends one (its terminal event); the bound only guards
/// the answer's size.
const MAX_DELIVERIES: i64 = 20;
/// Attempts listed per message, the latest: 24 h of retries doubling from 5 s to 1 h is
/// about 30 attempts, even with jitter under 100.
const MAX_ATTEMPTS: i64 = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/video/tasks/{video_id}/webhooks", get(list))
        .route("/api/users/webhook-secret", get(secret_info).post(rotate))
}

/// The task's webhook deliveries, each with its latest attempts (status code or error).
#[utoipa::path(get, path = "/api/video/tasks/{videoId}/webhooks", tag = "tasks", params(("videoId" = String, Path, pattern = r"^video_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "`video_` and a UUID")),
    responses(
        (status = 200, description = "The deliveries, oldest first", body = Envelope<TaskWebhooks>),
        (status = 400, description = "not a `video_<uuid>`", body = ErrorEnvelope),
        (status = 404, description = "no such task of this user", body = ErrorEnvelope),
    ))]
pub(super) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if !crate::domain::ids::is_video_id(&id) {
        return Err(ApiError::BadRequest(format!(
            "invalid videoId '{}': expected video_<uuid>",
            id.chars().take(80).collect::<String>()
        )));
    }
    let task = state.tasks.user_task(&user, &id).await?;
    let rows = state
        .store
        .task_webhook_deliveries(&task.id, MAX_DELIVERIES, MAX_ATTEMPTS)
        .await?;
    Ok(ok(TaskWebhooks {
        video_id: task.id,
        deliveries: rows
            .iter()
            .map(|(d, a)| WebhookDeliveryView::new(d, a))
            .collect(),
    }))
}

/// Whether the user has a webhook signing secret (never the secret itself).
#[utoipa::path(get, path = "/api/users/webhook-secret", tag = "credits",
    responses((status = 200, description = "Whether there is a secret, since when, its first characters", body = Envelope<WebhookSecretInfo>)))]
pub(super) async fn secret_info(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<Value>> {
    let found = state.store.webhook_secret(&user.id).await?;
    Ok(ok(WebhookSecretInfo {
        configured: found.is_some(),
        created_at: found.as_ref().map(|(_, at)| rfc3339(*at)),
        prefix: found.as_ref().map(|(s, _)| secret_prefix(s)),
    }))
}

/// Makes a new webhook signing secret (replacing any other) and shows it this once.
#[utoipa::path(post, path = "/api/users/webhook-secret", tag = "credits",
    responses((status = 201, description = "The new secret, shown only now", body = Envelope<NewWebhookSecret>)))]
pub(super) async fn rotate(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let secret = crate::tasks::webhook::new_secret();
    let now = now_ms();
    state
        .store
        .rotate_webhook_secret(&user.id, &secret, now)
        .await?;
    let data = NewWebhookSecret {
        prefix: secret_prefix(&secret),
        secret,
        created_at: rfc3339(now),
        notice: "store this secret now: it is shown only once".into(),
    };
    Ok((StatusCode::CREATED, ok(data)))
}

//! `POST /api/providers/openai/webhook`: OpenAI's `video.completed` / `video.failed`
//! webhooks, verified with the Standard Webhooks signature (`OPENAI_WEBHOOK_SECRET`), which
//! settle the task at once (`tasks::callbacks::settle_now`: the job's status is fetched from
//! the provider, the body is only a hint) instead of waiting for the next poll.
//!
//! Answers: unset secret 503 `providerWebhookNotConfigured`; a missing or wrong signature or
//! a timestamp more than [`TOLERANCE_SECS`] away 401 `invalidSignature`; a signed body that
//! is not an event 400 `badRequest`; an unknown job id or event type 200 `ignored` (so
//! OpenAI stops retrying; logged); a webhook id already settled 200 `duplicate`; a settle
//! that failed (provider or store down) 503 `unavailable`, so OpenAI retries (polling is the
//! safety net either way). Bodies above [`MAX_BODY`] are 413.
//!
//! `POST /api/providers/callback/{token}`: a callback provider's per-task callback. The token
//! (256 random bits, only its hash stored) is the authentication: an unknown one is 404. The
//! body is a hint only; the task settles the same way.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::domain::standard_webhooks::{parse_secret, verify};
use crate::domain::time::now_ms;
use crate::error::{ok, ApiError, ApiResult};
use crate::state::AppState;
use crate::tasks::callbacks::{settle_now, token_hash, SettleError, Settled};
use crate::wire::{Envelope, ErrorEnvelope, ProviderWebhookReceipt};

/// Largest webhook body: OpenAI's events are a few hundred bytes.
pub const MAX_BODY: usize = 64 * 1024;
/// How far a webhook's timestamp may be from our clock (the Standard Webhooks default).
pub const TOLERANCE_SECS: i64 = 300;
/// Longest `webhook-id` kept (ids are stored to refuse replays).
const MAX_WEBHOOK_ID: usize = 256;
/// Providers whose jobs speak OpenAI's wire format (the simulator sends the same webhooks).
const OPENAI_STYLE: &[&str] = &["openai", "simulator"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/providers/openai/webhook",
            post(openai_webhook).layer(DefaultBodyLimit::max(MAX_BODY)),
        )
        .route(
            "/api/providers/callback/{token}",
            post(callback).layer(DefaultBodyLimit::max(MAX_BODY)),
        )
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    id: String,
}

/// OpenAI video webhook: settles the task whose job it names.
#[utoipa::path(post, path = "/api/providers/openai/webhook", tag = "providers", security(()),
    request_body(content = Value, description = "`{id, object: \"event\", type: \"video.completed\"|\"video.failed\", data: {id}}`, signed with `webhook-id`, `webhook-timestamp`, `webhook-signature`"),
    responses(
        (status = 200, description = "Settled, ignored or a duplicate", body = Envelope<ProviderWebhookReceipt>),
        (status = 400, description = "Signed, but not an event", body = ErrorEnvelope),
        (status = 401, description = "`invalidSignature`", body = ErrorEnvelope),
        (status = 503, description = "`providerWebhookNotConfigured` or `unavailable` (retry)", body = ErrorEnvelope)))]
pub(super) async fn openai_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let webhook_id = verified(&state, &headers, &body)?;
    let store = &state.store;
    if store.webhook_receipt_seen(&webhook_id).await? {
        return Ok(ok(ProviderWebhookReceipt::new("duplicate")));
    }
    let event: Event = serde_json::from_slice(&body)
        .map_err(|_| ApiError::BadRequest("the body is not a video event".into()))?;
    let receipt = settle(&state, &event).await?;
    let keep_ms = 2 * TOLERANCE_SECS * 1000;
    store
        .record_webhook_receipt(&webhook_id, now_ms(), keep_ms)
        .await?;
    Ok(ok(receipt))
}

/// The webhook id, once the signature checks out.
fn verified(state: &AppState, headers: &HeaderMap, body: &[u8]) -> ApiResult<String> {
    let secret = &state.settings.providers.openai_webhook_secret;
    let Some(key) = parse_secret(secret.expose()) else {
        return Err(ApiError::Unavailable(
            "providerWebhookNotConfigured",
            "OPENAI_WEBHOOK_SECRET is not set on this server".into(),
        ));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let refuse =
        || ApiError::Unauthenticated("invalidSignature", "invalid webhook signature".into());
    let id = header("webhook-id").filter(|id| !id.is_empty() && id.len() <= MAX_WEBHOOK_ID);
    let ts = header("webhook-timestamp").and_then(|t| t.trim().parse::<i64>().ok());
    let (Some(id), Some(ts), Some(sig)) = (id, ts, header("webhook-signature")) else {
        return Err(refuse());
    };
    let now = now_ms() / 1000;
    verify(&key, id, ts, sig, body, now, TOLERANCE_SECS).map_err(|_| refuse())?;
    Ok(id.to_string())
}

/// A callback provider's per-task callback: `{code, msg, data:{taskId, state, resultJson,
/// failCode, failMsg}}`, only a hint; the task's record is fetched again and applied.
#[utoipa::path(post, path = "/api/providers/callback/{token}", tag = "providers", security(()),
    params(("token" = String, Path, description = "The task's callback token (64 hex digits)")),
    request_body(content = Value, description = "`{code, msg, data: {taskId, state, resultJson, failCode, failMsg}}` (a hint; not trusted)"),
    responses(
        (status = 200, description = "Settled, already settled or pending", body = Envelope<ProviderWebhookReceipt>),
        (status = 404, description = "`notFound`: no task has this token", body = ErrorEnvelope),
        (status = 503, description = "`unavailable`: could not settle now (retry)", body = ErrorEnvelope)))]
pub(super) async fn callback(
    State(state): State<AppState>,
    Path(token): Path<String>,
    _body: Bytes,
) -> ApiResult<Json<Value>> {
    let well_formed = token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit());
    let found = match well_formed {
        true => {
            state
                .store
                .find_task_by_callback_hash(&token_hash(&token))
                .await?
        }
        false => None,
    };
    let task = found.ok_or_else(|| ApiError::not_found("callback"))?;
    Ok(ok(settle_task(&state, task).await?))
}

async fn settle(state: &AppState, event: &Event) -> ApiResult<ProviderWebhookReceipt> {
    if !matches!(event.kind.as_str(), "video.completed" | "video.failed") {
        tracing::info!(kind = %event.kind, "provider webhook of another type ignored");
        return Ok(ProviderWebhookReceipt::new("ignored"));
    }
    let store = &state.store;
    let found = store
        .find_task_by_external_id(OPENAI_STYLE, &event.data.id)
        .await;
    let Some(task) = found? else {
        tracing::warn!(external_id = %event.data.id, "provider webhook for an unknown job ignored");
        return Ok(ProviderWebhookReceipt::new("ignored"));
    };
    settle_task(state, task).await
}

/// Settles `task` now (see `tasks::callbacks::settle_now`).
async fn settle_task(
    state: &AppState,
    task: crate::store::Task,
) -> ApiResult<ProviderWebhookReceipt> {
    let ctx: crate::tasks::TaskContext = state.clone().into();
    let (outcome, status) = match settle_now(&ctx, &task).await {
        Ok(Settled::Applied(s)) => ("settled", s),
        Ok(Settled::Ended(s)) => ("alreadySettled", s),
        Ok(Settled::Busy) => ("pending", task.status),
        Err(SettleError::Retry) => {
            return Err(ApiError::Unavailable(
                "unavailable",
                "the task could not be settled now; retry later".into(),
            ))
        }
        Err(SettleError::Store(e)) => return Err(e.into()),
    };
    Ok(ProviderWebhookReceipt {
        video_id: Some(task.id),
        status: Some(status.as_str().into()),
        ..ProviderWebhookReceipt::new(outcome)
    })
}

//! `/api/tasks`: one task, the caller's tasks page by page, cancel (`DELETE`, credits
//! refunded) and retry (a new task with the failed one's parameters), over the task use cases.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::super::detail::{DQuery, DUser, Detail, DetailResult};
use super::dto::{page_param, parse_status, DetailOut, MessageOut, TaskOut};
use super::keys::KeyedUser;
use super::videos::own_task;
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/tasks/user/tasks", get(list))
        .route("/api/tasks/{task_id}", get(one).delete(cancel))
        .route("/api/tasks/{task_id}/retry", post(retry))
}

/// One task.
#[utoipa::path(get, path = "/compat/sora2/api/tasks/{task_id}", tag = "Sora 2 compat",
    params(("task_id" = String, Path, description = "The task's id")),
    responses(
        (status = 200, description = "The task", body = TaskOut),
        (status = 403, description = "invalid or missing X-API-Key", body = DetailOut),
        (status = 404, description = "Task not found", body = DetailOut),
    ))]
async fn one(
    State(state): State<AppState>,
    KeyedUser(user): KeyedUser,
    Path(id): Path<String>,
) -> DetailResult<Json<TaskOut>> {
    let task = own_task(&state, &user, &id).await?;
    Ok(Json(TaskOut::new(&task, &state.store)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Default 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000)]
    page: Option<String>,
    /// Default 10.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
    /// Only tasks in this status (either spelling; `failed` is failed, not cancelled).
    #[param(value_type = Option<String>, pattern = "^(|pending|processing|completed|failed|cancelled|queued|running|succeeded|PENDING|PROCESSING|COMPLETED|FAILED|CANCELLED|QUEUED|RUNNING|SUCCEEDED)$")]
    status: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Sora2TaskPage)]
pub struct TaskPage {
    tasks: Vec<TaskOut>,
    total: i64,
    page: i64,
    page_size: i64,
}

/// The caller's tasks, newest first.
#[utoipa::path(get, path = "/compat/sora2/api/tasks/user/tasks", tag = "Sora 2 compat",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of tasks", body = TaskPage),
        (status = 422, description = "page, page_size or status out of range", body = DetailOut),
    ))]
async fn list(
    State(state): State<AppState>,
    DUser(user): DUser,
    DQuery(q): DQuery<ListQuery>,
) -> DetailResult<Json<TaskPage>> {
    let page = page_param("page", q.page.as_deref(), 1, 1_000_000)?;
    let page_size = page_param("page_size", q.page_size.as_deref(), 10, 100)?;
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(parse_status(s).ok_or_else(|| {
            let m = "one of pending, processing, completed, failed, cancelled";
            Detail::field("query", "status", m, "value_error")
        })?),
    };
    let (items, total) = state
        .store
        .list_user_tasks(&user.id, status, page, page_size)
        .await?;
    Ok(Json(TaskPage {
        tasks: items
            .iter()
            .map(|t| TaskOut::new(t, &state.store))
            .collect(),
        total,
        page,
        page_size,
    }))
}

/// Cancel a pending or running task; its credits are refunded.
#[utoipa::path(delete, path = "/compat/sora2/api/tasks/{task_id}", tag = "Sora 2 compat",
    params(("task_id" = String, Path, description = "The task's id")),
    responses(
        (status = 200, description = "Cancelled", body = MessageOut),
        (status = 400, description = "Cannot cancel task with current status", body = DetailOut),
        (status = 404, description = "Task not found", body = DetailOut),
    ))]
async fn cancel(
    State(state): State<AppState>,
    DUser(user): DUser,
    Path(id): Path<String>,
) -> DetailResult<Json<MessageOut>> {
    let task = own_task(&state, &user, &id).await?;
    match state.tasks.cancel(&user, &task.id).await {
        Ok(_) => Ok(Json(MessageOut::new("Task cancelled successfully"))),
        Err(ApiError::Conflict(_)) => Err(Detail::bad_request(format!(
            "Cannot cancel task with status {}",
            super::dto::task_status(task.status)
        ))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Sora2Retry)]
pub struct RetryOut {
    message: String,
    task_id: String,
    original_task_id: String,
}

/// Retry a failed task: a new task with the same parameters, charged like a new one.
#[utoipa::path(post, path = "/compat/sora2/api/tasks/{task_id}/retry", tag = "Sora 2 compat",
    params(("task_id" = String, Path, description = "The failed task's id")),
    responses(
        (status = 200, description = "The new task", body = RetryOut),
        (status = 400, description = "Task cannot be retried (it has not failed, or its image is gone)", body = DetailOut),
        (status = 402, description = "Insufficient credits", body = DetailOut),
        (status = 403, description = "the plan cannot generate", body = DetailOut),
        (status = 404, description = "Task not found", body = DetailOut),
    ))]
async fn retry(
    State(state): State<AppState>,
    DUser(user): DUser,
    Path(id): Path<String>,
) -> DetailResult<Json<RetryOut>> {
    let old = own_task(&state, &user, &id).await?;
    match state.tasks.retry(&user, &old.id).await {
        Ok(task) => Ok(Json(RetryOut {
            message: "Task retry initiated".into(),
            task_id: task.id,
            original_task_id: old.id,
        })),
        Err(ApiError::Conflict(m)) => {
            Err(Detail::bad_request(format!("Task cannot be retried: {m}")))
        }
        Err(e) => Err(e.into()),
    }
}

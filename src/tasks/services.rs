//! `VideoServices`: what driving tasks needs besides the store and the bus (providers,
//! media storage, webhooks, the guarded client for user URLs), built once per node and
//! shared through `TaskContext::video`. Also the steps every writer takes after a commit.

use std::time::Duration;

use super::context::TaskContext;
use super::outbound::Outbound;
use super::webhook::Webhooks;
use crate::domain::TaskEvent;
use crate::media::MediaStore;
use crate::providers::{Provider, Providers};
use crate::store::Task;

/// How long a cancel request waits for the provider before answering anyway.
const PROVIDER_CANCEL_WAIT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct VideoServices {
    pub providers: Providers,
    pub media: MediaStore,
    pub webhooks: Webhooks,
    /// For reference images given by URL.
    pub outbound: Outbound,
}

/// After a change committed: publish its event on the bus (a failure is logged; subscribers
/// catch up from the event log) and, for a terminal one, wake the webhook worker.
pub async fn announce(state: &TaskContext, task: &Task, event: &TaskEvent) {
    task_finished(task, event);
    publish(state, event).await;
    state.video.webhooks.wake(task, event);
}

/// Publishes a committed event. A bus failure is logged and never undoes the change
/// (subscribers catch up from the event log).
pub async fn publish(state: &TaskContext, event: &TaskEvent) {
    if let Err(e) = state.bus.publish(event).await {
        tracing::warn!(error = %e, video_id = %event.video_id, seq = event.seq, "bus publish failed");
    }
}

/// After a user's cancel committed (and was published): wake the webhook worker, and tell the
/// provider to cancel or delete the job, waiting at most a moment for it.
pub async fn after_cancel(state: &TaskContext, task: &Task, event: &TaskEvent) {
    task_finished(task, event);
    state.video.webhooks.wake(task, event);
    cancel_at_provider(state, task, PROVIDER_CANCEL_WAIT).await;
}

/// Best effort: asks the task's provider (as configured on this node) to cancel its job.
pub async fn cancel_at_provider(state: &TaskContext, task: &Task, wait: Duration) {
    if let Some(provider) = state.video.providers.get(&task.provider) {
        cancel_job(provider.as_ref(), task, wait).await;
    }
}

/// Best effort: asks `provider` to cancel the task's job, if it has one, waiting at most `wait`.
pub async fn cancel_job(provider: &dyn Provider, task: &Task, wait: Duration) {
    let Some(ext) = task.external_id.as_deref() else {
        return;
    };
    let call = crate::ops::metrics::provider_call(&task.provider, "cancel", provider.cancel(ext));
    match tokio::time::timeout(wait, call).await {
        Ok(Ok(())) => tracing::debug!(video_id = %task.id, "provider job cancelled"),
        Ok(Err(e)) => tracing::info!(video_id = %task.id, error = %e, "provider could not cancel"),
        Err(_) => tracing::info!(video_id = %task.id, "provider cancel timed out"),
    }
}

/// Records a terminal event's task duration (creation to the terminal commit).
fn task_finished(task: &Task, event: &TaskEvent) {
    if event.event_type.is_terminal() {
        let secs = (event.created_at - task.created_at) as f64 / 1000.0;
        crate::ops::metrics::task_finished(task.status.as_str(), secs);
    }
}

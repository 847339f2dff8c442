//! Settling a task at once when its provider says it changed (a signed provider webhook or a
//! per-task callback), through the poller's own path: the task's lease is taken like a
//! poll's, the provider is asked for the job's status (a callback's body is never trusted
//! for the outcome), and the change is applied in one transaction and published. A callback
//! that finds the task leased (a poll is driving it right now) leaves it to that poll, so
//! the two never both apply, and credits are charged or refunded once.

use super::context::TaskContext;
use super::drive::Driver;
use crate::domain::time::now_ms;
use crate::domain::TaskStatus;
use crate::store::{StoreError, Task};

/// What [`settle_now`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The status was fetched and applied; the task's status now.
    Applied(TaskStatus),
    /// Another node (or a poll) holds the task's lease; it will apply the change.
    Busy,
    /// The task had already ended.
    Ended(TaskStatus),
}

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// The provider or the store failed; the task is polled again later.
    #[error("the task could not be settled now; it will be polled again")]
    Retry,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Takes `task`'s lease and drives it one step now (fetch status, apply, publish).
pub async fn settle_now(ctx: &TaskContext, task: &Task) -> Result<Settled, SettleError> {
    if task.status.is_terminal() {
        return Ok(Settled::Ended(task.status));
    }
    let node = format!("callback-{}", uuid::Uuid::new_v4());
    let now = now_ms();
    let lease_ms = ctx.settings.poller.lease_ms.max(1) as i64;
    let store = &ctx.store;
    let Some(claimed) = store
        .claim_task(&task.id, &node, now, now + lease_ms)
        .await?
    else {
        let now = store.get_task(&task.id).await?;
        return Ok(match now.status.is_terminal() {
            true => Settled::Ended(now.status),
            false => Settled::Busy,
        });
    };
    let driver = Driver::new(ctx.clone(), ctx.video.providers.clone(), node);
    let step = driver.step(claimed).await;
    if step.error {
        return Err(SettleError::Retry);
    }
    Ok(Settled::Applied(store.get_task(&task.id).await?.status))
}

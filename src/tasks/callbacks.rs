//! Settling a task at once when its provider says it changed (a signed provider webhook or a
//! per-task callback), through the poller's own path: the task's lease is taken like a
//! poll's, the provider is asked for the job's status (a callback's body is never trusted
//! for the outcome), and the change is applied in one transaction and published. A callback
//! that finds the task leased (a poll is driving it right now) leaves it to that poll, so
//! the two never both apply, and credits are charged or refunded once.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::context::TaskContext;
use super::drive::{Driver, StepError};
use crate::domain::time::now_ms;
use crate::domain::TaskStatus;
use crate::ops::metrics::provider_call;
use crate::providers::{CreateJob, JobStatus, Provider};
use crate::store::{StoreError, Task};

/// Where per-task callbacks arrive, below the public URL (`{base}{CALLBACK_PATH}/{token}`).
pub const CALLBACK_PATH: &str = "/api/providers/callback";

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

/// The stored form of a callback token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Submits `task` to `provider` (under `node`'s lease): through the remix endpoint for a
/// remix (`source`: the remixed job), with a fresh per-task callback URL for a provider
/// that calls back (256 random bits; only the hash is stored), else a plain create.
pub(super) async fn submit(
    ctx: &TaskContext,
    node: &str,
    provider: &Arc<dyn Provider>,
    task: &Task,
    job: &CreateJob,
    source: Option<&str>,
) -> Result<JobStatus, StepError> {
    let name = task.provider.as_str();
    if let Some(source) = source {
        let call = provider_call(name, "remix", provider.remix(source, job));
        return call.await.map_err(super::inputs::remix_error);
    }
    let Some(base) = provider.callback_base() else {
        return Ok(provider_call(name, "create", provider.create(job)).await?);
    };
    let token = hex::encode(rand::random::<[u8; 32]>());
    if !ctx
        .store
        .set_callback_hash(&task.id, node, &token_hash(&token))
        .await?
    {
        return Err(StepError::LeaseLost);
    }
    let url = format!("{base}{CALLBACK_PATH}/{token}");
    let call = provider.create_with_callback(job, &url);
    Ok(provider_call(name, "create", call).await?)
}

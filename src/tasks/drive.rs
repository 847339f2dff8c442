//! One step of one claimed task: submit it, or ask the provider how it is doing; turn the
//! answer into a `TaskChange`; write it (row + event, one transaction) and publish after
//! commit; schedule the next poll and release the lease.
//!
//! The lease must outlast every provider call made under it, so before each call the lease is
//! extended when what is left of it is shorter than the call's worst case (`Lease::ensure`);
//! if it was lost meanwhile the step stops without writing.

use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use tracing::Instrument;

use super::context::TaskContext;
use super::services::{announce, cancel_job};
use crate::domain::lifecycle::{TaskChange, TaskError, TaskResult, TaskStatus};
use crate::domain::time::now_ms;
use crate::media::{MediaStore, SaveError};
use crate::providers::{JobState, JobStatus, Provider, ProviderError, Providers, Variant};
use crate::store::{StoreError, Task};

/// Extra lease kept beyond a call's worst case.
const LEASE_MARGIN_MS: i64 = 2_000;
/// Shortest wait between two polls of a task, whatever a provider hints.
const MIN_INTERVAL_MS: u64 = 50;

pub(super) struct Driver {
    pub(super) state: TaskContext,
    pub(super) providers: Providers,
    pub(super) node_id: String,
}

/// What one step did.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct StepOutcome {
    pub events: usize,
    pub error: bool,
}

pub(super) enum StepError {
    Provider(ProviderError),
    /// The task fails with this error.
    Fail(TaskError),
    LeaseLost,
    Store(StoreError),
}

impl From<ProviderError> for StepError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Rejected { message, .. } => StepError::Fail(TaskError {
                code: "providerRejected".into(),
                message,
            }),
            other => StepError::Provider(other),
        }
    }
}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        StepError::Store(e)
    }
}

/// What to do after a step that did not end the task.
struct Next {
    hint_ms: Option<u64>,
    expires_at: Option<i64>,
}

struct Lease<'a> {
    driver: &'a Driver,
    id: String,
    until: i64,
}

impl Lease<'_> {
    /// Makes sure the lease lasts at least `needed_ms` more.
    async fn ensure(&mut self, needed_ms: u64) -> Result<(), StepError> {
        let now = now_ms();
        let needed = needed_ms as i64 + LEASE_MARGIN_MS;
        if self.until - now >= needed {
            return Ok(());
        }
        let until = now + needed.max(self.driver.state.settings.poller.lease_ms as i64);
        let store = &self.driver.state.store;
        if !store
            .extend_lease(&self.id, &self.driver.node_id, until)
            .await?
        {
            return Err(StepError::LeaseLost);
        }
        self.until = until;
        Ok(())
    }
}

fn fail(code: &str, message: impl Into<String>) -> TaskChange {
    TaskChange {
        status: Some(TaskStatus::Failed),
        message: Some("failed".into()),
        error: Some(TaskError {
            code: code.into(),
            message: message.into(),
        }),
        ..Default::default()
    }
}

impl Driver {
    pub(super) fn new(state: TaskContext, providers: Providers, node_id: String) -> Self {
        Self {
            state,
            providers,
            node_id,
        }
    }

    /// Drives `task` one step; errors are logged and turned into a later retry.
    pub(super) async fn step(&self, task: Task) -> StepOutcome {
        let mut out = StepOutcome::default();
        // Every log line of the step, the provider client's included, names the task.
        let span = tracing::info_span!("task", video_id = %task.id);
        let result = self.try_step(&task, &mut out).instrument(span).await;
        let now = now_ms();
        let retry_in = match result {
            Ok(None) => return out,
            Ok(Some(next)) => {
                let due = now + self.interval(next.hint_ms, now - task.created_at) as i64;
                self.release(&task, due, next.expires_at).await;
                return out;
            }
            Err(StepError::Fail(error)) => {
                let change = fail(&error.code, error.message);
                if let Err(e) = self.write(&task, &change, &mut out).await {
                    tracing::warn!(video_id = %task.id, error = %e, "could not record the failure");
                    out.error = true;
                }
                return out;
            }
            Err(StepError::LeaseLost) => {
                crate::ops::metrics::get().leases_lost.increment(1);
                tracing::info!(video_id = %task.id, node = %self.node_id, "lease lost; another node has the task");
                return out;
            }
            Err(StepError::Provider(e)) => {
                tracing::info!(video_id = %task.id, error = %e, "provider call failed; will retry");
                match e {
                    ProviderError::Transient { retry_after_ms, .. } => retry_after_ms,
                    _ => None,
                }
            }
            Err(StepError::Store(e)) => {
                tracing::warn!(video_id = %task.id, error = %e, "store error while driving a task");
                None
            }
        };
        out.error = true;
        crate::ops::metrics::get().poller_step_errors.increment(1);
        let wait = retry_in
            .unwrap_or(0)
            .max(self.interval(None, now - task.created_at));
        self.release(&task, now + wait as i64, None).await;
        out
    }

    async fn release(&self, task: &Task, due: i64, expires_at: Option<i64>) {
        let store = &self.state.store;
        if let Err(e) = store
            .release_task(&task.id, &self.node_id, due, expires_at)
            .await
        {
            tracing::warn!(video_id = %task.id, error = %e, "could not release a lease; it will expire");
        }
    }

    /// `Ok(None)`: the task ended (or was gone). `Ok(Some)`: poll it again later.
    async fn try_step(
        &self,
        task: &Task,
        out: &mut StepOutcome,
    ) -> Result<Option<Next>, StepError> {
        crate::ops::metrics::get().poller_steps.increment(1);
        let Some(provider) = self.providers.get(&task.provider) else {
            return Err(StepError::Fail(TaskError {
                code: "providerUnavailable".into(),
                message: format!("provider '{}' is not configured", task.provider),
            }));
        };
        let mut lease = Lease {
            driver: self,
            id: task.id.clone(),
            until: task.lease_until.unwrap_or(0),
        };
        let deadline = self.state.settings.poller.task_deadline_secs;
        if now_ms() - task.created_at > deadline.saturating_mul(1000) as i64 {
            let change = fail(
                "timeout",
                format!("the provider did not finish the video within {deadline} s"),
            );
            let ended = self.write(task, &change, out).await?;
            if let Some(t) = ended {
                cancel_job(provider.as_ref(), &t, Duration::from_secs(5)).await;
            }
            return Ok(None);
        }
        let status = match &task.external_id {
            None => {
                let job = super::inputs::job(&self.state, task).await?;
                let source = super::inputs::remix_source(&self.state, task).await?;
                lease.ensure(provider.max_call_ms()).await?;
                let (ctx, node) = (&self.state, &self.node_id);
                let status =
                    super::callbacks::submit(ctx, node, &provider, task, &job, source.as_deref())
                        .await?;
                tracing::debug!(video_id = %task.id, external_id = %status.external_id, "submitted");
                status
            }
            Some(ext) => {
                lease.ensure(provider.max_call_ms()).await?;
                let call = provider.status(ext);
                crate::ops::metrics::provider_call(&task.provider, "status", call).await?
            }
        };
        self.apply_status(task, &provider, status, &mut lease, out)
            .await
    }

    /// Turns a provider answer into a change, writes it, and says what comes next.
    async fn apply_status(
        &self,
        task: &Task,
        provider: &Arc<dyn Provider>,
        status: JobStatus,
        lease: &mut Lease<'_>,
        out: &mut StepOutcome,
    ) -> Result<Option<Next>, StepError> {
        let mut change = TaskChange {
            external_id: Some(status.external_id.clone()),
            ..Default::default()
        };
        match status.state {
            JobState::Queued => change.message = Some("queued at the provider".into()),
            JobState::Running => {
                change.status = Some(TaskStatus::Processing);
                change.progress = status.progress;
                change.message = Some("generating".into());
            }
            JobState::Failed => {
                let error = status.error.clone().unwrap_or_default();
                change = TaskChange {
                    external_id: change.external_id,
                    ..fail(&error.code, error.message)
                };
            }
            JobState::Completed => {
                let result = self.result(task, provider, &status, lease).await?;
                change.status = Some(TaskStatus::Completed);
                change.message = Some("completed".into());
                change.result = Some(result);
            }
        }
        if task.external_id.is_none() && status.state == JobState::Queued {
            change.message = Some("submitted to the provider".into());
        }
        let written = self.write(task, &change, out).await;
        if task.external_id.is_none() && matches!(written, Ok(None)) {
            // The task ended while we were submitting it (a user cancelled): don't leave
            // a job running at the provider.
            let mut ended = task.clone();
            ended.external_id = Some(status.external_id.clone());
            cancel_job(provider.as_ref(), &ended, Duration::from_secs(5)).await;
        }
        let terminal = matches!(status.state, JobState::Completed | JobState::Failed);
        match written? {
            Some(t) if t.status().is_terminal() => Ok(None),
            None if terminal => Ok(None),
            _ => Ok(Some(Next {
                hint_ms: status.poll_after_ms,
                expires_at: status.expires_at,
            })),
        }
    }

    /// Writes `change` (row + event) and publishes after commit. The new row, or `None`
    /// when nothing changed.
    async fn write(
        &self,
        task: &Task,
        change: &TaskChange,
        out: &mut StepOutcome,
    ) -> Result<Option<Task>, StoreError> {
        match self.state.store.apply_change(&task.id, change).await {
            Ok(Some((task, event))) => {
                out.events += 1;
                crate::ops::metrics::get().poller_events.increment(1);
                announce(&self.state, &task, &event).await;
                Ok(Some(task))
            }
            Ok(None) => Ok(None),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The finished video's result: copied into media storage (before the provider's
    /// `expires_at`), or the provider's own URLs when copying is off.
    async fn result(
        &self,
        task: &Task,
        provider: &Arc<dyn Provider>,
        status: &JobStatus,
        lease: &mut Lease<'_>,
    ) -> Result<TaskResult, StepError> {
        let ext = &status.external_id;
        let (video_url, thumbnail_url) = if self.state.settings.media_copy {
            lease
                .ensure(provider.max_download_ms().saturating_mul(2))
                .await?;
            // The media keys are stored; URLs are signed when the task is read.
            let video = self.copy(task, provider, status, Variant::Video).await?;
            let thumb = self
                .copy(task, provider, status, Variant::Thumbnail)
                .await
                .ok();
            (video, thumb)
        } else {
            let url = provider.content_url(ext, Variant::Video).ok_or_else(|| {
                StepError::Fail(TaskError {
                    code: "contentUnavailable".into(),
                    message: "the provider offers no content URL and media copying is off".into(),
                })
            })?;
            (url, provider.content_url(ext, Variant::Thumbnail))
        };
        Ok(TaskResult {
            video_url,
            thumbnail_url,
            duration: status.seconds.or(Some(task.seconds)),
            resolution: status.size.clone().or_else(|| Some(task.size.clone())),
        })
    }

    /// Downloads one variant into media storage; returns the file name.
    async fn copy(
        &self,
        task: &Task,
        provider: &Arc<dyn Provider>,
        status: &JobStatus,
        variant: Variant,
    ) -> Result<String, StepError> {
        let expired = status
            .expires_at
            .or(task.provider_expires_at)
            .is_some_and(|at| at <= now_ms());
        let call = provider.download(&status.external_id, variant);
        let result =
            match crate::ops::metrics::provider_call(&task.provider, "download", call).await {
                Ok(download) => {
                    let file =
                        MediaStore::file_name(&task.id, variant, download.content_type.as_deref());
                    match self.state.video.media.save(&file, download).await {
                        Ok(bytes) => {
                            tracing::debug!(video_id = %task.id, file, bytes, "media copied");
                            return Ok(file);
                        }
                        Err(SaveError::TooLarge(max)) => Err(StepError::Fail(TaskError {
                            code: "contentTooLarge".into(),
                            message: format!(
                                "the provider's {} is larger than {max} bytes",
                                variant.as_str()
                            ),
                        })),
                        Err(SaveError::Failed(m)) => {
                            Err(StepError::Provider(ProviderError::transient(m)))
                        }
                    }
                }
                Err(e) => Err(StepError::from(e)),
            };
        match result {
            Err(StepError::Fail(mut e)) => {
                e.code = "contentUnavailable".into();
                Err(StepError::Fail(e))
            }
            Err(StepError::Provider(e)) if expired => Err(StepError::Fail(TaskError {
                code: "contentExpired".into(),
                message: format!("the provider deleted the video before it could be copied ({e})"),
            })),
            other => other,
        }
    }

    /// When to poll next: the provider's hint if it gave one, else the base interval,
    /// doubled after two minutes and quadrupled after ten, with ±10 % jitter so tasks
    /// created together spread out.
    fn interval(&self, hint_ms: Option<u64>, age_ms: i64) -> u64 {
        let s = &self.state.settings.poller;
        let max = s.poll_max_interval_ms.max(MIN_INTERVAL_MS);
        if let Some(h) = hint_ms {
            return h.clamp(MIN_INTERVAL_MS, max);
        }
        let factor = match age_ms {
            a if a < 120_000 => 1,
            a if a < 600_000 => 2,
            _ => 4,
        };
        let base = s.poll_interval_ms.saturating_mul(factor).min(max);
        (base as f64 * rand::rng().random_range(0.9..=1.1)) as u64
    }
}

//! The task use cases: create, cancel, retry, remix, delete. Each checks what it must (plan,
//! balance, ownership, state), writes in one store transaction (the task, its charge or
//! refund, its event), then announces the event. Routes parse and shape; they call these.

use super::context::TaskContext;
use super::idempotency::{self, Created};
use super::services::{after_cancel, publish};
use super::uploads::{self, ImageData};
use crate::auth::AuthUser;
use crate::domain::time::now_ms;
use crate::domain::{TaskChange, TaskStatus};
use crate::error::{ApiError, ApiResult};
use crate::store::{Keyed, NewTask, StoreError, Task};

/// A validated creation request.
#[derive(Debug, Clone)]
pub struct TaskInput {
    pub prompt: String,
    pub model: String,
    pub seconds: i64,
    pub size: String,
    pub quality: String,
    pub webhook_url: Option<String>,
    pub reference_image_url: Option<String>,
    /// The uploaded image, not stored yet (stored after the checks, by `create`).
    pub image: Option<ImageData>,
}

impl TaskInput {
    pub fn kind(&self) -> &'static str {
        if self.image.is_some() || self.reference_image_url.is_some() {
            "imageToVideo"
        } else {
            "textToVideo"
        }
    }
}

/// The answer when the key has a task already: that task for the same request, else 422.
fn already_made(found: Keyed) -> ApiResult<Created> {
    match found {
        Keyed::Repeated(task) => Ok(Created {
            task,
            repeated: true,
        }),
        _ => Err(idempotency::reused()),
    }
}

/// A missing task and someone else's task look the same.
fn not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found("task"),
        other => other.into(),
    }
}

impl TaskContext {
    /// The user's task (someone else's is 404, like a missing one).
    pub async fn user_task(&self, user: &AuthUser, video_id: &str) -> ApiResult<Task> {
        self.store
            .get_user_task(&user.id, video_id)
            .await
            .map_err(not_found)
    }

    /// Checks the plan (allowed, active, not expired) and the balance; only then fetches a
    /// `referenceImageUrl` (422 when it fails), fits the image to the video size and stores
    /// it; then stores the task,
    /// its charge and its `taskCreated` event in one transaction (402 when credits are
    /// short), then publishes. A stored image is removed again if the task is not created.
    pub async fn create(
        &self,
        user: &AuthUser,
        input: TaskInput,
        retry_of: Option<String>,
    ) -> ApiResult<Task> {
        Ok(self.create_keyed(user, input, retry_of, None).await?.task)
    }

    /// [`TaskContext::create`] under the client's `Idempotency-Key` (see
    /// [`super::idempotency`]): a repeat of a request already served returns its task before
    /// any check or charge (the balance it left may no longer cover a second one).
    pub async fn create_keyed(
        &self,
        user: &AuthUser,
        input: TaskInput,
        retry_of: Option<String>,
        key: Option<String>,
    ) -> ApiResult<Created> {
        let key = key.map(|k| idempotency::key_for(k, &input, retry_of.as_deref()));
        if let Some(key) = &key {
            if let Some(found) = self.store.task_by_idempotency_key(&user.id, key).await? {
                return already_made(found);
            }
        }
        let kind = input.kind();
        let price = self.settings.billing.task_price(kind, &input.quality);
        self.check_can_pay(user, price).await?;
        let image = match (input.image, &input.reference_image_url) {
            (Some(image), _) => Some(image),
            (None, Some(url)) => Some(uploads::fetch_reference(self, url).await?),
            (None, None) => None,
        };
        let image = match image {
            Some(image) => Some(self.fit_image(image, &input.size).await?),
            None => None,
        };
        let input_image = match &image {
            Some(image) => Some(uploads::save(&self.settings, image).await?),
            None => None,
        };
        let new = NewTask {
            user_id: user.id.clone(),
            provider: self.settings.provider.to_string(),
            kind: kind.to_string(),
            model: input.model,
            prompt: input.prompt,
            seconds: input.seconds,
            size: input.size,
            quality: input.quality,
            reference_image_url: input.reference_image_url,
            input_image: input_image.clone(),
            webhook_url: input.webhook_url,
            retry_of,
            price,
        };
        let created = match &key {
            Some(key) => self.store.create_task_keyed(new, key).await,
            None => self
                .store
                .create_task(new)
                .await
                .map(|(t, e)| Keyed::Created(t, e)),
        };
        let outcome = match created {
            Ok(Keyed::Created(task, event)) => {
                publish(self, &event).await;
                return Ok(Created {
                    task,
                    repeated: false,
                });
            }
            // The same key's first request committed while this one was being prepared.
            Ok(found) => already_made(found),
            Err(e) => Err(e.into()),
        };
        if let Some(rel) = &input_image {
            uploads::remove(&self.settings, rel).await;
        }
        outcome
    }

    /// `image` resized and center-cropped to the video `size` when its size differs (or a
    /// GIF made a PNG); 422 on `image` when it is too large or cannot be decoded.
    async fn fit_image(&self, image: ImageData, size: &str) -> ApiResult<ImageData> {
        let u = &self.settings.uploads;
        let limits = crate::media::fit::FitLimits {
            max_pixels: u.upload_max_pixels,
            concurrency: u.upload_fit_concurrency,
        };
        match crate::media::fit::fit(image.bytes.clone(), image.ext, size, limits).await {
            Ok(None) => Ok(image),
            Ok(Some((bytes, ext))) => Ok(ImageData { bytes, ext }),
            Err(e) => Err(ApiError::field("image", e.to_string())),
        }
    }

    /// The plan allows generating (allowed, active, not expired) and the balance covers
    /// `price` (402 otherwise).
    async fn check_can_pay(&self, user: &AuthUser, price: i64) -> ApiResult<()> {
        let sub = self
            .store
            .get_subscription(&user.id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ApiError::Unauthorized("user no longer exists".into()),
                other => other.into(),
            })?;
        crate::billing::plans::check_can_generate(&self.settings.billing, &sub, now_ms())?;
        if price > 0 {
            let available = self.store.live_credits(&user.id).await?;
            if available < price {
                return Err(StoreError::InsufficientCredits {
                    required: price,
                    available,
                }
                .into());
            }
        }
        Ok(())
    }

    /// A new task (kind `remix`) that remixes a completed task with `prompt` at the same
    /// provider, charged like a new task with the source's parameters (an image-to-video
    /// source's price for an image-to-video one). 409 unless the source is completed and has
    /// a provider job.
    pub async fn remix(&self, user: &AuthUser, video_id: &str, prompt: String) -> ApiResult<Task> {
        let source = self.user_task(user, video_id).await?;
        if source.status != TaskStatus::Completed || source.external_id.is_none() {
            return Err(ApiError::ConflictCode(
                "notRemixable",
                format!(
                    "only completed videos can be remixed; this one is {}",
                    source.status
                ),
            ));
        }
        let price = self
            .settings
            .billing
            .task_price(&source.kind, &source.quality);
        self.check_can_pay(user, price).await?;
        let new = NewTask {
            user_id: user.id.clone(),
            provider: source.provider.clone(),
            kind: "remix".into(),
            model: source.model,
            prompt,
            seconds: source.seconds,
            size: source.size,
            quality: source.quality,
            reference_image_url: None,
            input_image: None,
            webhook_url: source.webhook_url,
            retry_of: None,
            price,
        };
        let store = &self.store;
        let (task, event) = store.create_task_remixing(new, Some(&source.id)).await?;
        publish(self, &event).await;
        Ok(task)
    }

    /// Cancels an open task (its credits come back in the same transaction), announces it,
    /// and tells the provider. A finished task is 409.
    pub async fn cancel(&self, user: &AuthUser, video_id: &str) -> ApiResult<Task> {
        let task = self.user_task(user, video_id).await?;
        let change = TaskChange {
            status: Some(TaskStatus::Cancelled),
            message: Some("cancelled by user".into()),
            ..Default::default()
        };
        let Some((task, event)) = self.store.apply_change(&task.id, &change).await? else {
            return Err(ApiError::Conflict(format!(
                "task is already {}",
                task.status
            )));
        };
        publish(self, &event).await;
        after_cancel(self, &task, &event).await;
        Ok(task)
    }

    /// A new task with the failed task's parameters (and its own copy of the image).
    pub async fn retry(&self, user: &AuthUser, video_id: &str) -> ApiResult<Task> {
        Ok(self.retry_keyed(user, video_id, None).await?.task)
    }

    /// [`TaskContext::retry`] under the client's `Idempotency-Key` (see
    /// [`super::idempotency`]; the retried task is part of the request).
    pub async fn retry_keyed(
        &self,
        user: &AuthUser,
        video_id: &str,
        key: Option<String>,
    ) -> ApiResult<Created> {
        let old = self.user_task(user, video_id).await?;
        if old.status != TaskStatus::Failed {
            return Err(ApiError::Conflict(format!(
                "only failed tasks can be retried; this one is {}",
                old.status
            )));
        }
        let image = match &old.input_image {
            Some(rel) => Some(uploads::read(&self.settings, rel).await.ok_or_else(|| {
                ApiError::Conflict(
                    "the task's image is no longer available; create a new task".into(),
                )
            })?),
            None => None,
        };
        let input = TaskInput {
            prompt: old.prompt,
            model: old.model,
            seconds: old.seconds,
            size: old.size,
            quality: old.quality,
            webhook_url: old.webhook_url,
            reference_image_url: old.reference_image_url,
            image,
        };
        self.create_keyed(user, input, Some(old.id), key).await
    }

    /// Deletes a finished task, its events, its media and its upload (an open one is 409).
    pub async fn delete(&self, user: &AuthUser, video_id: &str) -> ApiResult<()> {
        let upload = self
            .store
            .delete_user_task(&user.id, video_id)
            .await
            .map_err(not_found)?;
        self.video.media.remove_task(video_id).await;
        if let Some(rel) = upload {
            uploads::remove(&self.settings, &rel).await;
        }
        Ok(())
    }
}

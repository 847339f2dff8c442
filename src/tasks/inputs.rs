//! What a task sends its provider: its parameters and, for image-to-video, the reference
//! image read from the store (`tasks::uploads`). A `referenceImageUrl` was fetched and stored when the task
//! was created (`tasks::uploads`), so a poller slot never waits on a user's URL. A remix
//! sends the job id of the task it remixes.

use super::context::TaskContext;
use super::drive::StepError;
use crate::domain::lifecycle::TaskError;
use crate::media::storage::StorageError;
use crate::providers::{CreateJob, InputImage, ProviderError};
use crate::store::Task;

/// What to send the provider: the task's parameters and, for image-to-video, the stored
/// image (uploaded, or fetched from `referenceImageUrl` at creation).
pub(super) async fn job(state: &TaskContext, task: &Task) -> Result<CreateJob, StepError> {
    let input_reference =
        match (&task.input_image, &task.reference_image_url) {
            (Some(rel), _) => Some(uploaded_image(state, rel).await?),
            // A task stored before reference images were fetched at creation: its URL is never
            // fetched from a poller slot; a retry fetches it at creation.
            (None, Some(_)) => return Err(StepError::Fail(TaskError {
                code: "referenceImageUnavailable".into(),
                message:
                    "the reference image was not fetched when the task was created; retry the task"
                        .into(),
            })),
            (None, None) => None,
        };
    Ok(CreateJob {
        model: task.model.clone(),
        prompt: task.prompt.clone(),
        seconds: task.seconds,
        size: task.size.clone(),
        input_reference,
    })
}

/// For a remix task, the provider job id of the task it remixes.
pub(super) async fn remix_source(
    state: &TaskContext,
    task: &Task,
) -> Result<Option<String>, StepError> {
    let Some(source) = &task.remix_of else {
        return Ok(None);
    };
    let gone = || {
        StepError::Fail(TaskError {
            code: "remixSourceUnavailable".into(),
            message: "the task to remix is gone or has no provider job".into(),
        })
    };
    match state.store.get_task(source).await {
        Ok(t) => t.external_id.map(Some).ok_or_else(gone),
        Err(crate::store::StoreError::NotFound) => Err(gone()),
        Err(e) => Err(StepError::Store(e)),
    }
}

/// A provider without a remix endpoint fails the task rather than retrying forever.
pub(super) fn remix_error(e: ProviderError) -> StepError {
    match e {
        ProviderError::Unsupported => StepError::Fail(TaskError {
            code: "remixUnsupported".into(),
            message: "this task's provider cannot remix videos".into(),
        }),
        other => other.into(),
    }
}

async fn uploaded_image(state: &TaskContext, rel: &str) -> Result<InputImage, StepError> {
    let invalid = |m: String| {
        StepError::Fail(TaskError {
            code: "invalidInput".into(),
            message: m,
        })
    };
    if !super::uploads::is_upload_path(rel) {
        return Err(invalid("the uploaded image path is invalid".into()));
    }
    // Gone: the task fails. The store unreachable: retried like a provider hiccup.
    let bytes = match state.settings.storage.read(rel).await {
        Ok(bytes) => bytes,
        Err(StorageError::NotFound) => {
            return Err(invalid("the uploaded image is no longer available".into()))
        }
        Err(e) => {
            tracing::warn!(path = rel, error = %e, "uploaded image unreadable");
            return Err(StepError::Provider(ProviderError::transient(e.to_string())));
        }
    };
    let ext = rel.rsplit('.').next().unwrap_or("");
    let mime = match ext {
        "png" => "image/png",
        "webp" => "image/webp",
        _ => "image/jpeg",
    };
    Ok(InputImage {
        bytes,
        file_name: format!("reference.{ext}"),
        mime: mime.into(),
    })
}

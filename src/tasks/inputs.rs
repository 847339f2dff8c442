//! What a task sends its provider: its parameters and, for image-to-video, the reference
//! image (an upload under the data dir, or fetched from `referenceImageUrl` through the
//! guarded outbound client, size- and type-checked).

use std::time::Duration;

use super::drive::StepError;
use super::lifecycle::TaskError;
use crate::providers::{CreateJob, InputImage, ProviderError};
use crate::state::AppState;
use crate::store::Task;

/// What to send the provider: the task's parameters and, for image-to-video, the
/// uploaded image or the one at `referenceImageUrl`.
pub(super) async fn job(state: &AppState, task: &Task) -> Result<CreateJob, StepError> {
    let input_reference = match (&task.input_image, &task.reference_image_url) {
        (Some(rel), _) => Some(uploaded_image(state, rel).await?),
        (None, Some(url)) => Some(fetch_image(state, url).await?),
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

async fn uploaded_image(state: &AppState, rel: &str) -> Result<InputImage, StepError> {
    let invalid = |m: String| {
        StepError::Fail(TaskError {
            code: "invalidInput".into(),
            message: m,
        })
    };
    if rel.contains("..") || rel.starts_with('/') {
        return Err(invalid("the uploaded image path is invalid".into()));
    }
    let path = state.settings.data_dir.join(rel);
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        tracing::warn!(path = %path.display(), error = %e, "uploaded image unreadable");
        invalid("the uploaded image is no longer available".into())
    })?;
    let ext = rel.rsplit('.').next().unwrap_or("");
    let mime = match ext {
        "png" => "image/png",
        "webp" => "image/webp",
        _ => "image/jpeg",
    };
    Ok(InputImage {
        bytes: bytes.into(),
        file_name: format!("reference.{ext}"),
        mime: mime.into(),
    })
}

/// Fetches a reference image by URL (guarded against private addresses, size-limited).
async fn fetch_image(state: &AppState, url: &str) -> Result<InputImage, StepError> {
    let unavailable = |m: String| {
        StepError::Fail(TaskError {
            code: "referenceImageUnavailable".into(),
            message: m,
        })
    };
    let settings = &state.settings;
    let client = state.video.outbound.client_for(url).map_err(unavailable)?;
    let timeout = Duration::from_millis(settings.poller.provider_timeout_ms.max(1));
    let mut resp = client.get(url).timeout(timeout).send().await.map_err(|e| {
        StepError::Provider(ProviderError::transient(format!("reference image: {e}")))
    })?;
    let status = resp.status();
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(StepError::Provider(ProviderError::transient(format!(
            "reference image: {status}"
        ))));
    }
    if !status.is_success() {
        return Err(unavailable(format!(
            "fetching the reference image answered {status}"
        )));
    }
    let mime = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let ext = match mime.as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpg",
        "image/webp" => "webp",
        _ => {
            return Err(unavailable(format!(
                "the reference image must be PNG, JPEG or WebP (got '{mime}')"
            )))
        }
    };
    let max = settings.max_upload_bytes;
    let mut bytes = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > max {
                    return Err(unavailable(format!(
                        "the reference image is larger than {max} bytes"
                    )));
                }
            }
            Ok(None) => break,
            Err(e) => {
                return Err(StepError::Provider(ProviderError::transient(format!(
                    "reference image: {e}"
                ))))
            }
        }
    }
    Ok(InputImage {
        bytes: bytes.into(),
        file_name: format!("reference.{ext}"),
        mime,
    })
}

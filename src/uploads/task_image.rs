//! An upload as a task's reference image: by id (`referenceImageUploadId`) or by the URL of
//! one of the user's own uploads (`referenceImageUrl`, then used without an HTTP fetch). The
//! bytes are read here; the task stores its own copy (fitted to the video size) at creation.

use super::Uploads;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::tasks::uploads::ImageData;
use crate::tasks::usecases::TaskInput;

const FIELD: &str = "referenceImageUploadId";

impl Uploads {
    /// The bytes of the user's image upload `upload_id`, for a task. 422 on
    /// `referenceImageUploadId` when it is not one of the user's uploads (someone else's
    /// looks missing) or not an image.
    pub async fn task_image(&self, user: &AuthUser, upload_id: &str) -> ApiResult<ImageData> {
        self.image_for(user, upload_id, FIELD).await
    }

    async fn image_for(
        &self,
        user: &AuthUser,
        upload_id: &str,
        field: &str,
    ) -> ApiResult<ImageData> {
        let row = match self.row(user, upload_id).await {
            Ok(row) => row,
            Err(ApiError::NotFound(_)) => {
                return Err(ApiError::field(field, "no such upload of yours"))
            }
            Err(e) => return Err(e),
        };
        let ext = row.storage_key.rsplit('.').next().unwrap_or("");
        let ext = match ext {
            "png" => "png",
            "jpg" => "jpg",
            "webp" => "webp",
            "gif" => "gif",
            _ => {
                return Err(ApiError::field(
                    field,
                    "must be an image upload, not a video",
                ))
            }
        };
        match self.media.storage().read(&row.storage_key).await {
            Ok(bytes) => Ok(ImageData { bytes, ext }),
            Err(crate::media::StorageError::NotFound) => {
                Err(ApiError::field(field, "the upload's file is gone"))
            }
            Err(e) => Err(ApiError::Internal(anyhow::Error::from(e))),
        }
    }

    /// Puts the image of `upload_id`, or of a `referenceImageUrl` naming one of the user's
    /// own uploads, into `input` (a task then fetches nothing). At most one image source:
    /// 422 when an upload id comes with a multipart image or a `referenceImageUrl`.
    pub async fn resolve_reference(
        &self,
        user: &AuthUser,
        input: &mut TaskInput,
        upload_id: Option<String>,
    ) -> ApiResult<()> {
        if let Some(id) = upload_id {
            if input.image.is_some() || input.reference_image_url.is_some() {
                return Err(ApiError::field(
                    FIELD,
                    "give one image: an upload id, a referenceImageUrl or an image part",
                ));
            }
            input.image = Some(self.task_image(user, &id).await?);
            return Ok(());
        }
        if input.image.is_some() {
            return Ok(());
        }
        let Some(url) = input.reference_image_url.clone() else {
            return Ok(());
        };
        if let Some(upload) = self.own_by_url(user, &url).await? {
            let image = self.image_for(user, &upload.upload_id, "referenceImageUrl");
            input.image = Some(image.await?);
        }
        Ok(())
    }
}

//! User uploads (`/api/uploads`): a stored upload, and what validating a file found.

use serde::Serialize;
use utoipa::ToSchema;

/// An uploaded file, stored and owned by the caller.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadView {
    /// `upl_<uuid>`: use it as a task's `referenceImageUploadId`.
    #[schema(
        pattern = r"^upl_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub upload_id: String,
    /// A signed, expiring URL of the file (read the upload again for a fresh one).
    pub url: String,
    /// Decided from the bytes (never from the name or the declared type).
    #[schema(pattern = "^(image/(jpeg|png|webp|gif)|video/(mp4|webm|quicktime))$")]
    pub content_type: String,
    pub bytes: u64,
    /// Images only (from the header).
    pub width: Option<u32>,
    pub height: Option<u32>,
    #[schema(pattern = "^(image|video)$")]
    pub kind: String,
    /// The file name as sent (its last component), for display only.
    pub filename: Option<String>,
    pub created_at: String,
}

/// A file that would be accepted (nothing is stored).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadValidView {
    /// Always `true` (an invalid file is an error answer).
    pub valid: bool,
    #[schema(pattern = "^(image/(jpeg|png|webp|gif)|video/(mp4|webm|quicktime))$")]
    pub content_type: String,
    pub bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    #[schema(pattern = "^(image|video)$")]
    pub kind: String,
}

/// `DELETE /api/uploads/{uploadId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadDeleted {
    pub upload_id: String,
    /// Always `true`.
    pub deleted: bool,
}

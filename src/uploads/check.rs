//! What uploaded bytes are, decided from the bytes alone (`infer`'s magic numbers), never
//! from a file name or a declared `Content-Type`; image dimensions from the header
//! (`imagesize`), without decoding; size bounds.

use super::{Checked, IncomingFile, Limits, UploadKind};
use crate::error::{ApiError, ApiResult};

/// The accepted types: MIME type as `infer` names it, our content type, extension, kind.
const ACCEPTED: &[(&str, &str, &str, UploadKind)] = &[
    ("image/jpeg", "image/jpeg", "jpg", UploadKind::Image),
    ("image/png", "image/png", "png", UploadKind::Image),
    ("image/webp", "image/webp", "webp", UploadKind::Image),
    ("image/gif", "image/gif", "gif", UploadKind::Image),
    ("video/mp4", "video/mp4", "mp4", UploadKind::Video),
    ("video/webm", "video/webm", "webm", UploadKind::Video),
    (
        "video/quicktime",
        "video/quicktime",
        "mov",
        UploadKind::Video,
    ),
];

pub(super) fn check(limits: &Limits, file: &IncomingFile) -> ApiResult<Checked> {
    let len = file.bytes.len() as u64;
    if len > limits.max_bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "the file is {len} bytes; at most {} are accepted",
            limits.max_bytes
        )));
    }
    if len < limits.min_bytes {
        return Err(ApiError::Unprocessable(
            "fileTooSmall",
            format!(
                "the file is {len} bytes; at least {} are needed",
                limits.min_bytes
            ),
        ));
    }
    let sniffed = infer::get(&file.bytes).map(|t| t.mime_type());
    let Some(&(_, content_type, ext, kind)) = ACCEPTED.iter().find(|a| Some(a.0) == sniffed) else {
        return Err(ApiError::UnsupportedMediaType(format!(
            "the file is {}; accepted: JPEG, PNG, WebP, GIF images and MP4, WebM, MOV videos",
            sniffed.unwrap_or("of an unknown type")
        )));
    };
    let (width, height) = match kind {
        UploadKind::Video => (None, None),
        UploadKind::Image => {
            let Some((w, h)) = crate::media::fit::dimensions(&file.bytes) else {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "the {content_type} file's header cannot be read"
                )));
            };
            if u64::from(w) * u64::from(h) > limits.max_pixels {
                return Err(ApiError::Unprocessable(
                    "imageTooLarge",
                    format!(
                        "the image is {w}x{h}; at most {} pixels are accepted",
                        limits.max_pixels
                    ),
                ));
            }
            (Some(w), Some(h))
        }
    };
    Ok(Checked {
        kind,
        content_type,
        ext,
        bytes: len,
        width,
        height,
    })
}

/// A file name as sent, for display only: its last path component, control characters
/// dropped, at most 255 characters; blank is `None`.
pub(super) fn sanitize_filename(raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = last.chars().filter(|c| !c.is_control()).take(255).collect();
    let clean = clean.trim().to_string();
    (!clean.is_empty() && clean != "." && clean != "..").then_some(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_only_shown() {
        assert_eq!(
            sanitize_filename(Some("../../etc/passwd")).as_deref(),
            Some("passwd")
        );
        assert_eq!(
            sanitize_filename(Some("C:\\x\\cat\u{0}.png")).as_deref(),
            Some("cat.png")
        );
        assert_eq!(sanitize_filename(Some("..")), None);
        assert_eq!(sanitize_filename(Some("  ")), None);
        assert_eq!(sanitize_filename(None), None);
    }
}

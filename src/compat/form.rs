//! The multipart upload forms of the adapted APIs (`file`, and a few text fields), read with
//! the same bounds as the native uploads route; each adapter words the refusals its way.

use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, StatusCode};

use crate::uploads::IncomingFile;

/// Multipart bodies may carry this much beyond the largest file (boundaries, headers).
pub const MULTIPART_OVERHEAD: usize = 64 * 1024;
/// Longest text field kept (the adapters' text fields are short words like `image`).
const MAX_TEXT_BYTES: usize = 256;

/// What a form held: its first `file` part and the text fields asked for.
pub struct Form {
    pub file: Option<IncomingFile>,
    /// `(name, value)` of each wanted text field sent (the first of each name).
    pub text: Vec<(String, String)>,
}

impl Form {
    pub fn text(&self, name: &str) -> Option<&str> {
        self.text
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a form could not be read.
#[derive(Debug)]
pub enum FormError {
    /// Not `multipart/form-data`.
    NotMultipart,
    /// Broken multipart (a bad boundary, part headers that cannot be parsed, a text field
    /// that is not UTF-8 or too long).
    Broken(String),
    /// The body is over the route's limit.
    TooLarge,
}

/// Reads `req` as a multipart form: the first part named `file`, the parts named in
/// `wanted` as text; any other part is skipped (as FastAPI ignores unknown form fields).
pub async fn read(req: Request, wanted: &[&str]) -> Result<Form, FormError> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        return Err(FormError::NotMultipart);
    }
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| FormError::Broken(e.body_text()))?;
    let mut form = Form {
        file: None,
        text: Vec::new(),
    };
    while let Some(field) = mp.next_field().await.map_err(broken)? {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" && form.file.is_none() {
            let filename = field.file_name().map(str::to_string);
            let bytes = field.bytes().await.map_err(broken)?;
            form.file = Some(IncomingFile { bytes, filename });
        } else if wanted.contains(&name.as_str()) && form.text(&name).is_none() {
            let value = field.bytes().await.map_err(broken)?;
            if value.len() > MAX_TEXT_BYTES {
                return Err(FormError::Broken(format!("{name} is too long")));
            }
            let value = String::from_utf8(value.to_vec())
                .map_err(|_| FormError::Broken(format!("{name} is not UTF-8 text")))?;
            form.text.push((name, value));
        }
    }
    Ok(form)
}

fn broken(e: MultipartError) -> FormError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        FormError::TooLarge
    } else {
        FormError::Broken(e.body_text())
    }
}

//! One error type for every REST handler, rendered as PROTOCOL §4's failure envelope.
//!
//! Internal failures are logged with their cause chain and answered with a generic
//! message: a client never sees SQL, paths or stack details.
//!
//! `error.requestId` is added on the way out by [`crate::http::request`], so envelopes built
//! outside this type (fallbacks, other layers) carry it too.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::store::StoreError;
use crate::wire::{ErrorBody, ErrorEnvelope};

/// A field name and what is wrong with it.
pub type FieldErrors = Vec<(String, String)>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("validation failed")]
    Validation(FieldErrors),
    #[error("{0}")]
    Unauthorized(String),
    /// 401 with a specific code (e.g. `invalidGoogleToken`).
    #[error("{1}")]
    Unauthenticated(&'static str, String),
    /// 403 with a specific code (e.g. `forbidden`, `subscriptionRequired`).
    #[error("{1}")]
    Forbidden(&'static str, String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422 with a specific code (e.g. `invalidReturnUrl`).
    #[error("{1}")]
    Unprocessable(&'static str, String),
    #[error("{0}")]
    InsufficientCredits(String),
    #[error("{0}")]
    RateLimited(String),
    /// 503 with a specific code (e.g. `unavailable`, `paymentsNotConfigured`).
    #[error("{1}")]
    Unavailable(&'static str, String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
    /// 408 `requestTimeout`: the request (its body) did not arrive in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// 409 with a specific code (e.g. `alreadySubscribed`).
    #[error("{1}")]
    ConflictCode(&'static str, String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![(field.to_string(), message.into())])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Unauthenticated(..) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(..) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(..) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InsufficientCredits(_) => StatusCode::PAYMENT_REQUIRED,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::ConflictCode(..) => StatusCode::CONFLICT,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "badRequest",
            Self::Validation(_) => "validationFailed",
            Self::Unauthorized(_) => "unauthorized",
            Self::Unauthenticated(code, _) => code,
            Self::Forbidden(code, _) => code,
            Self::NotFound(_) => "notFound",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payloadTooLarge",
            Self::UnsupportedMediaType(_) => "unsupportedMediaType",
            Self::Unprocessable(code, _) => code,
            Self::InsufficientCredits(_) => "insufficientCredits",
            Self::RateLimited(_) => "rateLimited",
            Self::Unavailable(code, _) => code,
            Self::Internal(_) => "internal",
            Self::RequestTimeout(_) => "requestTimeout",
            Self::ConflictCode(code, _) => code,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let error = match &self {
            Self::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                ErrorBody::new(self.code(), "internal server error")
            }
            Self::Validation(fields) => {
                let msg = fields
                    .iter()
                    .map(|(f, m)| format!("{f}: {m}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                ErrorBody {
                    fields: Some(fields.iter().cloned().collect()),
                    ..ErrorBody::new(self.code(), msg)
                }
            }
            other => ErrorBody::new(self.code(), other.to_string()),
        };
        let body = ErrorEnvelope {
            success: false,
            error,
        };
        let mut resp = (status, Json(body)).into_response();
        // Refusals for load say when to come back (the rate limiter sets its own figure).
        if matches!(self.code(), "rateLimited" | "busy") {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Invalid(m) => ApiError::BadRequest(m),
            StoreError::InsufficientCredits {
                required,
                available,
            } => ApiError::InsufficientCredits(format!(
                "insufficient credits: required {required}, available {available}"
            )),
            StoreError::Other(e) => ApiError::Internal(e),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::UnsupportedMediaType("expected Content-Type: application/json".into())
            }
            JsonRejection::JsonDataError(e) => {
                let text = e.body_text().replace(
                    "Failed to deserialize the JSON body into the target type: ",
                    "",
                );
                match unknown_field_name(&text) {
                    Some(name) => unknown_field(name),
                    None => ApiError::Validation(vec![("body".into(), text)]),
                }
            }
            JsonRejection::JsonSyntaxError(_) => ApiError::BadRequest("malformed JSON body".into()),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge("request body too large".into())
            }
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest(format!(
            "invalid query string: {}",
            r.body_text()
                .replace("Failed to deserialize query string: ", "")
        ))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadRequest(format!("invalid path: {}", r.body_text()))
    }
}

/// A 422 for a field the route does not know (structs with `deny_unknown_fields`): the field
/// is named, so a client learns its input was not taken as meant instead of being charged for
/// something else.
pub fn unknown_field(name: &str) -> ApiError {
    let name: String = name.chars().take(100).collect();
    ApiError::Validation(vec![(
        name.clone(),
        "unknown field; this route accepts only its documented fields".to_string(),
    )])
}

/// The field serde's `unknown field `x`, expected …` error names.
fn unknown_field_name(text: &str) -> Option<&str> {
    let rest = text.split_once("unknown field `")?.1;
    Some(rest.split_once('`')?.0)
}

/// The success envelope `{"success": true, "data": …}`.
pub fn ok<T: serde::Serialize>(data: T) -> Json<serde_json::Value> {
    Json(json!(crate::wire::Envelope::new(data)))
}

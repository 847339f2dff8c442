//! The error shape both adapted APIs share (FastAPI's): `{"detail": "message"}`, and for a
//! validation failure `{"detail": [{"loc": ["body", field], "msg": …, "type": …}]}` with 422.
//! Adapters return [`Detail`]; every native [`ApiError`] converts into it with its status,
//! so a refusal means the same thing on every API, only its shape differs. The extractors
//! here reject with the same shape.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::StoreError;
use crate::wire::ObjectBody;

/// An adapter's error: a status and a `detail` (a message, or FastAPI's list of field errors).
#[derive(Debug)]
pub struct Detail {
    pub status: StatusCode,
    pub detail: serde_json::Value,
    /// Kept for logging an internal error once, when the response is made.
    source: Option<ApiError>,
}

pub type DetailResult<T> = Result<T, Detail>;

impl Detail {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            detail: serde_json::Value::String(message.into()),
            source: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// A 422 naming one field, as FastAPI reports it (`loc` is `[where, field]`).
    pub fn field(place: &str, field: &str, msg: impl Into<String>, kind: &str) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: json!([{ "loc": [place, field], "msg": msg.into(), "type": kind }]),
            source: None,
        }
    }
}

impl From<ApiError> for Detail {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        let detail = match &e {
            ApiError::Validation(fields) => serde_json::Value::Array(
                fields
                    .iter()
                    .map(|(field, msg)| {
                        json!({ "loc": ["body", field], "msg": msg, "type": "value_error" })
                    })
                    .collect(),
            ),
            ApiError::Internal(_) => json!("Internal server error"),
            other => json!(other.to_string()),
        };
        Self {
            status,
            detail,
            source: Some(e),
        }
    }
}

impl From<StoreError> for Detail {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for Detail {
    fn into_response(self) -> Response {
        if let Some(ApiError::Internal(e)) = &self.source {
            tracing::error!(error = ?e, "internal error");
        }
        let retry = matches!(&self.source, Some(e) if matches!(e.code(), "rateLimited" | "busy"));
        let mut resp = (self.status, Json(json!({ "detail": self.detail }))).into_response();
        if retry {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// `Json<T>` rejected with a `Detail` (422 for a body that does not fit, as FastAPI does).
pub struct DJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for DJson<T> {
    type Rejection = Detail;
    async fn from_request(req: Request, state: &S) -> Result<Self, Detail> {
        match axum::Json::<ObjectBody<T>>::from_request(req, state).await {
            Ok(axum::Json(ObjectBody(v))) => Ok(DJson(v)),
            Err(r) => Err(missing_field(ApiError::from(r))),
        }
    }
}

/// serde's "missing field `x`" as FastAPI reports it: `loc` `["body", "x"]`, `msg`
/// "field required", `type` `value_error.missing`; any other body error as it is.
fn missing_field(e: ApiError) -> Detail {
    if let ApiError::Validation(fields) = &e {
        let name = fields.first().and_then(|(_, msg)| {
            let rest = msg.split("missing field `").nth(1)?;
            rest.split('`').next().map(str::to_string)
        });
        if let Some(name) = name {
            return Detail::field("body", &name, "field required", "value_error.missing");
        }
    }
    e.into()
}

/// `Query<T>` rejected with a `Detail` (422, as FastAPI does for a bad query parameter).
pub struct DQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for DQuery<T> {
    type Rejection = Detail;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Detail> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(DQuery(v)),
            Err(r) => Err(Detail {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                detail: json!([{ "loc": ["query"], "msg": r.body_text(), "type": "value_error" }]),
                source: None,
            }),
        }
    }
}

/// The signed-in caller (bearer token, or `X-API-Key` where keys are on), rejected with a
/// `Detail` 401.
pub struct DUser(pub AuthUser);

impl FromRequestParts<AppState> for DUser {
    type Rejection = Detail;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Detail> {
        match AuthUser::from_request_parts(parts, state).await {
            Ok(user) => Ok(DUser(user)),
            Err(ApiError::Internal(e)) => Err(ApiError::Internal(e).into()),
            Err(_) => Err(Detail::new(
                StatusCode::UNAUTHORIZED,
                "Could not validate credentials",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(resp: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn native_errors_keep_their_status_and_take_the_detail_shape() {
        let resp = Detail::from(ApiError::InsufficientCredits("need 10".into())).into_response();
        assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
        assert_eq!(body(resp).await, json!({ "detail": "need 10" }));

        let resp = Detail::from(ApiError::field("prompt", "too short")).into_response();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body(resp).await,
            json!({ "detail": [{ "loc": ["body", "prompt"], "msg": "too short", "type": "value_error" }] })
        );
    }

    #[tokio::test]
    async fn a_missing_body_field_is_named() {
        let e = ApiError::Validation(vec![(
            "body".into(),
            "missing field `prompt` at line 1 column 2".into(),
        )]);
        let resp = missing_field(e).into_response();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body(resp).await,
            json!({ "detail": [{ "loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing" }] })
        );
    }

    #[tokio::test]
    async fn internal_errors_say_nothing_of_the_cause() {
        let e = ApiError::Internal(anyhow::anyhow!("password=FAKE-secret in a query"));
        let resp = Detail::from(e).into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body(resp).await,
            json!({ "detail": "Internal server error" })
        );
    }

    #[tokio::test]
    async fn rate_limits_say_when_to_come_back() {
        let resp = Detail::from(ApiError::RateLimited("slow down".into())).into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(resp.headers().contains_key(header::RETRY_AFTER));
    }
}

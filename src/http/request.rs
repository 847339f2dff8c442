//! Per-request plumbing around every route: an `x-request-id` (the client's if it sent a
//! sane one, else a fresh UUID; tower-http's `SetRequestId`/`PropagateRequestId`) on every
//! response, a `request` span carrying it (so every log line of the request names it), the
//! id added to error envelopes as `error.requestId`, and the HTTP metrics by route
//! template (axum's `MatchedPath`; `unmatched` when no route matched), method and status.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, Method};
use axum::response::Response;
use futures_util::future::BoxFuture;
use http_body_util::BodyExt;
use tower::{Layer, Service};
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestId, PropagateRequestIdLayer, SetRequestId, SetRequestIdLayer,
};
use tracing::Instrument;

pub const REQUEST_ID: &str = "x-request-id";
/// Longest request id accepted from a client; longer or odd ones are replaced.
const MAX_ID_LEN: usize = 128;
/// Error bodies larger than this are passed through without a `requestId`.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// The whole stack, for `Router::layer` (runs after routing, so `MatchedPath` is known).
#[derive(Clone, Copy, Default)]
pub struct RequestLayer;

impl<S> Layer<S> for RequestLayer {
    type Service = SetRequestId<PropagateRequestId<Track<S>>, MakeRequestUuid>;

    fn layer(&self, inner: S) -> Self::Service {
        let track = Track { inner };
        let propagate = PropagateRequestIdLayer::x_request_id().layer(track);
        SetRequestIdLayer::x_request_id(MakeRequestUuid).layer(propagate)
    }
}

/// Span, metrics and error-body id for one request.
#[derive(Clone)]
pub struct Track<S> {
    inner: S,
}

impl<S> Service<Request> for Track<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let started = Instant::now();
        let (id, replaced) = request_id(&mut req);
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_else(|| "unmatched".to_owned());
        let method = method_label(req.method());
        let span = tracing::info_span!("request", request_id = %id, %method, %route);
        Box::pin(async move {
            let mut resp = match inner.call(req).instrument(span.clone()).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
            let status = resp.status();
            if replaced {
                if let Ok(v) = HeaderValue::from_str(&id) {
                    resp.headers_mut().insert(REQUEST_ID, v);
                }
            }
            if status.is_client_error() || status.is_server_error() {
                resp = add_request_id(resp, &id).instrument(span).await;
            }
            let secs = started.elapsed().as_secs_f64();
            crate::ops::metrics::http_request(&route, method, status.as_u16(), secs);
            Ok(resp)
        })
    }
}

/// The request's id (set by `SetRequestId` before us); a client's id that is too long or
/// not plain visible ASCII is replaced by a fresh one (true in the second field).
fn request_id(req: &mut Request) -> (String, bool) {
    let given = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= MAX_ID_LEN && s.bytes().all(is_id_byte));
    if let Some(id) = given {
        return (id.to_owned(), false);
    }
    let id = uuid::Uuid::new_v4().to_string();
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    (id, true)
}

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'=')
}

/// A bounded label for the method.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Adds `error.requestId` to a JSON failure envelope (small bodies only; anything else is
/// passed through untouched).
async fn add_request_id(resp: Response, id: &str) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let small = axum::body::HttpBody::size_hint(resp.body())
        .exact()
        .is_some_and(|n| n <= MAX_ERROR_BODY);
    if !is_json || !small {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            tracing::warn!(error = %e, "could not read an error body");
            return Response::from_parts(parts, Body::empty());
        }
    };
    let mut value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => return Response::from_parts(parts, Body::from(bytes)),
    };
    let Some(error) = value.get_mut("error").and_then(|e| e.as_object_mut()) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    error.insert("requestId".into(), serde_json::Value::from(id));
    let out = value.to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(out))
}

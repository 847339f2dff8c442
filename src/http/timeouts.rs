//! Request and request-body time limits, as one middleware.
//!
//! - The request body may pause at most `http_body_timeout_ms` between two chunks; a body
//!   that stalls longer fails to read, and the answer becomes 408 `requestTimeout`.
//! - The handler (reading the body included) must answer within `http_request_timeout_ms`:
//!   408 `requestTimeout` if the body was still arriving then, else 503 `timeout`.
//! - An answer sent before the request body was read to its end carries
//!   `Connection: close`: the connection cannot be reused, and the client should know.
//!
//! The limits end when the response head is produced: streamed response bodies and
//! upgraded WebSocket connections are not limited here.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

use crate::error::ApiError;

#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub request: Duration,
    pub body_idle: Duration,
}

impl Timeouts {
    pub fn new(settings: &super::HttpSettings) -> Self {
        Self {
            request: Duration::from_millis(settings.http_request_timeout_ms.max(1)),
            body_idle: Duration::from_millis(settings.http_body_timeout_ms.max(1)),
        }
    }
}

/// What the handler's reading of the body came to.
#[derive(Default)]
struct Watch {
    /// The body was read to its end.
    done: AtomicBool,
    /// The body stalled longer than the idle limit.
    stalled: AtomicBool,
}

pub async fn middleware(State(t): State<Timeouts>, req: Request, next: Next) -> Response {
    let watch = Arc::new(Watch::default());
    let (parts, body) = req.into_parts();
    watch
        .done
        .store(http_body::Body::is_end_stream(&body), Ordering::Relaxed);
    let body = Body::new(TimedBody {
        inner: body,
        idle: t.body_idle,
        sleep: None,
        watch: watch.clone(),
    });
    let outcome = tokio::time::timeout(t.request, next.run(Request::from_parts(parts, body))).await;
    let mut resp = match outcome {
        Ok(_) if watch.stalled.load(Ordering::Relaxed) => ApiError::RequestTimeout(format!(
            "request body stalled for more than {} ms",
            t.body_idle.as_millis()
        ))
        .into_response(),
        Ok(resp) => resp,
        Err(_) if !watch.done.load(Ordering::Relaxed) => ApiError::RequestTimeout(format!(
            "request not received within {} ms",
            t.request.as_millis()
        ))
        .into_response(),
        Err(_) => {
            tracing::warn!(limit_ms = t.request.as_millis() as u64, "request timed out");
            ApiError::Unavailable(
                "timeout",
                format!("request not answered within {} ms", t.request.as_millis()),
            )
            .into_response()
        }
    };
    if !watch.done.load(Ordering::Relaxed) {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// The request body with an idle limit between frames.
struct TimedBody {
    inner: Body,
    idle: Duration,
    /// Armed while the inner body is pending; reset by every frame.
    sleep: Option<Pin<Box<Sleep>>>,
    watch: Arc<Watch>,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                if frame.is_none() || this.inner.is_end_stream() {
                    this.watch.done.store(true, Ordering::Relaxed);
                }
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let idle = this.idle;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if sleep.as_mut().poll(cx).is_ready() {
                    this.sleep = None;
                    this.watch.stalled.store(true, Ordering::Relaxed);
                    let e =
                        std::io::Error::new(std::io::ErrorKind::TimedOut, "request body stalled");
                    return Poll::Ready(Some(Err(axum::Error::new(e))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

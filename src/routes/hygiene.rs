//! Response and log hygiene for every route: the request span logs the URI with the values
//! of `token=` (WS/API tokens) and `sig=` (media signatures) replaced by `[redacted]`, and
//! every response says `X-Content-Type-Options: nosniff`.

use axum::http::{header, HeaderValue, Request, Uri};
use axum::response::Response;

/// Query parameters whose values are credentials.
const SECRET_PARAMS: [&str; 2] = ["token", "sig"];

/// The URI as logs may show it: secret query values replaced by `[redacted]`.
pub fn redact_uri(uri: &Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.to_string();
    };
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| {
            let name = pair.split_once('=').map_or(pair, |(n, _)| n);
            if SECRET_PARAMS.iter().any(|s| name.eq_ignore_ascii_case(s)) {
                format!("{name}=[redacted]")
            } else {
                pair.to_string()
            }
        })
        .collect();
    format!("{}?{}", uri.path(), redacted.join("&"))
}

/// `TraceLayer::make_span_with`: like tower-http's default span, with a redacted URI.
pub fn make_span<B>(req: &Request<B>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %req.method(),
        uri = %redact_uri(req.uri()),
        version = ?req.version(),
    )
}

/// Browsers must not guess a content type (a media file or JSON rendered as HTML).
pub async fn nosniff(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn token_and_sig_values_are_redacted() {
        let uri: Uri = "/ws?token=eyJhbGciOi.secret.part&x=1&SIG=abcd&signal=keep"
            .parse()
            .unwrap();
        assert_eq!(
            redact_uri(&uri),
            "/ws?token=[redacted]&x=1&SIG=[redacted]&signal=keep"
        );
        let plain: Uri = "/api/video/tasks?page=2".parse().unwrap();
        assert_eq!(redact_uri(&plain), "/api/video/tasks?page=2");
        assert_eq!(redact_uri(&"/health".parse().unwrap()), "/health");
    }

    use crate::test_log::LogBuf as Buf;

    /// Drives a request through the real router's trace layer with a capturing subscriber.
    #[tokio::test]
    async fn the_request_span_does_not_log_secrets() {
        use tower::ServiceExt;
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = axum::Router::new()
            .route(
                "/media/{file}",
                axum::routing::get(|| async {
                    tracing::info!("inside the handler");
                    "ok"
                }),
            )
            .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(make_span))
            .layer(axum::middleware::map_response(nosniff));
        let req = Request::builder()
            .uri("/media/f.mp4?sig=feedface0123456789&token=eyJ.fake-token.x")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        assert_eq!(
            resp.headers().get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
            "nosniff"
        );
        let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(logs.contains("inside the handler"), "{logs}");
        assert!(logs.contains("sig=[redacted]"), "{logs}");
        assert!(!logs.contains("feedface0123456789"), "{logs}");
        assert!(!logs.contains("fake-token"), "{logs}");
    }
}

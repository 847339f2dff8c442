//! The request layer on its own: the id reaches every log line of the request (JSON logs)
//! and the error body.

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::request::RequestLayer;
use crate::error::ApiError;

use crate::test_log::LogBuf as Buf;

async fn noisy() -> Result<&'static str, ApiError> {
    tracing::warn!("looking for the thing");
    tracing::info!(step = 2, "still looking");
    Err(ApiError::NotFound("thing not found".into()))
}

#[tokio::test]
async fn the_request_id_is_in_every_log_line_and_the_error_body() {
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let app: Router = Router::new()
        .route("/things/{id}", get(noisy))
        .layer(RequestLayer);
    let req = Request::get("/things/7")
        .header("x-request-id", "req-42")
        .body(Body::empty())
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(resp.headers()["x-request-id"], "req-42");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["requestId"], "req-42", "{body}");
    assert_eq!(body["error"]["code"], "notFound");

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 2, "{logs}");
    for line in &lines {
        assert_eq!(line["span"]["request_id"], "req-42", "{line}");
        assert_eq!(line["span"]["route"], "/things/{id}", "{line}");
    }
}

#[test]
#[allow(clippy::result_large_err)]
fn metrics_settings_come_from_env() {
    figment::Jail::expect_with(|jail| {
        let s = crate::config::Settings::load().expect("settings");
        assert!(s.ops.metrics, "on by default");
        assert_eq!(s.ops.metrics_addr, None);
        jail.set_env("TASKHUB_METRICS", "false");
        jail.set_env("TASKHUB_METRICS_ADDR", "127.0.0.1:9100");
        let s = crate::config::Settings::load().expect("settings");
        assert!(!s.ops.metrics);
        assert_eq!(s.ops.metrics_addr, Some("127.0.0.1:9100".parse().unwrap()));
        Ok(())
    });
}

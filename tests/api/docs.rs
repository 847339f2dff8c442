//! The OpenAPI document lists only routes the server really has, and `/docs` serves a viewer.

use reqwest::Method;
use taskhub::routes::docs::OPERATIONS;

use crate::helpers::{Backend, TestApp};

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app.get("/openapi.json").await.expect(200);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut count = 0;
    for op in OPERATIONS {
        assert!(
            doc["paths"][op.path][op.method].is_object(),
            "{} {} in the document",
            op.method,
            op.path
        );
        let path = op
            .path
            .replace("{videoId}", &format!("video_{}", uuid::Uuid::now_v7()))
            .replace("{paymentId}", "pay_missing")
            .replace("{keyId}", "key_missing")
            .replace("{userId}", "user_missing")
            .replace("{file}", "video_missing.mp4");
        let method = Method::from_bytes(op.method.to_uppercase().as_bytes()).unwrap();
        let resp = app.request(method, &path).response().await;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        assert_ne!(
            status, 405,
            "{} {} is routed for that method",
            op.method, op.path
        );
        assert!(
            !body.contains("no route for"),
            "{} {} exists: {status} {body}",
            op.method,
            op.path
        );
        count += 1;
    }
    assert!(count >= 30, "the table covers the REST surface ({count})");
    let html = app.get_text("/docs").await;
    assert!(
        html.contains("/openapi.json") && !html.contains("https://"),
        "viewer loads the local document, no CDN"
    );
}

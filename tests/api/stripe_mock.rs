//! A local stand-in for Stripe's HTTP API: records every request (path, headers, form
//! fields) and answers Checkout Session, Refund and Subscription updates like Stripe does.
//! A session for the `premium` package, or for the Price [`REFUSED_PRICE`], is refused, to
//! test Stripe errors.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde_json::json;

/// A Stripe Price id the mock refuses a Checkout Session for.
pub const REFUSED_PRICE: &str = "price_refused_fake";

#[derive(Clone, Debug)]
pub struct Captured {
    pub path: String,
    pub headers: HeaderMap,
    pub form: Vec<(String, String)>,
}

impl Captured {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone, Default)]
pub struct StripeMock {
    pub requests: Arc<Mutex<Vec<Captured>>>,
    pub base: String,
}

impl StripeMock {
    pub async fn start() -> StripeMock {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mock = StripeMock {
            requests: Arc::default(),
            base: format!("http://{}", listener.local_addr().unwrap()),
        };
        let app = Router::new().fallback(handle).with_state(mock.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        mock
    }

    pub fn taken(&self) -> Vec<Captured> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

async fn handle(
    State(mock): State<StripeMock>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let c = Captured {
        path: uri.path().to_string(),
        headers,
        form,
    };
    let n = {
        let mut reqs = mock.requests.lock().unwrap();
        reqs.push(c.clone());
        reqs.len()
    };
    match c.path.as_str() {
        "/v1/checkout/sessions" if c.field("metadata[package]") == Some("premium") => (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"error": {"type": "invalid_request_error", "message": "Amount too large"}}),
            ),
        ),
        "/v1/checkout/sessions" if c.field("line_items[0][price]") == Some(REFUSED_PRICE) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"type": "invalid_request_error", "message": "No such price"}})),
        ),
        "/v1/checkout/sessions" => (
            StatusCode::OK,
            Json(json!({
                "id": format!("cs_test_{n}"), "object": "checkout.session",
                "url": format!("https://checkout.stripe.test/c/pay/cs_test_{n}"),
                "payment_status": "unpaid", "status": "open",
            })),
        ),
        "/v1/refunds" => {
            let amount: i64 = c.field("amount").and_then(|a| a.parse().ok()).unwrap_or(0);
            (
                StatusCode::OK,
                Json(
                    json!({"id": format!("re_test_{n}"), "object": "refund", "status": "succeeded", "amount": amount}),
                ),
            )
        }
        p if p.starts_with("/v1/checkout/sessions/") && p.ends_with("/expire") => (
            StatusCode::OK,
            Json(
                json!({"id": p.split('/').nth(4), "object": "checkout.session", "status": "expired"}),
            ),
        ),
        p if p.starts_with("/v1/subscriptions/sub_refused") => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {"type": "api_error", "message": "Stripe is down"}})),
        ),
        p if p.starts_with("/v1/subscriptions/") => (
            StatusCode::OK,
            Json(json!({
                "id": p.trim_start_matches("/v1/subscriptions/"), "object": "subscription",
                "status": "active",
                "cancel_at_period_end": c.field("cancel_at_period_end") == Some("true"),
            })),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"message": "unknown path"}})),
        ),
    }
}

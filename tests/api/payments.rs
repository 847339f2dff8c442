//! Payments: Stripe Checkout against a local mock that checks every form field and header,
//! the 503 without keys, and development's local test payments. (Webhook and refunds:
//! `stripe_webhook.rs`.)

use serde_json::{json, Value};
use taskhub::billing::stripe::sign;
use taskhub::config::{Environment, Settings};
use taskhub::secret::Secret;

use crate::billing::credits;
use crate::helpers::{Backend, Call, Reply, TestApp};
use crate::ledger_check::assert_ledger_invariant;
use crate::stripe_mock::StripeMock;

crate::backend_tests!(
    checkout_session_sends_exact_fields_and_headers,
    payments_not_configured_answer_503,
    local_test_payment_completes_in_development
);

pub const WHSEC: &str = "whsec_fake_test_0123456789";

pub fn with_stripe(mock: &StripeMock) -> impl FnOnce(&mut Settings) + '_ {
    move |s| {
        s.billing.stripe_api_base = mock.base.clone();
        s.billing.stripe_secret_key = Secret::new("sk_test_fake_123");
        s.billing.stripe_webhook_secret = Secret::new(WHSEC);
        s.billing.payment_return_origins = "https://app.example,https://a.example".into();
    }
}

/// Posts `event` to the webhook signed with `secret` at `t` seconds (now when `None`).
pub async fn webhook(app: &TestApp, event: &Value, secret: &str, t: Option<i64>) -> Reply {
    let body = serde_json::to_vec(event).unwrap();
    let t = t.unwrap_or_else(|| chrono::Utc::now().timestamp());
    app.post("/api/payments/webhook/stripe")
        .header("Stripe-Signature", sign(&body, secret, t))
        .header("Content-Type", "application/json")
        .body(body)
        .await
}

/// `GET /api/payments/{pid}` as `tok`.
pub fn payment(app: &TestApp, tok: &str, pid: &str) -> Call {
    app.get(format!("/api/payments/{pid}")).auth(tok)
}

pub fn session_event(id: &str, kind: &str, payment: &Value, paid: bool, amount: i64) -> Value {
    json!({
        "id": id, "object": "event", "type": kind,
        "data": {"object": {
            "id": payment["sessionId"], "object": "checkout.session",
            "payment_status": if paid { "paid" } else { "unpaid" },
            "amount_total": amount, "currency": "cny",
            "client_reference_id": payment["userId"],
            "payment_intent": "pi_test_1",
            "metadata": {"payment_id": payment["paymentId"]},
        }}
    })
}

/// Creates a Stripe payment for `package`; returns its data plus `sessionId` and `userId`.
pub async fn checkout(app: &TestApp, mock: &StripeMock, tok: &str, package: &str) -> Value {
    let body = json!({"package": package, "returnUrl": "https://app.example/billing?tab=1"});
    let v = app.post_payment(tok, body).await.expect(201);
    assert_eq!(mock.taken().len(), 1, "one call to Stripe");
    let mut data = v["data"].clone();
    let stored = app
        .state
        .store
        .get_payment(data["paymentId"].as_str().unwrap())
        .await
        .unwrap();
    data["sessionId"] = json!(stored.stripe_session_id);
    data["userId"] = json!(stored.user_id);
    data
}

async fn checkout_session_sends_exact_fields_and_headers(backend: Backend) {
    let mock = StripeMock::start().await;
    let app = TestApp::spawn_with(backend, with_stripe(&mock)).await;
    let tok = app.token("buyer").await;
    let me = app.register("other").await;
    let body = json!({"package": "standard", "returnUrl": "https://app.example/billing?tab=1"});
    let v = app.post_payment(&tok, body).await.expect(201);
    let d = &v["data"];
    let pid = d["paymentId"].as_str().unwrap();
    assert_eq!(
        (
            d["status"].as_str(),
            d["amount"].as_f64(),
            d["currency"].as_str(),
            d["creditsPurchased"].as_i64()
        ),
        (Some("pending"), Some(49.0), Some("CNY"), Some(500))
    );
    let reqs = mock.taken();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(
        d["paymentUrl"],
        "https://checkout.stripe.test/c/pay/cs_test_1"
    );
    assert_eq!(r.path, "/v1/checkout/sessions");
    assert_eq!(r.header("authorization"), Some("Bearer sk_test_fake_123"));
    assert_eq!(r.header("idempotency-key"), Some(pid));
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let user_id = app.state.store.get_payment(pid).await.unwrap().user_id;
    let mut got = r.form.clone();
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("mode", "payment"),
        ("client_reference_id", &user_id),
        (
            "success_url",
            &format!("https://app.example/billing?tab=1&paymentId={pid}&status=success"),
        ),
        (
            "cancel_url",
            &format!("https://app.example/billing?tab=1&paymentId={pid}&status=cancelled"),
        ),
        ("line_items[0][quantity]", "1"),
        ("line_items[0][price_data][currency]", "cny"),
        ("line_items[0][price_data][unit_amount]", "4900"),
        (
            "line_items[0][price_data][product_data][name]",
            "500 credits (Standard)",
        ),
        ("metadata[payment_id]", pid),
        ("metadata[user_id]", &user_id),
        ("metadata[package]", "standard"),
        ("metadata[credits]", "500"),
        ("payment_intent_data[metadata][payment_id]", pid),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    want.sort();
    assert_eq!(got, want);

    // The payment is visible to its owner only.
    let g = payment(&app, &tok, pid).await;
    assert_eq!(g.expect(200)["data"]["status"], "pending");
    let other = me["accessToken"].as_str().unwrap();
    payment(&app, other, pid).await.expect(404);
    // Stripe refusing the session is a clear 400 and the payment is marked failed.
    let body = json!({"package": "premium", "returnUrl": "https://app.example/"});
    app.post_payment(&tok, body)
        .await
        .expect_message(400, "Amount too large");
    for (body, field) in [
        (
            json!({"package": "huge", "returnUrl": "https://a.example/"}),
            "package",
        ),
        (
            json!({"package": "trial", "returnUrl": "javascript:alert(1)"}),
            "returnUrl",
        ),
    ] {
        app.post_payment(&tok, body).await.expect_invalid(field);
    }
    assert_ledger_invariant(&app).await;
}

async fn payments_not_configured_answer_503(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.env = Environment::Production).await;
    let tok = app.token("nokeys").await;
    let admin = app.admin_token("nokeys-admin").await;
    let body = json!({"package": "trial", "returnUrl": "https://a.example/"});
    app.post_payment(&tok, body.clone())
        .await
        .expect_error(503, "paymentsNotConfigured");
    let event = json!({"id": "evt_1", "type": "x", "data": {"object": {}}});
    webhook(&app, &event, WHSEC, None)
        .await
        .expect_error(503, "paymentsNotConfigured");
    app.post("/api/payments/stripe/refund")
        .auth(&admin)
        .json(json!({"paymentId": "pay_x"}))
        .await
        .expect_error(503, "paymentsNotConfigured");
    let mut local = body.clone();
    local["localTest"] = json!(true);
    app.post_payment(&tok, local)
        .await
        .expect_because(403, "no local test payments in production");
    let pk = app.get("/api/payments/packages").await.expect(200);
    assert_eq!(pk["data"]["paymentsConfigured"], false);
    let ids: Vec<_> = pk["data"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["credits"].as_i64().unwrap(),
                p["price"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        vec![
            ("trial".into(), 100, 9.9),
            ("standard".into(), 500, 49.0),
            ("value".into(), 1200, 99.0),
            ("premium".into(), 3000, 199.0)
        ]
    );
    assert_eq!(pk["data"]["currency"], "CNY");

    // Development without keys: still 503, and the answer names the local alternative.
    let dev = TestApp::spawn(backend).await;
    let tok = dev.token("devnokeys").await;
    dev.post_payment(&tok, body)
        .await
        .expect_message(503, "localTest");
    assert_ledger_invariant(&app).await;
}

async fn local_test_payment_completes_in_development(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("qa-tester").await;
    let body =
        json!({"package": "value", "returnUrl": "http://localhost:3000/", "localTest": true});
    let v = app.post_payment(&tok, body).await.expect(201);
    let d = &v["data"];
    assert_eq!(
        (d["devMode"].as_bool(), d["provider"].as_str()),
        (Some(true), Some("local"))
    );
    assert!(d["notice"].as_str().unwrap().contains("DEVELOPMENT ONLY"));
    let url = d["devCompleteUrl"].as_str().unwrap().to_string();
    let other = app.token("stranger").await;
    app.post(&url)
        .auth(&other)
        .await
        .expect_because(404, "only the payer completes it");
    let v = app.post(&url).auth(&tok).await.expect(200);
    assert_eq!(
        (
            v["data"]["creditsGranted"].as_i64(),
            v["data"]["status"].as_str()
        ),
        (Some(1200), Some("completed"))
    );
    assert!(v["data"]["notice"]
        .as_str()
        .unwrap()
        .contains("DEVELOPMENT ONLY"));
    app.post(&url)
        .auth(&tok)
        .await
        .expect_because(409, "completed once");
    assert_eq!(credits(&app, &tok).await["credits"], 1300);
    assert_ledger_invariant(&app).await;
}

//! Plans bought through Stripe Checkout (subscription mode): the helpers the subscription
//! tests share, and the checkout and its refusals (checked against what the fake Stripe
//! received, and that refusals reach no one). Renewals are in `subscriptions_renewal.rs`,
//! the end of a subscription (cancel, payment failure, deletion, lapse) in
//! `subscriptions_end.rs`.

use serde_json::{json, Value};
use taskhub::config::Settings;

use crate::billing::credits;
use crate::helpers::{Backend, TestApp};
use crate::ledger_check::assert_ledger_invariant;
use crate::payments::{webhook, with_stripe, WHSEC};
use crate::stripe_mock::{StripeMock, REFUSED_PRICE};

crate::backend_tests!(checkout_sends_subscription_mode_and_refuses_cleanly);

pub const PRICE_BASIC: &str = "price_basic_fake";
pub const PRICE_PRO: &str = "price_pro_fake";
pub const DAY: i64 = 86400;

/// Stripe with both plans priced, the seed's "free cannot generate", no signup bonus.
pub fn with_plans(mock: &StripeMock) -> impl FnOnce(&mut Settings) + '_ {
    move |s| {
        with_stripe(mock)(s);
        s.billing.stripe_price_basic = PRICE_BASIC.into();
        s.billing.stripe_price_pro = PRICE_PRO.into();
        s.billing.generating_plans = "basic,pro".parse().unwrap();
        s.billing.signup_bonus_credits = 0;
    }
}

pub fn subscribe_call(app: &TestApp, tok: &str, plan: &str) -> crate::helpers::Call {
    let body = json!({"plan": plan, "returnUrl": "https://app.example/billing?tab=1"});
    app.post("/api/payments/subscriptions/checkout")
        .auth(tok)
        .json(body)
}

pub async fn subscription(app: &TestApp, tok: &str) -> Value {
    let v = app.get("/api/users/subscription").auth(tok).await;
    v.expect(200)["data"].clone()
}

/// An `invoice.paid` (or other invoice) event, in Stripe's pre-2025 shape.
#[allow(clippy::too_many_arguments)]
pub fn invoice_event(
    evt: &str,
    kind: &str,
    invoice: &str,
    sub: &str,
    reason: &str,
    price: &str,
    end: i64,
    user: &str,
) -> Value {
    json!({"id": evt, "object": "event", "type": kind, "data": {"object": {
        "id": invoice, "object": "invoice", "billing_reason": reason,
        "customer": "cus_test_1", "subscription": sub,
        "subscription_details": {"metadata": {"user_id": user}},
        "lines": {"data": [{"period": {"start": end - 30 * DAY, "end": end},
            "price": {"id": price}}]},
    }}})
}

pub fn in_days(days: i64) -> i64 {
    chrono::Utc::now().timestamp() + days * DAY
}

pub fn sub_event(evt: &str, kind: &str, sub: &str, cancel: bool) -> Value {
    json!({"id": evt, "object": "event", "type": kind, "data": {"object": {
        "id": sub, "object": "subscription", "cancel_at_period_end": cancel,
    }}})
}

/// Subscribes the user of `tok` to `plan` and pays the first invoice; returns the user id.
pub async fn subscribed(
    app: &TestApp,
    mock: &StripeMock,
    tok: &str,
    plan: &str,
    sub: &str,
) -> String {
    let user = app.user_id(tok).await;
    subscribe_call(app, tok, plan).await.expect(201);
    mock.taken();
    let price = if plan == "pro" {
        PRICE_PRO
    } else {
        PRICE_BASIC
    };
    let ev = invoice_event(
        &format!("evt_{sub}"),
        "invoice.paid",
        &format!("in_{sub}"),
        sub,
        "subscription_create",
        price,
        in_days(30),
        &user,
    );
    let v = webhook(app, &ev, WHSEC, None).await.expect(200);
    assert_eq!(v["data"]["plan"], plan, "{v}");
    user
}

async fn checkout_sends_subscription_mode_and_refuses_cleanly(backend: Backend) {
    // Without Stripe keys, and without a Price for a plan.
    let bare = TestApp::spawn(backend).await;
    let tok = bare.token("nostripe").await;
    subscribe_call(&bare, &tok, "basic")
        .await
        .expect_error(503, "paymentsNotConfigured");
    bare.post("/api/users/subscription/cancel")
        .auth(&tok)
        .await
        .expect_error(503, "paymentsNotConfigured");

    let mock = StripeMock::start().await;
    let app = TestApp::spawn_with(backend, |s| {
        with_plans(&mock)(s);
        s.billing.stripe_price_pro = String::new();
        s.billing.signup_bonus_credits = 100;
    })
    .await;
    let tok = app.token("subscriber").await;
    let user = app.user_id(&tok).await;
    app.post("/api/payments/subscriptions/checkout")
        .json(json!({"plan": "basic", "returnUrl": "https://app.example/"}))
        .await
        .expect_error(401, "unauthorized");
    app.get("/api/users/subscription")
        .await
        .expect_error(401, "unauthorized");
    let v = subscribe_call(&app, &tok, "pro")
        .await
        .expect_error(503, "subscriptionsNotConfigured");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("STRIPE_PRICE_PRO"),
        "{v}"
    );
    for plan in ["free", "gold", ""] {
        let v = subscribe_call(&app, &tok, plan)
            .await
            .expect_error(422, "validationFailed");
        assert_eq!(v["error"]["fields"]["plan"], "basic or pro", "{v}");
    }
    let call = |body| {
        app.post("/api/payments/subscriptions/checkout")
            .auth(&tok)
            .json(body)
    };
    call(json!({"plan": "basic", "returnUrl": "https://evil.example/x"}))
        .await
        .expect_error(422, "invalidReturnUrl");
    call(json!({"plan": "basic", "returnUrl": "/b", "coupon": "x"}))
        .await
        .expect(422);
    call(json!({"plan": "basic"})).await.expect(422);
    assert!(mock.taken().is_empty(), "no refusal reached Stripe");
    let s = subscription(&app, &tok).await;
    assert_eq!(
        (s["plan"].as_str(), s["billingStatus"].as_str()),
        (Some("free"), None),
        "{s}"
    );
    assert_eq!(
        (s["canGenerate"].as_bool(), s["refusal"].as_str()),
        (Some(false), Some("subscriptionRequired"))
    );

    // The real thing: one form-encoded call with the plan's Price and the user.
    let v = subscribe_call(&app, &tok, "basic").await.expect(201);
    let d = &v["data"];
    assert_eq!(
        (d["plan"].as_str(), d["status"].as_str()),
        (Some("basic"), Some("pending"))
    );
    assert!(d["checkoutUrl"]
        .as_str()
        .unwrap()
        .starts_with("https://checkout.stripe.test/"));
    let reqs = mock.taken();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.path, "/v1/checkout/sessions");
    assert_eq!(r.header("authorization"), Some("Bearer sk_test_fake_123"));
    assert!(r
        .header("idempotency-key")
        .unwrap()
        .starts_with("subscribe_"));
    for (field, want) in [
        ("mode", "subscription"),
        ("line_items[0][price]", PRICE_BASIC),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", user.as_str()),
        ("customer_email", "subscriber@example.com"),
        ("metadata[user_id]", user.as_str()),
        ("metadata[plan]", "basic"),
        ("subscription_data[metadata][user_id]", user.as_str()),
        ("subscription_data[metadata][plan]", "basic"),
        (
            "success_url",
            "https://app.example/billing?tab=1&subscription=success&plan=basic",
        ),
        (
            "cancel_url",
            "https://app.example/billing?tab=1&subscription=cancelled&plan=basic",
        ),
    ] {
        assert_eq!(r.field(field), Some(want), "{field}");
    }
    assert_eq!(r.field("line_items[0][price_data][unit_amount]"), None);
    let s = subscription(&app, &tok).await;
    assert_eq!(
        (s["plan"].as_str(), s["billingStatus"].as_str()),
        (Some("free"), Some("pending"))
    );

    // Opening another checkout expires the one still open, so both cannot be paid.
    let first = v["data"]["sessionId"].as_str().unwrap().to_string();
    let again = subscribe_call(&app, &tok, "basic").await.expect(201);
    let reqs = mock.taken();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    let expire = format!("/v1/checkout/sessions/{first}/expire");
    assert_eq!(paths, [expire.as_str(), "/v1/checkout/sessions"]);
    assert_eq!(
        reqs[0].header("idempotency-key"),
        Some(format!("expire_{first}").as_str())
    );
    assert_ne!(again["data"]["sessionId"].as_str(), Some(first.as_str()));

    // Stripe refusing the Price is a 400 and changes nothing here.
    let refusing = TestApp::spawn_with(backend, |s| {
        with_plans(&mock)(s);
        s.billing.stripe_price_pro = REFUSED_PRICE.into();
    })
    .await;
    let tok2 = refusing.token("refused").await;
    let v = subscribe_call(&refusing, &tok2, "pro")
        .await
        .expect_error(400, "badRequest");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("No such price"),
        "{v}"
    );
    assert_eq!(mock.taken().len(), 1);
    assert!(subscription(&refusing, &tok2).await["billingStatus"].is_null());
    assert_eq!(credits(&app, &tok).await["credits"], 100, "nothing moved");
    assert_ledger_invariant(&app).await;
    assert_ledger_invariant(&refusing).await;
}

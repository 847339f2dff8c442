//! The Stripe webhook (no signature, bad signature, stale timestamp, replayed and concurrent
//! deliveries, unpaid and mismatched sessions) and refunds: by an admin after the user spent
//! some credits, and from Stripe's dashboard. Every scenario ends with the ledger invariant.

use serde_json::json;
use taskhub::billing::stripe::sign;

use crate::billing::{credits, transactions};
use crate::helpers::{Backend, TestApp};
use crate::ledger_check::assert_ledger_invariant;
use crate::payments::{checkout, payment, session_event, webhook, with_stripe, WHSEC};
use crate::stripe_mock::StripeMock;

crate::backend_tests!(
    webhook_grants_once_and_only_when_paid,
    admin_refund_after_spending,
    refund_in_stripe_dashboard_takes_credits_back
);

async fn webhook_grants_once_and_only_when_paid(backend: Backend) {
    let mock = StripeMock::start().await;
    let app = TestApp::spawn_with(backend, with_stripe(&mock)).await;
    let tok = app.token("payer").await;
    let p = checkout(&app, &mock, &tok, "trial").await;
    let pid = p["paymentId"].as_str().unwrap().to_string();
    let paid = session_event("evt_paid", "checkout.session.completed", &p, true, 990);
    let now = chrono::Utc::now().timestamp();

    app.post("/api/payments/webhook/stripe")
        .body(serde_json::to_vec(&paid).unwrap())
        .await
        .expect_because(400, "no signature");
    webhook(&app, &paid, "whsec_wrong", None)
        .await
        .expect_because(400, "bad signature");
    let v = webhook(&app, &paid, WHSEC, Some(now - 301))
        .await
        .expect_because(400, "stale timestamp");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tolerance"),
        "{v}"
    );
    assert_eq!(
        credits(&app, &tok).await["credits"],
        100,
        "nothing granted yet"
    );

    // An unpaid (asynchronous) session grants nothing and waits.
    let unpaid = session_event("evt_unpaid", "checkout.session.completed", &p, false, 990);
    let v = webhook(&app, &unpaid, WHSEC, Some(now - 200))
        .await
        .expect(200);
    assert_eq!(v["data"]["creditsGranted"], 0, "{v}");
    let g = payment(&app, &tok, &pid).await.body;
    assert_eq!(g["data"]["status"], "processing");
    assert_eq!(credits(&app, &tok).await["credits"], 100);
    // A paid session with the wrong amount grants nothing either.
    let wrong = session_event(
        "evt_wrong",
        "checkout.session.async_payment_succeeded",
        &p,
        true,
        1,
    );
    let v = webhook(&app, &wrong, WHSEC, None).await.expect(200);
    assert!(v["data"]["ignored"].is_string(), "{v}");

    // The success event delivered four times at once: granted exactly once.
    let done = session_event(
        "evt_async_ok",
        "checkout.session.async_payment_succeeded",
        &p,
        true,
        990,
    );
    let mut answers = Vec::new();
    let sends: Vec<_> = (0..4)
        .map(|_| {
            let body = serde_json::to_vec(&done).unwrap();
            let sig = sign(&body, WHSEC, chrono::Utc::now().timestamp());
            let call = app.post("/api/payments/webhook/stripe");
            tokio::spawn(call.header("Stripe-Signature", sig).body(body).send())
        })
        .collect();
    for s in sends {
        answers.push(s.await.unwrap());
    }
    assert!(answers.iter().all(|r| r.status == 200), "{answers:?}");
    let granted: Vec<_> = answers
        .iter()
        .filter_map(|r| r.body["data"]["creditsGranted"].as_i64())
        .collect();
    let dups = answers
        .iter()
        .filter(|r| r.body["data"]["duplicate"] == true)
        .count();
    assert_eq!((granted, dups), (vec![100], 3), "{answers:?}");
    // Later events for the same payment grant nothing more.
    let v = webhook(&app, &paid, WHSEC, None).await.expect(200);
    assert_eq!(v["data"]["alreadySettled"], true, "{v}");
    assert_eq!(credits(&app, &tok).await["credits"], 200);
    let g = payment(&app, &tok, &pid).await.body;
    assert_eq!(
        (
            g["data"]["status"].as_str(),
            g["data"]["completedAt"].is_string()
        ),
        (Some("completed"), true)
    );
    let bought = transactions(&app, &tok, "type=purchased").await.body;
    assert_eq!(bought["data"]["total"], 1);
    assert_eq!(bought["data"]["items"][0]["paymentId"], pid.as_str());
    let exp = bought["data"]["items"][0]["expiresAt"].as_str().unwrap();
    let days = (chrono::DateTime::parse_from_rfc3339(exp)
        .unwrap()
        .timestamp()
        - now)
        / 86400;
    assert!(
        (89..=90).contains(&days),
        "purchased credits last 90 days: {days}"
    );
    assert_ledger_invariant(&app).await;
}

/// A completed Stripe payment of the trial package (100 credits, 9.90) for a user with no
/// bonus, with `spend` credits of it spent on tasks.
async fn paid_and_spent(
    app: &TestApp,
    mock: &StripeMock,
    name: &str,
    tasks: usize,
) -> (String, String) {
    let tok = app.token(name).await;
    let p = checkout(app, mock, &tok, "trial").await;
    let ev = session_event(
        &format!("evt_{name}"),
        "checkout.session.completed",
        &p,
        true,
        990,
    );
    webhook(app, &ev, WHSEC, None).await.expect(200);
    for i in 0..tasks {
        app.create_task(&tok, &format!("spend {i}")).await;
    }
    (tok, p["paymentId"].as_str().unwrap().to_string())
}

async fn admin_refund_after_spending(backend: Backend) {
    let mock = StripeMock::start().await;
    let app = TestApp::spawn_with(backend, |s| {
        with_stripe(&mock)(s);
        s.billing.signup_bonus_credits = 0;
    })
    .await;
    let (tok, pid) = paid_and_spent(&app, &mock, "spender", 3).await;
    let admin = app.admin_token("root").await;
    let refund = |who: &str, body| app.post("/api/payments/stripe/refund").auth(who).json(body);
    refund(&tok, json!({"paymentId": pid}))
        .await
        .expect_because(403, "admins only");
    // 60 of the 100 credits are spent: a full refund says so and moves no money.
    refund(&admin, json!({"paymentId": pid}))
        .await
        .expect_message(409, "already spent 60");
    assert!(mock.taken().is_empty(), "Stripe not called");
    // 40% of the money takes back the 40 unspent credits.
    let v = refund(&admin, json!({"paymentId": pid, "amount": 3.96}))
        .await
        .expect(200);
    assert_eq!(
        (
            v["data"]["creditsReversed"].as_i64(),
            v["data"]["creditsAlreadySpent"].as_i64()
        ),
        (Some(40), Some(0))
    );
    let r = mock.taken().pop().unwrap();
    assert_eq!(r.path, "/v1/refunds");
    assert_eq!(
        (r.field("payment_intent"), r.field("amount")),
        (Some("pi_test_1"), Some("396"))
    );
    assert_eq!(
        r.header("idempotency-key"),
        Some(format!("refund_{pid}_396").as_str())
    );
    assert_eq!(r.header("authorization"), Some("Bearer sk_test_fake_123"));
    assert_eq!(credits(&app, &tok).await["credits"], 0);
    // The rest, forced: the money goes back, the spent credits are reported, none go negative.
    refund(&admin, json!({"paymentId": pid, "amount": 99}))
        .await
        .expect_because(422, "more than is left");
    let v = refund(&admin, json!({"paymentId": pid, "force": true}))
        .await
        .expect(200);
    let d = &v["data"];
    assert_eq!(
        (
            d["creditsReversed"].as_i64(),
            d["creditsAlreadySpent"].as_i64()
        ),
        (Some(0), Some(60))
    );
    assert!(
        d["message"].as_str().unwrap().contains("already spent 60"),
        "{d}"
    );
    assert_eq!(d["payment"]["status"], "refunded");
    assert_eq!(mock.taken().pop().unwrap().field("amount"), Some("594"));
    // Stripe's own charge.refunded for the same total changes nothing.
    let charge = json!({"id": "evt_charge_full", "type": "charge.refunded", "data": {"object": {
        "id": "ch_1", "payment_intent": "pi_test_1", "amount": 990, "amount_refunded": 990, "currency": "cny"}}});
    let v = webhook(&app, &charge, WHSEC, None).await.expect(200);
    assert_eq!(v["data"]["alreadySettled"], true, "{v}");
    refund(&admin, json!({"paymentId": pid}))
        .await
        .expect_because(409, "nothing left to refund");
    let c = credits(&app, &tok).await;
    assert_eq!(
        (c["credits"].as_i64(), c["totalReversed"].as_i64()),
        (Some(0), Some(40))
    );
    assert_ledger_invariant(&app).await;
}

async fn refund_in_stripe_dashboard_takes_credits_back(backend: Backend) {
    let mock = StripeMock::start().await;
    let app = TestApp::spawn_with(backend, with_stripe(&mock)).await;
    let (tok, pid) = paid_and_spent(&app, &mock, "dash", 0).await;
    assert_eq!(credits(&app, &tok).await["credits"], 200);
    let charge = |id: &str, refunded: i64| {
        json!({"id": id, "type": "charge.refunded", "data": {"object": {
        "id": "ch_2", "payment_intent": "pi_test_1", "amount": 990, "amount_refunded": refunded,
        "currency": "cny", "metadata": {}}}})
    };
    let v = webhook(&app, &charge("evt_half", 495), WHSEC, None)
        .await
        .expect(200);
    assert_eq!(v["data"]["creditsReversed"], 50, "{v}");
    let v = webhook(&app, &charge("evt_half", 495), WHSEC, None)
        .await
        .expect(200);
    assert_eq!(v["data"]["duplicate"], true, "{v}");
    let v = webhook(&app, &charge("evt_all", 990), WHSEC, None)
        .await
        .expect(200);
    assert_eq!(v["data"]["creditsReversed"], 50, "{v}");
    assert_eq!(credits(&app, &tok).await["credits"], 100, "the bonus stays");
    let p = app.state.store.get_payment(&pid).await.unwrap();
    assert_eq!(
        (p.status.as_str(), p.refunded_minor, p.credits_reversed),
        ("refunded", 990, 100)
    );
    assert_ledger_invariant(&app).await;
}

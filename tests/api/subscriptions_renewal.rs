//! `invoice.paid` activating a plan bought through Stripe and granting the month's credits
//! exactly once per invoice, whatever event ids, order and concurrency deliver it.

use serde_json::json;

use crate::billing::{credits, transactions};
use crate::helpers::{Backend, TestApp};
use crate::ledger_check::assert_ledger_invariant;
use crate::payments::{webhook, WHSEC};
use crate::stripe_mock::StripeMock;
use crate::subscriptions::{
    in_days, invoice_event, subscribe_call, subscription, with_plans, DAY, PRICE_BASIC,
};

crate::backend_tests!(invoice_paid_activates_and_grants_once_per_invoice);

async fn invoice_paid_activates_and_grants_once_per_invoice(backend: Backend) {
    let mock = StripeMock::start().await;
    let app = TestApp::spawn_with(backend, with_plans(&mock)).await;
    let tok = app.token("payer").await;
    let user = app.user_id(&tok).await;
    let v = subscribe_call(&app, &tok, "basic").await.expect(201);
    let session = v["data"]["sessionId"].as_str().unwrap().to_string();
    assert_eq!(mock.taken().len(), 1);
    app.post_task(&tok, json!({"prompt": "x"}))
        .await
        .expect_error(403, "subscriptionRequired");
    let end = in_days(30);
    let paid = invoice_event(
        "evt_i1",
        "invoice.paid",
        "in_1",
        "sub_1",
        "subscription_create",
        PRICE_BASIC,
        end,
        &user,
    );

    // Unsigned: refused, nothing granted.
    app.post("/api/payments/webhook/stripe")
        .body(serde_json::to_vec(&paid).unwrap())
        .await
        .expect_error(400, "badRequest");
    assert_eq!(credits(&app, &tok).await["credits"], 0);

    // invoice.paid may come before checkout.session.completed: the metadata names the user.
    let v = webhook(&app, &paid, WHSEC, None).await.expect(200);
    assert_eq!(
        (
            v["data"]["plan"].as_str(),
            v["data"]["creditsGranted"].as_i64()
        ),
        (Some("basic"), Some(500)),
        "{v}"
    );
    let v = webhook(&app, &paid, WHSEC, None).await.expect(200);
    assert_eq!(
        v["data"]["duplicate"], true,
        "the same event is applied once"
    );
    let again = invoice_event(
        "evt_i1_other",
        "invoice.paid",
        "in_1",
        "sub_1",
        "subscription_create",
        PRICE_BASIC,
        end,
        &user,
    );
    let v = webhook(&app, &again, WHSEC, None).await.expect(200);
    assert_eq!(
        v["data"]["creditsGranted"], 0,
        "another event for the same invoice grants nothing: {v}"
    );
    let done = json!({"id": "evt_cs", "type": "checkout.session.completed", "data": {"object": {
        "id": session, "object": "checkout.session", "mode": "subscription",
        "subscription": "sub_1", "customer": "cus_test_1", "client_reference_id": user}}});
    let v = webhook(&app, &done, WHSEC, None).await.expect(200);
    assert_eq!(
        (
            v["data"]["subscriptionId"].as_str(),
            v["data"]["status"].as_str()
        ),
        (Some("sub_1"), Some("active")),
        "{v}"
    );

    let s = subscription(&app, &tok).await;
    let shown =
        chrono::DateTime::parse_from_rfc3339(s["currentPeriodEnd"].as_str().unwrap()).unwrap();
    assert_eq!(shown.timestamp(), end);
    assert_eq!(
        (
            s["plan"].as_str(),
            s["status"].as_str(),
            s["billingStatus"].as_str(),
            s["canGenerate"].as_bool(),
            s["monthlyCredits"].as_i64(),
            s["cancelAtPeriodEnd"].as_bool()
        ),
        (
            Some("basic"),
            Some("active"),
            Some("active"),
            Some(true),
            Some(500),
            Some(false)
        ),
        "{s}"
    );
    let earned = transactions(&app, &tok, "type=earned").await.expect(200);
    assert_eq!(earned["data"]["total"], 1);
    let row = &earned["data"]["items"][0];
    assert_eq!(
        (row["referenceType"].as_str(), row["referenceId"].as_str()),
        (Some("invoice"), Some("in_1"))
    );
    let exp = chrono::DateTime::parse_from_rfc3339(row["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(
        exp.timestamp(),
        end,
        "the month's credits last the paid period"
    );
    app.create_task(&tok, "now allowed").await;

    // One subscription per user: another checkout (a plan change too) is refused unsent.
    for plan in ["basic", "pro"] {
        subscribe_call(&app, &tok, plan)
            .await
            .expect_error(409, "alreadySubscribed");
    }
    assert!(mock.taken().is_empty());

    // Invoices that are not a plan's renewal grant nothing.
    let odd = invoice_event(
        "evt_odd",
        "invoice.paid",
        "in_odd",
        "sub_1",
        "subscription_cycle",
        "price_other",
        end,
        &user,
    );
    assert!(webhook(&app, &odd, WHSEC, None).await.expect(200)["data"]["ignored"].is_string());
    let manual = invoice_event(
        "evt_man",
        "invoice.paid",
        "in_man",
        "sub_1",
        "manual",
        PRICE_BASIC,
        end,
        &user,
    );
    assert!(webhook(&app, &manual, WHSEC, None).await.expect(200)["data"]["ignored"].is_string());
    let balance = credits(&app, &tok).await["credits"].as_i64().unwrap();

    // The next month, in Stripe's 2025 invoice shape, delivered as three events at once.
    let end2 = end + 30 * DAY;
    let cycle = |evt: &str| {
        json!({"id": evt, "object": "event", "type": "invoice.paid", "data": {"object": {
        "id": "in_2", "object": "invoice", "billing_reason": "subscription_cycle",
        "parent": {"subscription_details": {"subscription": "sub_1", "metadata": {"user_id": user}}},
        "lines": {"data": [{"period": {"start": end, "end": end2},
            "pricing": {"price_details": {"price": PRICE_BASIC}}}]}}}})
    };
    let sends: Vec<_> = ["evt_c1", "evt_c2", "evt_c3"]
        .into_iter()
        .map(|id| {
            let body = serde_json::to_vec(&cycle(id)).unwrap();
            let sig = taskhub::billing::stripe::sign(&body, WHSEC, chrono::Utc::now().timestamp());
            let call = app
                .post("/api/payments/webhook/stripe")
                .header("Stripe-Signature", sig);
            tokio::spawn(call.body(body).send())
        })
        .collect();
    let mut granted = Vec::new();
    for s in sends {
        let r = s.await.unwrap();
        assert_eq!(r.status, 200, "{:?}", r.body);
        granted.push(r.body["data"]["creditsGranted"].as_i64().unwrap());
    }
    granted.sort();
    assert_eq!(granted, [0, 0, 500], "one invoice, one grant");
    assert_eq!(
        credits(&app, &tok).await["credits"].as_i64().unwrap(),
        balance + 500
    );
    // A late copy of the first invoice does not move the period back.
    let late = invoice_event(
        "evt_late",
        "invoice.paid",
        "in_1",
        "sub_1",
        "subscription_create",
        PRICE_BASIC,
        end,
        &user,
    );
    assert_eq!(
        webhook(&app, &late, WHSEC, None).await.expect(200)["data"]["creditsGranted"],
        0
    );
    let s = subscription(&app, &tok).await;
    let shown =
        chrono::DateTime::parse_from_rfc3339(s["currentPeriodEnd"].as_str().unwrap()).unwrap();
    assert_eq!(shown.timestamp(), end2);
    assert_eq!(
        transactions(&app, &tok, "type=earned").await.expect(200)["data"]["total"],
        2
    );
    assert_ledger_invariant(&app).await;
}

//! How a bought plan ends: cancelling at the period's end (the call Stripe receives, and the
//! refusal without a subscription), a failed renewal (`past_due`), Stripe deleting the
//! subscription (Free at once, granted credits kept), and a lapsed period (refused from its
//! end, moved to Free by the sweep after the grace; admin-set plans are left alone).

use serde_json::json;

use crate::billing::credits;
use crate::helpers::{Backend, TestApp};
use crate::ledger_check::assert_ledger_invariant;
use crate::payments::{webhook, WHSEC};
use crate::stripe_mock::StripeMock;
use crate::subscriptions::{
    in_days, invoice_event, sub_event, subscribed, subscription, with_plans, PRICE_BASIC,
};

crate::backend_tests!(cancel_fail_and_delete, lapsed_periods_move_to_free);

async fn cancel_fail_and_delete(backend: Backend) {
    let mock = StripeMock::start().await;
    let app = TestApp::spawn_with(backend, with_plans(&mock)).await;
    let tok = app.token("leaver").await;
    let other = app.token("never").await;
    app.post("/api/users/subscription/cancel")
        .await
        .expect_error(401, "unauthorized");
    app.post("/api/users/subscription/cancel")
        .auth(&other)
        .await
        .expect_error(409, "noSubscription");
    let user = subscribed(&app, &mock, &tok, "pro", "sub_9").await;
    assert_eq!(credits(&app, &tok).await["credits"], 2000);

    let v = app
        .post("/api/users/subscription/cancel")
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(v["data"]["cancelAtPeriodEnd"], true, "{v}");
    assert_eq!(v["data"]["canGenerate"], true, "the paid period stays");
    let reqs = mock.taken();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/v1/subscriptions/sub_9");
    assert_eq!(reqs[0].field("cancel_at_period_end"), Some("true"));
    assert_eq!(reqs[0].header("idempotency-key"), Some("cancel_sub_9"));
    // Twice: the same answer, no second call.
    let v = app
        .post("/api/users/subscription/cancel")
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(v["data"]["cancelAtPeriodEnd"], true);
    assert!(mock.taken().is_empty());
    // Resumed in Stripe's dashboard.
    let resumed = sub_event("evt_upd", "customer.subscription.updated", "sub_9", false);
    webhook(&app, &resumed, WHSEC, None).await.expect(200);
    assert_eq!(subscription(&app, &tok).await["cancelAtPeriodEnd"], false);

    // A failed renewal: past_due, but the paid period still counts.
    let failed = invoice_event(
        "evt_fail",
        "invoice.payment_failed",
        "in_f",
        "sub_9",
        "subscription_cycle",
        PRICE_BASIC,
        in_days(60),
        &user,
    );
    let v = webhook(&app, &failed, WHSEC, None).await.expect(200);
    assert_eq!(v["data"]["status"], "past_due", "{v}");
    let s = subscription(&app, &tok).await;
    assert_eq!(
        (s["billingStatus"].as_str(), s["canGenerate"].as_bool()),
        (Some("past_due"), Some(true)),
        "{s}"
    );
    app.create_task(&tok, "still paid for").await;
    let balance = credits(&app, &tok).await["credits"].clone();

    // Deleted at Stripe: Free at once; the credits granted stay.
    let gone = sub_event("evt_del", "customer.subscription.deleted", "sub_9", false);
    let v = webhook(&app, &gone, WHSEC, None).await.expect(200);
    assert_eq!(
        (v["data"]["plan"].as_str(), v["data"]["status"].as_str()),
        (Some("free"), Some("cancelled")),
        "{v}"
    );
    let s = subscription(&app, &tok).await;
    assert_eq!(
        (
            s["plan"].as_str(),
            s["billingStatus"].as_str(),
            s["currentPeriodEnd"].as_str(),
            s["refusal"].as_str()
        ),
        (
            Some("free"),
            Some("cancelled"),
            None,
            Some("subscriptionRequired")
        ),
        "{s}"
    );
    assert_eq!(credits(&app, &tok).await["credits"], balance);
    app.post_task(&tok, json!({"prompt": "x"}))
        .await
        .expect_error(403, "subscriptionRequired");
    app.post("/api/users/subscription/cancel")
        .auth(&tok)
        .await
        .expect_error(409, "noSubscription");
    // Events for a subscription no one holds change nothing.
    let stray = sub_event(
        "evt_stray",
        "customer.subscription.deleted",
        "sub_unknown",
        false,
    );
    assert!(webhook(&app, &stray, WHSEC, None).await.expect(200)["data"]["ignored"].is_string());
    // Subscribing again after it ended is allowed.
    crate::subscriptions::subscribe_call(&app, &tok, "basic")
        .await
        .expect(201);
    assert_ledger_invariant(&app).await;
}

async fn lapsed_periods_move_to_free(backend: Backend) {
    let mock = StripeMock::start().await;
    let app = TestApp::spawn_with(backend, with_plans(&mock)).await;
    let tok = app.token("lapser").await;
    let user = subscribed(&app, &mock, &tok, "basic", "sub_l").await;
    let admin = app.admin_token("boss").await;
    let kept_tok = app.token("kept").await;
    let kept = app.user_id(&kept_tok).await;
    let past = chrono::Utc::now() - chrono::Duration::hours(30);
    app.put(format!("/api/admin/users/{kept}/plan"))
        .auth(&admin)
        .json(json!({"plan": "basic", "endsAt": past.to_rfc3339(), "grantCredits": false}))
        .await
        .expect(200);

    // The paid period ends (time moved by hand): refused at once, before any sweep.
    let now = chrono::Utc::now().timestamp_millis();
    let ended = now - 1000;
    let pool = app.state.store.pool();
    sqlx::query("UPDATE users SET plan_ends_at = $1 WHERE id = $2")
        .bind(ended)
        .bind(&user)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE subscriptions SET current_period_end = $1 WHERE user_id = $2")
        .bind(ended)
        .bind(&user)
        .execute(pool)
        .await
        .unwrap();
    app.post_task(&tok, json!({"prompt": "x"}))
        .await
        .expect_error(403, "subscriptionExpired");
    let s = subscription(&app, &tok).await;
    assert_eq!(
        (s["canGenerate"].as_bool(), s["refusal"].as_str()),
        (Some(false), Some("subscriptionExpired"))
    );

    // Within the grace (a day by default) the sweep leaves it; after it, Free.
    let store = &app.state.store;
    let grace = app.state.settings.billing.subscription_grace_secs * 1000;
    assert_eq!(grace, 86_400_000);
    assert_eq!(
        store.lapse_subscriptions(now - grace, 100).await.unwrap(),
        0
    );
    assert_eq!(subscription(&app, &tok).await["plan"], "basic");
    assert_eq!(store.lapse_subscriptions(now, 100).await.unwrap(), 1);
    assert_eq!(
        store.lapse_subscriptions(now, 100).await.unwrap(),
        0,
        "once"
    );
    let s = subscription(&app, &tok).await;
    assert_eq!(
        (s["plan"].as_str(), s["billingStatus"].as_str()),
        (Some("free"), Some("lapsed")),
        "{s}"
    );
    app.post_task(&tok, json!({"prompt": "x"}))
        .await
        .expect_error(403, "subscriptionRequired");
    // An admin-set plan is the admin's to end: the sweep does not touch it.
    let k = subscription(&app, &kept_tok).await;
    assert_eq!(
        (
            k["plan"].as_str(),
            k["refusal"].as_str(),
            k["billingStatus"].as_str()
        ),
        (Some("basic"), Some("subscriptionExpired"), None)
    );
    // A renewal paid late (after the lapse) brings the plan back.
    let late = invoice_event(
        "evt_late_l",
        "invoice.paid",
        "in_l2",
        "sub_l",
        "subscription_cycle",
        PRICE_BASIC,
        in_days(30),
        &user,
    );
    let v = webhook(&app, &late, WHSEC, None).await.expect(200);
    assert_eq!(v["data"]["creditsGranted"], 500, "{v}");
    let s = subscription(&app, &tok).await;
    assert_eq!(
        (
            s["plan"].as_str(),
            s["canGenerate"].as_bool(),
            s["billingStatus"].as_str()
        ),
        (Some("basic"), Some(true), Some("active"))
    );
    assert_ledger_invariant(&app).await;
}

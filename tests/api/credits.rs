//! Credits across lots and plans: FIFO spending and expiry (before and by the sweep),
//! refund expiry, plan checks in order, prices and the credit routes. Every scenario ends
//! with the ledger invariant.

use reqwest::Method;
use serde_json::{json, Value};
use taskhub::domain::time::now_ms;

use crate::billing::{create, credits, failed};
use crate::helpers::{Backend, TestApp};
use crate::ledger_check::assert_ledger_invariant;

crate::backend_tests!(
    fifo_spending_and_expiry_across_lots,
    plan_checks_run_in_order,
    prices_and_credit_routes
);

/// The lot each ledger debit of `task_id` drew from, as (origin, amount).
async fn drawn_from(app: &TestApp, task_id: &str) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT l.origin, s.amount FROM credit_transactions t
         JOIN credit_spends s ON s.transaction_id = t.id JOIN credit_lots l ON l.id = s.lot_id
         WHERE t.task_id = $1 ORDER BY l.expires_at",
    )
    .bind(task_id)
    .fetch_all(app.state.store.pool())
    .await
    .unwrap()
}

async fn set_expiry(app: &TestApp, origin: &str, at: i64) {
    sqlx::query("UPDATE credit_lots SET expires_at = $1 WHERE origin = $2")
        .bind(at)
        .bind(origin)
        .execute(app.state.store.pool())
        .await
        .unwrap();
}

async fn fifo_spending_and_expiry_across_lots(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("fifo").await;
    // A second lot: a local test payment (development), purchased credits last 90 days.
    let (s, _) = app.buy_local_test_credits(&tok, "trial").await;
    assert_eq!(s, 200);
    assert_eq!(credits(&app, &tok).await["credits"], 200);

    // 90 credits across the 30-day bonus (100) and the purchase: the bonus goes first.
    let mut ids = Vec::new();
    for i in 0..3 {
        let (s, t) = create(
            &app,
            &tok,
            json!({"prompt": format!("hd {i}"), "quality": "hd"}),
        )
        .await;
        assert_eq!(s, 201, "{t}");
        ids.push(t["data"]["videoId"].as_str().unwrap().to_string());
    }
    assert_eq!(drawn_from(&app, &ids[2]).await, vec![("bonus".into(), 30)]);
    let (s, t) = create(&app, &tok, json!({"prompt": "straddles", "quality": "hd"})).await;
    assert_eq!(s, 201);
    let straddle = t["data"]["videoId"].as_str().unwrap().to_string();
    assert_eq!(
        drawn_from(&app, &straddle).await,
        vec![("bonus".into(), 10), ("purchased".into(), 20)]
    );
    // Its refund expires with the purchased lot (the later of the two), not sooner.
    app.state
        .store
        .apply_change(&straddle, &failed())
        .await
        .unwrap();
    let (refund_exp, purchased_exp): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT expires_at FROM credit_lots WHERE origin = 'refunded'),
                (SELECT expires_at FROM credit_lots WHERE origin = 'purchased')",
    )
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    assert_eq!(refund_exp, purchased_exp);
    assert_eq!(credits(&app, &tok).await["credits"], 110);

    // The purchase expires (no sweep yet): spending ignores it and expires it in the same
    // transaction; the refunded lot (same expiry) goes with it.
    set_expiry(&app, "purchased", now_ms() - 1000).await;
    set_expiry(&app, "refunded", now_ms() - 1000).await;
    let (s, v) = create(&app, &tok, json!({"prompt": "too much"})).await;
    assert_eq!(s, 402, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("available 0"),
        "{v}"
    );
    // The sweep writes the expiries for good.
    assert_eq!(
        app.state.store.expire_credits(now_ms(), 100).await.unwrap(),
        2
    );
    assert_eq!(
        app.state.store.expire_credits(now_ms(), 100).await.unwrap(),
        0
    );
    let c = credits(&app, &tok).await;
    assert_eq!(
        (c["credits"].as_i64(), c["totalExpired"].as_i64()),
        (Some(0), Some(110))
    );
    let (_, ex) = app
        .json(
            Method::GET,
            "/api/users/credits/transactions?type=expired",
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(ex["data"]["total"], 2);
    assert!(ex["data"]["items"][0]["expiresAt"].is_string());
    assert_eq!(ex["data"]["items"][0]["balanceAfter"], 0);
    assert_ledger_invariant(&app).await;
}

async fn plan_checks_run_in_order(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.billing.generating_plans = "basic,pro".into();
        s.billing.signup_bonus_credits = 0;
        s.billing.basic_monthly_credits = 50;
    })
    .await;
    let tok = app.token("planner").await;
    let admin = app.token("admin1").await;
    app.state
        .store
        .set_user_role("admin1@example.com", "admin")
        .await
        .unwrap();
    let me = app
        .json(Method::GET, "/api/auth/me", Some(&tok), None)
        .await
        .1["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or("").to_string();
    // Free cannot generate (the seed's rule), even with no credits: plan before credits.
    let (s, v) = create(&app, &tok, json!({"prompt": "x"})).await;
    assert_eq!((s, code(&v).as_str()), (403, "subscriptionRequired"), "{v}");
    let plan_url = format!("/api/admin/users/{me}/plan");
    let set = |body: Value| {
        let (app, admin, url) = (&app, admin.clone(), plan_url.clone());
        async move { app.json(Method::PUT, &url, Some(&admin), Some(body)).await }
    };
    let (s, _) = app
        .json(
            Method::PUT,
            &plan_url,
            Some(&tok),
            Some(json!({"plan": "pro"})),
        )
        .await;
    assert_eq!(s, 403, "only admins set plans");
    let future = chrono::Utc::now() + chrono::Duration::days(30);
    let (s, v) = set(json!({"plan": "basic", "endsAt": future.to_rfc3339()})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["creditsGranted"], 50);
    let (s, v) = create(&app, &tok, json!({"prompt": "x"})).await;
    assert_eq!(s, 201, "{v}");
    for (status, expect) in [
        ("cancelled", "subscriptionRequired"),
        ("expired", "subscriptionExpired"),
    ] {
        set(json!({"plan": "basic", "status": status, "grantCredits": false})).await;
        let (s, v) = create(&app, &tok, json!({"prompt": "x"})).await;
        assert_eq!((s, code(&v).as_str()), (403, expect), "{status}: {v}");
    }
    let past = chrono::Utc::now() - chrono::Duration::days(1);
    set(json!({"plan": "basic", "endsAt": past.to_rfc3339(), "grantCredits": false})).await;
    let (s, v) = create(&app, &tok, json!({"prompt": "x"})).await;
    assert_eq!((s, code(&v).as_str()), (403, "subscriptionExpired"), "{v}");
    // Active and current: now the credits decide (30 left, hd image costs 35).
    set(json!({"plan": "basic", "grantCredits": false})).await;
    let body =
        json!({"prompt": "x", "quality": "hd", "referenceImageUrl": "https://example.com/a.png"});
    let (s, v) = create(&app, &tok, body).await;
    assert_eq!((s, code(&v).as_str()), (402, "insufficientCredits"), "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("required 35") && msg.contains("available 30"),
        "{msg}"
    );
    let sub = &credits(&app, &tok).await["subscription"];
    assert_eq!(
        (sub["plan"].as_str(), sub["canGenerate"].as_bool()),
        (Some("basic"), Some(true))
    );
    let (s, _) = set(json!({"plan": "gold"})).await;
    assert_eq!(s, 422);
    assert_ledger_invariant(&app).await;
}

async fn prices_and_credit_routes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (s, m) = app.json(Method::GET, "/api/video/models", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(
        m["data"]["prices"],
        json!({"textToVideo": {"standard": 20, "hd": 30}, "imageToVideo": {"standard": 25, "hd": 35}})
    );
    assert_eq!(m["data"]["models"][0]["prices"]["imageToVideo"]["hd"], 35);
    let tok = app.token("shopper").await;
    let (_, a) = create(&app, &tok, json!({"prompt": "a", "quality": "hd"})).await;
    // Reference images are fetched at creation: serve one locally.
    let png = crate::provider_openai::Canned(
        200,
        vec![("content-type", "image/png".into())],
        "PNG".into(),
        std::time::Duration::ZERO,
    );
    let (images, _) = crate::provider_openai::spawn_mock(vec![png], None).await;
    let (_, b) = create(
        &app,
        &tok,
        json!({"prompt": "b", "referenceImageUrl": format!("{images}/b.png")}),
    )
    .await;
    assert_eq!(
        (
            a["data"]["creditsCharged"].as_i64(),
            b["data"]["creditsCharged"].as_i64()
        ),
        (Some(30), Some(25))
    );
    assert_eq!(b["data"]["kind"], "imageToVideo");
    let c = credits(&app, &tok).await;
    assert_eq!(
        (
            c["credits"].as_i64(),
            c["totalEarned"].as_i64(),
            c["totalSpent"].as_i64()
        ),
        (Some(45), Some(100), Some(55))
    );
    let (_, page) = app
        .json(
            Method::GET,
            "/api/users/credits/transactions?pageSize=1",
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(page["data"]["total"], 3);
    let newest = &page["data"]["items"][0];
    assert_eq!(
        (
            newest["type"].as_str(),
            newest["amount"].as_i64(),
            newest["balanceBefore"].as_i64(),
            newest["balanceAfter"].as_i64()
        ),
        (Some("spent"), Some(-25), Some(70), Some(45))
    );
    assert_eq!(newest["taskId"], b["data"]["videoId"]);
    assert_eq!(newest["referenceType"], "task");
    let (_, bonus) = app
        .json(
            Method::GET,
            "/api/users/credits/transactions?type=bonus",
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(bonus["data"]["items"][0]["amount"], 100);
    assert!(
        bonus["data"]["items"][0]["expiresAt"].is_string(),
        "the bonus expires"
    );
    let (s, _) = app
        .json(
            Method::GET,
            "/api/users/credits/transactions?type=gift",
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .json(Method::GET, "/api/users/credits", None, None)
        .await;
    assert_eq!(s, 401);
    assert_ledger_invariant(&app).await;
}

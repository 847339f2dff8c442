//! Credits across lots and plans: FIFO spending and expiry (before and by the sweep),
//! refund expiry, plan checks in order, prices and the credit routes. Every scenario ends
//! with the ledger invariant.

use serde_json::json;
use taskhub::domain::time::now_ms;

use crate::billing::{credits, failed, transactions};
use crate::helpers::{Backend, TestApp};
use crate::ledger_check::assert_ledger_invariant;

crate::backend_tests!(
    fifo_spending_and_expiry_across_lots,
    plan_checks_run_in_order,
    prices_and_credit_routes,
    the_audit_names_every_kind_of_broken_ledger
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
    app.buy_local_test_credits(&tok, "trial").await.expect(200);
    assert_eq!(credits(&app, &tok).await["credits"], 200);

    // 90 credits across the 30-day bonus (100) and the purchase: the bonus goes first.
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = json!({"prompt": format!("hd {i}"), "quality": "hd"});
        let t = app.post_task(&tok, body).await.expect(201);
        ids.push(t["data"]["videoId"].as_str().unwrap().to_string());
    }
    assert_eq!(drawn_from(&app, &ids[2]).await, vec![("bonus".into(), 30)]);
    let body = json!({"prompt": "straddles", "quality": "hd"});
    let t = app.post_task(&tok, body).await.expect(201);
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
    app.post_task(&tok, json!({"prompt": "too much"}))
        .await
        .expect_message(402, "available 0");
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
    let ex = transactions(&app, &tok, "type=expired").await.body;
    assert_eq!(ex["data"]["total"], 2);
    assert!(ex["data"]["items"][0]["expiresAt"].is_string());
    assert_eq!(ex["data"]["items"][0]["balanceAfter"], 0);
    assert_ledger_invariant(&app).await;
}

async fn plan_checks_run_in_order(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.billing.generating_plans = "basic,pro".parse().unwrap();
        s.billing.signup_bonus_credits = 0;
        s.billing.basic_monthly_credits = 50;
    })
    .await;
    let tok = app.token("planner").await;
    let admin = app.admin_token("admin1").await;
    let me = app.user_id(&tok).await;
    let x = || json!({"prompt": "x"});
    // Free cannot generate (the seed's rule), even with no credits: plan before credits.
    app.post_task(&tok, x())
        .await
        .expect_error(403, "subscriptionRequired");
    let plan_url = format!("/api/admin/users/{me}/plan");
    let set = |body| app.put(&plan_url).auth(&admin).json(body);
    app.put(&plan_url)
        .auth(&tok)
        .json(json!({"plan": "pro"}))
        .await
        .expect_because(403, "only admins set plans");
    let future = chrono::Utc::now() + chrono::Duration::days(30);
    let v = set(json!({"plan": "basic", "endsAt": future.to_rfc3339()}))
        .await
        .expect(200);
    assert_eq!(v["data"]["creditsGranted"], 50);
    app.post_task(&tok, x()).await.expect(201);
    for (status, expect) in [
        ("cancelled", "subscriptionRequired"),
        ("expired", "subscriptionExpired"),
    ] {
        set(json!({"plan": "basic", "status": status, "grantCredits": false})).await;
        let r = app.post_task(&tok, x()).await;
        assert_eq!(
            (r.status, r.code()),
            (403, Some(expect)),
            "{status}: {}",
            r.body
        );
    }
    let past = chrono::Utc::now() - chrono::Duration::days(1);
    set(json!({"plan": "basic", "endsAt": past.to_rfc3339(), "grantCredits": false})).await;
    app.post_task(&tok, x())
        .await
        .expect_error(403, "subscriptionExpired");
    // Active and current: now the credits decide (30 left, hd image costs 35).
    set(json!({"plan": "basic", "grantCredits": false})).await;
    let body =
        json!({"prompt": "x", "quality": "hd", "referenceImageUrl": "https://example.com/a.png"});
    let v = app
        .post_task(&tok, body)
        .await
        .expect_error(402, "insufficientCredits");
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
    set(json!({"plan": "gold"})).await.expect(422);
    assert_ledger_invariant(&app).await;
}

async fn prices_and_credit_routes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let m = app.get("/api/video/models").await.expect(200);
    assert_eq!(
        m["data"]["prices"],
        json!({"textToVideo": {"standard": 20, "hd": 30}, "imageToVideo": {"standard": 25, "hd": 35}})
    );
    assert_eq!(m["data"]["models"][0]["prices"]["imageToVideo"]["hd"], 35);
    let tok = app.token("shopper").await;
    let a = app
        .post_task(&tok, json!({"prompt": "a", "quality": "hd"}))
        .await
        .body;
    // Reference images are fetched at creation: serve one locally.
    let png = crate::provider_openai::Canned(
        200,
        vec![("content-type", "image/png".into())],
        "PNG".into(),
        std::time::Duration::ZERO,
    );
    let (images, _) = crate::provider_openai::spawn_mock(vec![png], None).await;
    let body = json!({"prompt": "b", "referenceImageUrl": format!("{images}/b.png")});
    let b = app.post_task(&tok, body).await.body;
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
    let page = transactions(&app, &tok, "pageSize=1").await.body;
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
    let bonus = transactions(&app, &tok, "type=bonus").await.body;
    assert_eq!(bonus["data"]["items"][0]["amount"], 100);
    assert!(
        bonus["data"]["items"][0]["expiresAt"].is_string(),
        "the bonus expires"
    );
    transactions(&app, &tok, "type=gift").await.expect(400);
    app.get("/api/users/credits").await.expect(401);
    assert_ledger_invariant(&app).await;
}

/// The audit the billing tests and the chaos run rely on reports what it should: a balance
/// that differs from its rows, and a task with a second refund row.
async fn the_audit_names_every_kind_of_broken_ledger(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("audited").await;
    let t = app
        .post_task(&tok, json!({"prompt": "audited"}))
        .await
        .expect(201);
    let id = t["data"]["videoId"].as_str().unwrap().to_string();
    app.state.store.apply_change(&id, &failed()).await.unwrap();
    assert_ledger_invariant(&app).await;
    let pool = app.state.store.pool();

    sqlx::query("UPDATE users SET credits = credits + 1")
        .execute(pool)
        .await
        .unwrap();
    let v = app.state.store.ledger_audit().await.unwrap();
    assert!(v.iter().any(|l| l.contains("sum of transactions")), "{v:?}");
    sqlx::query("UPDATE users SET credits = credits - 1")
        .execute(pool)
        .await
        .unwrap();

    // A second refund row for the task (a copy of the first, appended to the chain).
    sqlx::query(
        "INSERT INTO credit_transactions (id, user_id, seq, type, amount, balance_before,
            balance_after, reference_type, reference_id, task_id, description, created_at)
         SELECT 'dup', user_id, seq + 1, type, 0, balance_after, balance_after,
            reference_type, reference_id || '-again', task_id, description, created_at
         FROM credit_transactions WHERE task_id = $1 AND type = 'refunded'",
    )
    .bind(&id)
    .execute(pool)
    .await
    .unwrap();
    let v = app.state.store.ledger_audit().await.unwrap();
    assert!(v.iter().any(|l| l.contains("2 refund rows")), "{v:?}");
}

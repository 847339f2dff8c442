//! The Sora 2 adapter's payments (against the fake Stripe: packages, checkout, the webhook
//! at the adapter's path, status, the ledger after a purchase and a task, the admin refund),
//! showcase with view counts, the deployment `X-API-Key`, rate limits in its error shape,
//! its OpenAPI part and its prefix setting.

use serde_json::{json, Value};
use taskhub::billing::stripe::sign;
use taskhub::secret::Secret;
use taskhub::startup::Application;

use crate::backend_tests;
use crate::compat_sora2::{at, create, text_to_video, token};
use crate::helpers::{test_settings, Backend, TestApp};
use crate::payments::{session_event, with_stripe, WHSEC};
use crate::stripe_mock::StripeMock;

backend_tests!(
    stripe_purchase_then_task_then_refund,
    showcase_numbers_videos_and_counts_views,
    deployment_api_key_guards_creation_and_reads,
    rate_limits_answer_in_the_detail_shape
);

const KEY: &str = "FAKE-sora2-deployment-key";

async fn stripe_purchase_then_task_then_refund(backend: Backend) {
    let mock = StripeMock::start().await;
    let app = TestApp::spawn_with(backend, with_stripe(&mock)).await;
    let pk = app.get(at("/api/payments/packages")).await.expect(200);
    let std = &pk["packages"]["standard"];
    assert_eq!(
        (
            std["credits"].as_i64(),
            std["price"].as_f64(),
            std["currency"].as_str(),
            std["unit_price"].as_f64()
        ),
        (Some(500), Some(49.0), Some("CNY"), Some(0.098)),
        "{pk}"
    );
    assert_eq!(pk["packages"]["premium"]["unit_price"], 0.0663);
    assert_eq!(pk["credit_value_rmb"], 0.1);

    let tok = token(&app, "buyer@example.com").await;
    let bad = json!({"package": "gold", "return_url": "https://app.example/done"});
    app.post(at("/api/payments/stripe/create"))
        .auth(&tok)
        .json(bad)
        .await
        .expect(400);
    let body = json!({"package": "standard", "return_url": "https://app.example/done"});
    let p = app
        .post(at("/api/payments/stripe/create"))
        .auth(&tok)
        .json(body)
        .await
        .expect(200);
    assert_eq!(
        (
            p["status"].as_str(),
            p["amount"].as_f64(),
            p["currency"].as_str(),
            p["credits_purchased"].as_i64()
        ),
        (Some("pending"), Some(49.0), Some("CNY"), Some(500)),
        "{p}"
    );
    assert!(
        p["payment_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http")),
        "{p}"
    );
    let pid = p["payment_id"].as_str().unwrap().to_string();
    let other = token(&app, "nosy@example.com").await;
    app.get(at(&format!("/api/payments/{pid}")))
        .auth(&other)
        .await
        .expect(404);

    // Stripe calls the adapter's webhook path: verified like the native one.
    let stored = app.state.store.get_payment(&pid).await.unwrap();
    let meta =
        json!({"sessionId": stored.stripe_session_id, "userId": stored.user_id, "paymentId": pid});
    let event = session_event(
        "evt_sora2_paid",
        "checkout.session.completed",
        &meta,
        true,
        4900,
    );
    let bytes = serde_json::to_vec(&event).unwrap();
    let hook = |sig: String| {
        app.post(at("/api/payments/webhook/stripe"))
            .header("Stripe-Signature", sig)
            .header("Content-Type", "application/json")
            .body(bytes.clone())
    };
    let now = chrono::Utc::now().timestamp();
    let v = hook(sign(&bytes, "whsec_wrong", now)).await.expect(400);
    assert!(v["detail"].is_string(), "{v}");
    let v = hook(sign(&bytes, WHSEC, now)).await.expect(200);
    assert_eq!(v, json!({"received": true}));
    let got = app
        .get(at(&format!("/api/payments/{pid}")))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(got["status"], "succeeded", "{got}");
    assert!(got["paid_at"].as_str().unwrap().ends_with('Z'));
    let c = app
        .get(at("/api/users/credits"))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        (c["credits"].as_i64(), c["total_earned"].as_i64()),
        (Some(600), Some(600))
    );

    // A task after the purchase: the ledger shows both, newest first.
    let id = create(&app, &tok, "bought and spent").await;
    let txs = app
        .get(at("/api/users/credits/transactions"))
        .auth(&tok)
        .await
        .expect(200);
    let list = txs["transactions"].as_array().unwrap();
    let kinds: Vec<(&str, i64)> = list
        .iter()
        .map(|t| {
            (
                t["transaction_type"].as_str().unwrap(),
                t["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [("spent", -20), ("purchased", 500), ("bonus", 100)],
        "{txs}"
    );
    assert_eq!(list[0]["task_id"], id.as_str());
    assert_eq!(list[1]["payment_order_id"], pid.as_str());
    assert!(
        list[1]["expires_at"].as_str().is_some(),
        "purchased credits expire"
    );
    let bought = app
        .get(at(
            "/api/users/credits/transactions?transaction_type=purchased",
        ))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        (
            bought["total"].as_i64(),
            bought["transactions"][0]["balance_after"].as_i64()
        ),
        (Some(1), Some(600))
    );

    // The admin refund, by query parameters; the buyer may not.
    let q = format!("/api/payments/stripe/refund?payment_id={pid}&reason=requested");
    app.post(at(&q)).auth(&tok).await.expect(403);
    let admin = app.admin_token("sora2admin").await;
    let missing = app
        .post(at("/api/payments/stripe/refund?payment_id=pay_missing"))
        .auth(&admin)
        .await;
    missing.expect(404);
    let r = app.post(at(&q)).auth(&admin).await.expect(200);
    assert_eq!(
        (
            r["success"].as_bool(),
            r["amount"].as_f64(),
            r["credits_refunded"].as_i64()
        ),
        (Some(true), Some(49.0), Some(500)),
        "{r}"
    );
    assert!(r["refund_id"].as_str().is_some(), "{r}");
    let got = app
        .get(at(&format!("/api/payments/{pid}")))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(got["status"], "refunded");
    app.post(at(&q)).auth(&admin).await.expect(400);
    let c = app
        .get(at("/api/users/credits"))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(c["credits"], 80);
}

async fn showcase_numbers_videos_and_counts_views(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("curator").await;
    let first = crate::showcase::video("Sunset", "nature");
    crate::showcase::create(&app, &admin, "videos", first).await;
    let mut tall = crate::showcase::video("Tall", "nature");
    tall["aspectRatio"] = json!("9:16");
    crate::showcase::create(&app, &admin, "videos", tall).await;

    let page = app
        .get(at("/api/showcase/videos?page_size=1"))
        .await
        .expect(200);
    assert_eq!(
        (
            page["total"].as_i64(),
            page["page_size"].as_i64(),
            page["total_pages"].as_i64()
        ),
        (Some(2), Some(1), Some(2))
    );
    let all = app.get(at("/api/showcase/videos")).await.expect(200);
    assert_eq!(all["page_size"], 12);
    let videos = all["videos"].as_array().unwrap();
    let ratios: Vec<&str> = videos
        .iter()
        .map(|v| v["aspect_ratio"].as_str().unwrap())
        .collect();
    assert!(
        ratios.contains(&"landscape") && ratios.contains(&"portrait"),
        "{all}"
    );
    let v = &videos[0];
    let id = v["id"].as_i64().expect("integer ids");
    assert_eq!(
        (v["is_active"].as_bool(), v["duration_seconds"].as_f64()),
        (Some(true), Some(5.0))
    );
    let again = app.get(at("/api/showcase/videos")).await.expect(200);
    assert_eq!(again["videos"][0]["id"], id, "ids are stable");

    let before = v["view_count"].as_i64().unwrap();
    let d = app
        .get(at(&format!("/api/showcase/videos/{id}")))
        .await
        .expect(200);
    assert_eq!(
        (d["id"].as_i64(), d["view_count"].as_i64()),
        (Some(id), Some(before + 1))
    );
    let native = app.get("/api/showcase/videos").await.expect(200);
    let counted: Vec<i64> = native["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["viewCount"].as_i64().unwrap())
        .collect();
    assert!(
        counted.contains(&(before + 1)),
        "the native count moved: {native}"
    );
    let v = app.get(at("/api/showcase/videos/999999")).await.expect(404);
    assert!(v["detail"].is_string(), "{v}");
    app.get(at("/api/showcase/videos/abc")).await.expect(404);
    app.get(at("/api/showcase/videos?page=0")).await.expect(422);
}

async fn deployment_api_key_guards_creation_and_reads(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.compat_sora2.compat_sora2_api_keys = Secret::new(format!("other-FAKE,{KEY}"));
    })
    .await;
    let tok = token(&app, "keyed@example.com").await;
    let body = json!({"prompt": "with a key"});
    let v = text_to_video(&app, &tok, body.clone()).await.expect(403);
    assert_eq!(v["detail"], "Invalid or missing API key");
    let wrong = text_to_video(&app, &tok, body.clone()).header("X-API-Key", "nope");
    wrong.await.expect(403);
    let ok = text_to_video(&app, &tok, body.clone()).header("X-API-Key", KEY);
    let id = ok.await.expect(200)["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    for path in [
        format!("/api/videos/tasks/{id}"),
        format!("/api/tasks/{id}"),
    ] {
        app.get(at(&path)).auth(&tok).await.expect(403);
        app.get(at(&path))
            .auth(&tok)
            .header("X-API-Key", KEY)
            .await
            .expect(200);
        // The deployment key alone names no user: nobody's tasks are visible with it.
        app.get(at(&path))
            .header("X-API-Key", KEY)
            .await
            .expect(401);
        let other = token(&app, "intruder@example.com").await;
        app.get(at(&path))
            .auth(&other)
            .header("X-API-Key", KEY)
            .await
            .expect(404);
    }
    // A taskhub user API key stands for both.
    let key = app
        .post("/api/users/api-keys")
        .auth(&tok)
        .json(json!({"name": "cli"}))
        .await
        .expect(201);
    let user_key = key["data"]["key"].as_str().unwrap();
    let t = app
        .get(at(&format!("/api/tasks/{id}")))
        .header("X-API-Key", user_key)
        .await
        .expect(200);
    assert_eq!(t["task_id"], id.as_str());
    // Routes the reference does not guard with a key do not need one.
    app.get(at("/api/tasks/user/tasks"))
        .auth(&tok)
        .await
        .expect(200);
}

async fn rate_limits_answer_in_the_detail_shape(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.http.rate_auth_per_min = 1).await;
    app.post(at("/api/auth/test/login?email=r@example.com"))
        .await
        .expect(200);
    let resp = app
        .post(at("/api/auth/test/login?email=r@example.com"))
        .response()
        .await;
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["detail"].as_str().unwrap().contains("too many requests"),
        "{v}"
    );
    // An unknown path under the prefix is a 404 in the same shape.
    let v = app.get(at("/api/nothing/here")).await.expect(404);
    assert!(v["detail"].is_string(), "{v}");
}

#[tokio::test]
async fn an_empty_prefix_is_refused_and_another_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = test_settings(Backend::Sqlite, dir.path()).await;
    s.compat_sora2.compat_sora2_prefix = String::new();
    let e = Application::build(s)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("TASKHUB_COMPAT_SORA2_PREFIX must not be empty"),
        "{e}"
    );

    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.compat_sora2.compat_sora2_prefix = "/sora".into()
    })
    .await;
    app.post("/sora/api/auth/test/login").await.expect(200);
    app.post(at("/api/auth/test/login")).await.expect(404);
    let doc = app.get("/openapi.json").await.expect(200);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/sora/api/videos/text-to-video"));
    assert!(!paths.keys().any(|p| p.starts_with("/compat/sora2")));
}

#[tokio::test]
async fn the_document_lists_the_adapter_under_its_tag() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app.get("/openapi.json").await.expect(200);
    let ours: Vec<(&String, &Value)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with("/compat/sora2/"))
        .collect();
    let ops: usize = ours
        .iter()
        .map(|(_, item)| item.as_object().unwrap().len())
        .sum();
    assert_eq!(
        ops, 25,
        "every Sora 2 operation is documented (upload included)"
    );
    for (path, item) in ours {
        for (method, op) in item.as_object().unwrap() {
            assert_eq!(op["tags"][0], "Sora 2 compat", "{method} {path}");
            let text = op.to_string();
            assert!(
                !text.contains("ErrorEnvelope"),
                "{method} {path}: refusals are {{detail}}"
            );
        }
    }
    let create = &doc["paths"]["/compat/sora2/api/videos/text-to-video"]["post"];
    assert!(
        create["responses"]["429"].is_object(),
        "task creation is rate limited"
    );
    assert!(
        doc["paths"]["/compat/sora2/api/payments/webhook/stripe"]["post"]["responses"]["429"]
            .is_null()
    );
}

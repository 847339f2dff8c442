//! The Sora 2 platform API adapter, walked as a client written from its reference would:
//! sign in (test login, Google by code), profile, credits, create, poll to completion, list,
//! cancel, retry a failed task, someone else's ids, 401, 422; and the same tasks through the
//! native API and the WebSocket. (Payments, showcase, API keys, docs: `compat_sora2_more.rs`.)

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taskhub::domain::lifecycle::{TaskChange, TaskError, TaskStatus};

use crate::backend_tests;
use crate::helpers::{Backend, Call, TestApp};
use crate::ws_client::{completed, drive, progress, Ws};

backend_tests!(
    sign_in_profile_and_credits,
    google_code_sign_in_and_account_deletion,
    text_to_video_runs_to_completion_and_lists,
    cancel_retry_and_the_ledger,
    tasks_are_private_and_inputs_checked,
    tasks_are_shared_with_the_native_api_and_the_websocket
);

pub const P: &str = "/compat/sora2";

pub fn at(path: &str) -> String {
    format!("{P}{path}")
}

/// `POST /api/auth/test/login?email=…`: the token answer.
pub async fn login(app: &TestApp, email: &str) -> Value {
    let v = app
        .post(at(&format!("/api/auth/test/login?email={email}")))
        .await
        .expect(200);
    assert_eq!(v["token_type"], "bearer", "{v}");
    assert!(v["expires_in"].as_i64().unwrap() > 0, "{v}");
    v
}

pub async fn token(app: &TestApp, email: &str) -> String {
    login(app, email).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

pub fn text_to_video(app: &TestApp, tok: &str, body: Value) -> Call {
    app.post(at("/api/videos/text-to-video"))
        .auth(tok)
        .json(body)
}

pub async fn create(app: &TestApp, tok: &str, prompt: &str) -> String {
    let v = text_to_video(app, tok, json!({ "prompt": prompt }))
        .await
        .expect(200);
    v["task_id"].as_str().unwrap().to_string()
}

fn detail(v: &Value) -> &str {
    v["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("detail: {v}"))
}

async fn sign_in_profile_and_credits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = login(&app, "ana@example.com").await;
    let tok = t["access_token"].as_str().unwrap();
    let me = app.get(at("/api/auth/me")).auth(tok).await.expect(200);
    assert_eq!(
        (me["email"].as_str(), me["credits"].as_i64()),
        (Some("ana@example.com"), Some(100))
    );
    assert_eq!(me["is_verified"], true);
    // The same email signs in to the same account; the default email is test@example.com.
    let again = token(&app, "ana@example.com").await;
    let me2 = app.get(at("/api/auth/me")).auth(&again).await.expect(200);
    assert_eq!(me2["id"], me["id"]);
    let default = app.post(at("/api/auth/test/login")).await.expect(200);
    let d = app
        .get(at("/api/auth/me"))
        .auth(default["access_token"].as_str().unwrap())
        .await;
    assert_eq!(d.expect(200)["email"], "test@example.com");

    let p = app
        .get(at("/api/users/profile"))
        .auth(tok)
        .await
        .expect(200);
    assert_eq!(
        (p["id"].clone(), p["language"].as_str()),
        (me["id"].clone(), Some("en"))
    );
    assert!(p["created_at"].as_str().unwrap().ends_with('Z'), "{p}");
    let change = json!({"username": "Ana Lima", "language": "zh-CN", "avatar_url": "https://cdn.example.com/a.png"});
    let p = app
        .put(at("/api/users/profile"))
        .auth(tok)
        .json(change)
        .await
        .expect(200);
    assert_eq!(
        (
            p["username"].as_str(),
            p["language"].as_str(),
            p["avatar_url"].as_str()
        ),
        (
            Some("Ana Lima"),
            Some("zh-CN"),
            Some("https://cdn.example.com/a.png")
        )
    );
    let bad = app
        .put(at("/api/users/profile"))
        .auth(tok)
        .json(json!({"language": "xx"}));
    assert!(detail(&bad.await.expect(400)).contains("language"));
    let p = app
        .get(at("/api/users/profile"))
        .auth(tok)
        .await
        .expect(200);
    assert_eq!(
        (p["username"].as_str(), p["credits"].as_i64()),
        (Some("Ana Lima"), Some(100))
    );

    let c = app
        .get(at("/api/users/credits"))
        .auth(tok)
        .await
        .expect(200);
    assert_eq!(
        c,
        json!({"user_id": me["id"], "credits": 100, "total_earned": 100, "total_spent": 0})
    );

    // Refresh rotates; a spent refresh token is refused; logout answers its message.
    let r = json!({"refresh_token": t["refresh_token"]});
    let fresh = app
        .post(at("/api/auth/refresh"))
        .json(r.clone())
        .await
        .expect(200);
    assert_ne!(fresh["refresh_token"], t["refresh_token"]);
    let reused = app.post(at("/api/auth/refresh")).json(r).await.expect(401);
    assert!(detail(&reused).contains("already used"), "{reused}");
    let out = app.post(at("/api/auth/logout")).auth(tok).await.expect(200);
    assert_eq!(out, json!({"message": "Successfully logged out"}));
    // No token: 401 in the detail shape.
    let v = app.get(at("/api/users/profile")).await.expect(401);
    assert!(v["detail"].is_string(), "{v}");
    app.post(at("/api/auth/logout")).await.expect(401);
    app.get(at("/api/auth/me"))
        .auth("not-a-jwt")
        .await
        .expect(401);
}

async fn google_code_sign_in_and_account_deletion(backend: Backend) {
    let fake = crate::google::issuer().await;
    let app = crate::google::app_for(backend, &fake, 30).await;
    let redirect = "http://localhost:3000/auth/callback";
    let code = fake.issue_code("gus@example.com", redirect, None);
    let body = json!({"code": code, "redirect_uri": redirect});
    let t = app
        .post(at("/api/auth/google/login"))
        .json(body)
        .await
        .expect(200);
    assert_eq!(t["token_type"], "bearer");
    let tok = t["access_token"].as_str().unwrap();
    let me = app.get(at("/api/auth/me")).auth(tok).await.expect(200);
    assert_eq!(
        (me["email"].as_str(), me["credits"].as_i64()),
        (Some("gus@example.com"), Some(100))
    );
    // A made-up code, and a body without the code.
    let bad = json!({"code": "made-up", "redirect_uri": redirect});
    app.post(at("/api/auth/google/login"))
        .json(bad)
        .await
        .expect(401);
    let v = app
        .post(at("/api/auth/google/login"))
        .json(json!({}))
        .await
        .expect(422);
    assert!(v["detail"].is_array(), "{v}");

    // Deleting a test-login account (random password, no Google sign-in) needs re-auth.
    let other = token(&app, "tess@example.com").await;
    app.delete(at("/api/users/account"))
        .auth(&other)
        .await
        .expect(403);
    // A fresh Google sign-in stands in for a password: deleted at once.
    let v = app
        .delete(at("/api/users/account"))
        .auth(tok)
        .await
        .expect(200);
    assert!(v["message"].is_string(), "{v}");
    app.get(at("/api/auth/me")).auth(tok).await.expect(401);
}

/// Polls the video API's status until `done` holds.
pub async fn wait_video(
    app: &TestApp,
    tok: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = app
            .get(at(&format!("/api/videos/tasks/{id}")))
            .auth(tok)
            .await
            .expect(200);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "task never got there: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text_to_video_runs_to_completion_and_lists(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.poller.enabled = true;
        s.providers.simulator_seconds = 0.6;
    })
    .await;
    let tok = token(&app, "vic@example.com").await;
    let body = json!({"prompt": "a red fox", "aspect_ratio": "portrait", "quality": "hd"});
    let v = text_to_video(&app, &tok, body).await.expect(200);
    assert_eq!(
        (
            v["success"].as_bool(),
            v["credits_estimated"].as_i64(),
            v["estimated_time"].as_i64()
        ),
        (Some(true), Some(30), Some(180)),
        "{v}"
    );
    let id = v["task_id"].as_str().unwrap().to_string();
    let done = wait_video(&app, &tok, &id, |t| {
        t["status"] == "SUCCEEDED" || t["status"] == "FAILED"
    })
    .await;
    assert_eq!(
        (done["status"].as_str(), done["progress"].as_f64()),
        (Some("SUCCEEDED"), Some(100.0)),
        "{done}"
    );
    assert!(
        done["result_url"].as_str().is_some_and(|u| !u.is_empty()),
        "{done}"
    );
    assert!(done["completed_at"].as_str().unwrap().ends_with('Z'));
    assert!(done["error_message"].is_null());
    let t = app
        .get(at(&format!("/api/tasks/{id}")))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        (t["status"].as_str(), t["task_type"].as_str()),
        (Some("completed"), Some("TEXT_TO_VIDEO"))
    );
    assert_eq!(t["result_url"], done["result_url"]);
    // The parameters reached the native task: portrait is 720x1280.
    let native = app.get_task(&tok, &id).await.expect(200);
    assert_eq!(
        (
            native["data"]["size"].as_str(),
            native["data"]["quality"].as_str()
        ),
        (Some("720x1280"), Some("hd"))
    );

    let second = create(&app, &tok, "a blue whale [slow]").await;
    let page = app
        .get(at("/api/tasks/user/tasks?page=1&page_size=1"))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        (
            page["total"].as_i64(),
            page["page"].as_i64(),
            page["page_size"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(page["tasks"][0]["task_id"], second.as_str(), "newest first");
    let page2 = app
        .get(at("/api/tasks/user/tasks?page=2&page_size=1"))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(page2["tasks"][0]["task_id"], id.as_str());
    let only = app
        .get(at("/api/tasks/user/tasks?status=completed"))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        (only["total"].as_i64(), only["page_size"].as_i64()),
        (Some(1), Some(10))
    );
    assert_eq!(only["tasks"][0]["task_id"], id.as_str());
    app.get(at("/api/tasks/user/tasks?status=nope"))
        .auth(&tok)
        .await
        .expect(422);
    app.get(at("/api/tasks/user/tasks?page_size=101"))
        .auth(&tok)
        .await
        .expect(422);
}

fn failed() -> TaskChange {
    TaskChange {
        status: Some(TaskStatus::Failed),
        error: Some(TaskError {
            code: "providerError".into(),
            message: "boom".into(),
        }),
        ..Default::default()
    }
}

async fn cancel_retry_and_the_ledger(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = token(&app, "rui@example.com").await;
    let id = create(&app, &tok, "to cancel").await;
    let t = app
        .get(at(&format!("/api/tasks/{id}")))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        (t["status"].as_str(), t["progress"].as_f64()),
        (Some("pending"), Some(0.0))
    );
    let v = app
        .delete(at(&format!("/api/tasks/{id}")))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(v, json!({"message": "Task cancelled successfully"}));
    app.delete(at(&format!("/api/tasks/{id}")))
        .auth(&tok)
        .await
        .expect(400);
    let v = app
        .get(at(&format!("/api/videos/tasks/{id}")))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        v["status"], "FAILED",
        "a cancelled task is FAILED to this API"
    );
    // Only failed tasks are retried (a cancelled one is not).
    app.post(at(&format!("/api/tasks/{id}/retry")))
        .auth(&tok)
        .await
        .expect(400);

    let id2 = create(&app, &tok, "will fail").await;
    app.post(at(&format!("/api/tasks/{id2}/retry")))
        .auth(&tok)
        .await
        .expect(400);
    app.state
        .store
        .apply_change(&id2, &failed())
        .await
        .unwrap()
        .expect("failed");
    let v = app
        .get(at(&format!("/api/videos/tasks/{id2}")))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        (v["status"].as_str(), v["error_message"].as_str()),
        (Some("FAILED"), Some("boom"))
    );
    let r = app
        .post(at(&format!("/api/tasks/{id2}/retry")))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        (r["message"].as_str(), r["original_task_id"].as_str()),
        (Some("Task retry initiated"), Some(id2.as_str()))
    );
    let new_id = r["task_id"].as_str().unwrap();
    assert_ne!(new_id, id2);
    let native = app.get_task(&tok, new_id).await.expect(200);
    assert_eq!(
        (
            native["data"]["prompt"].as_str(),
            native["data"]["retryOf"].as_str()
        ),
        (Some("will fail"), Some(id2.as_str()))
    );

    // The ledger: bonus, then charges and refunds, newest first; filtered by type.
    let all = app
        .get(at("/api/users/credits/transactions"))
        .auth(&tok)
        .await
        .expect(200);
    let types: Vec<&str> = all["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["transaction_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["spent", "refunded", "spent", "refunded", "spent", "bonus"],
        "{all}"
    );
    assert_eq!(
        (all["total"].as_i64(), all["page_size"].as_i64()),
        (Some(6), Some(20))
    );
    let spent = app
        .get(at(
            "/api/users/credits/transactions?transaction_type=spent&page_size=2",
        ))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        (
            spent["total"].as_i64(),
            spent["transactions"].as_array().unwrap().len()
        ),
        (Some(3), 2)
    );
    let s = &spent["transactions"][0];
    assert_eq!(
        (s["amount"].as_i64(), s["task_id"].as_str()),
        (Some(-20), Some(new_id))
    );
    assert_eq!(
        s["balance_before"].as_i64().unwrap() - 20,
        s["balance_after"].as_i64().unwrap()
    );
    assert_eq!(s["is_expired"], false);
    let bonus = app
        .get(at("/api/users/credits/transactions?transaction_type=bonus"))
        .auth(&tok)
        .await
        .expect(200);
    assert!(bonus["transactions"][0]["expires_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    app.get(at("/api/users/credits/transactions?transaction_type=gift"))
        .auth(&tok)
        .await
        .expect(422);
    let c = app
        .get(at("/api/users/credits"))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        (c["credits"].as_i64(), c["total_spent"].as_i64()),
        (Some(80), Some(20))
    );
}

async fn tasks_are_private_and_inputs_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = token(&app, "own@example.com").await;
    let other = token(&app, "eve@example.com").await;
    let id = create(&app, &tok, "mine").await;
    for path in [
        format!("/api/videos/tasks/{id}"),
        format!("/api/tasks/{id}"),
    ] {
        let v = app.get(at(&path)).auth(&other).await.expect(404);
        assert_eq!(detail(&v), "Task not found");
        app.get(at(&path)).await.expect(401);
    }
    app.delete(at(&format!("/api/tasks/{id}")))
        .auth(&other)
        .await
        .expect(404);
    app.post(at(&format!("/api/tasks/{id}/retry")))
        .auth(&other)
        .await
        .expect(404);
    app.get(at("/api/tasks/not-a-task"))
        .auth(&tok)
        .await
        .expect(404);
    let list = app
        .get(at("/api/tasks/user/tasks"))
        .auth(&other)
        .await
        .expect(200);
    assert_eq!(list["total"], 0);

    // FastAPI-style 422s naming the field.
    let v = text_to_video(&app, &tok, json!({"aspect_ratio": "landscape"}))
        .await
        .expect(422);
    assert_eq!(v["detail"][0]["loc"], json!(["body", "prompt"]), "{v}");
    assert_eq!(v["detail"][0]["type"], "value_error.missing");
    let v = text_to_video(&app, &tok, json!({"prompt": "x", "aspect_ratio": "square"}))
        .await
        .expect(422);
    assert_eq!(v["detail"][0]["loc"], json!(["body", "aspect_ratio"]));
    let v = text_to_video(&app, &tok, json!({"prompt": "x", "quality": "4k"}))
        .await
        .expect(422);
    assert_eq!(v["detail"][0]["loc"], json!(["body", "quality"]));
    let v = text_to_video(&app, &tok, json!({"prompt": "   "}))
        .await
        .expect(422);
    assert_eq!(v["detail"][0]["loc"], json!(["body", "prompt"]));
    let i2v = |body: Value| {
        app.post(at("/api/videos/image-to-video"))
            .auth(&tok)
            .json(body)
    };
    let v = i2v(json!({"prompt": "x", "image_urls": []}))
        .await
        .expect(422);
    assert_eq!(v["detail"][0]["loc"], json!(["body", "image_urls"]));
    let two = json!({"prompt": "x", "image_urls": ["https://a.example/1.png", "https://a.example/2.png"]});
    i2v(two).await.expect(422);
    // A URL that cannot be fetched is the reference's 400; nothing is charged.
    let v = i2v(json!({"prompt": "x", "image_urls": ["http://127.0.0.1:9/none.png"]}))
        .await
        .expect(400);
    assert!(detail(&v).contains("image URL"), "{v}");
    let me = app.get(at("/api/auth/me")).auth(&tok).await.expect(200);
    assert_eq!(me["credits"], 80, "only the first task was charged");
    // Broke: 402 with the reference's message shape.
    for _ in 0..4 {
        create(&app, &tok, "spend").await;
    }
    let v = text_to_video(&app, &tok, json!({"prompt": "one more"}))
        .await
        .expect(402);
    assert!(v["detail"].is_string(), "{v}");
}

async fn tasks_are_shared_with_the_native_api_and_the_websocket(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = token(&app, "ws@example.com").await;
    let id = create(&app, &tok, "watched").await;
    let native = app.get_task(&tok, &id).await.expect(200);
    assert_eq!(
        (
            native["data"]["status"].as_str(),
            native["data"]["prompt"].as_str()
        ),
        (Some("queued"), Some("watched"))
    );
    let mut ws = Ws::authed(&app, &tok).await;
    ws.subscribe(&id, None).await;
    drive(&app.state, &id, progress(40)).await;
    let v = app
        .get(at(&format!("/api/videos/tasks/{id}")))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        (v["status"].as_str(), v["progress"].as_f64()),
        (Some("PROCESSING"), Some(40.0))
    );
    drive(&app.state, &id, completed()).await;
    let frames = ws.task_frames_until_terminal(&id).await;
    assert_eq!(frames.last().unwrap()["type"], "taskCompleted");
    let v = app
        .get(at(&format!("/api/videos/tasks/{id}")))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        (v["status"].as_str(), v["result_url"].as_str()),
        (Some("SUCCEEDED"), Some("https://example.test/v.mp4"))
    );

    // A task created natively is this API's task too.
    let native_id = app.create_task_id(&tok, "made natively").await;
    let t = app
        .get(at(&format!("/api/tasks/{native_id}")))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        (t["status"].as_str(), t["user_id"].clone()),
        (Some("pending"), native["data"]["userId"].clone())
    );
}

//! `DELETE /api/users/account`: re-authentication (password, or a Google sign-in within 10
//! minutes), then at once: sign-ins, refresh tokens, API keys and access tokens refused,
//! sockets closed with 4003 (on another node too, through Redis), open tasks cancelled with
//! refunds, files removed, personal fields erased; the ledger still balances; a second
//! request is 404.

use std::sync::Arc;

use serde_json::json;

use crate::backend_tests;
use crate::google::{app_for, issuer};
use crate::helpers::{Backend, TestApp};
use crate::ledger_check::assert_ledger_invariant;
use crate::ws_client::{close_code, Ws};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nfake";
const PASSWORD: &str = "fake-password-123";

fn delete_account(app: &TestApp, token: &str, body: serde_json::Value) -> crate::helpers::Call {
    app.delete("/api/users/account").auth(token).json(body)
}

async fn deleting_with_a_password_erases_and_revokes_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reg = app.register("nora").await;
    let tok = reg["accessToken"].as_str().unwrap().to_string();
    let uid = reg["user"]["id"].as_str().unwrap().to_string();
    let key = app
        .post("/api/users/api-keys")
        .auth(&tok)
        .json(json!({"name": "ci"}))
        .await
        .expect(201);
    let key = key["data"]["key"].as_str().unwrap().to_string();
    let open = app.create_task_id(&tok, "open at deletion").await;
    let image = app.post_image_task(&tok, "with an upload", PNG.to_vec(), "image/png");
    let image_id = image.await.expect(201)["data"]["videoId"]
        .as_str()
        .unwrap()
        .to_string();
    let upload = app
        .state
        .store
        .get_task(&image_id)
        .await
        .unwrap()
        .input_image
        .unwrap();
    let upload = app.data_path().join(upload);
    assert!(upload.exists());
    let media = app.data_path().join("media").join(format!("{open}.mp4"));
    std::fs::create_dir_all(media.parent().unwrap()).unwrap();
    std::fs::write(&media, b"fake video").unwrap();
    let before =
        app.get("/api/users/credits").auth(&tok).await.expect(200)["data"]["credits"].clone();
    let mut ws = Ws::authed(&app, &tok).await;

    // Refusals first; nothing is lost by them.
    delete_account(&app, &tok, json!({}))
        .await
        .expect_error(403, "reauthenticationRequired");
    delete_account(&app, &tok, json!({"password": "wrong-password"}))
        .await
        .expect_error(403, "reauthenticationRequired");
    delete_account(&app, &tok, json!({"password": "x".repeat(129)}))
        .await
        .expect_error(403, "reauthenticationRequired");
    app.delete("/api/users/account")
        .json(json!({}))
        .await
        .expect_error(401, "unauthorized");
    app.get("/api/auth/me").auth(&tok).await.expect(200);
    assert!(upload.exists() && media.exists());

    let done = delete_account(&app, &tok, json!({"password": PASSWORD}))
        .await
        .expect(200);
    assert_eq!(
        done["data"],
        json!({"deleted": true, "cancelledTasks": 2, "subscriptionStopped": false}),
        "{done}"
    );
    // The socket is told and closed with 4003.
    let (frames, closed) = ws.until_closed().await;
    assert_eq!(closed, close_code(4003), "{frames:?}");
    assert!(
        frames
            .iter()
            .any(|f| f["payload"]["code"] == "accountDeleted"),
        "{frames:?}"
    );
    // Everything of the account is refused at once.
    app.get("/api/auth/me")
        .auth(&tok)
        .await
        .expect_error(401, "unauthorized");
    app.get("/api/users/credits")
        .header("X-API-Key", &key)
        .await
        .expect_error(401, "unauthorized");
    let refresh = json!({"refreshToken": reg["refreshToken"]});
    app.post("/api/auth/refresh")
        .json(refresh)
        .await
        .expect_error(401, "unauthorized");
    for login in ["nora", "nora@example.com"] {
        let body = json!({"login": login, "password": PASSWORD});
        app.post("/api/auth/login")
            .json(body)
            .await
            .expect_error(401, "unauthorized");
    }
    let mut late = Ws::connect(&app).await;
    let reply = late.request("auth", json!({ "token": tok })).await;
    assert_eq!(reply["type"], "authError", "{reply}");
    // A second request is a clean 404.
    delete_account(&app, &tok, json!({"password": PASSWORD}))
        .await
        .expect_error(404, "notFound");
    // Files gone, personal fields erased, tasks anonymised, credits refunded.
    assert!(!upload.exists() && !media.exists());
    let row: (String, String, String) =
        sqlx::query_as("SELECT username, email, password_hash FROM users WHERE id = $1")
            .bind(&uid)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert!(
        !row.0.contains("nora") && !row.1.contains("nora") && row.2.is_empty(),
        "{row:?}"
    );
    let task = app.state.store.get_task(&open).await.unwrap();
    assert_eq!(
        (task.status.to_string().as_str(), task.prompt.as_str()),
        ("cancelled", "")
    );
    let (credits,): (i64,) = sqlx::query_as("SELECT credits FROM users WHERE id = $1")
        .bind(&uid)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    let b = &app.state.settings.billing;
    let refunded = b.price_text_standard + b.price_image_standard;
    assert_eq!(
        credits,
        before.as_i64().unwrap() + refunded,
        "both open tasks refunded"
    );
    assert_ledger_invariant(&app).await;
    // The name and email are free again.
    app.register("nora").await;
}

async fn google_accounts_reauthenticate_by_a_recent_sign_in(backend: Backend) {
    let fake = issuer().await;
    let app = app_for(backend, &fake, 30).await;
    let sign_in = |email: &str| {
        let t = fake.sign(&fake.claims(email));
        app.post("/api/auth/google").json(json!({"idToken": t}))
    };
    let olga = sign_in("olga@example.com").await.expect(200);
    let tok = olga["data"]["accessToken"].as_str().unwrap().to_string();
    // No password to give: a wrong one is refused, the recent sign-in is enough.
    delete_account(&app, &tok, json!({"password": "anything-at-all"}))
        .await
        .expect_error(403, "reauthenticationRequired");
    delete_account(&app, &tok, json!({})).await.expect(200);
    delete_account(&app, &tok, json!({}))
        .await
        .expect_error(404, "notFound");
    // A sign-in older than 10 minutes is not.
    let pete = sign_in("pete@example.com").await.expect(200);
    let tok = pete["data"]["accessToken"].as_str().unwrap().to_string();
    let old = taskhub::domain::time::now_ms() - 11 * 60 * 1000;
    sqlx::query("UPDATE users SET google_login_at = $1 WHERE email = $2")
        .bind(old)
        .bind("pete@example.com")
        .execute(app.state.store.pool())
        .await
        .unwrap();
    delete_account(&app, &tok, json!({}))
        .await
        .expect_error(403, "reauthenticationRequired");
    app.get("/api/auth/me").auth(&tok).await.expect(200);
    // Signing in again makes it recent.
    sign_in("pete@example.com").await.expect(200);
    delete_account(&app, &tok, json!({})).await.expect(200);
    // The deleted Google identity can no longer reach the old account: a new one is made.
    let again = sign_in("pete@example.com").await.expect(200);
    assert_eq!(again["data"]["created"], true);
    assert_ledger_invariant(&app).await;
}

backend_tests!(
    deleting_with_a_password_erases_and_revokes_everything,
    google_accounts_reauthenticate_by_a_recent_sign_in,
);

/// Two nodes on one PostgreSQL and one Redis: deleting on A closes the user's socket on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deletion_closes_sockets_on_another_node() {
    let db = crate::helpers::fresh_postgres_url().await;
    let redis = std::env::var("TEST_REDIS_URL").expect("Redis tests need TEST_REDIS_URL");
    let node = |db: String, redis: String| async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = crate::helpers::test_settings(Backend::Sqlite, dir.path()).await;
        s.database_url = Some(db);
        s.redis_url = Some(redis);
        TestApp::start(s, Arc::new(dir)).await
    };
    let a = node(db.clone(), redis.clone()).await;
    let b = node(db, redis).await;
    let tok = a.token("quinn").await;
    let other = a.token("rosa").await;
    let id = a.create_task_id(&tok, "open on deletion").await;
    let mut on_b = Ws::authed(&b, &tok).await;
    let mut bystander = Ws::authed(&b, &other).await;
    delete_account(&a, &tok, json!({"password": PASSWORD}))
        .await
        .expect(200);
    let (frames, closed) = on_b.until_closed().await;
    assert_eq!(closed, close_code(4003), "{frames:?}");
    // Another user's socket on B stays open.
    let pong = bystander.request("ping", json!({})).await;
    assert_eq!(pong["type"], "pong", "{pong}");
    b.get("/api/auth/me")
        .auth(&tok)
        .await
        .expect_error(401, "unauthorized");
    assert_eq!(
        b.state
            .store
            .get_task(&id)
            .await
            .unwrap()
            .status
            .to_string(),
        "cancelled"
    );
    assert_ledger_invariant(&a).await;
}

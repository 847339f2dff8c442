//! API keys (`X-API-Key`, shown once, stored hashed, revocable, switchable off) and the
//! `taskhub admin grant EMAIL` command.

use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::ledger_check::assert_ledger_invariant;

const KEY: &str = "X-API-Key";

crate::backend_tests!(
    api_keys_authenticate_until_revoked,
    api_keys_can_be_turned_off,
    admin_grant_command
);

async fn api_keys_authenticate_until_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("keyholder").await;
    let v = app
        .post("/api/users/api-keys")
        .auth(&tok)
        .json(json!({"name": "ci"}))
        .await
        .expect(201);
    let key = v["data"]["key"].as_str().unwrap().to_string();
    let id = v["data"]["id"].as_str().unwrap().to_string();
    assert!(key.starts_with(v["data"]["prefix"].as_str().unwrap()));
    // Stored hashed: the key itself is nowhere in the table, and never listed again.
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM api_keys WHERE key_hash = $1 OR prefix = $1")
            .bind(&key)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert_eq!(n, 0);
    let list = app.get("/api/users/api-keys").auth(&tok).await.body;
    assert_eq!(list["data"]["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&key), "the key is shown once");

    let credits = |key: &str| app.get("/api/users/credits").header(KEY, key);
    let c = credits(&key).await.expect(200);
    assert_eq!(c["data"]["credits"], 100);
    app.post("/api/video/tasks")
        .header(KEY, &key)
        .json(json!({"prompt": "by key"}))
        .await
        .expect(201);
    app.post("/api/users/api-keys")
        .header(KEY, &key)
        .json(json!({"name": "more"}))
        .await
        .expect_because(403, "a key cannot mint keys");
    credits("thk_not-a-real-key").await.expect(401);
    let other = app.token("thief").await;
    app.delete(format!("/api/users/api-keys/{id}"))
        .auth(&other)
        .await
        .expect_because(404, "someone else's key");
    let v = app
        .delete(format!("/api/users/api-keys/{id}"))
        .auth(&tok)
        .await
        .expect(200);
    assert!(v["data"]["revokedAt"].is_string(), "{v}");
    credits(&key).await.expect_because(401, "revoked");
    app.post("/api/users/api-keys")
        .auth(&tok)
        .json(json!({"name": ""}))
        .await
        .expect(422);
    assert_ledger_invariant(&app).await;
}

async fn api_keys_can_be_turned_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.billing.api_keys = false).await;
    let tok = app.token("nokeys").await;
    app.post("/api/users/api-keys")
        .auth(&tok)
        .json(json!({"name": "x"}))
        .await
        .expect(403);
    app.get("/api/users/credits")
        .header(KEY, "thk_anything")
        .await
        .expect_message(401, "not accepted");
    assert_ledger_invariant(&app).await;
}

async fn admin_grant_command(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("chief").await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_taskhub"))
            .args(args)
            .env("DATABASE_URL", app.state.settings.database_url())
            .env("TASKHUB_DATA_DIR", app.data_path())
            .env("TASKHUB_CONFIG", app.data_path().join("none.toml"))
            .output()
            .expect("run taskhub")
    };
    let out = run(&["admin", "grant", "CHIEF@example.com"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("is now admin"));
    let user = app
        .state
        .store
        .find_user_by_login("chief")
        .await
        .unwrap()
        .unwrap();
    assert!(user.is_admin());
    let out = run(&["admin", "grant", "nobody@example.com"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user with email"));
    let out = run(&["admin", "revoke", "chief@example.com"]);
    assert!(out.status.success());
    let user = app
        .state
        .store
        .find_user_by_login("chief")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.role, "user");
    assert_ledger_invariant(&app).await;
}

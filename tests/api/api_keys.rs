//! API keys (`X-API-Key`, shown once, stored hashed, revocable, switchable off) and the
//! `taskhub admin grant EMAIL` command.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};
use crate::ledger_check::assert_ledger_invariant;

crate::backend_tests!(
    api_keys_authenticate_until_revoked,
    api_keys_can_be_turned_off,
    admin_grant_command
);

async fn with_key(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header("X-API-Key", key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn api_keys_authenticate_until_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("keyholder").await;
    let (s, v) = app
        .json(
            Method::POST,
            "/api/users/api-keys",
            Some(&tok),
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
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
    let (_, list) = app
        .json(Method::GET, "/api/users/api-keys", Some(&tok), None)
        .await;
    assert_eq!(list["data"]["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&key), "the key is shown once");

    let (s, c) = with_key(&app, Method::GET, "/api/users/credits", &key, None).await;
    assert_eq!((s, c["data"]["credits"].as_i64()), (200, Some(100)));
    let (s, t) = with_key(
        &app,
        Method::POST,
        "/api/video/tasks",
        &key,
        Some(json!({"prompt": "by key"})),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    let (s, _) = with_key(
        &app,
        Method::POST,
        "/api/users/api-keys",
        &key,
        Some(json!({"name": "more"})),
    )
    .await;
    assert_eq!(s, 403, "a key cannot mint keys");
    let (s, _) = with_key(
        &app,
        Method::GET,
        "/api/users/credits",
        "thk_not-a-real-key",
        None,
    )
    .await;
    assert_eq!(s, 401);
    let other = app.token("thief").await;
    let (s, _) = app
        .json(
            Method::DELETE,
            &format!("/api/users/api-keys/{id}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(s, 404, "someone else's key");
    let (s, v) = app
        .json(
            Method::DELETE,
            &format!("/api/users/api-keys/{id}"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!((s, v["data"]["revokedAt"].is_string()), (200, true));
    let (s, _) = with_key(&app, Method::GET, "/api/users/credits", &key, None).await;
    assert_eq!(s, 401, "revoked");
    let (s, _) = app
        .json(
            Method::POST,
            "/api/users/api-keys",
            Some(&tok),
            Some(json!({"name": ""})),
        )
        .await;
    assert_eq!(s, 422);
    assert_ledger_invariant(&app).await;
}

async fn api_keys_can_be_turned_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.billing.api_keys = false).await;
    let tok = app.token("nokeys").await;
    let (s, _) = app
        .json(
            Method::POST,
            "/api/users/api-keys",
            Some(&tok),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, v) = with_key(
        &app,
        Method::GET,
        "/api/users/credits",
        "thk_anything",
        None,
    )
    .await;
    assert_eq!(s, 401);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not accepted"),
        "{v}"
    );
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

use serde_json::json;

use crate::helpers::{without_request_id, Backend, TestApp};

crate::backend_tests!(
    register_login_refresh_logout,
    refresh_reuse_revokes_login,
    duplicate_and_invalid_registration
);

async fn register_login_refresh_logout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reg = app.register("alice").await;
    assert_eq!(reg["tokenType"], "bearer");
    assert!(reg["expiresIn"].as_i64().unwrap() > 0);
    assert_eq!(reg["user"]["email"], "alice@example.com");

    // Login by email (any case) and by username; wrong password and unknown user alike.
    for login in ["ALICE@example.com", "alice"] {
        let body = json!({"login": login, "password": "fake-password-123"});
        app.post("/api/auth/login").json(body).await.expect(200);
    }
    let login = |body| app.post("/api/auth/login").json(body);
    let wrong = login(json!({"username": "alice", "password": "nope-nope-nope"})).await;
    let unknown = login(json!({"email": "who@example.com", "password": "nope-nope-nope"})).await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(
        without_request_id(wrong.body)["error"],
        without_request_id(unknown.body)["error"],
        "same answer for unknown user and wrong password"
    );

    let token = reg["accessToken"].as_str().unwrap();
    let me = app.get("/api/auth/me").auth(token).await.expect(200);
    assert_eq!(me["data"]["username"], "alice");
    app.get("/api/auth/me").auth("not-a-jwt").await.expect(401);

    let rt = reg["refreshToken"].as_str().unwrap();
    let refresh = |rt: &str| {
        app.post("/api/auth/refresh")
            .json(json!({"refreshToken": rt}))
    };
    let refreshed = refresh(rt).await.expect(200);
    let rt2 = refreshed["data"]["refreshToken"].as_str().unwrap();
    assert_ne!(rt, rt2, "refresh tokens rotate");

    app.post("/api/auth/logout")
        .json(json!({"refreshToken": rt2}))
        .await
        .expect(200);
    refresh(rt2)
        .await
        .expect_because(401, "a logged-out refresh token is dead");
}

async fn refresh_reuse_revokes_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reg = app.register("bob").await;
    let rt1 = reg["refreshToken"].as_str().unwrap();
    let refresh = |rt: &str| {
        app.post("/api/auth/refresh")
            .json(json!({"refreshToken": rt}))
    };
    let r2 = refresh(rt1).await.body;
    let rt2 = r2["data"]["refreshToken"].as_str().unwrap().to_string();
    // Replaying the spent token revokes the whole login, including the newest token.
    refresh(rt1).await.expect(401);
    refresh(&rt2)
        .await
        .expect_because(401, "the newest token of a replayed login is revoked too");
}

async fn duplicate_and_invalid_registration(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("carol").await;
    let register = |body| app.post("/api/auth/register").json(body);
    register(
        json!({"username": "carol", "email": "other@example.com", "password": "fake-password-123"}),
    )
    .await
    .expect(409);
    register(json!({"username": "carol2", "email": "CAROL@example.com", "password": "fake-password-123"}))
        .await
        .expect_because(409, "emails are case-insensitive");
    let v = register(json!({"username": "x", "email": "bad", "password": "short"}))
        .await
        .expect(422);
    for f in ["username", "email", "password"] {
        assert!(v["error"]["fields"][f].is_string(), "{f} reported: {v}");
    }
}

/// Production turns test login and the QA pages off, and refuses a weak JWT secret.
#[tokio::test]
async fn production_disables_test_login_and_pages() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.env = taskhub::config::Environment::Production;
        s.jwt_secret = taskhub::secret::Secret::new("fake-production-secret-0123456789abcdefgh");
    })
    .await;
    app.post("/api/auth/test/login?email=a@example.com")
        .await
        .expect(403);
    for page in ["/test-pages/websocket-test.html", "/clients/js/taskhub.js"] {
        let why = format!("{page} is not served in production");
        app.get(page).await.expect_because(404, &why);
    }
    let home = app.get_text("/").await;
    assert!(
        home.contains("/docs") && !home.contains("/test-pages/"),
        "{home}"
    );

    let dev = TestApp::spawn(Backend::Sqlite).await;
    for page in [
        "/test-pages/websocket-test.html",
        "/test-pages/api-test.html",
        "/clients/js/taskhub.js",
    ] {
        let why = format!("{page} is served in development");
        dev.get(page).await.expect_because(200, &why);
    }
    let home = dev.get_text("/").await;
    assert!(
        home.contains("/test-pages/websocket-test.html")
            && home.contains("/test-pages/api-test.html")
    );
    let v = dev
        .post("/api/auth/test/login?email=qa@example.com")
        .await
        .expect(200);
    let v2 = dev
        .post("/api/auth/test/login?email=QA@example.com")
        .await
        .expect(200);
    assert_eq!(
        v["data"]["user"]["id"], v2["data"]["user"]["id"],
        "same user on the second test login"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut weak = crate::helpers::test_settings(Backend::Sqlite, dir.path()).await;
    weak.env = taskhub::config::Environment::Production;
    weak.jwt_secret = taskhub::secret::Secret::new("short");
    let err = taskhub::startup::Application::build(weak)
        .await
        .err()
        .expect("refuses to start");
    assert!(err.to_string().contains("JWT_SECRET"), "{err}");
}

/// In development a missing secret is generated once and reused on the next start.
#[tokio::test]
async fn dev_secret_is_generated_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = crate::helpers::test_settings(Backend::Sqlite, dir.path()).await;
    s.jwt_secret = taskhub::secret::Secret::default();
    let mut first = s.clone();
    first.ensure_jwt_secret().unwrap();
    let mut second = s.clone();
    second.ensure_jwt_secret().unwrap();
    assert!(first.jwt_secret.expose().len() >= 32);
    assert_eq!(first.jwt_secret, second.jwt_secret);
    assert!(dir.path().join("jwt_secret").exists());
}

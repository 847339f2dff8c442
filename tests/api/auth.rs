use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, TestApp};

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
        let (s, v) = app
            .json(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"login": login, "password": "fake-password-123"})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let (s1, wrong) = app
        .json(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": "alice", "password": "nope-nope-nope"})),
        )
        .await;
    let (s2, unknown) = app
        .json(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": "who@example.com", "password": "nope-nope-nope"})),
        )
        .await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(
        crate::helpers::without_request_id(wrong)["error"],
        crate::helpers::without_request_id(unknown)["error"],
        "same answer for unknown user and wrong password"
    );

    let token = reg["accessToken"].as_str().unwrap();
    let (s, me) = app
        .json(Method::GET, "/api/auth/me", Some(token), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(me["data"]["username"], "alice");
    let (s, _) = app
        .json(Method::GET, "/api/auth/me", Some("not-a-jwt"), None)
        .await;
    assert_eq!(s, 401);

    let rt = reg["refreshToken"].as_str().unwrap();
    let (s, refreshed) = app
        .json(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refreshToken": rt})),
        )
        .await;
    assert_eq!(s, 200, "{refreshed}");
    let rt2 = refreshed["data"]["refreshToken"].as_str().unwrap();
    assert_ne!(rt, rt2, "refresh tokens rotate");

    let (s, _) = app
        .json(
            Method::POST,
            "/api/auth/logout",
            None,
            Some(json!({"refreshToken": rt2})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .json(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refreshToken": rt2})),
        )
        .await;
    assert_eq!(s, 401, "a logged-out refresh token is dead");
}

async fn refresh_reuse_revokes_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reg = app.register("bob").await;
    let rt1 = reg["refreshToken"].as_str().unwrap();
    let (_, r2) = app
        .json(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refreshToken": rt1})),
        )
        .await;
    let rt2 = r2["data"]["refreshToken"].as_str().unwrap().to_string();
    // Replaying the spent token revokes the whole login, including the newest token.
    let (s, _) = app
        .json(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refreshToken": rt1})),
        )
        .await;
    assert_eq!(s, 401);
    let (s, _) = app
        .json(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refreshToken": rt2})),
        )
        .await;
    assert_eq!(
        s, 401,
        "the newest token of a replayed login is revoked too"
    );
}

async fn duplicate_and_invalid_registration(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("carol").await;
    let (s, v) = app.json(Method::POST, "/api/auth/register", None, Some(json!({"username": "carol", "email": "other@example.com", "password": "fake-password-123"}))).await;
    assert_eq!(s, 409, "{v}");
    let (s, v) = app.json(Method::POST, "/api/auth/register", None, Some(json!({"username": "carol2", "email": "CAROL@example.com", "password": "fake-password-123"}))).await;
    assert_eq!(s, 409, "emails are case-insensitive: {v}");
    let (s, v) = app
        .json(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"username": "x", "email": "bad", "password": "short"})),
        )
        .await;
    assert_eq!(s, 422);
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
    let (s, v) = app
        .json(
            Method::POST,
            "/api/auth/test/login?email=a@example.com",
            None,
            None,
        )
        .await;
    assert_eq!(s, 403, "{v}");
    for page in ["/test-pages/websocket-test.html", "/clients/js/taskhub.js"] {
        let (s, _) = app.json(Method::GET, page, None, None).await;
        assert_eq!(s, 404, "{page} is not served in production");
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
        let resp = dev.client.get(dev.url(page)).send().await.unwrap();
        assert_eq!(
            resp.status().as_u16(),
            200,
            "{page} is served in development"
        );
    }
    let home = dev.get_text("/").await;
    assert!(
        home.contains("/test-pages/websocket-test.html")
            && home.contains("/test-pages/api-test.html")
    );
    let (s, v) = dev
        .json(
            Method::POST,
            "/api/auth/test/login?email=qa@example.com",
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s2, v2) = dev
        .json(
            Method::POST,
            "/api/auth/test/login?email=QA@example.com",
            None,
            None,
        )
        .await;
    assert_eq!(s2, 200);
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

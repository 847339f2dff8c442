//! Cross-origin access (`TASKHUB_CORS_*`): preflights, the headers scripts may read, the
//! refusals, the startup checks, and the WebSocket upgrade's `Origin` check.

use reqwest::header::HeaderMap;
use reqwest::Method;
use taskhub::config::Environment;
use taskhub::startup::Application;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::helpers::{test_settings, Backend, TestApp};
use crate::ws_client::ws_url;

crate::backend_tests!(
    listed_origins_get_cors_headers_and_others_do_not,
    preflights_are_cached_and_not_rate_limited,
    without_origins_there_are_no_cors_headers,
    wildcard_allows_any_origin_without_credentials,
    websocket_upgrade_checks_the_origin,
);

const APP: &str = "https://app.example";

async fn spawn(backend: Backend, origins: &str) -> TestApp {
    let origins = origins.to_string();
    TestApp::spawn_with(backend, move |s| {
        s.cors.cors_origins = origins;
        s.cors.cors_max_age_secs = 123;
    })
    .await
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn preflight(app: &TestApp, origin: &str, method: &str) -> reqwest::Response {
    app.request(Method::OPTIONS, "/api/users/profile")
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .response()
        .await
}

async fn listed_origins_get_cors_headers_and_others_do_not(backend: Backend) {
    let app = spawn(backend, "https://app.example, http://localhost:3000").await;
    let tok = app.token("cors").await;
    let resp = app
        .get("/api/auth/me")
        .auth(&tok)
        .header("origin", APP)
        .response()
        .await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(header(h, "access-control-allow-origin"), Some(APP));
    assert_eq!(header(h, "access-control-allow-credentials"), None);
    let exposed = header(h, "access-control-expose-headers")
        .unwrap_or("")
        .to_lowercase();
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "retry-after",
        "x-request-id",
        "idempotent-replayed",
    ] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
    assert!(
        header(h, "vary")
            .unwrap_or("")
            .to_lowercase()
            .contains("origin"),
        "{h:?}"
    );

    // Another origin is served (CORS is the browser's to enforce) but gets no allowance.
    let resp = app
        .get("/api/auth/me")
        .auth(&tok)
        .header("origin", "https://evil.example")
        .response()
        .await;
    assert_eq!(resp.headers().get("access-control-allow-origin"), None);
    let resp = preflight(&app, "https://evil.example", "PATCH").await;
    assert_eq!(resp.headers().get("access-control-allow-origin"), None);
    // Refusals carry the headers too, so the page can read why.
    let resp = app
        .get("/api/auth/me")
        .header("origin", "http://localhost:3000")
        .response()
        .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        header(resp.headers(), "access-control-allow-origin"),
        Some("http://localhost:3000")
    );
}

async fn preflights_are_cached_and_not_rate_limited(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.cors.cors_origins = APP.into();
        s.cors.cors_max_age_secs = 123;
        s.http.rate_public_per_min = 1;
    })
    .await;
    for _ in 0..3 {
        let resp = preflight(&app, APP, "PATCH").await;
        assert_eq!(resp.status(), 200);
        let h = resp.headers();
        assert_eq!(header(h, "access-control-allow-origin"), Some(APP));
        assert_eq!(header(h, "access-control-max-age"), Some("123"));
        let methods = header(h, "access-control-allow-methods").unwrap_or("");
        assert!(
            methods.contains("PATCH") && methods.contains("DELETE"),
            "{methods}"
        );
        let allowed = header(h, "access-control-allow-headers")
            .unwrap_or("")
            .to_lowercase();
        assert!(
            allowed.contains("authorization")
                && allowed.contains("content-type")
                && allowed.contains("idempotency-key"),
            "{allowed}"
        );
    }
    // The one request a minute is still there for the real call; the next is a 429 that
    // the page may read, with its Retry-After.
    let get = || {
        app.get("/api/users/recent")
            .header("origin", APP)
            .response()
    };
    assert_eq!(get().await.status(), 200);
    let limited = get().await;
    assert_eq!(limited.status(), 429);
    assert_eq!(
        header(limited.headers(), "access-control-allow-origin"),
        Some(APP)
    );
    assert!(limited.headers().contains_key("retry-after"));
}

async fn without_origins_there_are_no_cors_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let resp = app
        .get("/api/users/recent")
        .header("origin", APP)
        .response()
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("access-control-allow-origin"), None);
    let resp = preflight(&app, APP, "PATCH").await;
    assert_eq!(resp.status(), 405, "no CORS layer: OPTIONS is not a route");
    assert_eq!(resp.headers().get("access-control-allow-origin"), None);
}

async fn wildcard_allows_any_origin_without_credentials(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.cors.cors_origins = "*".into();
        s.cors.cors_allow_credentials = true; // development: dropped, with a warning
    })
    .await;
    let resp = app
        .get("/api/users/recent")
        .header("origin", "https://any.example")
        .response()
        .await;
    assert_eq!(
        header(resp.headers(), "access-control-allow-origin"),
        Some("*")
    );
    assert_eq!(resp.headers().get("access-control-allow-credentials"), None);

    // Production refuses to start with `*` and credentials, and with an inexact origin.
    for (origins, credentials, needle) in [
        ("*", true, "TASKHUB_CORS_ALLOW_CREDENTIALS"),
        (
            "https://app.example/",
            false,
            "did you mean https://app.example?",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut s = test_settings(backend, dir.path()).await;
        s.env = Environment::Production;
        s.cors.cors_origins = origins.into();
        s.cors.cors_allow_credentials = credentials;
        let err = Application::build(s).await.err().expect("refused");
        assert!(format!("{err:#}").contains(needle), "{err:#}");
    }
}

/// Opens `/ws` with `origin` (if any); the upgrade's status.
async fn upgrade_status(app: &TestApp, origin: Option<&str>) -> (u16, String) {
    let mut req = ws_url(app, "").into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((_ws, resp)) => (resp.status().as_u16(), String::new()),
        Err(WsError::Http(resp)) => {
            let body = resp.body().clone().unwrap_or_default();
            (
                resp.status().as_u16(),
                String::from_utf8_lossy(&body).into_owned(),
            )
        }
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

async fn websocket_upgrade_checks_the_origin(backend: Backend) {
    let app = spawn(backend, APP).await;
    let own = app.addr.clone();
    for allowed in [None, Some(APP), Some(own.as_str())] {
        assert_eq!(upgrade_status(&app, allowed).await.0, 101, "{allowed:?}");
    }
    for refused in [
        "https://evil.example",
        "null",
        "http://127.0.0.1:1",
        "https://app.example.evil",
    ] {
        let (status, body) = upgrade_status(&app, Some(refused)).await;
        assert_eq!(status, 403, "{refused}");
        assert!(body.contains("originNotAllowed"), "{refused}: {body}");
    }
    // Without a list only the server's own pages (and non-browsers) get in.
    let plain = TestApp::spawn(backend).await;
    assert_eq!(upgrade_status(&plain, Some(APP)).await.0, 403);
    assert_eq!(
        upgrade_status(&plain, Some(&plain.addr.clone())).await.0,
        101
    );
}

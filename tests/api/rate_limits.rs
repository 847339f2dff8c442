//! REST rate limits with real (or small) figures: per-IP auth limits, per-user task limits,
//! `X-Forwarded-For` only from trusted proxies, 429 with `Retry-After`, refusals that cost
//! nothing; and the bounded password-hashing queue (503 `busy`).

use reqwest::Response;
use serde_json::{json, Value};
use taskhub::config::Settings;
use taskhub::http::HttpSettings;

use crate::helpers::{Backend, TestApp};

/// Production figures for rate limits, the harness's for everything else.
fn real_limits(s: &mut Settings) {
    let d = HttpSettings::default();
    s.http.rate_auth_per_min = d.rate_auth_per_min;
    s.http.rate_task_create_per_min = d.rate_task_create_per_min;
    s.http.rate_task_query_per_min = d.rate_task_query_per_min;
    s.http.rate_public_per_min = d.rate_public_per_min;
    s.http.rate_provider_per_min = d.rate_provider_per_min;
    s.http.rate_other_per_min = d.rate_other_per_min;
}

/// Forged provider callbacks from one address are bounded (each costs a token lookup); the
/// refusal is a 429 before any lookup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_callbacks_are_limited_per_address() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        real_limits(s);
        s.http.rate_provider_per_min = 2;
    })
    .await;
    let forged = format!("/api/providers/callback/{}", "0".repeat(64));
    for _ in 0..2 {
        let resp = app.post(&forged).json(json!({})).response().await;
        assert_eq!(resp.status(), 404);
        assert_eq!(header(&resp, "x-ratelimit-limit").as_deref(), Some("2"));
    }
    assert_429(app.post(&forged).json(json!({})).response().await).await;
    let hook = app.post("/api/providers/openai/webhook").json(json!({}));
    assert_429(hook.response().await).await;
}

/// A home page's public reads have a quota of their own, apart from "other" routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_reads_have_their_own_quota() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        real_limits(s);
        s.http.rate_public_per_min = 4;
        s.http.rate_other_per_min = 2;
    })
    .await;
    for path in [
        "/api/showcase/videos",
        "/api/showcase/featured",
        "/api/users/recent",
        "/api/showcase/hero-videos",
    ] {
        let resp = app.get(path).response().await;
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(header(&resp, "x-ratelimit-limit").as_deref(), Some("4"));
    }
    assert_429(app.get("/api/showcase/trial-images").response().await).await;
    // "Other" routes (here anonymous, so per IP) still have their whole quota.
    let resp = app.get("/api/video/models").response().await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-ratelimit-limit").as_deref(), Some("2"));
}

async fn bogus_login(app: &TestApp, xff: Option<&str>) -> Response {
    let mut call = app
        .post("/api/auth/login")
        .json(json!({"login": "nobody", "password": "fake-password-123"}));
    if let Some(ip) = xff {
        call = call.header("x-forwarded-for", ip);
    }
    call.response().await
}

fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

async fn assert_429(resp: Response) {
    assert_eq!(resp.status(), 429);
    let secs: u64 = header(&resp, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
    assert_eq!(header(&resp, "x-ratelimit-remaining").as_deref(), Some("0"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["success"], false);
    assert_eq!(v["error"]["code"], "rateLimited", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_limited_to_five_a_minute_per_ip() {
    let app = TestApp::spawn_with(Backend::Sqlite, real_limits).await;
    for left in (0..5).rev() {
        let resp = bogus_login(&app, None).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(header(&resp, "x-ratelimit-limit").as_deref(), Some("5"));
        assert_eq!(
            header(&resp, "x-ratelimit-remaining"),
            Some(left.to_string())
        );
    }
    assert_429(bogus_login(&app, None).await).await;
    // Other classes keep their own quota; unlimited routes stay open.
    app.get("/api/video/models").await.expect(200);
    for _ in 0..10 {
        assert_eq!(app.get("/health").await.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_creation_is_limited_per_user_and_a_refusal_costs_nothing() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        real_limits(s);
        s.http.rate_auth_per_min = 100;
        s.http.rate_task_create_per_min = 2;
    })
    .await;
    let (alice, bob) = (app.token("alice").await, app.token("bob").await);
    app.create_task(&alice, "one").await;
    app.create_task(&alice, "two").await;
    let body = json!({"prompt": "three", "model": "sora-2", "seconds": 4, "size": "720x1280"});
    assert_429(app.post_task(&alice, body).response().await).await;
    // Same address, another user: a quota of their own.
    app.create_task(&bob, "bob's").await;
    // The refused creation made no task and took no credits.
    let tasks = app.get("/api/video/tasks").auth(&alice).await.body;
    assert_eq!(tasks["data"]["total"], 2, "{tasks}");
    let credits = app.get("/api/users/credits").auth(&alice).await.body;
    assert_eq!(credits["data"]["credits"], 100 - 2 * 20, "{credits}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_queries_have_their_own_quota() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        real_limits(s);
        s.http.rate_auth_per_min = 100;
        s.http.rate_task_query_per_min = 3;
    })
    .await;
    let tok = app.token("carol").await;
    for left in ["2", "1", "0"] {
        let resp = app.get("/api/video/tasks").auth(&tok).response().await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            header(&resp, "x-ratelimit-remaining").as_deref(),
            Some(left)
        );
    }
    assert_429(app.get("/api/video/tasks").auth(&tok).response().await).await;
    // "Other" routes and task creation are counted apart.
    app.get("/api/video/stats").auth(&tok).await.expect(200);
    app.create_task(&tok, "still allowed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    let limit2 = |s: &mut Settings| {
        real_limits(s);
        s.http.rate_auth_per_min = 2;
    };
    // No trusted proxies: every header value is the same client, the peer.
    let app = TestApp::spawn_with(Backend::Sqlite, limit2).await;
    for ip in ["203.0.113.1", "203.0.113.2"] {
        assert_eq!(bogus_login(&app, Some(ip)).await.status(), 401);
    }
    assert_429(bogus_login(&app, Some("203.0.113.3")).await).await;

    // Behind a trusted proxy (127.0.0.1 here), each forwarded client has its own quota.
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        limit2(s);
        s.http.trusted_proxies = "127.0.0.1".into();
    })
    .await;
    for _ in 0..2 {
        assert_eq!(bogus_login(&app, Some("203.0.113.1")).await.status(), 401);
    }
    assert_429(bogus_login(&app, Some("203.0.113.1")).await).await;
    // A forged left-most entry does not help: the proxy-appended address counts.
    assert_429(bogus_login(&app, Some("198.51.100.7, 203.0.113.1")).await).await;
    assert_eq!(bogus_login(&app, Some("203.0.113.2")).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hashing_queue_answers_busy_and_loses_nothing() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.http.hash_queue_max = 0).await;
    // Registering may meet the (process-wide) queue full too: retry until it goes through.
    let body =
        json!({"username": "dave", "email": "dave@example.com", "password": "fake-password-123"});
    let mut registered = false;
    for _ in 0..200 {
        let reply = app.post("/api/auth/register").json(body.clone()).await;
        if reply.status == 201 {
            registered = true;
            break;
        }
        assert_eq!((reply.status, reply.code()), (503, Some("busy")));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(registered);
    // A burst of logins: with no waiting room, those that find every slot taken get 503.
    let burst = (0..24).map(|_| {
        let wrong = json!({"login": "dave", "password": "wrong-password-123"});
        tokio::spawn(app.post("/api/auth/login").json(wrong).response())
    });
    let mut busy = 0;
    for resp in futures_util::future::join_all(burst).await {
        let resp = resp.unwrap();
        match resp.status().as_u16() {
            401 => {}
            503 => {
                assert_eq!(header(&resp, "retry-after").as_deref(), Some("1"));
                let v: Value = resp.json().await.unwrap();
                assert_eq!(v["error"]["code"], "busy", "{v}");
                busy += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(busy > 0, "24 logins at once never found the queue full");
    // The account is intact: the right password still signs in once there is room.
    let login = json!({"login": "dave", "password": "fake-password-123"});
    let mut signed_in = false;
    for _ in 0..200 {
        let status = app.post("/api/auth/login").json(login.clone()).await.status;
        if status == 200 {
            signed_in = true;
            break;
        }
        assert_eq!(status, 503);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(signed_in);
}

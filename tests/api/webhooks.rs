//! Outgoing webhooks: the outbox retries until a 2xx (each attempt listed, every one signed
//! with the user's Standard Webhooks secret), 410 Gone stops, messages are given up after
//! the max age, a refused address is a failed attempt, rotating the secret changes the
//! signature, and the routes refuse what they must. The worker is stepped by hand.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use taskhub::config::Settings;
use taskhub::domain::standard_webhooks::{parse_secret, verify};
use taskhub::tasks::webhook::WebhookWorker;

use crate::helpers::{Backend, TestApp};

crate::backend_tests!(
    failures_are_retried_until_delivered_and_listed,
    gone_stops_retrying,
    messages_are_given_up_after_the_max_age,
    a_refused_address_is_a_failed_attempt,
    rotating_the_secret_changes_the_signature,
    refusals
);

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// A webhook receiver on 127.0.0.1: answers `script` in order, then 200; each answer waits
/// `delay`; counts requests in flight per `webhook-id` (the most ever seen in `max_same`).
#[derive(Default)]
pub struct Receiver {
    script: Mutex<VecDeque<u16>>,
    pub got: Mutex<Vec<Received>>,
    in_flight: Mutex<std::collections::HashMap<String, usize>>,
    pub max_same: AtomicUsize,
    delay: Duration,
}

impl Receiver {
    pub async fn spawn(script: &[u16], delay: Duration) -> (String, Arc<Receiver>) {
        let r = Arc::new(Receiver {
            script: Mutex::new(script.iter().copied().collect()),
            delay,
            ..Default::default()
        });
        let app = axum::Router::new().fallback(receive).with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/hook"), r)
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Arc<Receiver>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let id = header(&headers, "webhook-id");
    {
        let mut m = r.in_flight.lock().unwrap();
        let n = m.entry(id.clone()).or_default();
        *n += 1;
        r.max_same.fetch_max(*n, Ordering::SeqCst);
    }
    tokio::time::sleep(r.delay).await;
    *r.in_flight.lock().unwrap().get_mut(&id).unwrap() -= 1;
    r.got.lock().unwrap().push(Received {
        headers,
        body: body.to_vec(),
    });
    let code = r.script.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(code).unwrap()
}

pub fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Settings for stepping the worker by hand: no background worker, no retry delay.
pub fn manual(s: &mut Settings) {
    s.webhooks.webhook_worker_enabled = false;
    s.webhooks.webhook_retry_base_ms = 0;
    s.webhooks.webhook_retry_max_ms = 0;
    s.webhooks.webhook_timeout_ms = 5_000;
}

/// Creates a task with `url` as its webhook and cancels it (a terminal event); its id.
pub async fn finished_task(app: &TestApp, tok: &str, url: &str) -> String {
    let body = json!({"prompt": "hook me", "seconds": 4, "webhookUrl": url});
    let v = app.post_task(tok, body).await.expect(201);
    let id = v["data"]["videoId"].as_str().unwrap().to_string();
    app.cancel_task(tok, &id).await.expect(200);
    id
}

async fn deliveries(app: &TestApp, tok: &str, id: &str) -> Vec<Value> {
    let path = format!("/api/video/tasks/{id}/webhooks");
    let v = app.get(path).auth(tok).await.expect(200);
    assert_eq!(v["data"]["videoId"], id, "{v}");
    v["data"]["deliveries"].as_array().unwrap().clone()
}

async fn new_secret(app: &TestApp, tok: &str) -> String {
    let v = app
        .post("/api/users/webhook-secret")
        .auth(tok)
        .await
        .expect(201);
    v["data"]["secret"].as_str().unwrap().to_string()
}

/// True when `r` carries a valid Standard Webhooks signature made with `secret`.
fn signed_with(r: &Received, secret: &str) -> bool {
    let key = parse_secret(secret).unwrap();
    let ts: i64 = header(&r.headers, "webhook-timestamp").parse().unwrap();
    let now = taskhub::domain::time::now_ms() / 1000;
    let id = header(&r.headers, "webhook-id");
    let sig = header(&r.headers, "webhook-signature");
    verify(&key, &id, ts, &sig, &r.body, now, 300).is_ok()
}

async fn failures_are_retried_until_delivered_and_listed(backend: Backend) {
    let (url, rx) = Receiver::spawn(&[500, 503], Duration::ZERO).await;
    let app = TestApp::spawn_with(backend, manual).await;
    let tok = app.token("hooked").await;
    let secret = new_secret(&app, &tok).await;
    let id = finished_task(&app, &tok, &url).await;
    let worker = WebhookWorker::new(app.state.clone());
    for want in [0, 0, 1] {
        let b = worker.deliver_once().await.unwrap();
        assert_eq!((b.claimed, b.delivered), (1, want));
    }
    assert_eq!(
        worker.deliver_once().await.unwrap().claimed,
        0,
        "delivered once"
    );
    let got = rx.received();
    assert_eq!(got.len(), 3);
    let msg_id = header(&got[0].headers, "webhook-id");
    assert!(msg_id.starts_with("msg_"), "{msg_id}");
    for r in &got {
        assert_eq!(
            header(&r.headers, "webhook-id"),
            msg_id,
            "same id across retries"
        );
        assert!(signed_with(r, &secret), "signed with the user's secret");
        let env: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            (env["type"].as_str(), env["payload"]["videoId"].as_str()),
            (Some("taskCancelled"), Some(id.as_str()))
        );
    }
    let d = deliveries(&app, &tok, &id).await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        (d[0]["id"].as_str(), d[0]["status"].as_str()),
        (Some(msg_id.as_str()), Some("delivered"))
    );
    assert_eq!(
        (
            d[0]["attemptCount"].as_i64(),
            d[0]["lastStatusCode"].as_i64()
        ),
        (Some(3), Some(200))
    );
    assert!(
        d[0]["deliveredAt"].is_string() && d[0]["nextAttemptAt"].is_null(),
        "{d:?}"
    );
    let codes: Vec<_> = d[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attempt"].as_i64(),
                a["statusCode"].as_i64(),
                a["durationMs"].is_i64(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            (Some(1), Some(500), true),
            (Some(2), Some(503), true),
            (Some(3), Some(200), true)
        ]
    );
}

async fn gone_stops_retrying(backend: Backend) {
    let (url, rx) = Receiver::spawn(&[410], Duration::ZERO).await;
    let app = TestApp::spawn_with(backend, manual).await;
    let tok = app.token("gone").await;
    let id = finished_task(&app, &tok, &url).await;
    let worker = WebhookWorker::new(app.state.clone());
    assert_eq!(worker.deliver_once().await.unwrap().claimed, 1);
    assert_eq!(
        worker.deliver_once().await.unwrap().claimed,
        0,
        "410 is final"
    );
    assert_eq!(rx.received().len(), 1);
    let d = deliveries(&app, &tok, &id).await;
    assert_eq!(
        (d[0]["status"].as_str(), d[0]["lastStatusCode"].as_i64()),
        (Some("failed"), Some(410))
    );
}

async fn messages_are_given_up_after_the_max_age(backend: Backend) {
    let (url, rx) = Receiver::spawn(&[500, 500], Duration::ZERO).await;
    let app = TestApp::spawn_with(backend, |s| {
        manual(s);
        s.webhooks.webhook_max_age_secs = 0;
    })
    .await;
    let tok = app.token("old").await;
    let id = finished_task(&app, &tok, &url).await;
    let worker = WebhookWorker::new(app.state.clone());
    assert_eq!(worker.deliver_once().await.unwrap().claimed, 1);
    assert_eq!(worker.deliver_once().await.unwrap().claimed, 0, "given up");
    assert_eq!(rx.received().len(), 1);
    let d = deliveries(&app, &tok, &id).await;
    assert_eq!(
        (d[0]["status"].as_str(), d[0]["attemptCount"].as_i64()),
        (Some("failed"), Some(1))
    );
}

async fn a_refused_address_is_a_failed_attempt(backend: Backend) {
    let (url, rx) = Receiver::spawn(&[], Duration::ZERO).await;
    let app = TestApp::spawn_with(backend, |s| {
        manual(s);
        s.allow_private_urls = Some(false);
    })
    .await;
    let tok = app.token("ssrf").await;
    // A name (accepted at creation) that resolves to loopback, refused at delivery time.
    let url = url.replace("127.0.0.1", "localhost");
    let id = finished_task(&app, &tok, &url).await;
    let worker = WebhookWorker::new(app.state.clone());
    for _ in 0..2 {
        assert_eq!(
            worker.deliver_once().await.unwrap().claimed,
            1,
            "still retried"
        );
    }
    assert!(
        rx.received().is_empty(),
        "nothing reached the private address"
    );
    let d = deliveries(&app, &tok, &id).await;
    assert_eq!(
        (d[0]["status"].as_str(), d[0]["attemptCount"].as_i64()),
        (Some("pending"), Some(2))
    );
    let a = &d[0]["attempts"][0];
    assert!(a["statusCode"].is_null(), "{a}");
    let err = a["error"].as_str().unwrap();
    assert!(err.contains("no public address"), "{err}");
}

async fn rotating_the_secret_changes_the_signature(backend: Backend) {
    let (url, rx) = Receiver::spawn(&[], Duration::ZERO).await;
    let app = TestApp::spawn_with(backend, manual).await;
    let tok = app.token("rotator").await;
    let info = app
        .get("/api/users/webhook-secret")
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        info["data"],
        json!({"configured": false, "createdAt": null, "prefix": null})
    );
    // No secret yet: the first delivery makes one; it is only shown by rotating.
    let worker = WebhookWorker::new(app.state.clone());
    finished_task(&app, &tok, &url).await;
    worker.deliver_once().await.unwrap();
    let info = app
        .get("/api/users/webhook-secret")
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(info["data"]["configured"], true, "{info}");
    let first = new_secret(&app, &tok).await;
    assert!(
        first.starts_with("whsec_") && parse_secret(&first).unwrap().len() == 24,
        "{first}"
    );
    let info = app
        .get("/api/users/webhook-secret")
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(info["data"]["prefix"].as_str(), Some(&first[..10]));
    assert!(
        !info.to_string().contains(&first),
        "the secret is never shown again"
    );
    finished_task(&app, &tok, &url).await;
    worker.deliver_once().await.unwrap();
    let second = new_secret(&app, &tok).await;
    assert_ne!(first, second);
    finished_task(&app, &tok, &url).await;
    worker.deliver_once().await.unwrap();
    let got = rx.received();
    assert_eq!(got.len(), 3);
    assert!(!signed_with(&got[0], &first) && !signed_with(&got[0], &second));
    assert!(signed_with(&got[1], &first) && !signed_with(&got[1], &second));
    assert!(signed_with(&got[2], &second) && !signed_with(&got[2], &first));
}

async fn refusals(backend: Backend) {
    let (url, rx) = Receiver::spawn(&[], Duration::ZERO).await;
    let app = TestApp::spawn_with(backend, manual).await;
    let owner = app.token("owner").await;
    let other = app.token("other").await;
    let id = finished_task(&app, &owner, &url).await;
    let path = format!("/api/video/tasks/{id}/webhooks");
    app.get(&path).await.expect(401);
    app.get(&path)
        .auth(&other)
        .await
        .expect_error(404, "notFound");
    let missing = "/api/video/tasks/video_0190a5c3-5e7b-7c2a-9d1e-3f4a5b6c7d8e/webhooks";
    app.get(missing)
        .auth(&owner)
        .await
        .expect_error(404, "notFound");
    app.get("/api/video/tasks/nope/webhooks")
        .auth(&owner)
        .await
        .expect_error(400, "badRequest");
    app.get("/api/users/webhook-secret").await.expect(401);
    app.post("/api/users/webhook-secret").await.expect(401);
    // Another user's rotation does not touch the owner's deliveries or secret.
    new_secret(&app, &other).await;
    let info = app
        .get("/api/users/webhook-secret")
        .auth(&owner)
        .await
        .expect(200);
    assert_eq!(info["data"]["configured"], false);
    let d = deliveries(&app, &owner, &id).await;
    assert_eq!((d.len(), d[0]["status"].as_str()), (1, Some("pending")));
    WebhookWorker::new(app.state.clone())
        .deliver_once()
        .await
        .unwrap();
    assert_eq!(rx.received().len(), 1, "nothing lost on refusal");
}

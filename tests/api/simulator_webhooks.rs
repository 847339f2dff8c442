//! End to end: the simulator, in OpenAI mode with `TASKHUB_SIMULATOR_WEBHOOK_URL`, POSTs a
//! signed `video.completed` / `video.failed` webhook when a job ends; the app verifies it
//! (`OPENAI_WEBHOOK_SECRET`) and settles the task at once. The poller runs once, to submit
//! the job; it is off afterwards (and its interval an hour), so only the webhook can settle.

use std::time::{Duration, Instant};

use serde_json::Value;
use taskhub::secret::Secret;
use taskhub::tasks::poller::Poller;

use crate::helpers::{Backend, TestApp};

crate::backend_tests!(the_simulators_signed_webhook_settles_the_task);

/// A fake `whsec_` secret (base64 of "fake-test-openai-webhook-secret").
const SECRET: &str = "whsec_ZmFrZS10ZXN0LW9wZW5haS13ZWJob29rLXNlY3JldA==";

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |s| {
        s.providers.openai_webhook_secret = Secret::new(SECRET);
        s.providers.simulator_webhook_url = "/api/providers/openai/webhook".into();
        s.providers.simulator_seconds = 0.5;
        s.poller.poll_interval_ms = 3_600_000;
        s.poller.poll_max_interval_ms = 3_600_000;
    })
    .await
}

/// Creates tasks for `prompts` and lets the poller submit them, once.
async fn submitted(app: &TestApp, tok: &str, prompts: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for p in prompts {
        ids.push(app.create_task_id(tok, p).await);
    }
    Poller::new(app.state.clone()).poll_once().await.unwrap();
    for id in &ids {
        let task = app.state.store.get_task(id).await.unwrap();
        assert!(task.external_id.is_some(), "submitted: {task:?}");
    }
    ids
}

async fn receipts(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM provider_webhook_receipts")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    n
}

/// Waits (without polling the provider) until the task ends.
async fn ended(app: &TestApp, tok: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = app.get_task(tok, id).await.body["data"].clone();
        if t["status"] == "completed" || t["status"] == "failed" {
            return t;
        }
        assert!(Instant::now() < deadline, "never settled: {t}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn the_simulators_signed_webhook_settles_the_task(backend: Backend) {
    let app = app(backend).await;
    let tok = app.token("hooked-e2e").await;
    let ids = submitted(&app, &tok, &["a fox", "a fox [fail]"]).await;
    let (done, failed) = (&ids[0], &ids[1]);
    let t = ended(&app, &tok, done).await;
    assert_eq!(t["status"], "completed", "{t}");
    let t = ended(&app, &tok, failed).await;
    assert_eq!(t["status"], "failed", "{t}");
    assert_eq!(t["creditsRefunded"], t["creditsCharged"], "{t}");
    assert_eq!(receipts(&app).await, 2, "both came by webhook");
}

//! Provider callbacks: OpenAI's signed `video.completed` / `video.failed` webhooks at
//! `POST /api/providers/openai/webhook` settle a task at once through the poller's own path
//! (status fetched from the provider, applied under the task's lease), and a webhook racing
//! a poll settles the task once (one charge, at most one refund).

use serde_json::{json, Value};
use taskhub::domain::standard_webhooks::sign;
use taskhub::domain::time::now_ms;
use taskhub::secret::Secret;
use taskhub::tasks::poller::Poller;

use crate::helpers::{Backend, Call, TestApp};
use crate::ledger_check::assert_ledger_invariant;
use crate::poller::{events, kinds};

crate::backend_tests!(
    a_signed_webhook_completes_a_task_without_a_poll,
    a_failed_job_is_refunded_once,
    forged_stale_and_unsigned_webhooks_are_refused,
    replays_unknown_jobs_and_other_events_change_nothing,
    without_a_secret_the_route_is_503,
    a_webhook_racing_a_poll_settles_once
);

/// A fake `whsec_` secret (base64 of "fake-test-openai-webhook-secret").
const SECRET: &str = "whsec_ZmFrZS10ZXN0LW9wZW5haS13ZWJob29rLXNlY3JldA==";
const HOOK: &str = "/api/providers/openai/webhook";

async fn app_with_secret(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |s| {
        s.providers.openai_webhook_secret = Secret::new(SECRET);
        // Jobs end at once at the simulator; polls are far apart unless a test polls.
        s.providers.simulator_seconds = 0.0;
        s.poller.poll_interval_ms = 3_600_000;
    })
    .await
}

fn key() -> Vec<u8> {
    taskhub::domain::standard_webhooks::parse_secret(SECRET).unwrap()
}

fn event(kind: &str, external_id: &str) -> Vec<u8> {
    let body = json!({"id": "evt_1", "object": "event", "created_at": 1, "type": kind,
        "data": {"id": external_id}});
    serde_json::to_vec(&body).unwrap()
}

/// The webhook signed with `key` at `ts` (seconds).
fn signed_at(app: &TestApp, key: &[u8], msg_id: &str, ts: i64, body: Vec<u8>) -> Call {
    app.post(HOOK)
        .header("content-type", "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sign(key, msg_id, ts, &body))
        .body(body)
}

fn raw(app: &TestApp, msg_id: &str, ts: &str, sig: &str, body: Vec<u8>) -> Call {
    app.post(HOOK)
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", ts)
        .header("webhook-signature", sig)
        .body(body)
}

fn signed(app: &TestApp, msg_id: &str, body: Vec<u8>) -> Call {
    signed_at(app, &key(), msg_id, now_ms() / 1000, body)
}

/// A task whose provider job already exists at the simulator (finished, or failed for a
/// `[fail]` prompt); nothing has polled it yet. Its id and the job's id.
async fn task_with_job(app: &TestApp, tok: &str, prompt: &str) -> (String, String) {
    let id = app.create_task_id(tok, prompt).await;
    let job = app
        .post("/simulator/v1/videos")
        .json(json!({"prompt": prompt, "model": "sora-2", "seconds": "4", "size": "720x1280"}))
        .send()
        .await
        .expect(200);
    let ext = job["id"].as_str().unwrap().to_string();
    sqlx::query("UPDATE tasks SET external_id = $1 WHERE id = $2")
        .bind(&ext)
        .bind(&id)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    (id, ext)
}

async fn task(app: &TestApp, tok: &str, id: &str) -> Value {
    app.get_task(tok, id).await.expect(200)["data"].clone()
}

async fn a_signed_webhook_completes_a_task_without_a_poll(backend: Backend) {
    let app = app_with_secret(backend).await;
    let tok = app.token("hooked").await;
    let (id, ext) = task_with_job(&app, &tok, "a fox").await;
    // The body says "failed": only the provider's own answer decides.
    let r = signed(&app, "msg_1", event("video.failed", &ext))
        .await
        .expect(200);
    assert_eq!(
        (
            &r["data"]["outcome"],
            &r["data"]["videoId"],
            &r["data"]["status"]
        ),
        (&json!("settled"), &json!(id), &json!("completed")),
        "{r}"
    );
    let t = task(&app, &tok, &id).await;
    assert_eq!(
        (t["status"].as_str(), t["progress"].as_i64()),
        (Some("completed"), Some(100))
    );
    assert_eq!(t["creditsRefunded"], 0, "{t}");
    let c = app.task_content(&tok, &id).await.expect(200);
    assert_eq!(c["data"]["copied"], true, "the video was copied: {c}");
    assert_eq!(
        kinds(&events(&app, &tok, &id).await).last().unwrap().0,
        "taskCompleted"
    );
    // A later webhook for the ended task changes nothing.
    let again = signed(&app, "msg_2", event("video.completed", &ext))
        .await
        .expect(200);
    assert_eq!(again["data"]["outcome"], "alreadySettled");
    assert_eq!(
        events(&app, &tok, &id).await.len(),
        2,
        "created + completed only"
    );
    assert_ledger_invariant(&app).await;
}

async fn a_failed_job_is_refunded_once(backend: Backend) {
    let app = app_with_secret(backend).await;
    let tok = app.token("failing").await;
    let (id, ext) = task_with_job(&app, &tok, "a fox [fail]").await;
    let r = signed(&app, "msg_f", event("video.completed", &ext))
        .await
        .expect(200);
    assert_eq!(r["data"]["status"], "failed", "{r}");
    let t = task(&app, &tok, &id).await;
    assert_eq!(t["error"]["code"], "simulated_failure", "{t}");
    assert_eq!(t["creditsRefunded"], t["creditsCharged"]);
    signed(&app, "msg_g", event("video.failed", &ext))
        .await
        .expect(200);
    assert_eq!(
        task(&app, &tok, &id).await["creditsRefunded"],
        t["creditsCharged"]
    );
    assert_ledger_invariant(&app).await;
}

async fn forged_stale_and_unsigned_webhooks_are_refused(backend: Backend) {
    let app = app_with_secret(backend).await;
    let tok = app.token("forged").await;
    let (id, ext) = task_with_job(&app, &tok, "a fox").await;
    let body = || event("video.completed", &ext);
    let now = now_ms() / 1000;
    let wrong = b"not-the-secret".to_vec();
    let refused = [
        signed_at(&app, &wrong, "m1", now, body()),
        signed_at(&app, &key(), "m2", now - 360, body()),
        signed_at(&app, &key(), "m3", now + 360, body()),
        app.post(HOOK)
            .json(json!({"type": "video.completed", "data": {"id": ext}})),
        raw(&app, "m4", &now.to_string(), "v1,AAAA", body()),
        raw(
            &app,
            "m5",
            "soon",
            &sign(&key(), "m5", now, &body()),
            body(),
        ),
        signed(&app, &"m".repeat(257), body()),
    ];
    for call in refused {
        call.await.expect_error(401, "invalidSignature");
    }
    // Signed for one body, sent with another.
    let sig = sign(&key(), "m6", now, &body());
    let other = event("video.completed", "video_other");
    let forged = raw(&app, "m6", &now.to_string(), &sig, other);
    forged.await.expect_error(401, "invalidSignature");
    // Signed but not an event; too large.
    signed(&app, "m7", b"[1, 2]".to_vec())
        .await
        .expect_error(400, "badRequest");
    let big = vec![b' '; 64 * 1024 + 1];
    assert_eq!(signed(&app, "m8", big).await.status, 413);
    let t = task(&app, &tok, &id).await;
    assert_eq!(
        (t["status"].as_str(), t["creditsRefunded"].as_i64()),
        (Some("queued"), Some(0))
    );
    assert_eq!(events(&app, &tok, &id).await.len(), 1, "nothing happened");
}

async fn replays_unknown_jobs_and_other_events_change_nothing(backend: Backend) {
    let app = app_with_secret(backend).await;
    let tok = app.token("replayer").await;
    let (id, ext) = task_with_job(&app, &tok, "a fox [fail]").await;
    let unknown = signed(&app, "u1", event("video.completed", "video_unknown")).await;
    assert_eq!(unknown.expect(200)["data"]["outcome"], "ignored");
    let other = signed(&app, "u2", event("batch.completed", &ext))
        .await
        .expect(200);
    assert_eq!(other["data"]["outcome"], "ignored");
    assert_eq!(
        task(&app, &tok, &id).await["status"],
        "queued",
        "ignored events do nothing"
    );
    signed(&app, "r1", event("video.failed", &ext))
        .await
        .expect(200);
    let charged = task(&app, &tok, &id).await["creditsCharged"].clone();
    let replay = signed(&app, "r1", event("video.failed", &ext))
        .await
        .expect(200);
    assert_eq!(replay["data"]["outcome"], "duplicate");
    let t = task(&app, &tok, &id).await;
    assert_eq!(
        (&t["status"], &t["creditsRefunded"]),
        (&json!("failed"), &charged)
    );
    assert_eq!(events(&app, &tok, &id).await.len(), 2);
    assert_ledger_invariant(&app).await;
}

async fn without_a_secret_the_route_is_503(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = signed(&app, "n1", event("video.completed", "video_x")).await;
    r.expect_error(503, "providerWebhookNotConfigured");
}

async fn a_webhook_racing_a_poll_settles_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.providers.openai_webhook_secret = Secret::new(SECRET);
        s.providers.simulator_seconds = 0.0;
        s.poller.poll_interval_ms = 0;
    })
    .await;
    let tok = app.token("racer").await;
    let poller = Poller::new(app.state.clone());
    for round in 0..6 {
        let prompt = if round % 2 == 0 { "fox [fail]" } else { "fox" };
        let (id, ext) = task_with_job(&app, &tok, prompt).await;
        let hook = signed(
            &app,
            &format!("race{round}"),
            event("video.completed", &ext),
        );
        let (r, polled) = tokio::join!(hook.send(), poller.poll_once());
        polled.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        // Whoever lost the lease left the task to the winner; one more poll finishes any
        // leftover (a no-op when it is settled).
        poller.poll_once().await.unwrap();
        let t = task(&app, &tok, &id).await;
        let terminal: Vec<_> = kinds(&events(&app, &tok, &id).await)
            .into_iter()
            .filter(|(k, _)| k == "taskCompleted" || k == "taskFailed")
            .collect();
        assert_eq!(terminal.len(), 1, "round {round}: one terminal event: {t}");
        let refunded = t["creditsRefunded"].as_i64().unwrap();
        let charged = t["creditsCharged"].as_i64().unwrap();
        let want = if round % 2 == 0 { charged } else { 0 };
        assert_eq!(refunded, want, "round {round}: {t}");
    }
    assert_ledger_invariant(&app).await;
}

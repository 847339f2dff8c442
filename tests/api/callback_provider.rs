//! `TASKHUB_PROVIDER=callback`: the reseller-style provider that calls back, end to end
//! against the simulator's callback mode. With no poller running, a task completes through
//! its per-task callback alone; a callback with an unknown token is 404 and changes nothing.

use serde_json::json;
use taskhub::providers::settings::ProviderKind;
use taskhub::tasks::poller::Poller;

use crate::helpers::{Backend, TestApp};
use crate::ledger_check::assert_ledger_invariant;
use crate::poller::{events, kinds, wait_for};

crate::backend_tests!(
    a_task_completes_through_its_callback_alone,
    a_failed_job_called_back_is_refunded_once,
    unknown_callback_tokens_are_404
);

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |s| {
        s.providers.provider = ProviderKind::Callback;
        s.providers.simulator_seconds = 0.3;
        // Polls far apart: only the callback can settle the task in time.
        s.poller.poll_interval_ms = 3_600_000;
        s.poller.poll_max_interval_ms = 3_600_000;
    })
    .await
}

async fn a_task_completes_through_its_callback_alone(backend: Backend) {
    let app = app(backend).await;
    let tok = app.token("called").await;
    let id = app.create_task_id(&tok, "a fox").await;
    // One poll submits it (with its callback URL); no poller runs after that.
    Poller::new(app.state.clone()).poll_once().await.unwrap();
    let t = app.get_task(&tok, &id).await.expect(200)["data"].clone();
    assert_eq!(t["status"], "queued", "{t}");
    assert!(
        !t.to_string().contains("/api/providers/callback"),
        "the token is never shown"
    );
    let done = wait_for(&app, &tok, &id, |t| {
        t["status"] != "queued" && t["status"] != "processing"
    })
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    let c = app.task_content(&tok, &id).await.expect(200);
    assert_eq!(c["data"]["copied"], true, "the result URL was copied: {c}");
    let video = app.get(c["data"]["url"].as_str().unwrap()).response().await;
    assert_eq!(video.status().as_u16(), 200);
    assert_eq!(
        kinds(&events(&app, &tok, &id).await).last().unwrap().0,
        "taskCompleted"
    );
    assert_ledger_invariant(&app).await;
}

async fn a_failed_job_called_back_is_refunded_once(backend: Backend) {
    let app = app(backend).await;
    let tok = app.token("failing").await;
    let id = app.create_task_id(&tok, "a fox [fail]").await;
    let poller = Poller::new(app.state.clone());
    poller.poll_once().await.unwrap();
    let done = wait_for(&app, &tok, &id, |t| t["status"] == "failed").await;
    assert_eq!(done["error"]["code"], "simulated_failure", "{done}");
    assert_eq!(done["creditsRefunded"], done["creditsCharged"]);
    assert_eq!(
        poller.poll_once().await.unwrap().claimed,
        0,
        "nothing left to poll"
    );
    assert_ledger_invariant(&app).await;
}

async fn unknown_callback_tokens_are_404(backend: Backend) {
    let app = app(backend).await;
    let tok = app.token("forger").await;
    let id = app.create_task_id(&tok, "a fox [slow]").await;
    Poller::new(app.state.clone()).poll_once().await.unwrap();
    let before = events(&app, &tok, &id).await.len();
    let body = json!({"code": 200, "msg": "success", "data": {"taskId": "x", "state": "success",
        "resultJson": "{\"resultUrls\":[\"http://127.0.0.1:1/x.mp4\"]}"}});
    let forged = [
        "0".repeat(64),
        "f".repeat(64),
        "abc".into(),
        "g".repeat(64),
        "0".repeat(65),
    ];
    for token in forged {
        let r = app
            .post(format!("/api/providers/callback/{token}"))
            .json(body.clone())
            .await;
        r.expect_error(404, "notFound");
    }
    let big = vec![b' '; 64 * 1024 + 1];
    let r = app
        .post(format!("/api/providers/callback/{}", "0".repeat(64)))
        .body(big)
        .await;
    assert_eq!(r.status, 413);
    let t = app.get_task(&tok, &id).await.expect(200)["data"].clone();
    assert_eq!(
        (t["status"].as_str(), t["creditsRefunded"].as_i64()),
        (Some("queued"), Some(0)),
        "{t}"
    );
    assert_eq!(
        events(&app, &tok, &id).await.len(),
        before,
        "nothing happened"
    );
}

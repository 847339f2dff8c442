//! `POST /api/video/tasks/{videoId}/remix`: a completed video remixed through the provider's
//! remix endpoint as a new task charged like a new one; every refusal charges nothing.

use serde_json::{json, Value};
use taskhub::providers::openai::OpenAiClient;
use taskhub::providers::{CreateJob, JobState, Provider, ProviderError};
use taskhub::tasks::poller::Poller;

use crate::billing::credits;
use crate::helpers::{Backend, Call, TestApp};
use crate::ledger_check::assert_ledger_invariant;
use crate::provider_openai::config;

crate::backend_tests!(
    a_completed_video_is_remixed_as_a_new_charged_task,
    remix_refusals_charge_nothing,
    short_credits_are_402_and_charge_nothing,
    the_simulator_remixes_only_completed_jobs
);

async fn app(backend: Backend) -> TestApp {
    // Simulated jobs end at once: one poll submits a task and completes it.
    TestApp::spawn_with(backend, |s| s.providers.simulator_seconds = 0.0).await
}

fn remix(app: &TestApp, tok: &str, id: &str, body: Value) -> Call {
    app.post(format!("/api/video/tasks/{id}/remix"))
        .auth(tok)
        .json(body)
}

async fn completed_task(app: &TestApp, tok: &str) -> Value {
    let id = app.create_task_id(tok, "a red fox").await;
    Poller::new(app.state.clone()).poll_once().await.unwrap();
    let t = app.get_task(tok, &id).await.expect(200)["data"].clone();
    assert_eq!(t["status"], "completed", "{t}");
    t
}

async fn a_completed_video_is_remixed_as_a_new_charged_task(backend: Backend) {
    let app = app(backend).await;
    let tok = app.token("remixer").await;
    let source = completed_task(&app, &tok).await;
    let before = credits(&app, &tok).await["credits"].as_i64().unwrap();
    let body = json!({"prompt": "the same fox, in snow"});
    let r = remix(&app, &tok, source["videoId"].as_str().unwrap(), body);
    let t = r.await.expect(201)["data"].clone();
    assert_eq!(
        (&t["kind"], &t["status"], &t["remixOf"], &t["prompt"]),
        (
            &json!("remix"),
            &json!("queued"),
            &source["videoId"],
            &json!("the same fox, in snow")
        )
    );
    assert_eq!(
        (&t["model"], &t["seconds"], &t["size"]),
        (&source["model"], &source["seconds"], &source["size"])
    );
    assert_eq!(
        t["creditsCharged"], source["creditsCharged"],
        "priced like the source"
    );
    let after = credits(&app, &tok).await["credits"].as_i64().unwrap();
    assert_eq!(before - after, t["creditsCharged"].as_i64().unwrap());
    // The poller sends it to the provider's remix endpoint: a new job, completed.
    Poller::new(app.state.clone()).poll_once().await.unwrap();
    let id = t["videoId"].as_str().unwrap();
    let done = app.get_task(&tok, id).await.expect(200)["data"].clone();
    assert_eq!(done["status"], "completed", "{done}");
    let ext = done["externalVideoId"].as_str().unwrap();
    assert!(
        ext.starts_with("video_sim_") && ext != source["externalVideoId"],
        "{done}"
    );
    // A remix of a remix works too.
    remix(&app, &tok, id, json!({"prompt": "again"}))
        .await
        .expect(201);
    assert_ledger_invariant(&app).await;
}

async fn remix_refusals_charge_nothing(backend: Backend) {
    let app = app(backend).await;
    let tok = app.token("refused").await;
    let other = app.token("someone").await;
    let source = completed_task(&app, &tok).await;
    let sid = source["videoId"].as_str().unwrap();
    let queued = app.create_task_id(&tok, "still queued").await;
    let before = credits(&app, &tok).await["credits"].clone();
    let p = || json!({"prompt": "snow"});
    remix(&app, &tok, &queued, p())
        .await
        .expect_error(409, "notRemixable");
    remix(&app, &other, sid, p())
        .await
        .expect_error(404, "notFound");
    remix(&app, &tok, "video_nope", p())
        .await
        .expect_error(400, "badRequest");
    let missing = format!("video_{}", uuid::Uuid::now_v7());
    remix(&app, &tok, &missing, p())
        .await
        .expect_error(404, "notFound");
    remix(&app, &tok, sid, json!({"prompt": "  "}))
        .await
        .expect_invalid("prompt");
    remix(&app, &tok, sid, json!({}))
        .await
        .expect_invalid("prompt");
    let long = "x".repeat(32_001);
    remix(&app, &tok, sid, json!({"prompt": long}))
        .await
        .expect_invalid("prompt");
    remix(&app, &tok, sid, json!({"prompt": "a", "seconds": 8}))
        .await
        .expect_invalid("seconds");
    let raw = app
        .post(format!("/api/video/tasks/{sid}/remix"))
        .auth(&tok)
        .body(b"{".to_vec());
    assert!(
        matches!(raw.await.status, 400 | 415),
        "malformed bodies are refused"
    );
    app.post(format!("/api/video/tasks/{sid}/remix"))
        .json(p())
        .await
        .expect_error(401, "unauthorized");
    assert_eq!(
        credits(&app, &tok).await["credits"],
        before,
        "nothing charged"
    );
    let list = app.get("/api/video/tasks").auth(&tok).await.expect(200);
    assert_eq!(list["data"]["total"], 2, "no task created");
    assert_ledger_invariant(&app).await;
}

async fn short_credits_are_402_and_charge_nothing(backend: Backend) {
    let app = app(backend).await;
    let tok = app.token("spender").await;
    let source = completed_task(&app, &tok).await;
    // Spend the rest on tasks until creation itself is refused.
    for _ in 0..100 {
        if app.post_task(&tok, json!({"prompt": "x"})).await.status == 402 {
            break;
        }
    }
    let before = credits(&app, &tok).await["credits"].clone();
    let total = app.get("/api/video/tasks").auth(&tok).await.expect(200)["data"]["total"].clone();
    let sid = source["videoId"].as_str().unwrap();
    remix(&app, &tok, sid, json!({"prompt": "snow"}))
        .await
        .expect_error(402, "insufficientCredits");
    assert_eq!(credits(&app, &tok).await["credits"], before);
    let list = app.get("/api/video/tasks").auth(&tok).await.expect(200);
    assert_eq!(list["data"]["total"], total);
    assert_ledger_invariant(&app).await;
}

/// The simulator's `POST /videos/{id}/remix` through the real client.
async fn the_simulator_remixes_only_completed_jobs(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.providers.simulator_seconds = 30.0).await;
    let fast = TestApp::spawn_with(backend, |s| s.providers.simulator_seconds = 0.0).await;
    let job = CreateJob {
        model: "sora-2".into(),
        prompt: "a fox".into(),
        seconds: 8,
        size: "1280x720".into(),
        input_reference: None,
    };
    let slow = OpenAiClient::new(&app.url("/simulator/v1"), None, config(5_000, 0)).unwrap();
    let running = slow.create(&job).await.unwrap();
    let err = slow.remix(&running.external_id, &job).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 400, .. }),
        "{err:?}"
    );
    let missing = slow.remix("video_sim_nope", &job).await.unwrap_err();
    assert!(
        matches!(
            missing,
            ProviderError::Rejected {
                status: 404 | 400,
                ..
            }
        ),
        "{missing:?}"
    );
    let c = OpenAiClient::new(&fast.url("/simulator/v1"), None, config(5_000, 0)).unwrap();
    let done = c.create(&job).await.unwrap();
    assert_eq!(done.state, JobState::Completed);
    let remixed = c
        .remix(
            &done.external_id,
            &CreateJob {
                prompt: "in snow".into(),
                ..job
            },
        )
        .await
        .unwrap();
    assert_ne!(remixed.external_id, done.external_id);
    let st = c.status(&remixed.external_id).await.unwrap();
    assert_eq!(
        (st.seconds, st.size.as_deref()),
        (Some(8), Some("1280x720")),
        "the source's parameters"
    );
}

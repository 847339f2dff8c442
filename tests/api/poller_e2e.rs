//! Whole runs: the node's own poller against the built-in simulator (completion, a video
//! that plays with range requests, `[fail]`), cancel reaching the provider, webhooks.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taskhub::providers::simulator::SAMPLE_MP4;
use taskhub::providers::ProviderError;
use taskhub::tasks::poller::Poller;

use crate::helpers::{Backend, TestApp};
use crate::poller::{events, kinds, scripted_poller, wait_for};
use crate::scripted::Scripted;

crate::backend_tests!(
    a_task_completes_by_itself_and_its_video_plays,
    fail_prompts_end_failed_with_the_error_kept,
    cancel_tells_the_provider,
    webhooks_get_the_terminal_event
);

async fn a_task_completes_by_itself_and_its_video_plays(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.poller.enabled = true;
        s.providers.simulator_seconds = 0.6;
    })
    .await;
    let tok = app.token("viewer").await;
    // Image-to-video goes to the simulator as multipart with `input_reference`.
    let png = b"\x89PNG\r\n\x1a\nfake".to_vec();
    let image = app.post_image_task(&tok, "animate this", png, "image/png");
    let image_id = image.await.expect(201)["data"]["videoId"]
        .as_str()
        .unwrap()
        .to_string();
    let id = app.create_task_id(&tok, "a red fox").await;

    for task in [&image_id, &id] {
        let t = wait_for(&app, &tok, task, |t| {
            t["status"] != "queued" && t["status"] != "processing"
        })
        .await;
        assert_eq!(
            (t["status"].as_str(), t["progress"].as_i64()),
            (Some("completed"), Some(100)),
            "{t}"
        );
        assert!(t["externalVideoId"]
            .as_str()
            .unwrap()
            .starts_with("video_sim_"));
    }
    let events = events(&app, &tok, &id).await;
    assert_eq!(kinds(&events).last().unwrap().0, "taskCompleted");

    let c = app.task_content(&tok, &id).await.expect(200);
    assert_eq!(c["data"]["copied"], true);
    let url = c["data"]["url"].as_str().unwrap().to_string();
    let resp = app
        .get(&url)
        .header("range", "bytes=0-1023")
        .response()
        .await;
    assert_eq!(resp.status().as_u16(), 206, "browsers seek with ranges");
    assert_eq!(resp.headers()["content-type"], "video/mp4");
    assert_eq!(
        resp.headers()["content-range"].to_str().unwrap(),
        format!("bytes 0-1023/{}", SAMPLE_MP4.len())
    );
    assert_eq!(resp.bytes().await.unwrap(), &SAMPLE_MP4[..1024]);
    let full = app.get(&url).response().await.bytes().await.unwrap();
    assert_eq!(full, SAMPLE_MP4);
    let thumb = app
        .get(c["data"]["thumbnailUrl"].as_str().unwrap())
        .response()
        .await;
    assert_eq!(
        (
            thumb.status().as_u16(),
            thumb.headers()["content-type"].to_str().unwrap()
        ),
        (200, "image/jpeg")
    );

    let forged = format!("/media/{id}.mp4?exp=99999999999&sig={}", "0".repeat(32));
    let unsigned = format!("/media/{id}.mp4");
    for (bad, status) in [
        (forged.as_str(), 403),
        (unsigned.as_str(), 403),
        ("/media/..%2Fjwt_secret?sig=00", 404),
    ] {
        app.get(bad).await.expect_because(status, bad);
    }

    app.delete_task(&tok, &id).await.expect(200);
    assert!(
        !app.data_path().join(format!("media/{id}.mp4")).exists(),
        "deleting a task deletes its video"
    );
    app.get(&url).await.expect(404);
}

async fn fail_prompts_end_failed_with_the_error_kept(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.poller.enabled = true;
        s.providers.simulator_seconds = 0.6;
    })
    .await;
    let tok = app.token("failer").await;
    let id = app.create_task_id(&tok, "[fail] a fox").await;
    let t = wait_for(&app, &tok, &id, |t| t["status"] == "failed").await;
    assert_eq!(t["error"]["code"], "simulated_failure");
    assert!(
        t["error"]["message"].as_str().unwrap().contains("[fail]"),
        "{t}"
    );
    assert!(t["result"].is_null());
    let events = events(&app, &tok, &id).await;
    let last = events.last().unwrap();
    assert_eq!(last["type"], "taskFailed");
    assert_eq!(last["payload"]["error"], t["error"]);
    assert!(last["payload"]["creditsRefunded"].is_i64());
    app.task_content(&tok, &id).await.expect(409);
}

async fn cancel_tells_the_provider(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.providers.simulator_seconds = 60.0).await;
    let tok = app.token("canceller").await;
    let id = app.create_task_id(&tok, "a long one").await;
    Poller::new(app.state.clone()).poll_once().await.unwrap();
    let ext = app
        .state
        .store
        .get_task(&id)
        .await
        .unwrap()
        .external_id
        .expect("submitted");
    let sim = app.state.video.providers.get("simulator").unwrap();
    assert!(sim.status(&ext).await.is_ok());
    let v = app.cancel_task(&tok, &id).await.expect(200);
    assert_eq!(v["data"]["status"], "cancelled", "{v}");
    let err = sim.status(&ext).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 404, .. }),
        "the job was deleted: {err:?}"
    );
}

async fn webhooks_get_the_terminal_event(backend: Backend) {
    let (hook_base, hooks) = crate::provider_openai::spawn_mock(
        vec![],
        Some(crate::provider_openai::ok_json(json!({}))),
    )
    .await;
    let app = TestApp::spawn_with(backend, |s| {
        s.poller.poll_interval_ms = 0;
        s.webhooks.webhook_secret = taskhub::secret::Secret::new("fake-webhook-secret");
    })
    .await;
    let tok = app.token("hooked").await;
    let (poller, _) = scripted_poller(&app, Scripted::auto(1, Duration::ZERO));
    let body =
        json!({"prompt": "hook me", "seconds": 4, "webhookUrl": format!("{hook_base}/hook")});
    let v = app.post_task(&tok, body).await.expect(201);
    let id = v["data"]["videoId"].as_str().unwrap().to_string();
    for _ in 0..4 {
        poller.poll_once().await.unwrap();
    }
    let t = wait_for(&app, &tok, &id, |t| t["status"] == "completed").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while hooks.count() == 0 {
        assert!(Instant::now() < deadline, "webhook never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let req = hooks.nth(0);
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/hook")
    );
    let env: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        (env["type"].as_str(), env["payload"]["videoId"].as_str()),
        (Some("taskCompleted"), Some(id.as_str()))
    );
    assert_eq!(env["payload"]["seq"], t["seq"]);
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"fake-webhook-secret").unwrap();
    mac.update(&req.body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(req.headers["x-taskhub-signature"].to_str().unwrap(), want);
    assert_eq!(hooks.count(), 1, "only the terminal event is sent");
}

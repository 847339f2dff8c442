//! The AdsVideo `/api/v1` video flow as its reference's client walks it: generate, poll to
//! completion, list with page/page_size/status_filter, retry a failed video, delete; someone
//! else's ids are 404; bad input is 422. And the same tasks seen both ways: a video made
//! here is a native task (REST and WebSocket), a native task is a video here.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taskhub::compat::ids::{self, Kind};
use taskhub::config::Settings;

use crate::backend_tests;
use crate::compat_adsvideo::{
    app_with_google, detail_message, detail_names, is_naive_datetime, token,
};
use crate::google::issuer;
use crate::helpers::{Backend, TestApp};
use crate::ws_client::Ws;

backend_tests!(
    generate_poll_list_retry_delete,
    other_users_ids_and_bad_input_are_refused,
    videos_and_native_tasks_are_the_same_tasks,
);

fn running(s: &mut Settings) {
    s.poller.enabled = true;
    s.providers.simulator_seconds = 0.6;
}

fn generate(app: &TestApp, tok: &str, body: Value) -> crate::helpers::Call {
    app.post("/api/v1/videos/generate").auth(tok).json(body)
}

/// Polls `GET /api/v1/videos/{id}` (step 4 of the reference's flow) until `done`.
async fn poll(app: &TestApp, tok: &str, id: i64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = app
            .get(format!("/api/v1/videos/{id}"))
            .auth(tok)
            .await
            .expect(200);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "video never got there: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn finished(v: &Value) -> bool {
    v["status"] == "completed" || v["status"] == "failed"
}

async fn credits(app: &TestApp, tok: &str) -> f64 {
    let c = app.get("/api/v1/users/credits").auth(tok).await.expect(200);
    c["credits"].as_f64().unwrap()
}

async fn generate_poll_list_retry_delete(backend: Backend) {
    let fake = issuer().await;
    let app = app_with_google(backend, &fake, running).await;
    let tok = token(&app, &fake, "ana@example.com").await;
    let me = app.get("/api/v1/auth/me").auth(&tok).await.expect(200);
    let before = credits(&app, &tok).await;

    let prompt = "A cinematic product showcase with smooth camera movements";
    let body = json!({ "prompt": prompt, "model": "sora-2" });
    let v = generate(&app, &tok, body).await.expect(201);
    let id = v["id"].as_i64().expect("integer id");
    assert_eq!(v["user_id"], me["id"]);
    assert_eq!(
        (v["prompt"].as_str(), v["model"].as_str()),
        (Some(prompt), Some("sora-2"))
    );
    assert_eq!(v["status"], "pending");
    for empty in [
        "video_url",
        "poster_url",
        "duration",
        "resolution",
        "error_message",
        "reference_image_url",
    ] {
        assert!(v[empty].is_null(), "{empty}: {v}");
    }
    assert!(
        is_naive_datetime(&v["created_at"]) && is_naive_datetime(&v["updated_at"]),
        "{v}"
    );
    let price = app.state.settings.billing.price_text_standard as f64;
    assert_eq!(
        credits(&app, &tok).await,
        before - price,
        "charged the native price"
    );

    let done = poll(&app, &tok, id, finished).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["duration"].as_i64().unwrap() > 0, "{done}");
    let res = done["resolution"].as_str().unwrap();
    assert!(
        res.split_once('x')
            .is_some_and(|(w, h)| w.parse::<u32>().is_ok() && h.parse::<u32>().is_ok()),
        "{done}"
    );
    let video_url = done["video_url"].as_str().unwrap();
    let resp = app.get(video_url).response().await;
    assert_eq!(resp.status().as_u16(), 200, "the video plays");
    assert!(done["poster_url"].is_string(), "{done}");

    // A failing one (the simulator fails "[fail]" prompts), then its retry: a new video.
    let failing = generate(&app, &tok, json!({ "prompt": "[fail] a red fox" }))
        .await
        .expect(201);
    assert_eq!(failing["model"], "sora-2", "the default model");
    let fid = failing["id"].as_i64().unwrap();
    let failed = poll(&app, &tok, fid, finished).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error_message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{failed}"
    );
    assert!(failed["video_url"].is_null());
    let retried = app
        .post(format!("/api/v1/videos/{fid}/retry"))
        .auth(&tok)
        .await
        .expect(200);
    let rid = retried["id"].as_i64().unwrap();
    assert_ne!(rid, fid, "a retry is a new video");
    assert_eq!(
        (retried["status"].as_str(), retried["prompt"].as_str()),
        (Some("pending"), Some("[fail] a red fox"))
    );
    // Only failed videos are retried.
    let r = app
        .post(format!("/api/v1/videos/{id}/retry"))
        .auth(&tok)
        .await;
    detail_message(&r.expect(400));
    poll(&app, &tok, rid, finished).await;

    // The list: newest first, paged, filtered.
    let all = app.get("/api/v1/videos").auth(&tok).await.expect(200);
    assert_eq!(
        (
            all["total"].as_i64(),
            all["page"].as_i64(),
            all["page_size"].as_i64()
        ),
        (Some(3), Some(1), Some(20))
    );
    let ids: Vec<i64> = all["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [rid, fid, id]);
    let page2 = app
        .get("/api/v1/videos?page=2&page_size=1")
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(
        (
            page2["total"].as_i64(),
            page2["page"].as_i64(),
            page2["page_size"].as_i64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(page2["videos"][0]["id"], fid);
    let failed_only = app
        .get("/api/v1/videos?status_filter=failed")
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(failed_only["total"], 2, "{failed_only}");
    let completed = app
        .get("/api/v1/videos?page=1&page_size=10&status_filter=completed")
        .auth(&tok);
    let completed = completed.await.expect(200);
    assert_eq!(
        (
            completed["total"].as_i64(),
            completed["videos"][0]["id"].as_i64()
        ),
        (Some(1), Some(id))
    );
    assert_eq!(completed["videos"][0]["status"], "completed");

    // Delete: 204, then it is gone.
    let del = app.delete(format!("/api/v1/videos/{id}")).auth(&tok).await;
    assert_eq!(del.status, 204, "{}", del.body);
    let gone = app
        .get(format!("/api/v1/videos/{id}"))
        .auth(&tok)
        .await
        .expect(404);
    assert_eq!(
        detail_message(&gone),
        format!("Video with id {id} not found")
    );
    let left = app.get("/api/v1/videos").auth(&tok).await.expect(200);
    assert_eq!(left["total"], 2);
}

async fn other_users_ids_and_bad_input_are_refused(backend: Backend) {
    let fake = issuer().await;
    let app = app_with_google(backend, &fake, |_| {}).await;
    let alice = token(&app, &fake, "alice@example.com").await;
    let mallory = token(&app, &fake, "mallory@example.com").await;
    let v = generate(&app, &alice, json!({ "prompt": "a quiet harbour at dawn" }))
        .await
        .expect(201);
    let id = v["id"].as_i64().unwrap();
    // Someone else's id and an id that names nothing look the same.
    for path in [
        format!("/api/v1/videos/{id}"),
        "/api/v1/videos/999999".into(),
    ] {
        detail_message(&app.get(&path).auth(&mallory).await.expect(404));
        detail_message(&app.delete(&path).auth(&mallory).await.expect(404));
        detail_message(
            &app.post(format!("{path}/retry"))
                .auth(&mallory)
                .await
                .expect(404),
        );
    }
    let theirs = app.get("/api/v1/videos").auth(&mallory).await.expect(200);
    assert_eq!(theirs["total"], 0);
    // A video still generating is not deleted.
    detail_message(
        &app.delete(format!("/api/v1/videos/{id}"))
            .auth(&alice)
            .await
            .expect(409),
    );

    // 422s, FastAPI style, and nothing is charged.
    let before = credits(&app, &alice).await;
    detail_names(
        &generate(&app, &alice, json!({})).await.expect(422),
        "body",
        "prompt",
    );
    detail_names(
        &generate(&app, &alice, json!({ "prompt": "  " }))
            .await
            .expect(422),
        "body",
        "prompt",
    );
    for model in ["runway-gen3", "sora-1"] {
        let r = generate(&app, &alice, json!({ "prompt": "a cat", "model": model })).await;
        detail_names(&r.expect(422), "body", "model");
    }
    let bad_url = json!({ "prompt": "a cat", "reference_image_url": "ftp://example.com/x.png" });
    detail_names(
        &generate(&app, &alice, bad_url).await.expect(422),
        "body",
        "reference_image_url",
    );
    assert_eq!(credits(&app, &alice).await, before);
    for q in [
        "page=0",
        "page_size=101",
        "page=abc",
        "status_filter=queued",
    ] {
        let r = app.get(format!("/api/v1/videos?{q}")).auth(&alice).await;
        assert_eq!(r.status, 422, "{q}: {}", r.body);
        assert!(r.body["detail"].is_array(), "{q}: {}", r.body);
    }
    detail_names(
        &app.get("/api/v1/videos/abc").auth(&alice).await.expect(422),
        "path",
        "video_id",
    );

    // A task made and cancelled natively is a failed video here, with a message, and the
    // `failed` filter finds it.
    let native = app
        .create_task_id(&alice, "made through the native API")
        .await;
    app.cancel_task(&alice, &native).await.expect(200);
    let list = app
        .get("/api/v1/videos?status_filter=failed")
        .auth(&alice)
        .await
        .expect(200);
    let c = &list["videos"][0];
    assert_eq!(
        (list["total"].as_i64(), c["status"].as_str()),
        (Some(1), Some("failed")),
        "{list}"
    );
    assert!(
        c["error_message"].as_str().unwrap().contains("cancelled"),
        "{c}"
    );
    let num = c["id"].as_i64().unwrap();
    assert_eq!(
        ids::native(&app.state.store, Kind::Task, num)
            .await
            .unwrap(),
        Some(native)
    );

    // The models the server runs, in the reference's card shape.
    let models = app.get("/api/v1/videos/models/list").await.expect(200);
    let ids: Vec<&str> = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let runs: Vec<&str> = app
        .state
        .settings
        .models
        .iter()
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(ids, runs);
    assert_eq!(models["models"][0]["name"], "Sora 2");
    assert!(
        models["models"][0]["version"].is_string()
            && models["models"][0]["description"].is_string()
    );
}

async fn videos_and_native_tasks_are_the_same_tasks(backend: Backend) {
    let fake = issuer().await;
    let app = app_with_google(backend, &fake, running).await;
    let tok = token(&app, &fake, "nia@example.com").await;
    let mut ws = Ws::authed(&app, &tok).await;
    let reply = ws.request("subscribe_user", json!({})).await;
    assert_eq!(reply["type"], "subscribed", "{reply}");

    let v = generate(&app, &tok, json!({ "prompt": "a lighthouse in a storm" }))
        .await
        .expect(201);
    let id = v["id"].as_i64().unwrap();
    let native_id = ids::native(&app.state.store, Kind::Task, id)
        .await
        .unwrap()
        .expect("an alias");
    // The native API shows the same task.
    let t = app.get_task(&tok, &native_id).await.expect(200);
    assert_eq!(t["data"]["prompt"], "a lighthouse in a storm");
    // Its events reach a native WebSocket subscriber, to the end.
    let frames = ws.task_frames_until_terminal(&native_id).await;
    assert_eq!(
        frames.last().unwrap()["type"],
        "taskCompleted",
        "{frames:?}"
    );
    let done = app
        .get(format!("/api/v1/videos/{id}"))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(done["status"], "completed");

    // A task created natively is a video here, with its own number.
    let native = app
        .create_task_id(&tok, "made through the native API")
        .await;
    let list = app.get("/api/v1/videos").auth(&tok).await.expect(200);
    let first = &list["videos"][0];
    assert_eq!(first["prompt"], "made through the native API", "{list}");
    let num = first["id"].as_i64().unwrap();
    assert_eq!(
        ids::native(&app.state.store, Kind::Task, num)
            .await
            .unwrap(),
        Some(native.clone())
    );
}

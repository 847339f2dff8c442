//! Uploads as task images: `referenceImageUploadId` (own image uploads only; anything else a
//! 422 with no task and no charge), a `referenceImageUrl` naming an own upload (used without
//! a fetch), the image fitted to the video size before the provider sees it (the simulator,
//! like OpenAI, refuses a reference image of another size), the task's own copy.

use serde_json::{json, Value};
use taskhub::tasks::poller::Poller;

use crate::helpers::{Backend, TestApp};
use crate::storage::{fresh_bucket, use_s3};
use crate::user_uploads::upload;
use crate::user_uploads_files::{bmff, png};

crate::backend_tests!(
    an_upload_reaches_the_provider_fitted_to_the_size,
    only_own_image_uploads_make_tasks,
    an_own_upload_url_is_used_without_a_fetch,
    uploads_live_in_the_bucket_s3,
);

/// A size the test models allow, small enough to encode fast.
const SIZE: &str = "32x32";

async fn app(backend: Backend, tweak: impl FnOnce(&mut taskhub::config::Settings)) -> TestApp {
    TestApp::spawn_with(backend, |s| {
        for m in &mut s.models {
            m.sizes.push(SIZE.into());
        }
        tweak(s);
    })
    .await
}

async fn upload_id(app: &TestApp, tok: &str, bytes: Vec<u8>) -> String {
    let r = upload(app, tok, bytes, "ref.png", "image/png").await;
    r.expect(201)["data"]["uploadId"]
        .as_str()
        .unwrap()
        .to_string()
}

fn task_body(upload_id: &str) -> Value {
    json!({"prompt": "animate this", "seconds": 4, "size": SIZE,
        "referenceImageUploadId": upload_id})
}

async fn credits(app: &TestApp, tok: &str) -> Value {
    app.get("/api/users/credits").auth(tok).await.expect(200)["data"]["credits"].clone()
}

/// The dimensions of the image the task keeps (and sends as `input_reference`).
async fn task_image_size(app: &TestApp, id: &str) -> (u32, u32) {
    let task = app.state.store.get_task(id).await.unwrap();
    let key = task.input_image.expect("the task has its own image");
    let bytes = app.state.video.media.storage().read(&key).await.unwrap();
    let size = imagesize::blob_size(&bytes).unwrap();
    (size.width as u32, size.height as u32)
}

async fn an_upload_reaches_the_provider_fitted_to_the_size(backend: Backend) {
    let app = app(backend, |_| {}).await;
    let tok = app.token("fitter").await;
    let up = upload_id(&app, &tok, png(64, 48)).await;
    let t = app.post_task(&tok, task_body(&up)).await.expect(201)["data"].clone();
    let id = t["videoId"].as_str().unwrap().to_string();
    assert_eq!(t["kind"], "imageToVideo", "{t}");
    assert_eq!(task_image_size(&app, &id).await, (32, 32));

    // The simulator refuses a reference image whose size is not the video's…
    let part = reqwest::multipart::Part::bytes(png(64, 48))
        .file_name("r.png")
        .mime_str("image/png")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("prompt", "x")
        .text("size", SIZE)
        .part("input_reference", part);
    let direct = app.post("/simulator/v1/videos").multipart(form).await;
    assert_eq!(direct.status, 400, "{:?}", direct.body);
    // …and takes the task's: the poller submits it and the job is accepted.
    Poller::new(app.state.clone()).poll_once().await.unwrap();
    let task = app.state.store.get_task(&id).await.unwrap();
    assert!(task.external_id.is_some(), "submitted: {task:?}");
    assert_ne!(task.status.to_string(), "failed", "{task:?}");

    // Deleting the upload leaves the task's copy.
    app.delete(format!("/api/uploads/{up}"))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(task_image_size(&app, &id).await, (32, 32));
}

async fn only_own_image_uploads_make_tasks(backend: Backend) {
    let app = app(backend, |_| {}).await;
    let tok = app.token("asker").await;
    let other = app.token("owner-of-it").await;
    let theirs = upload_id(&app, &other, png(40, 30)).await;
    let video = upload(&app, &tok, bmff(b"isom", 4096), "v.mp4", "video/mp4").await;
    let video = video.expect(201)["data"]["uploadId"]
        .as_str()
        .unwrap()
        .to_string();
    let mine = upload_id(&app, &tok, png(40, 30)).await;
    let before = credits(&app, &tok).await;
    for (id, why) in [
        (theirs.as_str(), "someone else's"),
        (video.as_str(), "a video"),
        ("upl_0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b", "missing"),
        ("not-an-id", "malformed"),
    ] {
        let r = app.post_task(&tok, task_body(id)).await;
        assert_eq!(r.status, 422, "{why}: {:?}", r.body);
        assert!(
            r.body["error"]["fields"]["referenceImageUploadId"].is_string(),
            "{why}: {:?}",
            r.body
        );
    }
    // One image only.
    let mut both = task_body(&mine);
    both["referenceImageUrl"] = json!("https://example.com/a.png");
    app.post_task(&tok, both)
        .await
        .expect_invalid("referenceImageUploadId");
    assert_eq!(credits(&app, &tok).await, before, "nothing charged");
    let list = app.get("/api/video/tasks").auth(&tok).await.expect(200);
    assert_eq!(list["data"]["total"], 0, "no task: {list}");

    // Multipart takes the id too.
    let form = reqwest::multipart::Form::new()
        .text("prompt", "animate")
        .text("size", SIZE)
        .text("referenceImageUploadId", mine);
    let r = app
        .post("/api/video/tasks")
        .auth(&tok)
        .multipart(form)
        .await;
    let id = r.expect(201)["data"]["videoId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(task_image_size(&app, &id).await, (32, 32));
}

async fn an_own_upload_url_is_used_without_a_fetch(backend: Backend) {
    // Media URLs on a host that does not resolve: a fetch would fail.
    let app = app(backend, |s| {
        s.media.media_base_url = Some("http://media.invalid".into())
    })
    .await;
    let tok = app.token("linker").await;
    let r = upload(&app, &tok, png(64, 48), "a.png", "image/png").await;
    let url = r.expect(201)["data"]["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("http://media.invalid/media/upl_"), "{url}");
    let body = json!({"prompt": "animate", "size": SIZE, "referenceImageUrl": url});
    let t = app.post_task(&tok, body).await.expect(201)["data"].clone();
    let id = t["videoId"].as_str().unwrap();
    assert_eq!(task_image_size(&app, id).await, (32, 32));
    // Someone else's upload URL is an ordinary URL: fetched (and here it cannot be).
    let other = app.token("other-linker").await;
    let body = json!({"prompt": "animate", "size": SIZE, "referenceImageUrl": url});
    app.post_task(&other, body)
        .await
        .expect_invalid("referenceImageUrl");
}

async fn uploads_live_in_the_bucket_s3(backend: Backend) {
    let bucket = fresh_bucket().await;
    let app = app(backend, |s| use_s3(s, &bucket)).await;
    let tok = app.token("s3-user-uploader").await;
    let file = png(64, 48);
    let d = upload(&app, &tok, file.clone(), "a.png", "image/png").await;
    let d = d.expect(201)["data"].clone();
    let id = d["uploadId"].as_str().unwrap();
    let storage = app.state.video.media.storage().clone();
    let key = format!("user-uploads/{id}.png");
    assert_eq!(storage.read(&key).await.unwrap().to_vec(), file);
    assert!(
        !app.data_path().join(&key).exists(),
        "not on the node's disk"
    );
    let url = d["url"].as_str().unwrap();
    let part = app.get(url).header("range", "bytes=0-9").response().await;
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.bytes().await.unwrap().to_vec(), file[..10].to_vec());
    let t = app.post_task(&tok, task_body(id)).await.expect(201)["data"].clone();
    let vid = t["videoId"].as_str().unwrap();
    assert_eq!(task_image_size(&app, vid).await, (32, 32));
    app.delete(format!("/api/uploads/{id}"))
        .auth(&tok)
        .await
        .expect(200);
    assert!(storage.head(&key).await.is_err(), "the file went");
}

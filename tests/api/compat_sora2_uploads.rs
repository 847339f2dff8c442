//! The Sora 2 adapter's `POST /api/videos/upload` as its reference's client uses it (upload
//! first, then image-to-video with the returned `file_url`): the uploads service decides
//! type (from the bytes), size and quota; refusals are the reference's 400/413 in the
//! `{"detail"}` shape; the deployment API key guards it like task creation.

use image::ImageFormat;
use serde_json::{json, Value};
use taskhub::secret::Secret;

use crate::backend_tests;
use crate::compat_sora2::{at, token};
use crate::helpers::{Backend, Call, Reply, TestApp};
use crate::user_uploads_files::{bmff, encoded, png, webm};

backend_tests!(
    upload_an_image_or_a_video_then_animate_the_image,
    bad_files_are_the_references_refusals,
    the_deployment_key_guards_uploads,
);

/// Largest upload in these tests.
const MAX: usize = 64 * 1024;
const KEY: &str = "FAKE-sora2-upload-key";

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |s| s.max_upload_bytes = MAX).await
}

fn form(bytes: Vec<u8>, name: &str, file_type: Option<&str>) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str("application/octet-stream")
        .unwrap();
    let f = reqwest::multipart::Form::new().part("file", part);
    match file_type {
        Some(t) => f.text("file_type", t.to_string()),
        None => f,
    }
}

fn upload_call(
    app: &TestApp,
    tok: &str,
    bytes: Vec<u8>,
    name: &str,
    file_type: Option<&str>,
) -> Call {
    app.post(at("/api/videos/upload"))
        .auth(tok)
        .multipart(form(bytes, name, file_type))
}

async fn upload(
    app: &TestApp,
    tok: &str,
    bytes: Vec<u8>,
    name: &str,
    file_type: Option<&str>,
) -> Reply {
    upload_call(app, tok, bytes, name, file_type).await
}

fn detail(v: &Value) -> &str {
    v["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("detail: {v}"))
}

async fn used(app: &TestApp, tok: &str) -> i64 {
    let id = app.user_id(tok).await;
    app.state.store.upload_bytes_used(&id).await.unwrap()
}

fn image_to_video(app: &TestApp, tok: &str, url: &str) -> Call {
    let body = json!({"prompt": "the picture comes alive", "image_urls": [url]});
    app.post(at("/api/videos/image-to-video"))
        .auth(tok)
        .json(body)
}

async fn upload_an_image_or_a_video_then_animate_the_image(backend: Backend) {
    let app = app(backend).await;
    let tok = token(&app, "uploader@example.com").await;
    let image = encoded(64, 36, ImageFormat::Jpeg);
    let v = upload(&app, &tok, image.clone(), "photo.jpg", None)
        .await
        .expect(200);
    assert_eq!(
        (
            v["success"].as_bool(),
            v["content_type"].as_str(),
            v["file_type"].as_str()
        ),
        (Some(true), Some("image/jpeg"), Some("image"))
    );
    assert_eq!(v["file_size"], image.len());
    assert_eq!(v["message"], "Image uploaded successfully");
    let key = v["storage_key"].as_str().unwrap();
    assert!(key.starts_with("upl_"), "{v}");
    // The same upload natively, and its file where file_url says.
    let native = app
        .get(format!("/api/uploads/{key}"))
        .auth(&tok)
        .await
        .expect(200);
    assert_eq!(native["data"]["bytes"], image.len());
    let file_url = v["file_url"].as_str().unwrap().to_string();
    let resp = app.get(&file_url).response().await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), image.as_slice());

    // A video, said to be one.
    let clip = webm(4096);
    let v = upload(&app, &tok, clip.clone(), "clip.webm", Some("video"))
        .await
        .expect(200);
    assert_eq!(
        (v["file_type"].as_str(), v["content_type"].as_str()),
        (Some("video"), Some("video/webm"))
    );
    assert_eq!(v["message"], "Video uploaded successfully");
    let video_url = v["file_url"].as_str().unwrap().to_string();
    assert_eq!(used(&app, &tok).await, (image.len() + clip.len()) as i64);

    // The reference's flow: image-to-video with the uploaded file_url (read from the store).
    let created = image_to_video(&app, &tok, &file_url).await.expect(200);
    let id = created["task_id"].as_str().unwrap();
    let task = app.state.store.get_task(id).await.unwrap();
    assert_eq!(task.kind, "imageToVideo");
    assert!(task.input_image.is_some(), "the task keeps its own copy");
    // The video's URL is not an image: the reference's 400.
    let r = image_to_video(&app, &tok, &video_url).await.expect(400);
    assert!(detail(&r).starts_with("Invalid image URL"), "{r}");
    // Someone else's file_url (relative, so not fetchable either) is refused.
    let other = token(&app, "someone@example.com").await;
    let r = image_to_video(&app, &other, &file_url).await.expect(422);
    assert_eq!(r["detail"][0]["loc"], json!(["body", "image_urls"]), "{r}");
}

async fn bad_files_are_the_references_refusals(backend: Backend) {
    let app = app(backend).await;
    let tok = token(&app, "refused@example.com").await;
    let text = "plain text, not a picture. ".repeat(80).into_bytes();
    // Not an accepted type (AVI is not taken either: RIFF without WebP).
    let avi = {
        let mut v = b"RIFF\x00\x10\x00\x00AVI LIST".to_vec();
        v.resize(4096, 0);
        v
    };
    for (bytes, name) in [(text, "notes.jpg"), (avi, "movie.avi")] {
        let r = upload(&app, &tok, bytes, name, None).await.expect(400);
        assert!(detail(&r).starts_with("Invalid file type"), "{name}: {r}");
    }
    // file_type that the file is not, or that is neither word.
    let r = upload(&app, &tok, png(40, 30), "a.png", Some("video"))
        .await
        .expect(400);
    assert!(detail(&r).contains("file_type is video"), "{r}");
    let r = upload(&app, &tok, bmff(b"isom", 4096), "a.mp4", None)
        .await
        .expect(400);
    assert!(detail(&r).contains("file_type is image"), "{r}");
    let r = upload(&app, &tok, png(40, 30), "a.png", Some("audio"))
        .await
        .expect(400);
    assert_eq!(detail(&r), "file_type must be image or video");
    // Under the 1 KB minimum: the reference's 400.
    let r = upload(&app, &tok, png(40, 30)[..100].to_vec(), "t.png", None)
        .await
        .expect(400);
    assert!(detail(&r).starts_with("File too small"), "{r}");
    // Over the maximum: 413, within the body limit and beyond it.
    let mut big = png(40, 30);
    big.resize(MAX + 1, 0);
    let r = upload(&app, &tok, big, "big.png", None).await.expect(413);
    assert!(detail(&r).starts_with("File too large"), "{r}");
    let r = upload(&app, &tok, vec![0; MAX + 128 * 1024], "huge.png", None).await;
    assert!(detail(&r.expect(413)).starts_with("File too large"));
    // No file part: FastAPI's 422; not multipart: 415; no token: 401.
    let none = reqwest::multipart::Form::new().text("file_type", "image");
    let r = app
        .post(at("/api/videos/upload"))
        .auth(&tok)
        .multipart(none)
        .await;
    assert_eq!(r.expect(422)["detail"][0]["loc"], json!(["body", "file"]));
    let r = app
        .post(at("/api/videos/upload"))
        .auth(&tok)
        .json(json!({}))
        .await;
    detail(&r.expect(415));
    let r = app
        .post(at("/api/videos/upload"))
        .multipart(form(png(40, 30), "a.png", None))
        .await;
    detail(&r.expect(401));
    assert_eq!(used(&app, &tok).await, 0, "nothing stored");
}

async fn the_deployment_key_guards_uploads(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.max_upload_bytes = MAX;
        s.compat_sora2.compat_sora2_api_keys = Secret::new(KEY);
    })
    .await;
    let tok = token(&app, "keyed-upload@example.com").await;
    let r = upload(&app, &tok, png(40, 30), "a.png", None)
        .await
        .expect(403);
    assert_eq!(detail(&r), "Invalid or missing API key");
    let ok = upload_call(&app, &tok, png(40, 30), "a.png", None).header("X-API-Key", KEY);
    ok.await.expect(200);
    assert_eq!(used(&app, &tok).await, png(40, 30).len() as i64);
}

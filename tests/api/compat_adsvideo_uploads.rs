//! The AdsVideo `/api/v1/upload` routes as its reference's client uses them (step 2 of its
//! flow): validate a file without signing in, upload a reference image, then generate a
//! video from the returned `file_path`. Type and size are decided by the uploads service
//! (from the bytes), refusals in the reference's words and `{"detail"}` shape.

use image::ImageFormat;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::compat_adsvideo::{app_with_google, detail_message, detail_names, token};
use crate::google::issuer;
use crate::helpers::{Backend, Reply, TestApp};
use crate::user_uploads_files::{encoded, png, webm};

backend_tests!(
    validate_needs_no_sign_in_and_says_why_not,
    upload_an_image_then_generate_from_its_file_path,
    refused_uploads_store_nothing,
);

/// Largest upload in these tests.
const MAX: usize = 64 * 1024;
const INVALID_TYPE: &str = "Invalid file type. Allowed types: image/jpeg, image/png, image/webp";

fn form(bytes: Vec<u8>, name: &str, mime: &str) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(mime)
        .unwrap();
    reqwest::multipart::Form::new().part("file", part)
}

async fn validate(app: &TestApp, bytes: Vec<u8>, name: &str) -> Reply {
    let f = form(bytes, name, "application/octet-stream");
    app.post("/api/v1/upload/validate").multipart(f).await
}

async fn upload(app: &TestApp, tok: &str, bytes: Vec<u8>, name: &str) -> Reply {
    let f = form(bytes, name, "image/jpeg");
    app.post("/api/v1/upload/image")
        .auth(tok)
        .multipart(f)
        .await
}

async fn used(app: &TestApp, tok: &str) -> i64 {
    let id = app.user_id(tok).await;
    app.state.store.upload_bytes_used(&id).await.unwrap()
}

async fn validate_needs_no_sign_in_and_says_why_not(backend: Backend) {
    let fake = issuer().await;
    let app = app_with_google(backend, &fake, |s| s.max_upload_bytes = MAX).await;
    let image = png(40, 30);
    let v = validate(&app, image.clone(), "dir/my-image.png")
        .await
        .expect(200);
    assert_eq!(
        v,
        json!({"valid": true, "message": "File is valid", "filename": "my-image.png", "size": image.len()})
    );
    // JPEG and WebP too (the reference's three types), decided from the bytes: the name lies.
    for format in [ImageFormat::Jpeg, ImageFormat::WebP] {
        let v = validate(&app, encoded(40, 30, format), "x.gif").await;
        assert_eq!(v.expect(200)["valid"], true, "{format:?}");
    }
    // Not one of the three: a GIF (taskhub's uploads take it, the reference does not), a
    // video, text; each valid: false with the reference's message.
    let gif = encoded(40, 30, ImageFormat::Gif);
    let text = "just some text, repeated. ".repeat(80).into_bytes();
    for (bytes, name) in [(gif, "a.gif"), (webm(4096), "a.png"), (text, "a.jpg")] {
        let v = validate(&app, bytes, name).await.expect(200);
        assert_eq!(
            (v["valid"].as_bool(), v["message"].as_str()),
            (Some(false), Some(INVALID_TYPE)),
            "{name}: {v}"
        );
    }
    // Over the maximum (but within the body limit): not valid, in the reference's words.
    let mut big = png(40, 30);
    big.resize(MAX + 1, 0);
    let v = validate(&app, big, "big.png").await.expect(200);
    assert_eq!(v["valid"], false);
    assert_eq!(v["size"], MAX + 1);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("File too large. Maximum size: "),
        "{v}"
    );
    // Under taskhub's minimum (1 KiB).
    let v = validate(&app, png(40, 30)[..200].to_vec(), "tiny.png")
        .await
        .expect(200);
    assert_eq!(v["valid"], false, "{v}");
    // No file part: FastAPI's 422; not multipart: 415; both {"detail"}.
    let other = reqwest::multipart::Form::new().text("note", "no file here");
    let r = app.post("/api/v1/upload/validate").multipart(other).await;
    detail_names(&r.expect(422), "body", "file");
    let r = app
        .post("/api/v1/upload/validate")
        .json(json!({"file": "x"}))
        .await;
    detail_message(&r.expect(415));
    // A body far over the limit is refused before it is read: 413 {"detail"}.
    let huge = vec![0u8; MAX + 128 * 1024];
    let r = validate(&app, huge, "huge.png").await;
    assert!(detail_message(&r.expect(413)).starts_with("File too large"));
}

async fn upload_an_image_then_generate_from_its_file_path(backend: Backend) {
    let fake = issuer().await;
    let app = app_with_google(backend, &fake, |s| s.max_upload_bytes = MAX).await;
    let tok = token(&app, &fake, "uma@example.com").await;
    let image = encoded(64, 36, ImageFormat::Jpeg);
    let up = upload(&app, &tok, image.clone(), "my-image.jpg")
        .await
        .expect(200);
    assert_eq!(up["message"], "File uploaded successfully");
    assert_eq!(up["filename"], "my-image.jpg");
    let path = up["file_path"].as_str().unwrap().to_string();
    assert_eq!(up.as_object().unwrap().len(), 3, "{up}");
    // The file is served where file_path says.
    let resp = app.get(&path).response().await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), image.as_slice());
    // It is an ordinary upload of the user's (the native list of uploads knows it).
    assert_eq!(used(&app, &tok).await, image.len() as i64);

    // Step 3 of the reference's flow: generate with reference_image_url = file_path.
    let before = app
        .get("/api/v1/users/credits")
        .auth(&tok)
        .await
        .expect(200);
    let body = json!({"prompt": "A cinematic product showcase", "reference_image_url": path});
    let v = app
        .post("/api/v1/videos/generate")
        .auth(&tok)
        .json(body)
        .await
        .expect(201);
    assert_eq!(v["reference_image_url"], path.as_str());
    let after = app
        .get("/api/v1/users/credits")
        .auth(&tok)
        .await
        .expect(200);
    let price = app.state.settings.billing.price_image_standard as f64;
    assert_eq!(
        after["credits"].as_f64().unwrap(),
        before["credits"].as_f64().unwrap() - price
    );
    let num = v["id"].as_i64().unwrap();
    let native =
        taskhub::compat::ids::native(&app.state.store, taskhub::compat::ids::Kind::Task, num)
            .await
            .unwrap()
            .unwrap();
    let task = app.state.store.get_task(&native).await.unwrap();
    assert_eq!(task.kind, "imageToVideo");
    assert!(
        task.input_image.is_some(),
        "the task has its own copy of the upload"
    );

    // Someone else's file_path, or a path that is no upload, is a 422 on the field.
    let other = token(&app, &fake, "otto@example.com").await;
    let before_other = used(&app, &other).await;
    for bad in [path.as_str(), "/uploads/user_1/abc123.jpg"] {
        let body = json!({"prompt": "not mine", "reference_image_url": bad});
        let r = app
            .post("/api/v1/videos/generate")
            .auth(&other)
            .json(body)
            .await;
        detail_names(&r.expect(422), "body", "reference_image_url");
    }
    assert_eq!(used(&app, &other).await, before_other);
    // Without a token: 401 {"detail"}.
    let r = app
        .post("/api/v1/upload/image")
        .multipart(form(png(40, 30), "a.png", "image/png"))
        .await;
    detail_message(&r.expect(401));
}

async fn refused_uploads_store_nothing(backend: Backend) {
    let fake = issuer().await;
    let first = png(40, 30);
    let quota = (first.len() * 2 - 1) as u64;
    let app = app_with_google(backend, &fake, |s| {
        s.max_upload_bytes = MAX;
        s.uploads.upload_quota_bytes = quota;
    })
    .await;
    let tok = token(&app, &fake, "rex@example.com").await;
    // Not an accepted type: the reference's 400 and message.
    let gif = encoded(40, 30, ImageFormat::Gif);
    for (bytes, name) in [(gif, "a.gif"), (webm(4096), "clip.webm")] {
        let r = upload(&app, &tok, bytes, name).await.expect(400);
        assert_eq!(detail_message(&r), INVALID_TYPE);
    }
    // Too large: 413 in the reference's words (over the maximum, and over the body limit).
    let mut big = png(40, 30);
    big.resize(MAX + 1, 0);
    let r = upload(&app, &tok, big, "big.png").await.expect(413);
    assert_eq!(detail_message(&r), "File too large. Maximum size: 0.1 MB");
    let r = upload(&app, &tok, vec![0u8; MAX + 128 * 1024], "huge.png").await;
    assert!(detail_message(&r.expect(413)).starts_with("File too large"));
    // Too small: taskhub's minimum, 422 with the native message.
    let r = upload(&app, &tok, first[..200].to_vec(), "tiny.png")
        .await
        .expect(422);
    assert!(detail_message(&r).contains("at least"), "{r}");
    // No file part.
    let none = reqwest::multipart::Form::new().text("file_name", "x");
    let r = app
        .post("/api/v1/upload/image")
        .auth(&tok)
        .multipart(none)
        .await;
    detail_names(&r.expect(422), "body", "file");
    assert_eq!(used(&app, &tok).await, 0, "nothing stored");
    // The quota: the first fits, the second does not (409, nothing stored).
    upload(&app, &tok, first.clone(), "one.png")
        .await
        .expect(200);
    let r: Value = upload(&app, &tok, first.clone(), "two.png")
        .await
        .expect(409);
    assert!(detail_message(&r).contains("quota"), "{r}");
    assert_eq!(used(&app, &tok).await, first.len() as i64);
}

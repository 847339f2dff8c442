//! `POST /api/uploads` and `/validate`: the type from the bytes (never the name or the
//! declared type), size bounds, dimensions, the per-user quota, ownership, the file served
//! at its signed URL with ranges, deletion (one, and with the account), the orphan sweep.

use image::ImageFormat;
use serde_json::{json, Value};
use taskhub::auth::AuthUser;

use crate::helpers::{Backend, Reply, TestApp};
use crate::user_uploads_files::{bmff, encoded, png, webm};

crate::backend_tests!(
    every_accepted_type_is_sniffed_from_the_bytes,
    bad_files_are_refused_and_nothing_is_stored,
    the_quota_refuses_and_deleting_frees_it,
    an_upload_is_served_at_its_url_with_ranges,
    uploads_are_private_and_go_with_the_account,
    the_sweep_removes_only_files_without_a_row,
);

/// Largest upload in these tests.
const MAX: usize = 64 * 1024;

pub async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |s| s.max_upload_bytes = MAX).await
}

fn form(bytes: Vec<u8>, name: &str, mime: &str) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(mime)
        .unwrap();
    reqwest::multipart::Form::new().part("file", part)
}

pub async fn upload(app: &TestApp, tok: &str, bytes: Vec<u8>, name: &str, mime: &str) -> Reply {
    let f = form(bytes, name, mime);
    app.post("/api/uploads").auth(tok).multipart(f).await
}

async fn validate(app: &TestApp, tok: &str, bytes: Vec<u8>, mime: &str) -> Reply {
    let f = form(bytes, "f", mime);
    app.post("/api/uploads/validate")
        .auth(tok)
        .multipart(f)
        .await
}

/// Store keys under `user-uploads/`.
async fn stored_keys(app: &TestApp) -> Vec<String> {
    let storage = app.state.video.media.storage();
    let list = storage.list(taskhub::media::UPLOADS_DIR).await.unwrap();
    list.into_iter().map(|(k, _)| k).collect()
}

async fn used(app: &TestApp, tok: &str) -> i64 {
    let id = app.user_id(tok).await;
    app.state.store.upload_bytes_used(&id).await.unwrap()
}

async fn every_accepted_type_is_sniffed_from_the_bytes(backend: Backend) {
    let app = app(backend).await;
    let tok = app.token("sniffer").await;
    let cases: Vec<(Vec<u8>, &str, &str, Option<u32>)> = vec![
        (png(40, 30), "image/png", "image", Some(40)),
        (
            encoded(40, 30, ImageFormat::Jpeg),
            "image/jpeg",
            "image",
            Some(40),
        ),
        (
            encoded(40, 30, ImageFormat::WebP),
            "image/webp",
            "image",
            Some(40),
        ),
        (
            encoded(40, 30, ImageFormat::Gif),
            "image/gif",
            "image",
            Some(40),
        ),
        (bmff(b"isom", 4096), "video/mp4", "video", None),
        (bmff(b"qt  ", 4096), "video/quicktime", "video", None),
        (webm(4096), "video/webm", "video", None),
    ];
    for (bytes, ctype, kind, width) in cases {
        let len = bytes.len();
        // Declared as something else, named as something else: the bytes decide.
        let d = upload(&app, &tok, bytes, "../../a file.txt", "text/plain")
            .await
            .expect_because(201, ctype)["data"]
            .clone();
        assert_eq!(
            (
                d["contentType"].as_str(),
                d["kind"].as_str(),
                d["bytes"].as_u64()
            ),
            (Some(ctype), Some(kind), Some(len as u64)),
            "{d}"
        );
        assert_eq!(d["width"].as_u64().map(|w| w as u32), width, "{d}");
        assert_eq!(d["height"].as_u64().is_some(), width.is_some(), "{d}");
        assert_eq!(
            d["filename"], "a file.txt",
            "the last component, shown only"
        );
        assert!(d["uploadId"].as_str().unwrap().starts_with("upl_"), "{d}");
        assert!(d["url"].as_str().unwrap().contains("/media/upl_"), "{d}");
        assert!(d["createdAt"].is_string(), "{d}");
    }
    // A PNG named .jpg and declared image/jpeg is a PNG.
    let d = upload(&app, &tok, png(40, 30), "photo.jpg", "image/jpeg")
        .await
        .expect(201)["data"]
        .clone();
    assert_eq!(
        (&d["contentType"], &d["width"], &d["height"]),
        (&json!("image/png"), &json!(40), &json!(30))
    );
    let keys = stored_keys(&app).await;
    assert_eq!(keys.len(), 8, "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| !k.contains("file") && !k.contains("photo")),
        "names never become paths: {keys:?}"
    );
    let id = d["uploadId"].as_str().unwrap();
    assert!(
        keys.iter().any(|k| k.ends_with(&format!("{id}.png"))),
        "{keys:?}"
    );
}

async fn bad_files_are_refused_and_nothing_is_stored(backend: Backend) {
    let app = app(backend).await;
    let tok = app.token("refused").await;
    let mut html = b"<!DOCTYPE html><html><body>".to_vec();
    html.resize(4096, b' ');
    upload(&app, &tok, html.clone(), "x.png", "image/png")
        .await
        .expect_error(415, "unsupportedMediaType");
    let mut small = png(4, 4);
    small.resize(1000, 0);
    upload(&app, &tok, small.clone(), "x.png", "image/png")
        .await
        .expect_error(422, "fileTooSmall");
    let mut big = bmff(b"isom", MAX + 1);
    upload(&app, &tok, big.clone(), "x.mp4", "video/mp4")
        .await
        .expect_error(413, "payloadTooLarge");
    // Far over the body limit: refused while reading.
    big.resize(MAX * 3, 0);
    upload(&app, &tok, big, "x.mp4", "video/mp4")
        .await
        .expect_error(413, "payloadTooLarge");
    // No file part; another part.
    let empty = reqwest::multipart::Form::new().text("note", "hi");
    let r = app.post("/api/uploads").auth(&tok).multipart(empty).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    app.post("/api/uploads")
        .auth(&tok)
        .json(json!({"file": "x"}))
        .await
        .expect_error(415, "unsupportedMediaType");
    let anonymous = app
        .post("/api/uploads")
        .multipart(form(png(40, 30), "a", "image/png"));
    assert_eq!(anonymous.await.status, 401);

    // Validation checks the same way and stores nothing.
    let v = validate(&app, &tok, png(40, 30), "application/octet-stream")
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(
        v,
        json!({"valid": true, "contentType": "image/png", "bytes": png(40, 30).len(),
            "width": 40, "height": 30, "kind": "image"})
    );
    validate(&app, &tok, html, "image/png")
        .await
        .expect_error(415, "unsupportedMediaType");
    validate(&app, &tok, small, "image/png")
        .await
        .expect_error(422, "fileTooSmall");
    assert!(stored_keys(&app).await.is_empty());
    assert_eq!(used(&app, &tok).await, 0);
}

async fn the_quota_refuses_and_deleting_frees_it(backend: Backend) {
    let file = png(40, 30);
    let quota = (file.len() * 2 + file.len() / 2) as u64;
    let app = TestApp::spawn_with(backend, |s| s.uploads.upload_quota_bytes = quota).await;
    let tok = app.token("hoarder").await;
    let first = upload(&app, &tok, file.clone(), "a.png", "image/png").await;
    let first = first.expect(201)["data"]["uploadId"]
        .as_str()
        .unwrap()
        .to_string();
    upload(&app, &tok, file.clone(), "b.png", "image/png")
        .await
        .expect(201);
    let r = upload(&app, &tok, file.clone(), "c.png", "image/png").await;
    r.expect_error(409, "quotaExceeded");
    assert_eq!(stored_keys(&app).await.len(), 2, "nothing stored");
    assert_eq!(used(&app, &tok).await, 2 * file.len() as i64);
    // Another user has a quota of their own.
    let other = app.token("other-hoarder").await;
    upload(&app, &other, file.clone(), "a.png", "image/png")
        .await
        .expect(201);

    let path = format!("/api/uploads/{first}");
    let d = app.delete(&path).auth(&tok).await.expect(200);
    assert_eq!(d["data"], json!({"uploadId": first, "deleted": true}));
    app.get(&path)
        .auth(&tok)
        .await
        .expect_error(404, "notFound");
    app.delete(&path)
        .auth(&tok)
        .await
        .expect_error(404, "notFound");
    upload(&app, &tok, file, "c.png", "image/png")
        .await
        .expect(201);
    assert_eq!(stored_keys(&app).await.len(), 3);
}

async fn an_upload_is_served_at_its_url_with_ranges(backend: Backend) {
    let app = app(backend).await;
    let tok = app.token("viewer").await;
    let file = encoded(40, 30, ImageFormat::Gif);
    let d = upload(&app, &tok, file.clone(), "a.gif", "image/gif")
        .await
        .expect(201)["data"]
        .clone();
    let url = d["url"].as_str().unwrap();
    let whole = app.get(url).response().await;
    assert_eq!(whole.status().as_u16(), 200);
    assert_eq!(whole.headers()["content-type"], "image/gif");
    assert_eq!(whole.bytes().await.unwrap().to_vec(), file);
    let part = app.get(url).header("range", "bytes=0-9").response().await;
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.bytes().await.unwrap().to_vec(), file[..10].to_vec());
    // The signature is the permission.
    let forged = url.replace("sig=", "sig=00");
    app.get(&forged).await.expect_error(403, "invalidSignature");
    // Read again: the same upload, a fresh URL.
    let id = d["uploadId"].as_str().unwrap();
    let again = app.get(format!("/api/uploads/{id}")).auth(&tok).await;
    let again = again.expect(200)["data"].clone();
    assert_eq!(
        (&again["uploadId"], &again["bytes"], &again["contentType"]),
        (&d["uploadId"], &d["bytes"], &d["contentType"])
    );
}

async fn uploads_are_private_and_go_with_the_account(backend: Backend) {
    let app = app(backend).await;
    let tok = app.token("owner").await;
    let thief = app.token("thief").await;
    let d = upload(&app, &tok, png(40, 30), "a.png", "image/png").await;
    let d: Value = d.expect(201)["data"].clone();
    let id = d["uploadId"].as_str().unwrap();
    let path = format!("/api/uploads/{id}");
    app.get(&path)
        .auth(&thief)
        .await
        .expect_error(404, "notFound");
    app.delete(&path)
        .auth(&thief)
        .await
        .expect_error(404, "notFound");
    app.get("/api/uploads/upl_nope")
        .auth(&tok)
        .await
        .expect_error(404, "notFound");
    let me = AuthUser {
        id: app.user_id(&tok).await,
        username: "owner".into(),
    };
    let uploads = taskhub::uploads::Uploads::from(&app.state);
    let url = d["url"].as_str().unwrap();
    let found = uploads.own_by_url(&me, url).await.unwrap().unwrap();
    assert_eq!(found.upload_id, id);
    let thief_user = AuthUser {
        id: app.user_id(&thief).await,
        username: "thief".into(),
    };
    assert!(uploads
        .own_by_url(&thief_user, url)
        .await
        .unwrap()
        .is_none());
    assert!(uploads
        .own_by_url(&me, "https://example.com/x.png")
        .await
        .unwrap()
        .is_none());

    app.delete("/api/users/account")
        .auth(&tok)
        .json(json!({"password": "fake-password-123"}))
        .await
        .expect(200);
    assert!(stored_keys(&app).await.is_empty(), "the file went");
    assert_eq!(app.state.store.upload_bytes_used(&me.id).await.unwrap(), 0);
}

async fn the_sweep_removes_only_files_without_a_row(backend: Backend) {
    let app = app(backend).await;
    let tok = app.token("swept").await;
    let d = upload(&app, &tok, png(40, 30), "a.png", "image/png").await;
    let kept = d.expect(201)["data"]["uploadId"]
        .as_str()
        .unwrap()
        .to_string();
    let storage = app.state.video.media.storage();
    let orphan = format!("user-uploads/upl_{}.png", uuid::Uuid::now_v7());
    storage.put(&orphan, png(8, 8).into()).await.unwrap();
    let uploads = taskhub::uploads::Uploads::from(&app.state);
    let grace = std::time::Duration::from_secs(3600);
    assert_eq!(uploads.sweep_orphans(grace).await.unwrap(), 0, "too young");
    let removed = uploads
        .sweep_orphans(std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    let keys = stored_keys(&app).await;
    assert_eq!(keys, vec![format!("user-uploads/{kept}.png")]);
    // The task upload sweep leaves user uploads alone.
    let n = taskhub::tasks::uploads::sweep_orphans(&app.state.tasks, std::time::Duration::ZERO);
    n.await.unwrap();
    assert_eq!(stored_keys(&app).await.len(), 1);
}

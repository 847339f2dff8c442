//! Media and uploads in the store: served by the node with ranges (206, 416, HEAD) from a
//! folder or the S3 bucket, or by a presigned redirect; an image uploaded through one node
//! and driven by another's poller; the three-node proof (PostgreSQL + Redis + S3): upload
//! through A, poller on B, range read through C. Tests named `s3` need `TEST_S3_URL`.

use std::sync::Arc;

use serde_json::Value;
use taskhub::config::Settings;
use taskhub::media::settings::MediaDelivery;
use taskhub::providers::simulator::SAMPLE_MP4;
use taskhub::startup::Application;
use taskhub::tasks::uploads;

use crate::helpers::{fresh_postgres_url, test_settings, Backend, TestApp};
use crate::poller::wait_for;
use crate::storage::{fresh_bucket, s3_url, use_s3};

crate::backend_tests!(
    local_media_ranges_head_and_unsatisfiable,
    s3_media_is_served_from_the_bucket_with_ranges,
    s3_image_task_upload_lives_in_the_bucket,
);

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nfake";

/// An app driving its own tasks against the simulator, tweaked by `tweak`.
async fn running(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    TestApp::spawn_with(backend, |s| {
        s.poller.enabled = true;
        s.providers.simulator_seconds = 0.6;
        tweak(s);
    })
    .await
}

/// Creates a task, waits for it to complete; returns its id and its video URL.
async fn finished_video(app: &TestApp, tok: &str) -> (String, String) {
    let id = app.create_task_id(tok, "a fox in the store").await;
    let t = wait_for(app, tok, &id, |t| {
        t["status"] != "queued" && t["status"] != "processing"
    })
    .await;
    assert_eq!(t["status"], "completed", "{t}");
    let c = app.task_content(tok, &id).await.expect(200);
    (id, c["data"]["url"].as_str().unwrap().to_string())
}

async fn ranged(app: &TestApp, url: &str, range: &str) -> reqwest::Response {
    app.get(url).header("range", range).response().await
}

/// Range, HEAD and 416 answers for the finished video at `url`.
async fn check_ranges(app: &TestApp, url: &str) {
    let n = SAMPLE_MP4.len();
    let r = ranged(app, url, "bytes=0-99").await;
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 0-99/{n}").as_str()
    );
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(r.headers()["content-type"], "video/mp4");
    assert!(r.headers().contains_key("etag") && r.headers().contains_key("last-modified"));
    assert_eq!(r.bytes().await.unwrap(), &SAMPLE_MP4[..100]);

    let r = ranged(app, url, "bytes=-100").await;
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(r.bytes().await.unwrap(), &SAMPLE_MP4[n - 100..]);
    let r = ranged(app, url, &format!("bytes={n}-")).await;
    assert_eq!(r.status().as_u16(), 416, "a range past the end");
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{n}").as_str()
    );
    for whole in ["bytes=0-1,5-6", "bytes=x-y", "items=0-1"] {
        let r = ranged(app, url, whole).await;
        assert_eq!(r.status().as_u16(), 200, "{whole} is ignored");
        assert_eq!(r.bytes().await.unwrap(), SAMPLE_MP4);
    }

    let head = app.request(reqwest::Method::HEAD, url).response().await;
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(head.headers()["content-length"], n.to_string().as_str());
    assert!(head.bytes().await.unwrap().is_empty());
    let head = app
        .request(reqwest::Method::HEAD, url)
        .header("range", "bytes=10-19")
        .response()
        .await;
    assert_eq!(head.status().as_u16(), 206);
    assert_eq!(head.headers()["content-length"], "10");
}

async fn local_media_ranges_head_and_unsatisfiable(backend: Backend) {
    let app = running(backend, |_| {}).await;
    let tok = app.token("local-viewer").await;
    let (id, url) = finished_video(&app, &tok).await;
    check_ranges(&app, &url).await;
    assert!(app.data_path().join(format!("media/{id}.mp4")).is_file());
}

async fn s3_media_is_served_from_the_bucket_with_ranges(backend: Backend) {
    let bucket = fresh_bucket().await;
    let app = running(backend, |s| use_s3(s, &bucket)).await;
    let tok = app.token("s3-viewer").await;
    let (id, url) = finished_video(&app, &tok).await;
    check_ranges(&app, &url).await;
    let storage = app.state.video.media.storage();
    assert!(storage.is_s3());
    assert_eq!(
        storage.read(&format!("media/{id}.mp4")).await.unwrap(),
        SAMPLE_MP4
    );
    assert!(
        storage.head(&format!("media/{id}.jpg")).await.is_ok(),
        "the thumbnail too"
    );
    assert!(
        !app.data_path().join("media").exists(),
        "nothing on the node's disk"
    );

    app.delete_task(&tok, &id).await.expect(200);
    assert!(storage.head(&format!("media/{id}.mp4")).await.is_err());
    app.get(&url).await.expect(404);
}

async fn s3_image_task_upload_lives_in_the_bucket(backend: Backend) {
    let bucket = fresh_bucket().await;
    let app = TestApp::spawn_with(backend, |s| use_s3(s, &bucket)).await;
    let tok = app.token("s3-uploader").await;
    let image = app.post_image_task(&tok, "x", PNG.to_vec(), "image/png");
    let id = image.await.expect(201)["data"]["videoId"]
        .as_str()
        .unwrap()
        .to_string();
    let rel = app
        .state
        .store
        .get_task(&id)
        .await
        .unwrap()
        .input_image
        .unwrap();
    let storage = app.state.video.media.storage().clone();
    assert_eq!(storage.read(&rel).await.unwrap(), PNG);
    assert!(!app.data_path().join(&rel).exists());

    // The sweep: an unreferenced upload goes, the task's stays.
    let stray = format!("uploads/{}.webp", uuid::Uuid::new_v4());
    storage.put(&stray, PNG.to_vec().into()).await.unwrap();
    let removed = uploads::sweep_orphans(&app.state.tasks, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert!(storage.head(&stray).await.is_err());
    assert!(storage.head(&rel).await.is_ok());

    let failed = crate::billing::failed();
    app.state
        .store
        .apply_change(&id, &failed)
        .await
        .unwrap()
        .unwrap();
    app.delete_task(&tok, &id).await.expect(200);
    assert!(
        storage.head(&rel).await.is_err(),
        "the upload went with its task"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_presigned_delivery_redirects_to_the_bucket() {
    let bucket = fresh_bucket().await;
    let app = running(Backend::Sqlite, |s| {
        use_s3(s, &bucket);
        s.media.media_delivery = MediaDelivery::Presigned;
    })
    .await;
    let tok = app.token("presigned").await;
    let (id, url) = finished_video(&app, &tok).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects.get(app.url(&url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{}/{bucket}/media/{id}.mp4?", s3_url())),
        "{location}"
    );
    assert!(location.contains("X-Amz-Expires=300"), "{location}");
    let bytes = reqwest::get(&location)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes, SAMPLE_MP4);
    // The signature is still checked first.
    let forged = format!("/media/{id}.mp4?exp=99999999999&sig={}", "0".repeat(32));
    app.get(forged).await.expect_error(403, "invalidSignature");
    let missing = no_redirects
        .get(app.url(&url.replace(".mp4", ".webm")))
        .send()
        .await
        .unwrap();
    assert_ne!(
        missing.status().as_u16(),
        302,
        "no redirect to a file that is not there"
    );
}

#[tokio::test]
async fn presigned_delivery_or_an_incomplete_s3_setting_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = test_settings(Backend::Sqlite, dir.path()).await;
    s.media.media_delivery = MediaDelivery::Presigned;
    let err = Application::build(s)
        .await
        .err()
        .expect("presigned needs S3");
    assert!(format!("{err:#}").contains("TASKHUB_STORAGE=s3"), "{err:#}");

    let mut s = test_settings(Backend::Sqlite, dir.path()).await;
    s.media.storage = taskhub::media::settings::StorageKind::S3;
    s.media.s3_endpoint = Some("http://127.0.0.1:9".into());
    let err = Application::build(s)
        .await
        .err()
        .expect("S3 needs a bucket");
    assert!(format!("{err:#}").contains("TASKHUB_S3_BUCKET"), "{err:#}");
}

/// One node on the shared PostgreSQL database `db`, Redis `redis` (if any) and `bucket`.
async fn node(db: &str, redis: Option<&str>, bucket: &str, poller: bool) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = test_settings(Backend::Sqlite, dir.path()).await;
    s.database_url = Some(db.to_string());
    s.redis_url = redis.map(str::to_string);
    s.poller.enabled = poller;
    s.providers.simulator_seconds = 0.6;
    use_s3(&mut s, bucket);
    TestApp::start(s, Arc::new(dir)).await
}

async fn image_task(app: &TestApp, tok: &str) -> String {
    let image = app.post_image_task(tok, "animate this", PNG.to_vec(), "image/png");
    image.await.expect(201)["data"]["videoId"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn completed(app: &TestApp, tok: &str, id: &str) -> Value {
    let t = wait_for(app, tok, id, |t| {
        t["status"] != "queued" && t["status"] != "processing"
    })
    .await;
    assert_eq!(
        t["status"], "completed",
        "the image reached the other node: {t}"
    );
    t
}

/// Before: "the uploaded image is no longer available" (each node had its own folder).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_postgres_image_task_created_on_a_is_driven_by_b() {
    let (db, bucket) = (fresh_postgres_url().await, fresh_bucket().await);
    let a = node(&db, None, &bucket, false).await;
    let b = node(&db, None, &bucket, true).await;
    let tok = a.token("two-nodes").await;
    let id = image_task(&a, &tok).await;
    completed(&a, &tok, &id).await;
    let url = a.task_content(&tok, &id).await.expect(200)["data"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let r = a.get(&url).response().await;
    assert_eq!(r.status().as_u16(), 200, "A serves what B stored");
    assert_eq!(r.bytes().await.unwrap(), SAMPLE_MP4);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_postgres_redis_three_nodes_upload_on_a_poller_on_b_range_on_c() {
    let redis = std::env::var("TEST_REDIS_URL").expect("Redis tests need TEST_REDIS_URL");
    let (db, bucket) = (fresh_postgres_url().await, fresh_bucket().await);
    let a = node(&db, Some(&redis), &bucket, false).await;
    let b = node(&db, Some(&redis), &bucket, true).await;
    let c = node(&db, Some(&redis), &bucket, false).await;
    let tok = a.token("three-nodes").await;
    let id = image_task(&a, &tok).await;
    let t = completed(&c, &tok, &id).await;
    assert!(
        t["externalVideoId"]
            .as_str()
            .unwrap()
            .starts_with("video_sim_"),
        "{t}"
    );
    let url = c.task_content(&tok, &id).await.expect(200)["data"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let r = ranged(&c, &url, "bytes=0-99").await;
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 0-99/{}", SAMPLE_MP4.len()).as_str()
    );
    assert_eq!(r.bytes().await.unwrap(), &SAMPLE_MP4[..100]);
    for node in [&a, &c] {
        assert!(
            !node.data_path().join("uploads").exists() && !node.data_path().join("media").exists()
        );
    }
    drop(b);
}

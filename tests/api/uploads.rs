//! Task input images on disk: written only after the plan and credit checks, removed with
//! the task and by the orphan sweep; a `referenceImageUrl` fetched once at creation (bounded
//! by a timeout) so a URL that never answers cannot hold a poller slot.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;
use taskhub::tasks::uploads;

use crate::helpers::{Backend, TestApp};
use crate::poller::wait_for;

crate::backend_tests!(
    uploads_are_written_only_after_the_checks,
    a_deleted_task_takes_its_upload_and_a_retry_has_its_own,
    reference_urls_are_fetched_at_creation_within_the_timeout,
);

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nfake";

/// Creates an image-to-video task; returns its id and its stored upload's path.
async fn image_task(app: &TestApp, tok: &str) -> (String, String) {
    let image = app.post_image_task(tok, "x", PNG.to_vec(), "image/png");
    let id = image.await.expect(201)["data"]["videoId"]
        .as_str()
        .unwrap()
        .to_string();
    let upload = app.state.store.get_task(&id).await.unwrap().input_image;
    (id, upload.expect("the task keeps its upload"))
}

/// Files in the app's uploads folder.
fn upload_files(app: &TestApp) -> Vec<String> {
    match std::fs::read_dir(uploads::dir(&app.state.tasks.settings)) {
        Ok(dir) => dir
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A TCP server that accepts connections and never says anything. Returns an image URL on
/// it and the number of connections accepted.
async fn silent_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(sock);
        }
    });
    (format!("http://{addr}/img.png"), accepted)
}

async fn balance(app: &TestApp, tok: &str) -> i64 {
    let v = app.get("/api/users/credits").auth(tok).await.body;
    v["data"]["credits"].as_i64().expect("credits")
}

async fn uploads_are_written_only_after_the_checks(backend: Backend) {
    // No credits: 402 and nothing on disk, however many times.
    let app = TestApp::spawn_with(backend, |s| s.billing.signup_bonus_credits = 0).await;
    let tok = app.token("broke").await;
    for _ in 0..3 {
        app.post_image_task(&tok, "x", PNG.to_vec(), "image/png")
            .await
            .expect_error(402, "insufficientCredits");
    }
    assert_eq!(upload_files(&app), Vec::<String>::new());

    // A plan that may not generate: 403 and nothing on disk.
    let app = TestApp::spawn_with(backend, |s| {
        s.billing.generating_plans = "basic,pro".parse().unwrap()
    })
    .await;
    let tok = app.token("freeloader").await;
    app.post_image_task(&tok, "x", PNG.to_vec(), "image/png")
        .await
        .expect(403);
    assert_eq!(upload_files(&app), Vec::<String>::new());
}

async fn a_deleted_task_takes_its_upload_and_a_retry_has_its_own(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("uploader").await;
    let (id, first) = image_task(&app, &tok).await;
    assert!(app.data_path().join(&first).is_file());
    let change = crate::billing::failed();
    app.state
        .store
        .apply_change(&id, &change)
        .await
        .unwrap()
        .unwrap();
    let retried = app.retry_task(&tok, &id).await.expect(201);
    let retry_id = retried["data"]["videoId"].as_str().unwrap();
    let second = app
        .state
        .store
        .get_task(retry_id)
        .await
        .unwrap()
        .input_image
        .unwrap();
    assert_ne!(first, second, "the retry has its own copy");

    app.delete_task(&tok, &id).await.expect(200);
    assert!(
        !app.data_path().join(&first).exists(),
        "the upload went with its task"
    );
    assert_eq!(std::fs::read(app.data_path().join(&second)).unwrap(), PNG);
}

async fn reference_urls_are_fetched_at_creation_within_the_timeout(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.uploads.reference_fetch_timeout_ms = 300).await;
    let tok = app.token("referrer").await;
    let before = balance(&app, &tok).await;
    let (url, accepted) = silent_server().await;
    let body = json!({"prompt": "x", "referenceImageUrl": url});
    let v = app
        .post_task(&tok, body)
        .await
        .expect_error(422, "validationFailed");
    let why = v["error"]["fields"]["referenceImageUrl"].as_str().unwrap();
    assert!(why.contains("within 300 ms"), "{why}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "fetched once");
    assert_eq!(balance(&app, &tok).await, before, "nothing charged");
    let list = app.get("/api/video/tasks").auth(&tok).await.body;
    assert_eq!(list["data"]["total"], 0, "no task: {list}");
    assert_eq!(upload_files(&app), Vec::<String>::new());
}

/// With one poller slot, tasks whose reference URL never answers must not delay another
/// user's task (before, each held the slot for the provider timeout while fetching).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_reference_url_does_not_hold_a_poller_slot() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.poller.enabled = true;
        s.poller.poller_concurrency = 1;
        s.providers.simulator_seconds = 0.3;
        s.providers.provider_timeout_ms = 30_000;
        s.uploads.reference_fetch_timeout_ms = 2_000;
    })
    .await;
    let attacker = app.token("attacker").await;
    let victim = app.token("victim").await;
    let (url, accepted) = silent_server().await;
    let mut attacks = Vec::new();
    for i in 0..3 {
        let body = json!({"prompt": format!("attack {i}"), "referenceImageUrl": url});
        attacks.push(tokio::spawn(app.post_task(&attacker, body).send()));
    }
    // Wait until a fetch hangs on the silent server (before the fix: inside the one poller
    // slot, for the provider timeout, one task after the other).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while accepted.load(Ordering::SeqCst) < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the URL was never fetched"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let id = app.create_task_id(&victim, "an innocent fox").await;
    let done = wait_for(&app, &victim, &id, |t| t["status"] == "completed").await;
    assert_eq!(done["progress"], 100);
    for attack in attacks {
        attack.await.unwrap().expect(422);
    }
}

/// The sweep removes old uploads no task refers to, and nothing else; the node runs it by
/// itself every `TASKHUB_UPLOAD_SWEEP_INTERVAL_SECS`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_orphan_sweep_removes_only_old_unreferenced_uploads() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tok = app.token("sweeper").await;
    let (_, kept) = image_task(&app, &tok).await;
    let dir = uploads::dir(&app.state.tasks.settings);
    let orphan = dir.join(format!("{}.png", uuid::Uuid::new_v4()));
    let fresh = dir.join(format!("{}.jpg", uuid::Uuid::new_v4()));
    std::fs::write(&orphan, PNG).unwrap();
    std::fs::write(&fresh, PNG).unwrap();
    let old = SystemTime::now() - Duration::from_secs(7_200);
    for path in [&orphan, &app.data_path().join(&kept)] {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(old).unwrap();
    }
    let removed = uploads::sweep_orphans(&app.state.tasks, Duration::from_secs(3_600))
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert!(!orphan.exists(), "an old orphan goes");
    assert!(
        fresh.exists(),
        "a young file may belong to a creation in progress"
    );
    assert!(
        app.data_path().join(&kept).exists(),
        "a task's upload stays"
    );

    // The node's own sweep (every second, no grace here) finds the young orphan too.
    let app2 = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.uploads.upload_sweep_interval_secs = 1;
        s.uploads.upload_orphan_grace_secs = 0;
    })
    .await;
    let dir = uploads::dir(&app2.state.tasks.settings);
    std::fs::create_dir_all(&dir).unwrap();
    let stray = dir.join(format!("{}.webp", uuid::Uuid::new_v4()));
    std::fs::write(&stray, PNG).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while stray.exists() {
        assert!(std::time::Instant::now() < deadline, "the sweep never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

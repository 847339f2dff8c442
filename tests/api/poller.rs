//! The poller: `poll_once` state transitions and event seqs against a scripted provider.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taskhub::providers::{JobState, ProviderError, Providers};
use taskhub::tasks::poller::{Outcome, Poller};

use crate::helpers::{Backend, TestApp};
use crate::scripted::{status, RecordingBus, Scripted};

crate::backend_tests!(
    poll_once_walks_a_task_through_its_states,
    provider_trouble_is_retried_or_fails_the_task,
    stuck_tasks_fail_at_the_deadline_and_the_job_is_cancelled,
    reference_images_by_url_reach_the_provider
);

/// GETs the task until `done` holds (10 s at most).
pub async fn wait_for(app: &TestApp, tok: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = app.get_task(tok, id).await.body;
        if done(&v["data"]) {
            return v["data"].clone();
        }
        assert!(Instant::now() < deadline, "task never got there: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The task's event frames, checked for seqs 1, 2, 3… and progress that never goes down.
pub async fn events(app: &TestApp, tok: &str, id: &str) -> Vec<Value> {
    let events = app.task_events(tok, id).await;
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["payload"]["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "seqs without gaps"
    );
    let progress: Vec<i64> = events
        .iter()
        .map(|e| e["payload"]["progress"].as_i64().unwrap())
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes down: {progress:?}"
    );
    events
}

pub fn kinds(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().into(),
                e["payload"]["status"].as_str().unwrap().into(),
            )
        })
        .collect()
}

pub fn scripted_poller(app: &TestApp, provider: Arc<Scripted>) -> (Poller, Arc<RecordingBus>) {
    let bus = Arc::new(RecordingBus::default());
    let mut state = app.state.clone();
    state.bus = bus.clone();
    let poller =
        Poller::new(state).with_providers(Providers::default().with("simulator", provider));
    (poller, bus)
}

async fn poll_once_walks_a_task_through_its_states(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.poller.poll_interval_ms = 0).await;
    let tok = app.token("walker").await;
    let provider = Scripted::new(|ext, n| {
        Ok(match n {
            0 => status(ext, JobState::Queued, Some(0)),
            1 | 2 => status(ext, JobState::Running, Some(10)),
            3 => status(ext, JobState::Running, Some(5)),
            4 => status(ext, JobState::Running, Some(50)),
            _ => status(ext, JobState::Completed, Some(100)),
        })
    });
    let (poller, bus) = scripted_poller(&app, provider.clone());
    let id = app.create_task_id(&tok, "fox").await;

    let mut per_step = Vec::new();
    for _ in 0..7 {
        let Outcome {
            claimed,
            events,
            errors,
        } = poller.poll_once().await.unwrap();
        per_step.push((claimed, events, errors));
    }
    assert_eq!(
        per_step,
        vec![(1, 1, 0), (1, 1, 0), (1, 1, 0), (1, 0, 0), (1, 0, 0), (1, 1, 0), (1, 1, 0)],
        "submit, queued, running 10, same again (no event), lower progress (no event), 50, completed"
    );
    assert_eq!(
        poller.poll_once().await.unwrap().claimed,
        0,
        "a finished task is never polled again"
    );
    assert_eq!(provider.creates.load(Ordering::SeqCst), 1);

    let events = events(&app, &tok, &id).await;
    let want: Vec<(String, String)> = [
        ("taskCreated", "queued"),
        ("taskProgress", "queued"),
        ("taskProgress", "queued"),
        ("taskProgress", "processing"),
        ("taskProgress", "processing"),
        ("taskCompleted", "completed"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(kinds(&events), want);
    assert_eq!(events[1]["payload"]["externalVideoId"], "ext-fox");
    assert_eq!(events[1]["payload"]["message"], "submitted to the provider");
    assert_eq!(events[2]["payload"]["message"], "queued at the provider");
    let result = &events[5]["payload"]["result"];
    assert_eq!(
        (result["duration"].as_i64(), result["resolution"].as_str()),
        (Some(4), Some("720x1280"))
    );

    // Published after commit, each exactly as logged (media URLs are signed when each is
    // read, so their expiry may differ by the seconds in between).
    let published: Vec<Value> = bus
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| unsigned(serde_json::to_value(e.envelope()).unwrap()))
        .collect();
    let logged: Vec<Value> = events[1..].iter().cloned().map(unsigned).collect();
    assert_eq!(published, logged);
    assert!(logged[4]["payload"]["result"]["videoUrl"] == format!("/media/{id}.mp4"));

    // The copied video is served at its signed URL, with ranges.
    let url = result["videoUrl"].as_str().unwrap();
    assert!(url.starts_with(&format!("/media/{id}.mp4?exp=")), "{url}");
    let resp = app
        .client
        .get(app.url(url))
        .header("range", "bytes=4-7")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(resp.bytes().await.unwrap(), &b"ftyp"[..]);
    let thumb = result["thumbnailUrl"].as_str().unwrap();
    assert!(
        thumb.starts_with(&format!("/media/{id}.jpg?exp=")),
        "{thumb}"
    );
}

async fn provider_trouble_is_retried_or_fails_the_task(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.poller.poll_interval_ms = 0).await;
    let tok = app.token("trouble").await;
    let provider = Scripted::new(|ext, _| Ok(status(ext, JobState::Running, Some(1))));
    *provider.create_error.lock().unwrap() = Some(ProviderError::Transient {
        message: "429: slow down".into(),
        retry_after_ms: Some(60_000),
    });
    let (poller, _) = scripted_poller(&app, provider.clone());
    let id = app.create_task_id(&tok, "retry me").await;

    let before = taskhub::domain::time::now_ms();
    let out = poller.poll_once().await.unwrap();
    assert_eq!(
        (out.claimed, out.events, out.errors),
        (1, 0, 1),
        "no event when nothing changed"
    );
    let task = app.state.store.get_task(&id).await.unwrap();
    assert!(
        task.next_poll_at.unwrap() >= before + 59_000,
        "Retry-After reschedules the task"
    );
    assert_eq!((task.status.as_str(), task.lease_owner), ("queued", None));
    assert_eq!(
        poller.poll_once().await.unwrap().claimed,
        0,
        "not due before then"
    );

    *provider.create_error.lock().unwrap() = Some(ProviderError::Rejected {
        status: 400,
        code: Some("invalid_size".into()),
        message: "size 720x1280 is not supported".into(),
    });
    sqlx::query("UPDATE tasks SET next_poll_at = 0 WHERE id = $1")
        .bind(&id)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    poller.poll_once().await.unwrap();
    let t = wait_for(&app, &tok, &id, |t| t["status"] != "queued").await;
    assert_eq!(t["status"], "failed");
    assert_eq!(
        t["error"],
        json!({"code": "providerRejected", "message": "size 720x1280 is not supported"}),
        "a 4xx fails the task with the provider's message"
    );
}

async fn stuck_tasks_fail_at_the_deadline_and_the_job_is_cancelled(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.poller.poll_interval_ms = 0;
        s.poller.task_deadline_secs = 600;
    })
    .await;
    let tok = app.token("stuck").await;
    let provider = Scripted::new(|ext, _| Ok(status(ext, JobState::Running, Some(3))));
    let (poller, _) = scripted_poller(&app, provider.clone());
    let id = app.create_task_id(&tok, "forever").await;
    poller.poll_once().await.unwrap();
    poller.poll_once().await.unwrap();
    // Eleven minutes pass.
    sqlx::query("UPDATE tasks SET created_at = created_at - 660000 WHERE id = $1")
        .bind(&id)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let out = poller.poll_once().await.unwrap();
    assert_eq!(out.events, 1);
    let t = wait_for(&app, &tok, &id, |t| t["status"] == "failed").await;
    assert_eq!(t["error"]["code"], "timeout");
    assert!(
        t["error"]["message"].as_str().unwrap().contains("600 s"),
        "{t}"
    );
    assert_eq!(
        *provider.cancels.lock().unwrap(),
        vec!["ext-forever".to_string()]
    );
}

async fn reference_images_by_url_reach_the_provider(backend: Backend) {
    use crate::provider_openai::{spawn_mock, Canned};
    let png = Canned(
        200,
        vec![("content-type", "image/png".into())],
        "PNGBYTES".into(),
        Duration::ZERO,
    );
    let html = Canned(
        200,
        vec![("content-type", "text/html".into())],
        "<html>".into(),
        Duration::ZERO,
    );
    let (images, _) = spawn_mock(vec![png, html], None).await;
    let app = TestApp::spawn_with(backend, |s| s.poller.poll_interval_ms = 0).await;
    let tok = app.token("referrer").await;
    let provider = Scripted::new(|ext, _| Ok(status(ext, JobState::Running, Some(1))));
    let (poller, _) = scripted_poller(&app, provider.clone());
    let create = |prompt: &str, url: String| {
        let body = json!({"prompt": prompt, "seconds": 4, "referenceImageUrl": url});
        app.post_task(&tok, body)
    };
    let good = create("from a png", format!("{images}/a.png"))
        .await
        .expect(201);
    assert_eq!(good["data"]["kind"], "imageToVideo", "{good}");
    poller.poll_once().await.unwrap();
    let image = provider
        .last_image
        .lock()
        .unwrap()
        .clone()
        .expect("an input_reference");
    assert_eq!(
        (&image.bytes[..], image.mime.as_str()),
        (&b"PNGBYTES"[..], "image/png")
    );

    // The URL is fetched once, at creation: a non-image is a 422 there and no task exists.
    let bad = create("from a page", format!("{images}/page"))
        .await
        .expect(422);
    let why = bad["error"]["fields"]["referenceImageUrl"]
        .as_str()
        .unwrap();
    assert!(why.contains("PNG, JPEG or WebP"), "{why}");
    poller.poll_once().await.unwrap();
    assert_eq!(
        provider.creates.load(Ordering::SeqCst),
        1,
        "nothing sent for a non-image"
    );
    let list = app.get("/api/video/tasks").auth(&tok).await.body;
    assert_eq!(list["data"]["total"], 1, "{list}");
}

/// An envelope with the query (`exp`, `sig`) cut off its media URLs.
fn unsigned(mut envelope: Value) -> Value {
    if let Some(result) = envelope["payload"].get_mut("result") {
        for field in ["videoUrl", "thumbnailUrl"] {
            if let Some(Value::String(u)) = result.get_mut(field) {
                if let Some((path, _)) = u.split_once('?') {
                    *u = path.to_string();
                }
            }
        }
    }
    envelope
}

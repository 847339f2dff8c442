//! A node killed mid-task (SIGKILL: no lease release, no goodbye frames): the task still
//! completes through the other node's poller once the dead node's lease expires, and a
//! watcher that reconnects to the other node with `sinceSeq` misses nothing.
//!
//! Node A is the real `taskhub` binary so it can really be killed; node B runs in-process.
//! Both share one fresh PostgreSQL database and Redis.

use std::sync::Arc;

use serde_json::{json, Value};
use taskhub::domain::lifecycle::TaskStatus;

use crate::helpers::{fresh_postgres_url, test_settings, Backend, TestApp};
use crate::process::Process;
use crate::ws_client::{seqs, Closed, Ws};

/// `taskhub serve` on a free port with its own poller: 6 s simulated jobs, 1.5 s leases.
fn spawn_node(db: &str, redis: &str) -> Process {
    Process::spawn(&[
        ("DATABASE_URL", db),
        ("REDIS_URL", redis),
        ("TASKHUB_SIMULATOR_SECONDS", "6"),
        ("TASKHUB_LEASE_MS", "1500"),
        ("TASKHUB_POLL_INTERVAL_MS", "200"),
        ("TASKHUB_WS_COALESCE_PROGRESS", "false"),
    ])
}

async fn post(url: &str, token: Option<&str>, body: Value) -> Value {
    let mut req = reqwest::Client::new().post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let v: Value = req.send().await.unwrap().json().await.unwrap();
    assert_eq!(v["success"], true, "{url}: {v}");
    v["data"].clone()
}

async fn authed(ws_url: &str, token: &str) -> Ws {
    let mut ws = Ws::connect_url(ws_url).await;
    let reply = ws.request("auth", json!({ "token": token })).await;
    assert_eq!(reply["type"], "authSuccess", "{reply}");
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_redis_node_killed_mid_task_completes_through_the_other_node() {
    let db = fresh_postgres_url().await;
    let redis = std::env::var("TEST_REDIS_URL").expect("TEST_REDIS_URL");
    let mut a = spawn_node(&db, &redis);

    let creds = json!({"username": "failover", "email": "failover@example.com", "password": "fake-password-123"});
    let token = post(&format!("{}/api/auth/register", a.url), None, creds).await["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({"prompt": "survives a crash", "seconds": 4});
    let task = post(&format!("{}/api/video/tasks", a.url), Some(&token), body).await;
    let id = task["videoId"].as_str().unwrap().to_string();

    // Watch on A until A's poller has visibly driven the task (submitted, then progressing).
    let mut watcher = authed(&a.ws_url(), &token).await;
    watcher.subscribe(&id, Some(0)).await;
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|f: &Value| f["payload"]["status"] == "processing")
    {
        let f = watcher.recv().await;
        if f["payload"]["videoId"] == id.as_str() {
            seen.push(f);
        }
    }

    // Node B joins (same database, same Redis, its own poller), then A dies without warning.
    let dir = tempfile::tempdir().unwrap();
    let mut s = test_settings(Backend::Postgres, dir.path()).await;
    s.database_url = Some(db.clone());
    s.redis_url = Some(redis.clone());
    s.poller.enabled = true;
    s.providers.simulator_seconds = 6.0;
    s.poller.lease_ms = 1500;
    s.poller.poll_interval_ms = 200;
    s.hub.ws_coalesce_progress = false;
    let b = TestApp::start(s, Arc::new(dir)).await;
    a.child.kill().expect("SIGKILL node A");
    a.child.wait().unwrap();
    let before = b.state.store.get_task(&id).await.unwrap();
    assert!(
        !before.status().is_terminal(),
        "A died mid-task: {}",
        before.status
    );

    // The watcher's socket dies with A; it keeps every frame that arrived first.
    let (rest, closed) = watcher.until_closed().await;
    assert_eq!(closed, Closed::Abrupt, "a killed node sends no close frame");
    seen.extend(
        rest.into_iter()
            .filter(|f| f["payload"]["videoId"] == id.as_str()),
    );
    let last = *seqs(&seen).last().unwrap();

    // Resume on B from the last seq seen: the rest arrives, ending in taskCompleted.
    let mut again = authed(&crate::ws_client::ws_url(&b, ""), &token).await;
    again.subscribe(&id, Some(last)).await;
    seen.extend(again.task_frames_until_terminal(&id).await);
    assert_eq!(seen.last().unwrap()["type"], "taskCompleted", "{seen:?}");

    let got = seqs(&seen);
    let expected: Vec<i64> = (got[0]..=*got.last().unwrap()).collect();
    assert_eq!(
        got, expected,
        "every seq once, in order, no gap across the failover"
    );
    let done = b.state.store.get_task(&id).await.unwrap();
    assert_eq!(done.status(), TaskStatus::Completed);
    assert_eq!(done.seq, *got.last().unwrap());
    assert!(done.video_url.is_some(), "B copied the finished video");
}

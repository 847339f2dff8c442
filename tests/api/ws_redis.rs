//! Two nodes on one PostgreSQL database and one Redis (PROTOCOL §5), over real sockets:
//! a task created on node A is watched on node B; a node going away mid-task leaves its
//! watchers to resume on the other with `sinceSeq`; a dropped Redis subscription is
//! detected, resubscribed, and its gap refilled from the event log.
//!
//! Node B reaches Redis through [`Proxy`], a TCP relay the test can cut and restore, so
//! outages hit only B and are deterministic.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use taskhub::config::Settings;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::helpers::{fresh_postgres_url, test_settings, Backend, TestApp};
use crate::ws_client::{close_code, completed, drive, eventually, progress, seqs, ws_url, Ws};

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .expect("Redis tests need TEST_REDIS_URL (scripts/test.sh sets it)")
}

/// Starts one node on `db_url` with Redis at `redis`.
async fn node(db_url: &str, redis: &str) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s: Settings = test_settings(Backend::Sqlite, dir.path()).await;
    s.database_url = Some(db_url.to_string());
    s.redis_url = Some(redis.to_string());
    s.hub.ws_coalesce_progress = false;
    s.hub.bus_resync_margin_ms = 2_000;
    TestApp::start(s, Arc::new(dir)).await
}

/// Two nodes on one fresh database: A reaches Redis directly, B through a [`Proxy`] the test
/// can cut.
async fn two_nodes_b_behind_a_proxy() -> (Proxy, TestApp, TestApp) {
    let db = fresh_postgres_url().await;
    let proxy = Proxy::start(&redis_url()).await;
    let a = node(&db, &redis_url()).await;
    let b = node(&db, &proxy.url).await;
    (proxy, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_task_created_on_a_is_watched_on_b() {
    let db = fresh_postgres_url().await;
    let a = node(&db, &redis_url()).await;
    let b = node(&db, &redis_url()).await;
    let tok = a.token("ann").await;
    let mut user_b = Ws::authed(&b, &tok).await;
    assert_eq!(
        user_b.request("subscribe_user", json!({})).await["type"],
        "subscribed"
    );
    let id = a.create_task_id(&tok, "cross-node").await;
    let (created, _) = user_b.until_type("taskCreated").await;
    assert_eq!(created["payload"]["videoId"], id.as_str());

    let mut task_b = Ws::authed(&b, &tok).await;
    assert_eq!(task_b.subscribe(&id, None).await["task"]["seq"], 1);
    for p in [20, 60] {
        drive(&a.state, &id, progress(p)).await;
    }
    drive(&a.state, &id, completed()).await;
    assert_eq!(
        seqs(&task_b.task_frames_until_terminal(&id).await),
        vec![2, 3, 4]
    );
    assert_eq!(
        seqs(&user_b.task_frames_until_terminal(&id).await),
        vec![2, 3, 4]
    );
    let ready = b.get("/ready").await.expect(200);
    assert_eq!(ready["data"]["bus"], "up", "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_node_going_away_watcher_resumes_on_other_node() {
    let db = fresh_postgres_url().await;
    let a = node(&db, &redis_url()).await;
    let b = node(&db, &redis_url()).await;
    let tok = a.token("bea").await;
    let id = a.create_task_id(&tok, "migrating watcher").await;
    let mut w = Ws::authed(&a, &tok).await;
    w.subscribe(&id, None).await;
    drive(&a.state, &id, progress(10)).await;
    drive(&b.state, &id, progress(20)).await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let f = w.recv().await;
        seen.extend(f["payload"]["seq"].as_i64());
    }
    // Node A goes away mid-task: the watcher is told to reconnect.
    a.state.shutdown.cancel();
    let (frames, closed) = w.until_closed().await;
    seen.extend(seqs(&frames));
    assert_eq!(closed, close_code(1012));
    assert_eq!(frames.last().unwrap()["type"], "reconnect");
    // The task goes on elsewhere (as node B's poller would drive it) while nobody watches.
    drive(&b.state, &id, progress(50)).await;
    drive(&b.state, &id, progress(80)).await;
    let last_seen = *seen.last().unwrap();
    let mut w2 = Ws::authed(&b, &tok).await;
    let sub = w2.subscribe(&id, Some(last_seen)).await;
    assert_eq!(sub["replayed"], 2);
    drive(&b.state, &id, completed()).await;
    seen.extend(seqs(&w2.task_frames_until_terminal(&id).await));
    assert_eq!(
        seen,
        vec![2, 3, 4, 5, 6],
        "every seq once, in order, across the two nodes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_redis_outage_on_b_is_refilled_from_the_log() {
    let (proxy, a, b) = two_nodes_b_behind_a_proxy().await;
    let tok = a.token("cyd").await;
    let id = a.create_task_id(&tok, "through an outage").await;
    let mut task_w = Ws::authed(&b, &tok).await;
    task_w.subscribe(&id, None).await;
    let mut user_w = Ws::authed(&b, &tok).await;
    assert_eq!(
        user_w.request("subscribe_user", json!({})).await["type"],
        "subscribed"
    );
    drive(&a.state, &id, progress(10)).await;

    proxy.cut();
    eventually("B reports the bus down", || async {
        b.get("/ready").await.status == 503
    })
    .await;
    let ready = b.get("/ready").await.body;
    assert_eq!(ready["error"]["checks"]["bus"], "down");
    // Published while B cannot hear: lost on the bus, kept in the log.
    drive(&a.state, &id, progress(30)).await;
    drive(&a.state, &id, progress(50)).await;
    let id2 = a.create_task_id(&tok, "born during the outage").await;
    // B itself still takes requests while its Redis is away.
    let id3 = b
        .create_task_id(&tok, "created on B during the outage")
        .await;
    proxy.restore();
    eventually("B reports the bus up", || async {
        b.get("/ready").await.status == 200
    })
    .await;
    drive(&a.state, &id, completed()).await;
    drive(&a.state, &id2, completed()).await;
    drive(&a.state, &id3, completed()).await;
    assert_eq!(
        seqs(&task_w.task_frames_until_terminal(&id).await),
        vec![2, 3, 4, 5]
    );
    // The user subscription got both tasks, the one created during the outage included.
    let mut frames = Vec::new();
    let mut open = 3;
    while open > 0 {
        let f = user_w.recv().await;
        if matches!(f["type"].as_str(), Some("taskCompleted")) {
            open -= 1;
        }
        frames.push(f);
    }
    let of = |v: &str| -> Vec<i64> {
        let mine: Vec<_> = frames
            .iter()
            .filter(|f| f["payload"]["videoId"] == v)
            .cloned()
            .collect();
        seqs(&mine)
    };
    assert_eq!(of(&id), vec![2, 3, 4, 5]);
    assert_eq!(of(&id2), vec![1, 2]);
    assert_eq!(of(&id3), vec![1, 2]);
}

/// Chaos run regression (CI's small run, 2026-12-03): a node cut off Redis for 8 s retried
/// publishing for 5 s, then dropped the terminal event it had committed meanwhile. Sockets on
/// the other nodes never lost the bus, so no refill covered it: they waited for the task's
/// end until they resubscribed. The publisher now holds its events until Redis takes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_events_a_node_commits_while_cut_off_redis_reach_the_other_nodes_after() {
    let (proxy, a, b) = two_nodes_b_behind_a_proxy().await;
    let tok = a.token("eve").await;
    let id = a
        .create_task_id(&tok, "finished while its driver was cut off")
        .await;
    let mut w = Ws::authed(&a, &tok).await;
    w.subscribe(&id, None).await;
    drive(&b.state, &id, progress(10)).await;

    proxy.cut();
    eventually("B reports the bus down", || async {
        b.get("/ready").await.status == 503
    })
    .await;
    // B drives the task to its end while it cannot publish...
    drive(&b.state, &id, progress(60)).await;
    drive(&b.state, &id, completed()).await;
    // ...for longer than it used to retry them: 5 s per batch, and the two events may go
    // out as two batches, one after the other.
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    proxy.restore();
    // A's socket never lost the bus: it gets the rest, in order, without resubscribing.
    assert_eq!(
        seqs(&w.task_frames_until_terminal(&id).await),
        vec![2, 3, 4]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_redis_client_kill_pubsub_is_refilled() {
    let (proxy, a, b) = two_nodes_b_behind_a_proxy().await;
    let tok = a.token("dot").await;
    let id = a.create_task_id(&tok, "killed subscriber").await;
    let mut w = Ws::authed(&b, &tok).await;
    w.subscribe(&id, None).await;
    // Events flow continuously while Redis cuts B's subscriber, as it does with a
    // subscriber past its output-buffer limit.
    let driver = {
        let state = a.state.clone();
        let id = id.clone();
        tokio::spawn(async move {
            for i in 1..40u8 {
                drive(&state, &id, progress(i * 2)).await;
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            drive(&state, &id, completed()).await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    let client = redis::Client::open(redis_url()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let mut killed = 0;
    for addr in proxy.upstream_addrs() {
        let n: i64 = redis::cmd("CLIENT")
            .arg(&["KILL", "ADDR", &addr.to_string(), "TYPE", "pubsub"])
            .query_async(&mut admin)
            .await
            .unwrap_or(0);
        killed += n;
    }
    assert_eq!(killed, 1, "B's subscriber connection was killed");
    let last = driver.await.unwrap();
    let got = seqs(&w.task_frames_until_terminal(&id).await);
    assert_eq!(got, (2..=last).collect::<Vec<_>>());
    assert_eq!(w.request("ping", json!({})).await["type"], "pong");
    let _ = ws_url(&b, "");
}

/// A TCP relay to Redis that the test can cut (every relayed connection dropped, new ones
/// refused) and restore.
struct Proxy {
    url: String,
    cut: Arc<AtomicBool>,
    kill: Arc<Mutex<CancellationToken>>,
    upstreams: Arc<Mutex<Vec<SocketAddr>>>,
    stop: CancellationToken,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Proxy {
    async fn start(redis: &str) -> Proxy {
        let target = redis
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let p = Proxy {
            url: format!("redis://127.0.0.1:{port}"),
            cut: Arc::new(AtomicBool::new(false)),
            kill: Arc::new(Mutex::new(CancellationToken::new())),
            upstreams: Arc::new(Mutex::new(Vec::new())),
            stop: CancellationToken::new(),
        };
        let (cut, kill, ups, stop) = (
            p.cut.clone(),
            p.kill.clone(),
            p.upstreams.clone(),
            p.stop.clone(),
        );
        tokio::spawn(async move {
            loop {
                let (mut down, _) = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = listener.accept() => match r { Ok(c) => c, Err(_) => continue },
                };
                if cut.load(Ordering::SeqCst) {
                    continue; // dropped: refused while cut
                }
                let Ok(mut up) = TcpStream::connect(&target).await else {
                    continue;
                };
                ups.lock().unwrap().push(up.local_addr().unwrap());
                let token = kill.lock().unwrap().clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = stop.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                    }
                });
            }
        });
        p
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let mut k = self.kill.lock().unwrap();
        k.cancel();
        *k = CancellationToken::new();
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    fn upstream_addrs(&self) -> Vec<SocketAddr> {
        self.upstreams.lock().unwrap().clone()
    }
}

//! The delivery guarantees of PROTOCOL §3 over real sockets: nothing missed or repeated
//! between a subscription's snapshot and its live frames, even while the task changes
//! under it; a slow reader never holds up a fast one, gets its progress coalesced (terminal
//! frames kept), and is closed with 4002 when it still cannot keep up.

use std::time::Duration;

use rand::RngExt;
use serde_json::{json, Value};
use taskhub::domain::lifecycle::{EventType, TaskChange};
use taskhub::domain::TaskEvent;
use taskhub::state::AppState;
use tokio::net::TcpSocket;

use crate::helpers::{Backend, TestApp};
use crate::ws_client::{close_code, completed, drive, seqs, ws_url, Ws};

crate::backend_tests!(
    snapshot_and_live_race_loses_nothing,
    slow_reader_is_coalesced_and_keeps_terminal,
    slow_reader_closed_4002_fast_one_unaffected
);

async fn snapshot_and_live_race_loses_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.hub.ws_coalesce_progress = false;
        s.hub.ws_outbound_queue = 4096;
        s.hub.ws_max_frames_per_sec = 1000;
        s.db_max_connections = Some(8);
    })
    .await;
    let tok = app.token("race").await;
    let id = app.create_task_id(&tok, "busy").await;
    const STEPS: i64 = 120;
    let driver = {
        let state = app.state.clone();
        let id = id.clone();
        tokio::spawn(async move {
            for i in 1..STEPS {
                let change = TaskChange {
                    message: Some(format!("step {i}")),
                    ..crate::ws_client::progress((i * 99 / STEPS) as u8)
                };
                drive(&state, &id, change).await;
                if i % 4 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            drive(&state, &id, completed()).await
        })
    };
    // Sockets subscribe at random moments while the task changes, half of them asking for
    // a replay from an earlier seq.
    let mut watchers = Vec::new();
    for n in 0..8u64 {
        let app_url = ws_url(&app, "");
        let tok = tok.clone();
        let id = id.clone();
        watchers.push(tokio::spawn(async move {
            let delay = rand::rng().random_range(0..40) + n * 5;
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let mut ws = Ws::connect_url(&app_url).await;
            assert_eq!(
                ws.request("auth", json!({"token": tok})).await["type"],
                "authSuccess"
            );
            let since = (n % 2 == 1).then_some(n as i64);
            let sub = ws.subscribe(&id, since).await;
            let snap = sub["task"]["seq"].as_i64().unwrap();
            let done = sub["task"]["status"] == "completed";
            let frames = if done && since.is_none() {
                Vec::new()
            } else {
                ws.task_frames_until_terminal(&id).await
            };
            (since, snap, seqs(&frames))
        }));
    }
    let last = driver.await.unwrap();
    let mut mid_stream = 0;
    for w in watchers {
        let (since, snap, got) = w.await.unwrap();
        mid_stream += usize::from(snap > 1 && snap < last);
        let from = since.map_or(snap, |s| s.min(snap)) + 1;
        let want: Vec<i64> = (from..=last).collect();
        assert_eq!(got, want, "since {since:?}, snapshot seq {snap}");
    }
    assert!(
        mid_stream >= 2,
        "the race was exercised: {mid_stream} mid-stream snapshots"
    );
}

/// A client socket with a small receive buffer, authenticated; it reads only when told.
async fn slow_socket(app: &TestApp, token: &str) -> Ws {
    let sock = TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let addr = app.addr.trim_start_matches("http://").parse().unwrap();
    let stream = sock.connect(addr).await.unwrap();
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (inner, _) = tokio_tungstenite::client_async(ws_url(app, ""), stream)
        .await
        .unwrap();
    let mut ws = Ws::from_stream(inner).await;
    assert_eq!(
        ws.request("auth", json!({"token": token})).await["type"],
        "authSuccess"
    );
    ws
}

/// A synthetic event, as a poller would publish it, with `pad` bytes of message.
pub fn event(user_id: &str, video_id: &str, seq: i64, kind: EventType, pad: usize) -> TaskEvent {
    let status = match kind {
        EventType::TaskCompleted => "completed",
        EventType::TaskCreated => "queued",
        _ => "processing",
    };
    TaskEvent {
        video_id: video_id.into(),
        user_id: user_id.into(),
        seq,
        event_type: kind,
        // The same fields whatever the type: only routing and size matter here.
        payload: taskhub::domain::EventPayload {
            video_id: video_id.into(),
            external_video_id: None,
            status: taskhub::domain::TaskStatus::parse(status).unwrap(),
            progress: seq.min(99),
            seq,
            detail: taskhub::domain::EventDetail::Progress {
                message: Some("m".repeat(pad)),
            },
        },
        created_at: taskhub::domain::time::now_ms(),
    }
}

async fn slow_reader_is_coalesced_and_keeps_terminal(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.hub.ws_outbound_queue = 16).await;
    let tok = app.token("slowpoke").await;
    let uid = app.user_id(&tok).await;
    let id = app.create_task_id(&tok, "long").await;
    let mut slow = slow_socket(&app, &tok).await;
    slow.subscribe(&id, None).await;
    // Far more than fits in the socket buffers, all while the reader sleeps.
    const LAST: i64 = 1500;
    for seq in 2..LAST {
        publish(
            &app.state,
            event(&uid, &id, seq, EventType::TaskProgress, 4000),
        )
        .await;
    }
    publish(
        &app.state,
        event(&uid, &id, LAST, EventType::TaskCompleted, 10),
    )
    .await;
    let frames = slow.task_frames_until_terminal(&id).await;
    let got = seqs(&frames);
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicates"
    );
    assert_eq!(*got.last().unwrap(), LAST, "the terminal frame arrives");
    assert!(
        got.len() < (LAST - 1) as usize,
        "progress was coalesced: {} frames",
        got.len()
    );
    assert_eq!(
        slow.request("ping", json!({})).await["type"],
        "pong",
        "still open"
    );
}

async fn publish(state: &AppState, ev: TaskEvent) {
    state.bus.publish(&ev).await.unwrap();
}

async fn slow_reader_closed_4002_fast_one_unaffected(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.hub.ws_outbound_queue = 16).await;
    let tok = app.token("pair").await;
    let uid = app.user_id(&tok).await;
    let mut slow = slow_socket(&app, &tok).await;
    assert_eq!(
        slow.request("subscribe_user", json!({})).await["type"],
        "subscribed"
    );
    let mut fast = Ws::authed(&app, &tok).await;
    assert_eq!(
        fast.request("subscribe_user", json!({})).await["type"],
        "subscribed"
    );
    // Every event is a different task (nothing to coalesce); the fast reader gets each
    // before the next is published, while the slow one never reads.
    let n = 400;
    for i in 0..n {
        let vid = format!("video_{}", uuid::Uuid::now_v7());
        publish(
            &app.state,
            event(&uid, &vid, 1, EventType::TaskCreated, 8000),
        )
        .await;
        let f = fast.recv().await;
        assert_eq!(
            (f["payload"]["videoId"].as_str(), f["type"].as_str()),
            (Some(vid.as_str()), Some("taskCreated")),
            "frame {i}"
        );
    }
    let (frames, closed) = slow.until_closed().await;
    assert!(
        frames.len() < n,
        "the slow socket fell behind: {}",
        frames.len()
    );
    assert!(frames.iter().all(|f: &Value| f["type"] != "error"));
    assert_eq!(closed, close_code(4002));
    assert_eq!(fast.request("ping", json!({})).await["type"], "pong");
}

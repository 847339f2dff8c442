//! Unit tests: the outbox rules on their own, and a whole session driven over channels
//! (no sockets), as the transport-free design intends.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;

use super::outbox::{Conn, Scope, State, CLOSE_TOO_SLOW};
use super::{Hub, HubSettings};
use crate::auth::jwt::JwtKeys;
use crate::bus::memory::MemoryBus;
use crate::bus::{Bus, BusEvent};
use crate::domain::lifecycle::{EventType, TaskChange, TaskStatus};
use crate::secret::Secret;
use crate::store::{NewTask, NewUser, Store};

fn ev(video: &str, seq: i64, kind: EventType) -> Arc<BusEvent> {
    Arc::new(BusEvent {
        user_id: Arc::from("u1"),
        video_id: Arc::from(video),
        seq,
        kind,
        created_at: 1000 + seq,
        frame: crate::domain::Frame::from(format!("{{\"seq\":{seq}}}")),
        received_at: std::time::Instant::now(),
    })
}

/// A socket of user "u1" (the user of [`ev`]'s events).
fn owned(conn: Conn) -> Conn {
    conn.set_owner(Arc::from("u1"));
    conn
}

/// What the writer would send now: the seq of each queued event frame (texts as -1).
fn drain(conn: &Conn) -> (Vec<i64>, State) {
    let (frames, state) = conn.take_for_test();
    let seqs = frames
        .into_iter()
        .map(|f| match f {
            super::outbox::Out::Event(e) => e.seq,
            _ => -1,
        })
        .collect();
    (seqs, state)
}

#[test]
fn queued_progress_coalesces_but_terminal_stays() {
    let conn = owned(Conn::new(1, 64, true, 64));
    let v: Arc<str> = Arc::from("v1");
    conn.begin_subscribe(&v, 10).unwrap();
    conn.finish_subscribe("v1", Utf8Bytes::from_static("{}"), vec![], 1, false);
    for seq in 2..10 {
        conn.push_event(&ev("v1", seq, EventType::TaskProgress), Scope::Task);
    }
    conn.push_event(&ev("v1", 8, EventType::TaskProgress), Scope::Task); // late: dropped
    conn.push_event(&ev("v1", 10, EventType::TaskCompleted), Scope::Task);
    conn.push_event(&ev("v1", 10, EventType::TaskCompleted), Scope::Task); // duplicate
    assert_eq!(drain(&conn), (vec![-1, 9, 10], State::Open));
    // Once written, a new progress frame is queued on its own again.
    assert!(
        conn.task_subscriptions().is_empty(),
        "ended with its terminal frame"
    );
}

/// Chaos run regression: a socket resumes a task with `sinceSeq`, its replay holds the
/// terminal frame, then the socket subscribes to its user and the same terminal frame
/// arrives live (published late by another node). It must not be sent twice.
#[test]
fn a_replayed_terminal_frame_is_not_sent_again_through_a_later_user_subscription() {
    let conn = owned(Conn::new(1, 64, true, 64));
    let v: Arc<str> = Arc::from("v1");
    conn.begin_subscribe(&v, 10).unwrap();
    let done = ev("v1", 10, EventType::TaskCompleted);
    let ended = conn.finish_subscribe(
        "v1",
        Utf8Bytes::from_static("{}"),
        vec![done.clone()],
        9,
        false,
    );
    assert!(ended, "the replay finished the task");
    conn.set_user_scope(0);
    conn.push_event(&done, Scope::User);
    conn.push_event(&done, Scope::UserRefill);
    assert_eq!(drain(&conn), (vec![-1, 10], State::Open));
    // A newer task of the user still arrives through the user subscription.
    conn.push_event(&ev("v2", 1, EventType::TaskCreated), Scope::User);
    assert_eq!(drain(&conn).0, vec![1]);
}

#[test]
fn without_coalescing_every_frame_is_kept_until_the_queue_overflows() {
    let conn = owned(Conn::new(1, 8, false, 64));
    conn.set_user_scope(0);
    for seq in 1..=8 {
        assert!(conn.push_event(&ev("v1", seq, EventType::TaskProgress), Scope::User));
    }
    assert!(!conn.push_event(&ev("v1", 9, EventType::TaskProgress), Scope::User));
    let (frames, state) = drain(&conn);
    assert!(frames.is_empty(), "an overflowing queue is dropped");
    assert_eq!(
        state,
        State::Closing(CLOSE_TOO_SLOW, "too slow: resubscribe with sinceSeq")
    );
}

#[test]
fn frames_held_during_a_snapshot_follow_it_without_overlap() {
    let conn = owned(Conn::new(1, 64, false, 64));
    let v: Arc<str> = Arc::from("v1");
    conn.begin_subscribe(&v, 10).unwrap();
    // Live frames arrive while the snapshot (seq 4) is read: 3 and 4 are in it, 5 and 6 not.
    for seq in 3..=6 {
        conn.push_event(&ev("v1", seq, EventType::TaskProgress), Scope::Task);
    }
    assert_eq!(drain(&conn).0, Vec::<i64>::new(), "held, not queued");
    let replay = vec![
        ev("v1", 2, EventType::TaskProgress),
        ev("v1", 3, EventType::TaskProgress),
        ev("v1", 4, EventType::TaskProgress),
    ];
    conn.finish_subscribe("v1", Utf8Bytes::from_static("{}"), replay, 4, false);
    assert_eq!(drain(&conn).0, vec![-1, 2, 3, 4, 5, 6]);
}

#[test]
fn user_refill_skips_what_predates_the_subscription() {
    let conn = owned(Conn::new(1, 64, false, 64));
    conn.set_user_scope(1005);
    conn.push_event(&ev("old", 3, EventType::TaskProgress), Scope::UserRefill); // created_at 1003
    conn.push_event(&ev("new", 6, EventType::TaskProgress), Scope::UserRefill); // 1006
    conn.push_event(&ev("live", 1, EventType::TaskCreated), Scope::User);
    assert_eq!(drain(&conn).0, vec![6, 1]);
    assert!(
        conn.begin_subscribe(&Arc::from("x"), 0).is_err(),
        "subscription limit"
    );
}

/// An event of `user`'s task `video`.
fn ev_of(user: &str, video: &str, seq: i64) -> Arc<BusEvent> {
    let e = ev(video, seq, EventType::TaskProgress);
    Arc::new(BusEvent {
        user_id: Arc::from(user),
        ..(*e).clone()
    })
}

#[test]
fn abort_drops_held_frames_and_forgets_the_cursor() {
    let conn = owned(Conn::new(1, 64, false, 64));
    let v: Arc<str> = Arc::from("v1");
    conn.begin_subscribe(&v, 10).unwrap();
    conn.push_event(&ev("v1", 2, EventType::TaskProgress), Scope::Task);
    conn.abort_subscribe("v1");
    assert_eq!(drain(&conn).0, Vec::<i64>::new(), "held frames dropped");
    assert!(conn.open_cursors().is_empty() && conn.task_subscriptions().is_empty());

    // With a user subscription the failed task's cursor goes too, however often it fails
    // (it used to stay, one per failed subscribe).
    conn.set_user_scope(0);
    for n in 0..500 {
        let v: Arc<str> = Arc::from(format!("other{n}"));
        conn.begin_subscribe(&v, 10).unwrap();
        conn.abort_subscribe(&v);
    }
    assert!(conn.open_cursors().is_empty(), "no cursor left behind");
    // The user's own frames held meanwhile are what the user subscription would have had.
    conn.begin_subscribe(&v, 10).unwrap();
    conn.push_event(&ev("v1", 3, EventType::TaskProgress), Scope::User);
    conn.push_event(&ev_of("u2", "v1", 4), Scope::User);
    conn.abort_subscribe("v1");
    assert_eq!(
        drain(&conn).0,
        vec![3],
        "own frame to the user scope, foreign one dropped"
    );
}

#[test]
fn cursor_map_stays_under_its_cap() {
    let conn = owned(Conn::new(1, 4096, false, 16));
    let pinned: Arc<str> = Arc::from("pinned");
    conn.begin_subscribe(&pinned, 10).unwrap();
    conn.finish_subscribe("pinned", Utf8Bytes::from_static("{}"), vec![], 1, false);
    conn.set_user_scope(0);
    for n in 0..1000 {
        conn.push_event(
            &ev(&format!("t{n}"), 1, EventType::TaskCreated),
            Scope::User,
        );
    }
    let cursors = conn.open_cursors();
    assert!(cursors.len() <= 17, "{} cursors", cursors.len());
    let has = |k: &str| cursors.iter().any(|(v, _)| &**v == k);
    assert!(
        has("pinned"),
        "a task subscription's cursor is never forgotten"
    );
    assert!(has("t999"), "the most recent task keeps its cursor");
    assert_eq!(
        drain(&conn).0.len(),
        1001,
        "every frame was still delivered"
    );
}

#[test]
fn foreign_events_are_refused_whatever_the_registry_says() {
    let registry = super::registry::Registry::default();
    let conn = Arc::new(owned(Conn::new(1, 64, false, 64)));
    let v: Arc<str> = Arc::from("v9");
    conn.begin_subscribe(&v, 10).unwrap();
    // A replay and held frames of another user's task, as a wrong snapshot would give them.
    conn.push_event(&ev_of("u2", "v9", 3), Scope::Task);
    conn.finish_subscribe(
        "v9",
        Utf8Bytes::from_static("{}"),
        vec![ev_of("u2", "v9", 2)],
        1,
        false,
    );
    // Wrong entries: the socket listed as a watcher of u2's task and of u2's user scope.
    conn.set_user_scope(0);
    registry.watch_task(v.clone(), &conn);
    registry.watch_user("u2", &conn);
    for seq in 4..10 {
        registry.dispatch(&ev_of("u2", "v9", seq));
        registry.dispatch(&ev_of("u2", "v10", seq));
    }
    assert_eq!(
        drain(&conn).0,
        vec![-1],
        "only the `subscribed` text, no foreign frame"
    );
    registry.dispatch(&ev("v9", 10, EventType::TaskProgress));
    assert_eq!(drain(&conn).0, vec![10], "the user's own events still flow");

    // A socket that has not authenticated delivers no event at all.
    let anon = Conn::new(2, 64, false, 64);
    anon.set_user_scope(0);
    anon.push_event(&ev("v1", 1, EventType::TaskCreated), Scope::User);
    assert!(drain(&anon).0.is_empty());
}

/// The next text frame the session sent, as JSON (Null once it is done).
async fn next(rx: &mut tokio::sync::mpsc::Receiver<Message>) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
        {
            Some(Message::Text(t)) => return serde_json::from_str(t.as_str()).unwrap(),
            Some(_) => continue,
            None => return Value::Null,
        }
    }
}

/// A free text-to-video task of `user_id` for the simulator (the hub tests' fixture).
pub(super) fn sample_task(user_id: &str) -> NewTask {
    NewTask {
        user_id: user_id.to_string(),
        provider: "simulator".into(),
        kind: "textToVideo".into(),
        model: "sora-2".into(),
        prompt: "p".into(),
        seconds: 4,
        size: "720x1280".into(),
        quality: "standard".into(),
        reference_image_url: None,
        input_image: None,
        webhook_url: None,
        retry_of: None,
        price: 0,
    }
}

async fn test_hub() -> (Hub, Store, JwtKeys, MemoryBus) {
    let store = Store::connect("sqlite::memory:", 1).await.unwrap();
    store.migrate().await.unwrap();
    let bus = MemoryBus::default();
    let jwt = JwtKeys::new(&Secret::new("fake-unit-test-secret-0123456789abcdef"), 600).unwrap();
    let settings = HubSettings {
        ws_coalesce_progress: false,
        ..HubSettings::default()
    };
    let hub = Hub::new(
        settings,
        store.clone(),
        Arc::new(bus.clone()),
        jwt.clone(),
        CancellationToken::new(),
    );
    (hub, store, jwt, bus)
}

#[tokio::test]
async fn a_session_over_channels() {
    let (hub, store, jwt, bus) = test_hub().await;
    let user = store
        .create_user(NewUser {
            username: "ann",
            email: "ann@example.com",
            password_hash: "x",
        })
        .await
        .unwrap();
    let (task, _) = store.create_task(sample_task(&user.id)).await.unwrap();
    let (token, _) = jwt.issue(&user.id, "ann").unwrap();

    let (to_server, rx) = tokio::sync::mpsc::channel::<Result<Message, std::io::Error>>(16);
    let server_in = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|m| (m, rx))
    }));
    let (tx, mut from_server) = tokio::sync::mpsc::channel::<Message>(64);
    let server_out = tokio_util::sync::PollSender::new(tx);
    let session = tokio::spawn(super::session::run(
        hub.clone(),
        server_out,
        server_in,
        super::session::Start::new(None, None),
    ));
    let send = |v: Value| {
        to_server
            .try_send(Ok(Message::Text(v.to_string().into())))
            .unwrap()
    };

    assert_eq!(next(&mut from_server).await["type"], "connected");
    send(json!({"type": "auth", "payload": {"token": token}, "requestId": 1}));
    let ok = next(&mut from_server).await;
    assert_eq!(
        (ok["type"].as_str(), ok["requestId"].as_i64()),
        (Some("authSuccess"), Some(1))
    );
    send(json!({"type": "subscribeTask", "payload": {"videoId": task.id}}));
    let sub = next(&mut from_server).await;
    assert_eq!(sub["payload"]["task"]["seq"], 1);
    let change = TaskChange {
        status: Some(TaskStatus::Cancelled),
        ..Default::default()
    };
    let (_, event) = store
        .apply_change(&task.id, &change)
        .await
        .unwrap()
        .unwrap();
    bus.publish(&event).await.unwrap();
    let f = next(&mut from_server).await;
    assert_eq!(
        (f["type"].as_str(), f["payload"]["seq"].as_i64()),
        (Some("taskCancelled"), Some(2))
    );
    assert_eq!(
        hub.counts(),
        (1, 0, 1),
        "the finished task's subscription ended by itself"
    );

    // The client goes away: the session ends and forgets the socket everywhere.
    drop(to_server);
    tokio::time::timeout(Duration::from_secs(5), session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((hub.live_sockets(), hub.counts()), (0, (0, 0, 0)));
}

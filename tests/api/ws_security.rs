//! WebSocket isolation and abuse limits over real sockets: no socket ever sees another
//! user's frames, however it races subscriptions against live events; unauthenticated
//! sockets are capped per node and per address (close 1013); and a refused oversize frame
//! reaches a client that keeps sending as close 1009, not as a reset.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use taskhub::domain::lifecycle::EventType;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Backend, TestApp};
use crate::ws_client::{close_code, eventually, ws_url, Ws, WAIT};

crate::backend_tests!(foreign_subscribes_racing_live_events_leak_nothing);

/// Whether `f` is a task frame of one of `ids`.
fn is_task_frame_of(f: &Value, ids: &[String]) -> bool {
    let vid = f["payload"]["videoId"].as_str().unwrap_or_default();
    f["type"].as_str().is_some_and(|t| t.starts_with("task")) && ids.iter().any(|i| i == vid)
}

async fn foreign_subscribes_racing_live_events_leak_nothing(backend: Backend) {
    const SOCKETS: usize = 20;
    const ROUNDS: usize = 60;
    let app = TestApp::spawn_with(backend, |s| {
        s.hub.ws_max_frames_per_sec = 100_000;
        s.db_max_connections = Some(8);
    })
    .await;
    let tok_a = app.token("alice").await;
    let uid_a = app.user_id(&tok_a).await;
    let mut ids_a = Vec::new();
    for n in 0..4 {
        ids_a.push(app.create_task_id(&tok_a, &format!("alice's {n}")).await);
    }
    let tok_b = app.token("mallory").await;

    // Alice watches her own tasks: the proof that their events flowed meanwhile.
    let mut alice = Ws::authed(&app, &tok_a).await;
    assert_eq!(
        alice.request("subscribe_user", json!({})).await["type"],
        "subscribed"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicUsize::new(0));
    let publisher = {
        let (state, ids, uid) = (app.state.clone(), ids_a.clone(), uid_a.clone());
        let (stop, published) = (stop.clone(), published.clone());
        tokio::spawn(async move {
            let mut seq = 1;
            while !stop.load(Ordering::Acquire) {
                seq += 1;
                for id in &ids {
                    state
                        .bus
                        .publish(&crate::ws_delivery::event(
                            &uid,
                            id,
                            seq,
                            EventType::TaskProgress,
                            0,
                        ))
                        .await
                        .unwrap();
                    published.fetch_add(1, Ordering::AcqRel);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            seq
        })
    };

    // Mallory: sockets with a user subscription, each asking for Alice's tasks again and
    // again while they progress. Every frame they get is checked.
    let mut sockets = Vec::new();
    for n in 0..SOCKETS {
        let (url, tok, ids) = (ws_url(&app, ""), tok_b.clone(), ids_a.clone());
        sockets.push(tokio::spawn(async move {
            let mut ws = Ws::connect_url(&url).await;
            assert_eq!(
                ws.request("auth", json!({"token": tok})).await["type"],
                "authSuccess"
            );
            assert_eq!(
                ws.request("subscribe_user", json!({})).await["type"],
                "subscribed"
            );
            let mut foreign = Vec::new();
            for round in 0..ROUNDS {
                let rid = format!("s{n}-{round}");
                let vid = &ids[(n + round) % ids.len()];
                ws.send_json(json!({"type": "subscribe_task", "requestId": rid,
                    "payload": {"videoId": vid, "sinceSeq": 0}}))
                    .await;
                loop {
                    let f = ws.recv().await;
                    if is_task_frame_of(&f, &ids) {
                        foreign.push(f);
                        continue;
                    }
                    if f["requestId"] == rid {
                        assert_eq!(f["payload"]["code"], "notFound", "{f}");
                        break;
                    }
                }
            }
            // Anything still queued arrives before the pong.
            ws.send_json(json!({"type": "ping", "payload": {}})).await;
            let (_, late) = ws.until_type("pong").await;
            foreign.extend(late.into_iter().filter(|f| is_task_frame_of(f, &ids)));
            foreign
        }));
    }
    let mut leaked = Vec::new();
    for s in sockets {
        leaked.extend(s.await.unwrap());
    }
    stop.store(true, Ordering::Release);
    let last_seq = publisher.await.unwrap();
    assert!(
        published.load(Ordering::Acquire) >= 8,
        "events were published during the race"
    );
    assert!(
        leaked.is_empty(),
        "{} of Alice's frames reached Mallory, e.g. {}",
        leaked.len(),
        leaked[0]
    );
    // Alice herself got her tasks' frames up to the last one published.
    let mut seen = 0;
    loop {
        let f = alice.recv().await;
        if is_task_frame_of(&f, &ids_a) && f["payload"]["seq"] == last_seq {
            break;
        }
        seen += 1;
    }
    assert!(seen > 0, "Alice saw her frames");
}

/// Opens a socket and returns how the server first answered: the `connected` frame's type,
/// or the close.
async fn open_raw(
    app: &TestApp,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Result<Value, (u16, String)>,
) {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(app, ""))
        .await
        .expect("ws connect");
    let first = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("an answer");
    let answer = match first {
        Some(Ok(Message::Text(t))) => Ok(serde_json::from_str(t.as_str()).unwrap()),
        Some(Ok(Message::Close(Some(f)))) => Err((u16::from(f.code), f.reason.to_string())),
        other => panic!("unexpected first message: {other:?}"),
    };
    (ws, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_sockets_are_capped_per_address() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.hub.ws_max_unauthenticated = 100;
        s.hub.ws_max_unauthenticated_per_ip = 3;
    })
    .await;
    let tok = app.token("nina").await;
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(Ws::connect(&app).await);
    }
    assert_eq!(app.state.hub.unauthenticated(), (3, 1));
    let (_, refused) = open_raw(&app).await;
    let (code, reason) = refused.expect_err("the 4th unauthenticated socket is refused");
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("from this address"), "{reason}");

    // Authenticating frees the slot (and the socket keeps working).
    let mut first = waiting.remove(0);
    let ok = first.request("auth", json!({"token": tok})).await;
    assert_eq!(ok["type"], "authSuccess");
    let (_, admitted) = open_raw(&app).await;
    assert_eq!(admitted.expect("admitted again")["type"], "connected");
    assert_eq!(first.request("ping", json!({})).await["type"], "pong");

    // Once they are gone, nothing is counted and no address is remembered.
    drop(waiting);
    eventually("unauthenticated sockets forgotten", || async {
        app.state.hub.unauthenticated() == (0, 0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_sockets_are_capped_per_node() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.hub.ws_max_unauthenticated = 2;
        s.hub.ws_max_unauthenticated_per_ip = 0;
    })
    .await;
    let tok = app.token("olga").await;
    let a = Ws::connect(&app).await;
    let _b = Ws::connect(&app).await;
    let (_, refused) = open_raw(&app).await;
    let (code, reason) = refused.expect_err("over the node's cap");
    assert_eq!(
        (code, reason.contains("try again later")),
        (1013, true),
        "{reason}"
    );
    // `?token=` sockets are unauthenticated until their token is checked: refused too.
    let url = ws_url(&app, &format!("?token={tok}"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let closed = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
    assert!(
        matches!(&closed, Some(Ok(Message::Close(Some(f)))) if u16::from(f.code) == 1013),
        "{closed:?}"
    );
    drop(a);
    eventually("a slot is free again", || async {
        app.state.hub.unauthenticated().0 < 2
    })
    .await;
    let mut c = Ws::authed(&app, &tok).await;
    assert_eq!(c.request("ping", json!({})).await["type"], "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_frame_reaches_a_client_that_keeps_sending_as_1009() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.hub.ws_max_frame_bytes = 1024).await;
    let tok = app.token("pete").await;
    let mut ws = Ws::authed(&app, &tok).await;
    // Far past the limit, and on without reading (as a client that writes a whole message
    // before it looks at the answer): the refusal is written while the input still comes
    // in. Half a MiB over 140 ms, within the default linger budget (1 MiB, 2 s). The pauses
    // only make sure the server has answered before the client stops sending: a server that
    // closes at once resets the connection and the client's next send fails. (Linux keeps
    // the close frame readable after the reset; a browser fails the socket on the write
    // error and reports 1006.)
    let big = "x".repeat(64 * 1024);
    let mut sent = 0;
    while sent < 8 {
        if sent > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if ws.inner.send(Message::text(big.clone())).await.is_err() {
            break;
        }
        sent += 1;
    }
    let (frames, closed) = ws.until_closed().await;
    assert_eq!(closed, close_code(1009), "{sent} frames sent; {frames:?}");
    assert_eq!(sent, 8, "the server took all of it in (read and discarded)");
    eventually("the refused socket is gone", || async {
        app.state.hub.live_sockets() == 0
    })
    .await;
}

//! Hostile and broken clients over real sockets: malformed, binary, oversize and flooding
//! frames, limits, dead peers and slow readers. None of it crashes the server or disturbs
//! a well-behaved socket next to it.

use std::time::Duration;

use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Backend, TestApp};
use crate::ws_client::{close_code, completed, drive, eventually, progress, seqs, ws_url, Ws};

crate::backend_tests!(
    bad_frames_get_errors_and_spare_others,
    oversize_frame_closes_1009,
    flood_is_rate_limited_then_closed_1008,
    subscription_and_socket_limits,
    dead_peer_is_dropped_after_missed_pings,
    shutdown_sends_reconnect_and_1012,
    random_frames_each_get_one_answer
);

async fn bad_frames_get_errors_and_spare_others(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.hub.ws_coalesce_progress = false).await;
    let tok = app.token("gina").await;
    let id = app.create_task_id(&tok, "calm").await;
    let mut good = Ws::authed(&app, &tok).await;
    good.subscribe(&id, None).await;
    let mut bad = Ws::authed(&app, &tok).await;

    let cases: Vec<(Message, &str)> = vec![
        (Message::text("{not json"), "badFrame"),
        (Message::text("[1,2,3]"), "badFrame"),
        (Message::text(r#"{"type": 42}"#), "badFrame"),
        (
            Message::text(r#"{"type": "launch_rockets"}"#),
            "unknownType",
        ),
        (
            Message::text(r#"{"type": "ping", "payload": "x"}"#),
            "badFrame",
        ),
        (
            Message::text(r#"{"type": "subscribe_task", "payload": {}}"#),
            "validationFailed",
        ),
        (
            Message::text(r#"{"type": "subscribe_task", "payload": {"videoId": 7}}"#),
            "validationFailed",
        ),
        (
            Message::text(
                r#"{"type": "subscribe_task", "payload": {"videoId": "video_0190b7a4-7c1a-7cc0-8000-000000000000", "sinceSeq": "x"}}"#,
            ),
            "validationFailed",
        ),
        (Message::binary(vec![0u8, 159, 146, 150]), "badFrame"),
        (Message::text(""), "badFrame"),
    ];
    for (msg, code) in cases {
        bad.send_raw(msg).await;
        let f = bad.recv().await;
        assert_eq!(
            (f["type"].as_str(), f["payload"]["code"].as_str()),
            (Some("error"), Some(code)),
            "{f}"
        );
    }
    // requestId is echoed even on errors.
    bad.send_json(json!({"type": "nope", "requestId": "q1"}))
        .await;
    assert_eq!(bad.recv().await["requestId"], "q1");

    // Both sockets still work; the good one got its task's frames untouched.
    drive(&app.state, &id, progress(50)).await;
    drive(&app.state, &id, completed()).await;
    assert_eq!(
        seqs(&good.task_frames_until_terminal(&id).await),
        vec![2, 3]
    );
    assert_eq!(bad.request("ping", json!({})).await["type"], "pong");
}

async fn oversize_frame_closes_1009(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.hub.ws_max_frame_bytes = 1024).await;
    let tok = app.token("hank").await;
    let mut bystander = Ws::authed(&app, &tok).await;
    let mut ws = Ws::authed(&app, &tok).await;
    assert_eq!(ws.connected["limits"]["maxFrameBytes"], 1024);
    let big = json!({"type": "ping", "payload": {"pad": "x".repeat(4096)}}).to_string();
    ws.send_raw(Message::text(big)).await;
    assert_eq!(ws.until_closed().await.1, close_code(1009));
    assert_eq!(bystander.request("ping", json!({})).await["type"], "pong");
    eventually("the closed socket is gone", || async {
        app.state.hub.live_sockets() == 1
    })
    .await;
}

async fn flood_is_rate_limited_then_closed_1008(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.hub.ws_max_frames_per_sec = 5;
        s.hub.ws_max_subscriptions = 5; // the burst allowance is max(2 x rate, subscriptions + 10)
    })
    .await;
    let tok = app.token("ivy").await;
    let mut bystander = Ws::authed(&app, &tok).await;
    let mut ws = Ws::authed(&app, &tok).await;
    let frame = json!({"type": "ping", "payload": {}}).to_string();
    for _ in 0..200 {
        // The server may close mid-flood; later sends may fail, which is the point.
        if futures_util::SinkExt::send(&mut ws.inner, Message::text(frame.clone()))
            .await
            .is_err()
        {
            break;
        }
    }
    let (frames, closed) = ws.until_closed().await;
    assert!(
        frames.iter().any(|f| f["payload"]["code"] == "rateLimited"),
        "rateLimited error before the close"
    );
    let pongs = frames.iter().filter(|f| f["type"] == "pong").count();
    assert!(
        (1..200).contains(&pongs),
        "some pings answered, not all: {pongs}"
    );
    assert_eq!(closed, close_code(1008));
    assert_eq!(bystander.request("ping", json!({})).await["type"], "pong");
}

async fn subscription_and_socket_limits(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.hub.ws_max_subscriptions = 2;
        s.hub.ws_max_sockets_per_user = 2;
    })
    .await;
    let tok = app.token("jack").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let t = app.create_task(&tok, &format!("t{i}")).await;
        ids.push(t["videoId"].as_str().unwrap().to_string());
    }
    let mut ws = Ws::authed(&app, &tok).await;
    ws.subscribe(&ids[0], None).await;
    ws.subscribe(&ids[1], None).await;
    ws.subscribe(&ids[1], None).await; // again: not a new one
    let third = ws
        .request("subscribe_task", json!({"videoId": ids[2]}))
        .await;
    assert_eq!(third["payload"]["code"], "limitExceeded");
    ws.request("unsubscribe_task", json!({"videoId": ids[0]}))
        .await;
    ws.subscribe(&ids[2], None).await;

    let _second = Ws::authed(&app, &tok).await;
    let mut third_socket = Ws::connect(&app).await;
    let reply = third_socket.request("auth", json!({"token": tok})).await;
    assert_eq!(reply["payload"]["code"], "limitExceeded");
    assert_eq!(third_socket.until_closed().await.1, close_code(1008));
    // Once a socket goes, the user may open another.
    drop(ws);
    eventually("the slot is released", || async {
        app.state.hub.counts().0 == 1
    })
    .await;
    Ws::authed(&app, &tok).await;
}

async fn dead_peer_is_dropped_after_missed_pings(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.hub.ws_heartbeat_interval_ms = 100).await;
    let tok = app.token("kim").await;
    // A live client answers pings as it reads (tungstenite replies automatically).
    let mut live = Ws::authed(&app, &tok).await;
    // A dead one: connected, then never read again, so never answers a ping.
    let dead = Ws::authed(&app, &tok).await;
    assert_eq!(app.state.hub.live_sockets(), 2);
    let reader = tokio::spawn(async move {
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(live.request("ping", json!({})).await["type"], "pong");
        }
        live
    });
    eventually("the silent peer is dropped", || async {
        app.state.hub.live_sockets() == 1
    })
    .await;
    let _live = reader.await.unwrap();
    assert_eq!(app.state.hub.live_sockets(), 1, "the live socket stays");
    drop(dead);
}

async fn shutdown_sends_reconnect_and_1012(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("lou").await;
    let mut a = Ws::authed(&app, &tok).await;
    let mut b = Ws::connect(&app).await;
    app.state.shutdown.cancel();
    for ws in [&mut a, &mut b] {
        let (frames, closed) = ws.until_closed().await;
        let last = frames.last().expect("a reconnect frame");
        assert_eq!(last["type"], "reconnect", "{frames:?}");
        assert!(last["payload"]["retryAfterMs"].as_u64().is_some());
        assert_eq!(closed, close_code(1012));
    }
    eventually("every socket closed", || async {
        app.state.hub.live_sockets() == 0
    })
    .await;
    // New upgrades are refused (or the listener is gone).
    let refused = tokio_tungstenite::connect_async(ws_url(&app, "")).await;
    assert!(refused.is_err());
}

async fn random_frames_each_get_one_answer(backend: Backend) {
    use rand::{RngExt, SeedableRng};
    let app = TestApp::spawn_with(backend, |s| s.hub.ws_max_frames_per_sec = 100_000).await;
    let tok = app.token("fuzzy").await;
    let id = app.create_task_id(&tok, "steady").await;
    let mut bystander = Ws::authed(&app, &tok).await;
    bystander.subscribe(&id, None).await;
    let mut ws = Ws::authed(&app, &tok).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let types = [
        json!("subscribe_task"),
        json!("subscribeTask"),
        json!("unsubscribe_task"),
        json!("subscribe_user"),
        json!("unsubscribeUser"),
        json!("ping"),
        json!("auth"),
        json!("nope"),
        json!(7),
        json!(null),
        json!(["ping"]),
    ];
    let n = 400;
    for i in 0..n {
        let frame = match rng.random_range(0..6) {
            // Garbage text.
            0 => (0..rng.random_range(0..60))
                .map(|_| rng.random_range(' '..='~'))
                .collect::<String>(),
            // Valid JSON that is not an envelope.
            1 => json!([i, "x", {"type": "ping"}]).to_string(),
            _ => {
                let kind = types[rng.random_range(0..types.len())].clone();
                let video = match rng.random_range(0..4) {
                    0 => json!(format!("video_{}", uuid::Uuid::now_v7())),
                    1 => json!("video_not-a-uuid"),
                    2 => json!(rng.random::<i64>()),
                    _ => json!(null),
                };
                let since = match rng.random_range(0..4) {
                    0 => json!(rng.random_range(-5..1_000_000_000_000i64)),
                    1 => json!("5"),
                    _ => json!(null),
                };
                // Re-auth only ever with the real token: a bad one would (rightly) close.
                let payload = if kind == json!("auth") {
                    json!({"token": tok})
                } else {
                    json!({"videoId": video, "sinceSeq": since, "token": 5})
                };
                json!({"type": kind, "payload": payload, "requestId": i}).to_string()
            }
        };
        ws.send_raw(Message::text(frame)).await;
    }
    // Exactly one answer per frame, then the socket still works.
    for _ in 0..n {
        let f = ws.recv().await;
        assert!(
            matches!(
                f["type"].as_str(),
                Some("error" | "pong" | "subscribed" | "unsubscribed" | "authSuccess")
            ),
            "{f}"
        );
    }
    assert_eq!(ws.request("ping", json!({})).await["type"], "pong");
    drive(&app.state, &id, completed()).await;
    assert_eq!(
        seqs(&bystander.task_frames_until_terminal(&id).await),
        vec![2]
    );
}

//! `GET /ws` over real sockets: authentication, subscriptions, snapshot + live frames,
//! replay with `sinceSeq`, user subscriptions, token refresh and expiry.

use serde_json::json;
use taskhub::domain::lifecycle::EventType;

use crate::helpers::{Backend, TestApp};
use crate::ws_client::{close_code, completed, drive, progress, seqs, ws_url, Ws};

crate::backend_tests!(
    connect_and_authenticate,
    auth_failures_close_4001,
    subscribe_snapshot_then_live_in_order,
    replay_since_seq_then_live,
    other_users_task_is_not_found,
    user_subscription_sees_new_tasks,
    token_refresh_and_expiry
);

async fn connect_and_authenticate(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("alice").await;
    let mut ws = Ws::connect(&app).await;
    let c = &ws.connected;
    assert!(c["connectionId"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(c["heartbeatIntervalMs"].as_u64().unwrap() > 0);
    assert!(c["authTimeoutMs"].as_u64().unwrap() > 0);
    assert!(c["limits"]["maxFrameBytes"].as_u64().unwrap() > 0);
    assert!(c["capabilities"].as_array().unwrap().len() > 3);

    // Before auth: ping works, subscriptions are refused, the socket stays open.
    let pong = ws.request("ping", json!({})).await;
    assert_eq!(pong["type"], "pong");
    assert!(pong["payload"]["serverTime"].as_i64().unwrap() > 0);
    let refused = ws.request("subscribeUser", json!({})).await;
    assert_eq!(
        (
            refused["type"].as_str(),
            refused["payload"]["code"].as_str()
        ),
        (Some("error"), Some("unauthorized"))
    );
    let ok = ws.request("auth", json!({ "token": tok })).await;
    assert_eq!(ok["type"], "authSuccess", "{ok}");
    assert_eq!(ok["payload"]["username"], "alice");
    assert!(ok["payload"]["sessionId"].as_str().is_some());
    assert!(ok["payload"]["expiresAt"].as_str().unwrap().ends_with('Z'));
    // camelCase and snake_case client types are the same.
    let sub = ws.request("subscribe_user", json!({})).await;
    assert_eq!(sub["payload"]["scope"], "user");

    // A token in the URL: connected, then authSuccess without asking.
    let mut q = Ws::connect_url(&ws_url(&app, &format!("?token={tok}"))).await;
    let f = q.recv().await;
    assert_eq!(f["type"], "authSuccess", "{f}");
    assert_eq!(app.state.hub.live_sockets(), 2);
}

async fn auth_failures_close_4001(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.hub.ws_auth_timeout_ms = 300).await;
    let mut ws = Ws::connect(&app).await;
    let reply = ws.request("auth", json!({ "token": "not-a-jwt" })).await;
    assert_eq!(reply["type"], "authError");
    assert_eq!(reply["payload"]["code"], "unauthorized");
    assert_eq!(ws.until_closed().await.1, close_code(4001));

    // Silence past authTimeoutMs.
    let mut idle = Ws::connect(&app).await;
    let (frames, closed) = idle.until_closed().await;
    assert_eq!(frames[0]["type"], "authError", "{frames:?}");
    assert_eq!(closed, close_code(4001));

    // A bad ?token= is answered the same way.
    let mut q = Ws::connect_url(&ws_url(&app, "?token=nope")).await;
    let (frames, closed) = q.until_closed().await;
    assert_eq!(frames[0]["type"], "authError");
    assert_eq!(closed, close_code(4001));

    // An expired token.
    let (expired, _) = app.state.jwt.issue_with_ttl("u1", "x", -10).unwrap();
    let mut e = Ws::connect(&app).await;
    let reply = e.request("auth", json!({ "token": expired })).await;
    assert_eq!(reply["type"], "authError");
}

async fn subscribe_snapshot_then_live_in_order(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.hub.ws_coalesce_progress = false).await;
    let tok = app.token("bob").await;
    let task = app.create_task(&tok, "a fox").await;
    let id = task["videoId"].as_str().unwrap().to_string();
    let mut ws = Ws::authed(&app, &tok).await;
    let sub = ws.subscribe(&id, None).await;
    assert_eq!(sub["videoId"], id.as_str());
    assert_eq!(sub["task"]["seq"], 1);
    assert_eq!(sub["task"]["prompt"], "a fox");
    assert_eq!(sub["replayed"], 0);

    for p in [10, 40, 70] {
        drive(&app.state, &id, progress(p)).await;
    }
    drive(&app.state, &id, completed()).await;
    let frames = ws.task_frames_until_terminal(&id).await;
    assert_eq!(seqs(&frames), vec![2, 3, 4, 5]);
    assert_eq!(frames[0]["type"], "taskProgress");
    assert_eq!(frames[2]["payload"]["progress"], 70);
    let last = &frames[3];
    assert_eq!(last["type"], "taskCompleted");
    assert_eq!(
        last["payload"]["result"]["videoUrl"],
        "https://example.test/v.mp4"
    );
    assert!(last["timestamp"].as_i64().unwrap() > 0);

    // Unsubscribe is answered even after the subscription ended with the task.
    let un = ws
        .request("unsubscribe_task", json!({ "videoId": id }))
        .await;
    assert_eq!(un["type"], "unsubscribed");
}

async fn replay_since_seq_then_live(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.hub.ws_coalesce_progress = false).await;
    let tok = app.token("carol").await;
    let id = app.create_task_id(&tok, "waves").await;
    for p in [5, 15, 25] {
        drive(&app.state, &id, progress(p)).await;
    }
    let mut ws = Ws::authed(&app, &tok).await;
    let sub = ws.subscribe(&id, Some(2)).await;
    assert_eq!(
        (sub["task"]["seq"].as_i64(), sub["replayed"].as_i64()),
        (Some(4), Some(2))
    );
    drive(&app.state, &id, progress(50)).await;
    drive(&app.state, &id, completed()).await;
    let frames = ws.task_frames_until_terminal(&id).await;
    assert_eq!(seqs(&frames), vec![3, 4, 5, 6]);

    // sinceSeq 0 replays the whole log, taskCreated included.
    let mut again = Ws::authed(&app, &tok).await;
    let sub = again.subscribe(&id, Some(0)).await;
    assert_eq!(sub["replayed"], 6);
    let frames = again.task_frames_until_terminal(&id).await;
    assert_eq!(seqs(&frames), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(frames[0]["type"], EventType::TaskCreated.as_str());
}

async fn other_users_task_is_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.token("owner").await;
    let thief = app.token("thief").await;
    let id = app.create_task_id(&owner, "mine").await;
    let mut ws = Ws::authed(&app, &thief).await;
    let theirs = ws.request("subscribe_task", json!({ "videoId": id })).await;
    let missing_id = "video_0190b7a4-7c1a-7cc0-8000-000000000000";
    let missing = ws
        .request("subscribe_task", json!({ "videoId": missing_id }))
        .await;
    assert_eq!(theirs["type"], "error");
    assert_eq!(
        theirs["payload"], missing["payload"],
        "same answer for both"
    );
    assert_eq!(theirs["payload"]["code"], "notFound");
    // The thief's socket sees nothing of the owner's task.
    drive(&app.state, &id, progress(10)).await;
    let pong = ws.request("ping", json!({})).await;
    assert_eq!(pong["type"], "pong");
    let bad = ws
        .request("subscribe_task", json!({ "videoId": "video_x" }))
        .await;
    assert_eq!(bad["payload"]["code"], "validationFailed");
    let missing_field = ws.request("subscribe_task", json!({})).await;
    assert_eq!(missing_field["payload"]["code"], "validationFailed");
}

async fn user_subscription_sees_new_tasks(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.hub.ws_coalesce_progress = false).await;
    let tok = app.token("dana").await;
    let other = app.token("erin").await;
    let mut ws = Ws::authed(&app, &tok).await;
    let sub = ws.request("subscribeUser", json!({})).await;
    assert_eq!(sub["type"], "subscribed");
    app.create_task(&other, "not yours").await;
    let id = app.create_task_id(&tok, "yours").await;
    drive(&app.state, &id, progress(30)).await;
    drive(&app.state, &id, completed()).await;
    let frames = ws.task_frames_until_terminal(&id).await;
    assert_eq!(seqs(&frames), vec![1, 2, 3]);
    assert_eq!(frames[0]["type"], "taskCreated");
    assert_eq!(frames[0]["payload"]["prompt"], "yours");

    // A task subscription on top of the user one: each frame once.
    let id2 = app.create_task_id(&tok, "both").await;
    let (created, _) = ws.until_type("taskCreated").await;
    assert_eq!(created["payload"]["videoId"], id2.as_str());
    ws.subscribe(&id2, None).await;
    drive(&app.state, &id2, progress(60)).await;
    drive(&app.state, &id2, completed()).await;
    let frames = ws.task_frames_until_terminal(&id2).await;
    assert_eq!(seqs(&frames), vec![2, 3]);

    // After unsubscribe_user, new tasks are not announced.
    let un = ws.request("unsubscribe_user", json!({})).await;
    assert_eq!(un["type"], "unsubscribed");
    app.create_task(&tok, "quiet").await;
    let pong = ws.request("ping", json!({})).await;
    assert_eq!(pong["type"], "pong");
}

async fn token_refresh_and_expiry(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reg = app.register("frank").await;
    let uid = reg["user"]["id"].as_str().unwrap();
    let (short, _) = app.state.jwt.issue_with_ttl(uid, "frank", 2).unwrap();
    let (fresh, _) = app.state.jwt.issue_with_ttl(uid, "frank", 600).unwrap();
    let (other_user, _) = app
        .state
        .jwt
        .issue_with_ttl("someone-else", "x", 600)
        .unwrap();

    // Refreshed before expiry: the socket outlives the first token.
    let mut kept = Ws::authed(&app, &short).await;
    let again = kept.request("auth", json!({ "token": fresh })).await;
    assert_eq!(again["type"], "authSuccess");
    // Not refreshed: closed with 4001 once the token expires.
    let mut lapsed = Ws::authed(&app, &short).await;
    let (frames, closed) = lapsed.until_closed().await;
    assert_eq!(closed, close_code(4001));
    assert_eq!(frames.last().unwrap()["payload"]["code"], "tokenExpired");
    let pong = kept.request("ping", json!({})).await;
    assert_eq!(pong["type"], "pong", "the refreshed socket is still open");

    // Another user's token on an authenticated socket is refused.
    let switched = kept.request("auth", json!({ "token": other_user })).await;
    assert_eq!(switched["type"], "authError");
    assert_eq!(kept.until_closed().await.1, close_code(4001));
}

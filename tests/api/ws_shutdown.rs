//! The real binary on SIGTERM: sockets get `reconnect` and close 1012, and the process exits
//! within its grace period even when a client never completes the close handshake.

use std::process::{Child, Command};
use std::time::Duration;

use serde_json::json;

use crate::process::Process;
use crate::ws_client::{close_code, Ws};

/// `taskhub serve` with the given shutdown grace period.
fn start(grace_ms: u64) -> Process {
    Process::spawn(&[("TASKHUB_SHUTDOWN_GRACE_MS", &grace_ms.to_string())])
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Waits (polling, with a deadline) for the process to exit; its exit status.
async fn exited(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..500 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the server did not exit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_sends_reconnect_1012_and_exits() {
    let mut server = start(5_000);
    let ws_url = server.ws_url();
    let mut a = Ws::connect_url(&ws_url).await;
    let mut b = Ws::connect_url(&ws_url).await;
    assert_eq!(a.request("ping", json!({})).await["type"], "pong");
    // Signed in and subscribed too: the hub wakes those through its registry, the others
    // through its list of unauthenticated sockets (no socket waits on the token itself).
    let body =
        json!({"username": "stay", "email": "stay@example.com", "password": "fake-password-123"});
    let reply: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/auth/register", server.url))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = reply["data"]["accessToken"].as_str().unwrap();
    let mut c = Ws::connect_url(&format!("{ws_url}?token={token}")).await;
    c.until_type("authSuccess").await;
    assert_eq!(
        c.request("subscribe_user", json!({})).await["type"],
        "subscribed"
    );
    sigterm(&server.child);
    for ws in [&mut a, &mut b, &mut c] {
        let (frames, closed) = ws.until_closed().await;
        assert_eq!(frames.last().unwrap()["type"], "reconnect", "{frames:?}");
        assert_eq!(closed, close_code(1012));
    }
    drop((a, b, c));
    assert!(exited(&mut server.child).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_even_with_a_client_that_never_reads() {
    let mut server = start(500);
    let ws_url = server.ws_url();
    // Connected, then never read again: it never answers the close.
    let stuck = Ws::connect_url(&ws_url).await;
    sigterm(&server.child);
    assert!(exited(&mut server.child).await.success());
    drop(stuck);
}

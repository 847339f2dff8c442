//! The real binary on SIGTERM: sockets get `reconnect` and close 1012, and the process exits
//! within its grace period even when a client never completes the close handshake.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::ws_client::{close_code, Ws};

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `taskhub serve` on a free port and reads its one "listening" line.
fn start(grace_ms: u64) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskhub"))
        .arg("serve")
        .env("TASKHUB_ADDR", "127.0.0.1:0")
        .env("TASKHUB_DATA_DIR", dir.path())
        .env("TASKHUB_SHUTDOWN_GRACE_MS", grace_ms.to_string())
        .env("JWT_SECRET", "fake-test-jwt-secret-0123456789abcdef")
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn taskhub");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("taskhub listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    Server {
        child,
        url,
        _dir: dir,
    }
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
    let ws_url = format!("{}/ws", server.url.replacen("http://", "ws://", 1));
    let mut a = Ws::connect_url(&ws_url).await;
    let mut b = Ws::connect_url(&ws_url).await;
    assert_eq!(a.request("ping", json!({})).await["type"], "pong");
    sigterm(&server.child);
    for ws in [&mut a, &mut b] {
        let (frames, closed) = ws.until_closed().await;
        assert_eq!(frames.last().unwrap()["type"], "reconnect", "{frames:?}");
        assert_eq!(closed, close_code(1012));
    }
    drop((a, b));
    assert!(exited(&mut server.child).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_even_with_a_client_that_never_reads() {
    let mut server = start(500);
    let ws_url = format!("{}/ws", server.url.replacen("http://", "ws://", 1));
    // Connected, then never read again: it never answers the close.
    let stuck = Ws::connect_url(&ws_url).await;
    sigterm(&server.child);
    assert!(exited(&mut server.child).await.success());
    drop(stuck);
}

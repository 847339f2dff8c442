//! The HTTP edge against misbehaving clients, over raw TCP: header and body timeouts, the
//! connection cap, lingering close after a refusal, and shutdown that no client can hold up.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp};
use crate::process::Process;

/// Upper bound for anything a test waits on; the limits under test are far shorter.
const BOUND: Duration = Duration::from_secs(10);

async fn connect(app_addr: &str) -> TcpStream {
    TcpStream::connect(app_addr.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Reads until the server closes (EOF or reset) or `BOUND` passes; what was read, and
/// whether the server closed.
async fn read_until_closed(stream: &mut TcpStream) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_head_is_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.http.http_header_timeout_ms = 300).await;
    let mut conn = connect(&app.addr).await;
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (reply, closed) = read_until_closed(&mut conn).await;
    assert!(closed, "a connection with an unfinished head stayed open");
    assert!(reply.is_empty(), "{reply}");
    // A complete head on a fresh connection is served as usual.
    app.get("/health").await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.http.http_header_timeout_ms = 300).await;
    let mut conn = connect(&app.addr).await;
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (reply, closed) = read_until_closed(&mut conn).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(closed, "an idle keep-alive connection stayed open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_answered_408() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.http.http_body_timeout_ms = 300).await;
    let mut conn = connect(&app.addr).await;
    let head = "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(br#"{"login":"#).await.unwrap();
    let (reply, closed) = read_until_closed(&mut conn).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains(r#""code":"requestTimeout""#), "{reply}");
    assert!(
        reply.to_lowercase().contains("connection: close"),
        "{reply}"
    );
    assert!(closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_answered_408_at_the_request_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.http.http_body_timeout_ms = 5_000;
        s.http.http_request_timeout_ms = 500;
    })
    .await;
    let conn = connect(&app.addr).await;
    let (mut rd, mut wr) = conn.into_split();
    let head = "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n";
    wr.write_all(head.as_bytes()).await.unwrap();
    // One byte every 50 ms: never idle for long, never finished (bounded: 10 s at most).
    let trickle = tokio::spawn(async move {
        for _ in 0..200 {
            if wr.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(BOUND, rd.read_to_end(&mut reply)).await;
    trickle.abort();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains(r#""code":"requestTimeout""#), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_a_connection_is_answered_503_busy() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.http.http_max_connections = 2;
        s.http.http_header_timeout_ms = 30_000;
    })
    .await;
    // Two connections hold both slots (accepted in order: the kernel queue is FIFO).
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = connect(&app.addr).await;
        c.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
        held.push(c);
    }
    let fresh = reqwest::Client::new();
    let resp = fresh.get(app.url("/health")).send().await.expect("reply");
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "busy", "{v}");
    // A slot freed is a slot usable again.
    drop(held.pop());
    let mut ok = false;
    for _ in 0..100 {
        let resp = reqwest::Client::new().get(app.url("/health")).send().await;
        if resp.is_ok_and(|r| r.status() == 200) {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "the freed slot was never reused");
}

/// How the test client sends its oversized body.
#[derive(Clone, Copy, PartialEq)]
enum Sender {
    /// Writes without pause while another task reads.
    Concurrent,
    /// Writes the whole body in small paced chunks, then reads (as simple clients do): it
    /// only sees the reply if the server keeps reading until the body is in.
    WriteThenRead,
}

/// Sends a 3 MB body to a route that takes 256 KiB; the full 413 reply must arrive, not a
/// reset.
async fn oversized_body_gets_its_413(app: &TestApp, sender: Sender) {
    const BODY: usize = 3 * 1024 * 1024;
    let conn = connect(&app.addr).await;
    let (mut rd, mut wr) = conn.into_split();
    let paced = sender == Sender::WriteThenRead;
    let writer = async move {
        let head = format!(
            "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {BODY}\r\n\r\n"
        );
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; if paced { 16 * 1024 } else { 64 * 1024 }];
        let mut sent = 0;
        while sent < BODY {
            wr.write_all(&chunk).await?;
            sent += chunk.len();
            if paced {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        wr.shutdown().await
    };
    let read = match sender {
        Sender::Concurrent => {
            let writer = tokio::spawn(writer);
            let mut reply = Vec::new();
            let read = tokio::time::timeout(BOUND, rd.read_to_end(&mut reply)).await;
            writer.abort();
            read.map(|r| r.map(|_| reply))
        }
        Sender::WriteThenRead => {
            let wrote = tokio::time::timeout(BOUND, writer).await;
            assert!(
                matches!(wrote, Ok(Ok(()))),
                "the server cut the connection while the body was being sent: {wrote:?}"
            );
            let mut reply = Vec::new();
            let read = tokio::time::timeout(BOUND, rd.read_to_end(&mut reply)).await;
            read.map(|r| r.map(|_| reply))
        }
    };
    let reply = match read {
        Ok(Ok(reply)) => String::from_utf8_lossy(&reply).into_owned(),
        other => panic!("reading the reply failed: {other:?}"),
    };
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    // The whole reply: as many body bytes as announced, and the envelope in them.
    let (head, body) = reply.split_once("\r\n\r\n").expect("a complete head");
    let length = head
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_string)
        })
        .expect("content-length");
    assert_eq!(body.len().to_string(), length, "{reply}");
    let v: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(v["error"]["code"], "payloadTooLarge", "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_sent_while_the_body_still_arrives_is_not_lost_to_a_reset() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for _ in 0..20 {
        oversized_body_gets_its_413(&app, Sender::Concurrent).await;
    }
    for _ in 0..5 {
        oversized_body_gets_its_413(&app, Sender::WriteThenRead).await;
    }
}

fn sigterm(child: &std::process::Child) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_within_the_grace_period_despite_a_half_sent_body() {
    let mut server = Process::spawn(&[("TASKHUB_SHUTDOWN_GRACE_MS", "500")]);
    let mut conn = connect(&server.url).await;
    // One full request first, so the connection is known to be served.
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Then half a body, and silence.
    let head = "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&[b' '; 500]).await.unwrap();
    sigterm(&server.child);
    let mut exited = None;
    for _ in 0..(BOUND.as_millis() / 20) {
        if let Some(status) = server.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = exited.expect("a half-sent body kept the server running after SIGTERM");
    assert!(status.success(), "{status:?}");
    drop(conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_backs_off_and_recovers() {
    // 64 descriptors; the connection cap is far above it, so accept meets EMFILE first.
    let mut server = Process::spawn_under(
        &["prlimit", "--nofile=64:64", "--"],
        &[("TASKHUB_HTTP_HEADER_TIMEOUT_MS", "30000")],
    );
    let mut held = Vec::new();
    for _ in 0..100 {
        let mut c = connect(&server.url).await;
        let _ = c
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        held.push(c);
    }
    // Answered connections stay open (keep-alive), so with 64 descriptors some of the 100
    // can never be answered while these are held.
    let answers = held.iter_mut().map(|c| async move {
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(2), c.read(&mut buf)).await,
            Ok(Ok(n)) if n > 0
        )
    });
    let answered = futures_util::future::join_all(answers).await;
    let unanswered = answered.iter().filter(|a| !**a).count();
    assert!(
        unanswered > 0,
        "100 connections served under a 64-descriptor limit?"
    );
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died"
    );
    drop(held);
    let mut ok = false;
    for _ in 0..200 {
        let resp = reqwest::Client::new()
            .get(format!("{}/health", server.url))
            .send()
            .await;
        if resp.is_ok_and(|r| r.status() == 200) {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        ok,
        "the server did not serve again after descriptors were freed"
    );
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died"
    );
}

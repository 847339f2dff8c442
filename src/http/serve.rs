//! The accept loop: HTTP/1.1 connections (WebSocket upgrades included) served by hyper.
//!
//! - At most `http_max_connections` connections are open; the next one is answered
//!   `503 busy` (`Retry-After: 1`, `Connection: close`) once its request head is in (not
//!   parsed, at most 16 KiB, waited for 1 s at most), then closed lingeringly. Refusals themselves are bounded ([`MAX_REFUSING`]); past that an
//!   extra connection is closed at once. A slot is held until the socket is really closed.
//! - A request head must arrive within `http_header_timeout_ms` of the connection being
//!   ready for one (new or idle keep-alive), else the connection is closed.
//! - Accept errors such as EMFILE are logged (at most every few seconds) and accepting
//!   backs off briefly; the process never stops serving because of them.
//! - On shutdown the loop stops accepting, each connection is told to finish its request
//!   and close, and whatever is still open when the grace period ends is dropped: shutdown
//!   never waits for a client.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::linger::{self, Linger, LingerStream};
use super::HttpSettings;

/// Over-cap connections being answered 503 at once; more are closed without an answer.
pub const MAX_REFUSING: usize = 64;

/// Back-off after an accept error that is not about one connection (EMFILE, ENOBUFS, …).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Body of the over-cap refusal (the normal error envelope).
const BUSY_BODY: &str =
    r#"{"success":false,"error":{"code":"busy","message":"server busy: too many connections"}}"#;

struct Conn {
    app: Router,
    header_timeout: Duration,
    linger: Linger,
    grace: Duration,
    token: CancellationToken,
}

/// Accepts until `token` is cancelled; returns the tracker of the connections still open
/// (closed: [`drain`] waits on it).
pub async fn accept_loop(
    listener: TcpListener,
    app: Router,
    settings: &HttpSettings,
    grace: Duration,
    token: CancellationToken,
) -> TaskTracker {
    let conn = Arc::new(Conn {
        app,
        header_timeout: settings.header_timeout(),
        linger: Linger {
            time: Duration::from_millis(settings.http_linger_ms),
            max_bytes: settings.http_linger_max_bytes,
        },
        grace,
        token: token.clone(),
    });
    let slots = Arc::new(Semaphore::new(settings.http_max_connections.max(1)));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let tracker = TaskTracker::new();
    let mut accept_errors = AcceptErrors::default();
    loop {
        let accepted = tokio::select! {
            _ = token.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                accept_errors.note(&e);
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        // Frames are batched by the hub itself; Nagle would only add latency.
        let _ = stream.set_nodelay(true);
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let conn = conn.clone();
                tracker.spawn(async move {
                    serve_one(
                        LingerStream::new(stream, conn.linger, Some(slot)),
                        peer,
                        &conn,
                    )
                    .await
                });
            }
            Err(_) => match refusing.clone().try_acquire_owned() {
                Ok(permit) => {
                    metrics::counter!("taskhub_http_connections_refused_total").increment(1);
                    let linger = conn.linger;
                    tokio::spawn(async move {
                        refuse(stream, linger).await;
                        drop(permit);
                    });
                }
                Err(_) => drop(stream),
            },
        }
    }
    tracker.close();
    tracker
}

/// Waits up to `grace` for the connections of a stopped [`accept_loop`]; false if some
/// were still open (they are cut by their own deadline right after).
pub async fn drain(tracker: &TaskTracker, grace: Duration) -> bool {
    let margin = Duration::from_millis(250);
    tokio::time::timeout(grace + margin, tracker.wait())
        .await
        .is_ok()
}

async fn serve_one(io: LingerStream, peer: SocketAddr, conn: &Conn) {
    let service = conn
        .app
        .clone()
        .map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.map(Body::new)
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(conn.header_timeout);
    let mut served = pin!(builder
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
        .with_upgrades());
    tokio::select! {
        result = served.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
        }
        _ = conn.token.cancelled() => {
            served.as_mut().graceful_shutdown();
            if tokio::time::timeout(conn.grace, served).await.is_err() {
                tracing::debug!(%peer, "HTTP connection cut at the end of the shutdown grace period");
            }
        }
    }
}

/// Answers an over-cap connection 503 once its request head is in (or after a short wait;
/// clients reject an answer that comes before their request), then lingers briefly.
async fn refuse(mut stream: TcpStream, linger: Linger) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 2048];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while seen.len() < 16 * 1024 && !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
                _ => return,
            }
        }
    })
    .await;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        BUSY_BODY.len()
    );
    let reply = [head.as_bytes(), BUSY_BODY.as_bytes()].concat();
    let wrote = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&reply)).await;
    if matches!(wrote, Ok(Ok(()))) {
        let short = Linger {
            time: linger.time.min(Duration::from_secs(1)),
            max_bytes: linger.max_bytes.min(64 * 1024),
        };
        linger::drain(stream, short).await;
    }
}

/// Errors that concern one connection only (it died between SYN and accept).
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset | Interrupted
    )
}

/// Logs accept errors at most every few seconds, with how many there were.
#[derive(Default)]
struct AcceptErrors {
    last_log: Option<Instant>,
    since: u64,
}

impl AcceptErrors {
    fn note(&mut self, e: &std::io::Error) {
        self.since += 1;
        metrics::counter!("taskhub_http_accept_errors_total").increment(1);
        let due = match self.last_log {
            None => true,
            Some(t) => t.elapsed() >= Duration::from_secs(5),
        };
        if due {
            tracing::warn!(error = %e, count = self.since, "accept failed (out of file descriptors?); backing off");
            self.last_log = Some(Instant::now());
            self.since = 0;
        }
    }
}

//! A WebSocket test client over a real socket (tokio-tungstenite), plus helpers that drive
//! task events the way the poller does: `Store::apply_change`, then `bus.publish`.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use taskhub::domain::lifecycle::{TaskChange, TaskResult, TaskStatus};
use taskhub::state::AppState;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::TestApp;

/// How long any single expected frame may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Ws {
    pub inner: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Payload of the `connected` frame.
    pub connected: Value,
}

/// What the socket ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    Code(u16),
    /// Ended without a close frame (reset or EOF).
    Abrupt,
}

pub fn ws_url(app: &TestApp, query: &str) -> String {
    format!("{}/ws{}", app.addr.replacen("http://", "ws://", 1), query)
}

impl Ws {
    /// Connects and reads the `connected` frame.
    pub async fn connect(app: &TestApp) -> Ws {
        Self::connect_url(&ws_url(app, "")).await
    }

    pub async fn connect_url(url: &str) -> Ws {
        let (inner, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connect");
        Self::from_stream(inner).await
    }

    /// Wraps an open client stream and reads its `connected` frame.
    pub async fn from_stream(inner: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Ws {
        let mut ws = Ws {
            inner,
            next_id: 0,
            connected: Value::Null,
        };
        let hello = ws.recv().await;
        assert_eq!(hello["type"], "connected", "{hello}");
        ws.connected = hello["payload"].clone();
        ws
    }

    /// Connects and authenticates with an `auth` frame.
    pub async fn authed(app: &TestApp, token: &str) -> Ws {
        let mut ws = Self::connect(app).await;
        let reply = ws.request("auth", json!({ "token": token })).await;
        assert_eq!(reply["type"], "authSuccess", "{reply}");
        ws
    }

    pub async fn send_json(&mut self, v: Value) {
        self.inner
            .send(Message::text(v.to_string()))
            .await
            .expect("ws send");
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.inner.send(m).await.expect("ws send");
    }

    /// Sends a request and returns the reply that echoes its `requestId` (frames before it
    /// are discarded; use `recv` to see those).
    pub async fn request(&mut self, kind: &str, payload: Value) -> Value {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        self.send_json(json!({ "type": kind, "payload": payload, "requestId": id }))
            .await;
        loop {
            let f = self.recv().await;
            if f["requestId"] == id {
                return f;
            }
        }
    }

    /// The next text frame as JSON (pings and pongs skipped). Panics on close or timeout.
    pub async fn recv(&mut self) -> Value {
        match self.next_text().await {
            Ok(v) => v,
            Err(c) => panic!("socket closed while a frame was expected: {c:?}"),
        }
    }

    /// The next text frame, or how the socket ended.
    pub async fn next_text(&mut self) -> Result<Value, Closed> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.inner.next())
                .await
                .expect("timed out waiting for a frame");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return Ok(serde_json::from_str(t.as_str()).expect("server frame is JSON"))
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame.map_or(Closed::Abrupt, |f| Closed::Code(u16::from(f.code))))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(Closed::Abrupt),
            }
        }
    }

    /// Reads until the socket closes; returns the frames seen and the close.
    pub async fn until_closed(&mut self) -> (Vec<Value>, Closed) {
        let mut frames = Vec::new();
        loop {
            match self.next_text().await {
                Ok(v) => frames.push(v),
                Err(c) => return (frames, c),
            }
        }
    }

    /// Reads frames until one of type `kind` arrives; returns it and those skipped.
    pub async fn until_type(&mut self, kind: &str) -> (Value, Vec<Value>) {
        let mut skipped = Vec::new();
        loop {
            let f = self.recv().await;
            if f["type"] == kind {
                return (f, skipped);
            }
            skipped.push(f);
        }
    }

    /// Task frames (those with `payload.seq`) until one of `videoId` is terminal.
    pub async fn task_frames_until_terminal(&mut self, video_id: &str) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let f = self.recv().await;
            if f["payload"]["videoId"] != video_id || f["payload"]["seq"].is_null() {
                continue;
            }
            let done = matches!(
                f["type"].as_str(),
                Some("taskCompleted" | "taskFailed" | "taskCancelled")
            );
            out.push(f);
            if done {
                return out;
            }
        }
    }

    pub async fn subscribe(&mut self, video_id: &str, since: Option<i64>) -> Value {
        let mut p = json!({ "videoId": video_id });
        if let Some(s) = since {
            p["sinceSeq"] = json!(s);
        }
        let reply = self.request("subscribe_task", p).await;
        assert_eq!(reply["type"], "subscribed", "{reply}");
        reply["payload"].clone()
    }
}

pub fn close_code(c: u16) -> Closed {
    Closed::Code(u16::from(CloseCode::from(c)))
}

/// Seqs of task frames, in arrival order.
pub fn seqs(frames: &[Value]) -> Vec<i64> {
    frames
        .iter()
        .filter_map(|f| f["payload"]["seq"].as_i64())
        .collect()
}

/// Applies a change as the poller would (commit, then publish); the new seq.
pub async fn drive(state: &AppState, video_id: &str, change: TaskChange) -> i64 {
    let (task, event) = state
        .store
        .apply_change(video_id, &change)
        .await
        .expect("apply_change")
        .expect("the change changed something");
    state.bus.publish(&event).await.expect("publish");
    task.seq
}

pub fn progress(p: u8) -> TaskChange {
    TaskChange {
        status: Some(TaskStatus::Processing),
        progress: Some(p),
        message: Some(format!("at {p}%")),
        ..Default::default()
    }
}

pub fn completed() -> TaskChange {
    TaskChange {
        status: Some(TaskStatus::Completed),
        progress: Some(100),
        result: Some(TaskResult {
            video_url: "https://example.test/v.mp4".into(),
            thumbnail_url: None,
            duration: Some(4),
            resolution: Some("720x1280".into()),
        }),
        ..Default::default()
    }
}

/// Polls `cond` until true or the deadline; panics with `what` otherwise.
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

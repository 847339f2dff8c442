//! One load-generator socket: connect from a given 127.0.0.x source address, authenticate
//! with `?token=`, subscribe, then read frames until told to stop, timing each event frame
//! from the publisher's stamp (or, in a pipeline run, from the frame's commit `timestamp`)
//! and checking each task's seq order.

use std::borrow::Cow;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use crate::pipeline::Tracker;
use crate::setup::LgUser;
use crate::stats::{now_us, Stats};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// `subscribe_user`: every event of the user's tasks.
    User,
    /// `subscribe_task` for each of the user's tasks.
    Task,
}

pub struct Plan {
    pub user: Arc<LgUser>,
    pub source: Ipv4Addr,
    pub server: SocketAddr,
    pub mode: Mode,
    /// A pipeline run: the server's own events, for tasks created after the socket opened.
    pub track: Option<Arc<Tracker>>,
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    /// Event frames: the event's commit time, Unix ms.
    #[serde(default)]
    timestamp: Option<u64>,
    #[serde(default, borrow)]
    payload: Option<Payload<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    #[serde(default, borrow)]
    video_id: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<i64>,
    #[serde(default)]
    lg_sent_us: Option<u64>,
}

type Ws = WebSocketStream<TcpStream>;

/// Runs one socket until `stop`; counts it ready once subscribed.
pub async fn run(plan: Plan, stats: Arc<Stats>, gate: Arc<Semaphore>, stop: CancellationToken) {
    let ws = {
        let Ok(_permit) = gate.acquire().await else {
            return;
        };
        match tokio::time::timeout(Duration::from_secs(30), open(&plan)).await {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                if stats.failed.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("socket failed: {e:#}");
                }
                return;
            }
            Err(_) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    };
    stats.ready.fetch_add(1, Ordering::Relaxed);
    plan.user.sockets.fetch_add(1, Ordering::Relaxed);
    read(ws, &plan, &stats, &stop).await;
}

async fn open(plan: &Plan) -> anyhow::Result<Ws> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(plan.source.into(), 0))
        .with_context(|| format!("binding {}", plan.source))?;
    let stream = sock.connect(plan.server).await.context("connect")?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{}/ws?token={}", plan.server, plan.user.token);
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .context("handshake")?;
    expect(&mut ws, "connected").await?;
    expect(&mut ws, "authSuccess").await?;
    let subs: Vec<_> = match plan.mode {
        Mode::User => vec![json!({"type": "subscribe_user", "payload": {}})],
        Mode::Task => plan
            .user
            .tasks
            .iter()
            .map(|t| json!({"type": "subscribe_task", "payload": {"videoId": t}}))
            .collect(),
    };
    for s in &subs {
        ws.send(Message::text(s.to_string())).await?;
    }
    for _ in &subs {
        expect(&mut ws, "subscribed").await?;
    }
    Ok(ws)
}

async fn expect(ws: &mut Ws, kind: &str) -> anyhow::Result<()> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let f: Frame = serde_json::from_str(t.as_str())?;
                if f.kind == kind {
                    return Ok(());
                }
                if f.kind == "error" || f.kind == "authError" {
                    bail!("expected {kind}, got {}", t.as_str());
                }
            }
            Some(Ok(_)) => continue,
            other => bail!("socket ended while waiting for {kind}: {other:?}"),
        }
    }
}

async fn read(mut ws: Ws, plan: &Plan, stats: &Stats, stop: &CancellationToken) {
    // Last seq per task seen on this socket (a user has a handful of tasks).
    let mut last: Vec<(String, i64)> = plan.user.tasks.iter().map(|t| (t.clone(), 0)).collect();
    let track = plan.track.as_deref();
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => return,
            m = ws.next() => m,
        };
        match msg {
            Some(Ok(Message::Text(t))) => on_text(t.as_str(), &mut last, stats, track),
            Some(Ok(Message::Close(frame))) => {
                if frame.is_some_and(|f| u16::from(f.code) == 4002) {
                    stats.closed_4002.fetch_add(1, Ordering::Relaxed);
                }
                stats.closed.fetch_add(1, Ordering::Relaxed);
                plan.user.sockets.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                stats.closed.fetch_add(1, Ordering::Relaxed);
                plan.user.sockets.fetch_sub(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

fn on_text(text: &str, last: &mut Vec<(String, i64)>, stats: &Stats, track: Option<&Tracker>) {
    let received = now_us();
    let Ok(f) = serde_json::from_str::<Frame>(text) else {
        return;
    };
    let Some(p) = f.payload else { return };
    let latency = match (p.lg_sent_us, track, f.timestamp) {
        (Some(sent), _, _) => Some(received.saturating_sub(sent)),
        // The real pipeline: from the event's commit time (ms resolution).
        (None, Some(_), Some(ms)) => Some(received.saturating_sub(ms * 1000)),
        _ => None,
    };
    stats.on_frame(latency, text.len());
    // Order is checked on the load generator's own events (the server's real ones, if any,
    // have seqs of their own), or on every event in a pipeline run.
    if p.lg_sent_us.is_none() && track.is_none() {
        return;
    }
    let (Some(vid), Some(seq)) = (p.video_id, p.seq) else {
        return;
    };
    let i = match (last.iter().position(|(v, _)| *v == vid), track) {
        (Some(i), _) => i,
        // A pipeline run's tasks are created while the socket is open.
        (None, Some(_)) => {
            last.push((vid.to_string(), 0));
            last.len() - 1
        }
        (None, None) => return,
    };
    let prev = &mut last[i].1;
    if seq <= *prev {
        stats.disorder.fetch_add(1, Ordering::Relaxed);
    } else if *prev > 0 && seq > *prev + 1 {
        stats.gaps.fetch_add(1, Ordering::Relaxed);
    }
    *prev = seq;
    if let Some(t) = track {
        t.on_event(&last[i].0, &f.kind, received);
    }
}

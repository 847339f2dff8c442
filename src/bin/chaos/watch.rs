//! Watchers: sockets through the load balancer that follow tasks and drop and resume at
//! random. Half subscribe to each of their user's tasks (`subscribe_task`), half to the user
//! (`subscribe_user`). After a drop (theirs, or a node's death) they reconnect, wherever the
//! balancer sends them, and resubscribe every open task they follow with `sinceSeq` = the
//! last seq they saw. Every frame is checked as it arrives: per task, seqs go up by exactly
//! one from the first one seen, nothing comes after a terminal frame.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::workload::Registry;
use crate::{rnd, Clock};

const TERMINAL: [&str; 3] = ["taskCompleted", "taskFailed", "taskCancelled"];

#[derive(Default, Debug)]
pub struct Track {
    /// `(ms, seq, frame type)` in arrival order; `seq` -1 marks a resubscription.
    pub seen: Vec<(u64, i64, String)>,
    pub last: i64,
    /// `(status, seq)` of the terminal frame or snapshot.
    pub terminal: Option<(String, i64)>,
    pub violations: Vec<String>,
}

pub struct Watcher {
    pub id: usize,
    pub user: usize,
    pub task_mode: bool,
    pub tracks: Mutex<HashMap<String, Track>>,
    pub connects: AtomicU64,
    pub frames: AtomicU64,
    pub closes: Mutex<HashMap<String, u64>>,
}

pub struct Ctx {
    pub ws_url: String,
    pub reg: Arc<Registry>,
    pub clock: Clock,
    /// Cancelled when watchers should stop dropping on purpose (the settle phase).
    pub calm: CancellationToken,
    pub stop: CancellationToken,
    /// Shortest and longest life (ms) of a connection before it drops on purpose.
    pub life_ms: (u64, u64),
    /// Each watcher's first connection waits a random part of this (ms).
    pub start_spread_ms: u64,
}

impl Watcher {
    pub fn new(id: usize, users: usize) -> Self {
        Self {
            id,
            user: id % users,
            task_mode: id.is_multiple_of(2),
            tracks: Mutex::new(HashMap::new()),
            connects: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            closes: Mutex::new(HashMap::new()),
        }
    }

    fn tracks(&self) -> std::sync::MutexGuard<'_, HashMap<String, Track>> {
        self.tracks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn closed(&self, why: String) {
        *self
            .closes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(why)
            .or_default() += 1;
    }

    /// Whether every task this watcher must see to the end has ended for it.
    pub fn done(&self, reg: &Registry) -> bool {
        let tracks = self.tracks();
        let open_track = tracks.values().any(|t| t.terminal.is_none());
        let unseen = self.task_mode
            && reg
                .tasks_of(self.user)
                .iter()
                .any(|id| tracks.get(id).is_none_or(|t| t.terminal.is_none()));
        !open_track && !unseen
    }

    pub async fn run(self: Arc<Self>, ctx: Arc<Ctx>) {
        tokio::time::sleep(Duration::from_millis(rnd(0, ctx.start_spread_ms))).await;
        while !ctx.stop.is_cancelled() {
            self.connects.fetch_add(1, Ordering::Relaxed);
            let why = match self.session(&ctx).await {
                Ok(why) => why,
                Err(e) => format!("error: {}", short(&e.to_string())),
            };
            self.closed(why);
            tokio::select! {
                _ = ctx.stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(rnd(50, 1500))) => {}
            }
        }
    }

    /// One connection: returns why it ended.
    async fn session(&self, ctx: &Ctx) -> anyhow::Result<String> {
        let token = &ctx.reg.users[self.user].token;
        let url = format!("{}?token={token}", ctx.ws_url);
        let connect = tokio_tungstenite::connect_async(url.as_str());
        let (mut ws, _) = tokio::time::timeout(Duration::from_secs(10), connect).await??;
        // Which tasks this connection has asked for (task mode subscribes new ones as they come).
        let mut asked: HashSet<String> = HashSet::new();
        let mut authed = false;
        let lifetime = if ctx.calm.is_cancelled() {
            3_600_000
        } else {
            rnd(ctx.life_ms.0, ctx.life_ms.1)
        };
        let drop_at = tokio::time::Instant::now() + Duration::from_millis(lifetime);
        let mut tick = tokio::time::interval(Duration::from_millis(300));
        loop {
            tokio::select! {
                _ = ctx.stop.cancelled() => return Ok("stopped".into()),
                _ = tokio::time::sleep_until(drop_at), if !ctx.calm.is_cancelled() => {
                    let _ = ws.close(None).await;
                    return Ok("dropped on purpose".into());
                }
                _ = tick.tick(), if authed && self.task_mode => {
                    for frame in self.subscriptions(ctx, &mut asked) {
                        ws.send(Message::text(frame.to_string())).await?;
                    }
                }
                msg = ws.next() => {
                    let msg = match msg {
                        None => return Ok("closed by peer (no close frame)".into()),
                        Some(m) => m?,
                    };
                    match msg {
                        Message::Text(t) => {
                            let v: Value = serde_json::from_str(&t)?;
                            if v["type"] == "error" {
                                // A refused subscription (its requestId is the task's id),
                                // e.g. the task could not be read while PostgreSQL
                                // restarted: task mode asks again on the next tick. Without this, a
                                // watcher whose subscription failed in the last fault waited
                                // for the task until the run's limit (the large run).
                                self.frame(ctx, &v);
                                if let Some(id) = v["requestId"].as_str() {
                                    asked.remove(id);
                                    // User mode has no tick: resume everything on a new
                                    // connection instead.
                                    if !self.task_mode {
                                        let _ = ws.close(None).await;
                                        return Ok("a resubscription was refused".into());
                                    }
                                }
                            } else if v["type"] == "authSuccess" && !authed {
                                authed = true;
                                // Resume what we follow first, then the user subscription.
                                for frame in self.subscriptions(ctx, &mut asked) {
                                    ws.send(Message::text(frame.to_string())).await?;
                                }
                                if !self.task_mode {
                                    let f = json!({"type": "subscribe_user", "payload": {}});
                                    ws.send(Message::text(f.to_string())).await?;
                                }
                            } else {
                                self.frame(ctx, &v);
                            }
                        }
                        Message::Close(c) => {
                            return Ok(format!("close {}", c.map_or(0, |c| u16::from(c.code))));
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// `subscribe_task` frames for what this connection has not asked for yet: task mode,
    /// every task of the user that is still open for us; user mode, the open tasks we follow.
    fn subscriptions(&self, ctx: &Ctx, asked: &mut HashSet<String>) -> Vec<Value> {
        let candidates: Vec<String> = if self.task_mode {
            ctx.reg.tasks_of(self.user)
        } else {
            self.tracks().keys().cloned().collect()
        };
        let mut tracks = self.tracks();
        let mut out = Vec::new();
        for id in candidates {
            if asked.contains(&id) {
                continue;
            }
            let t = tracks.entry(id.clone()).or_default();
            if t.terminal.is_some() {
                continue;
            }
            asked.insert(id.clone());
            t.seen
                .push((ctx.clock.ms(), -1, format!("subscribe sinceSeq={}", t.last)));
            let mut payload = json!({ "videoId": id });
            if t.last > 0 {
                payload["sinceSeq"] = json!(t.last);
            }
            // The task's id as requestId: an `error` reply names the task it refused.
            out.push(json!({ "type": "subscribe_task", "payload": payload, "requestId": id }));
        }
        out
    }

    fn frame(&self, ctx: &Ctx, v: &Value) {
        let kind = v["type"].as_str().unwrap_or("");
        let p = &v["payload"];
        let at = ctx.clock.ms();
        let mut tracks = self.tracks();
        match kind {
            "subscribed" => {
                let Some(id) = p["videoId"].as_str() else {
                    return;
                };
                let t = tracks.entry(id.to_string()).or_default();
                let snap = &p["task"];
                let seq = snap["seq"].as_i64().unwrap_or(0);
                // Without sinceSeq the snapshot is where this watcher starts.
                if t.last == 0 {
                    t.last = seq;
                    t.seen.push((at, seq, "snapshot".into()));
                    let status = snap["status"].as_str().unwrap_or("").to_string();
                    if ["completed", "failed", "cancelled"].contains(&status.as_str()) {
                        t.terminal = Some((status, seq));
                    }
                }
            }
            "error" => {
                let code = p["code"].as_str().unwrap_or("?");
                if code == "forbidden" || code == "notFound" {
                    let id = v["requestId"].as_str().unwrap_or("?").to_string();
                    let t = tracks.entry(id).or_default();
                    t.violations
                        .push(format!("{at} ms: own task refused with {code}"));
                }
            }
            k if k.starts_with("task") => {
                self.frames.fetch_add(1, Ordering::Relaxed);
                let (Some(id), Some(seq)) = (p["videoId"].as_str(), p["seq"].as_i64()) else {
                    return;
                };
                let t = tracks.entry(id.to_string()).or_default();
                t.seen.push((at, seq, k.to_string()));
                if t.terminal.is_some() {
                    t.violations
                        .push(format!("{at} ms: {k} seq {seq} after the terminal frame"));
                } else if t.last != 0 && seq != t.last + 1 {
                    let what = if seq <= t.last {
                        "duplicate or disorder"
                    } else {
                        "gap"
                    };
                    t.violations
                        .push(format!("{at} ms: {what}: seq {seq} after {}", t.last));
                }
                t.last = t.last.max(seq);
                if TERMINAL.contains(&k) {
                    let status = p["status"].as_str().unwrap_or("").to_string();
                    t.terminal = Some((status, seq));
                }
            }
            _ => {}
        }
    }
}

fn short(s: &str) -> String {
    s.chars().take(60).collect()
}

//! Following tasks live over the WebSocket until each one ends: one progress bar per task
//! (indicatif, drawn only on a terminal), or with `--json` every event frame on its own
//! stdout line. When the socket drops (server restart, network, 4002 "too slow", a
//! `reconnect` frame) it reconnects with backoff and resubscribes each open task with
//! `sinceSeq` = the last seq it saw, so no event is missed or shown twice.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::api::Api;
use super::{exit, CliError};

/// Longest wait between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3);
/// Time limit of connecting and authenticating.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a followed task ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Final {
    Completed { url: Option<String> },
    Failed { code: String, message: String },
    Cancelled,
    NotFound(String),
}

struct Track {
    last_seq: i64,
    bar: ProgressBar,
    done: Option<Final>,
    /// A terminal snapshot from `subscribed`, used once its replayed frames are read.
    snapshot: Option<Final>,
    replays_left: i64,
}

enum End {
    AllDone,
    /// Reconnect after this long (a `reconnect` frame, or the socket dropped).
    Reconnect(Duration),
    /// The server refused the token: refresh it and reconnect.
    AuthRejected,
}

/// Follows `ids` until every one ended; their outcomes in the same order.
pub async fn follow(api: &mut Api, ids: &[String], json: bool) -> Result<Vec<Final>, CliError> {
    let bars = MultiProgress::new();
    if json {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template("{prefix:.bold} [{bar:30.cyan/blue}] {pos:>3}% {msg}")
        .map_err(|e| CliError::unavailable(format!("progress style: {e}")))?
        .progress_chars("=> ");
    let mut tracks: HashMap<String, Track> = HashMap::new();
    for id in ids {
        let bar = bars.add(ProgressBar::new(100));
        bar.set_style(style.clone());
        bar.set_prefix(id.clone());
        bar.set_message("connecting");
        tracks.insert(
            id.clone(),
            Track {
                last_seq: 0,
                bar,
                done: None,
                snapshot: None,
                replays_left: 0,
            },
        );
    }
    let say = |m: String| bars.suspend(|| eprintln!("{m}"));
    let mut backoff = Duration::from_millis(200);
    let mut refreshed = false;
    while tracks.values().any(|t| t.done.is_none()) {
        let token = match api.access_token(refreshed).await {
            Ok(t) => t,
            Err(e) if e.code == exit::UNAVAILABLE => {
                say(format!(
                    "{}; retrying in {} ms",
                    e.message,
                    backoff.as_millis()
                ));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Err(e) => return Err(e),
        };
        match session(&api.ws_url(), &token, &mut tracks, json).await {
            Ok(End::AllDone) => break,
            Ok(End::Reconnect(after)) => {
                refreshed = false;
                say(format!(
                    "reconnecting in {} ms (resuming with sinceSeq)",
                    after.as_millis()
                ));
                tokio::time::sleep(after).await;
                backoff = Duration::from_millis(200);
            }
            Ok(End::AuthRejected) if !refreshed => refreshed = true,
            Ok(End::AuthRejected) => {
                return Err(CliError::new(
                    exit::AUTH,
                    "the server refused a fresh token",
                ))
            }
            Err(why) => {
                say(format!("{why}; retrying in {} ms", backoff.as_millis()));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    Ok(ids
        .iter()
        .map(|id| {
            let t = &tracks[id];
            t.bar.finish();
            t.done.clone().unwrap_or(Final::NotFound(id.clone()))
        })
        .collect())
}

/// One socket's life: connect, authenticate, resubscribe, read until done or dropped.
async fn session(
    url: &str,
    token: &str,
    tracks: &mut HashMap<String, Track>,
    json: bool,
) -> Result<End, String> {
    let (mut ws, _) = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(url))
        .await
        .map_err(|_| "timed out connecting to the WebSocket".to_string())?
        .map_err(|e| format!("WebSocket connect failed: {e}"))?;
    let auth = json!({"type": "auth", "payload": {"token": token}, "requestId": "auth"});
    ws.send(Message::text(auth.to_string()))
        .await
        .map_err(|e| format!("WebSocket send failed: {e}"))?;
    // Idle longer than this (no frame, no ping) means the server is gone.
    let mut idle = Duration::from_secs(60);
    loop {
        let next = tokio::time::timeout(idle, ws.next())
            .await
            .map_err(|_| "no frame from the server for too long".to_string())?;
        let text = match next {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                return if code == 4001 {
                    Ok(End::AuthRejected)
                } else {
                    Ok(End::Reconnect(Duration::from_millis(200)))
                };
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("WebSocket dropped: {e}")),
            None => return Err("WebSocket closed".into()),
        };
        let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let payload = &frame["payload"];
        match frame["type"].as_str().unwrap_or_default() {
            "connected" => {
                if let Some(ms) = payload["heartbeatIntervalMs"].as_u64() {
                    idle = Duration::from_millis(ms.saturating_mul(2) + 5_000);
                }
            }
            "authSuccess" => {
                for (id, t) in tracks.iter_mut().filter(|(_, t)| t.done.is_none()) {
                    t.bar.set_message("subscribing");
                    if t.last_seq > 0 {
                        let note = format!("resubscribing {id} sinceSeq={}", t.last_seq);
                        t.bar.suspend(|| eprintln!("{note}"));
                    }
                    let sub = json!({"type": "subscribe_task", "requestId": id,
                        "payload": {"videoId": id, "sinceSeq": t.last_seq}});
                    ws.send(Message::text(sub.to_string()))
                        .await
                        .map_err(|e| format!("WebSocket send failed: {e}"))?;
                }
            }
            "authError" => return Ok(End::AuthRejected),
            "subscribed" => on_subscribed(tracks, payload),
            "reconnect" => {
                let ms = payload["retryAfterMs"].as_u64().unwrap_or(1000);
                return Ok(End::Reconnect(Duration::from_millis(ms.min(30_000))));
            }
            "error" => {
                // A refused subscription (notFound, validationFailed, …) ends that task;
                // rate limits and internal errors are retried with the next connection.
                let id = frame["requestId"].as_str().unwrap_or_default();
                let code = payload["code"].as_str().unwrap_or_default();
                if let Some(t) = tracks.get_mut(id) {
                    if !matches!(code, "rateLimited" | "internal") && t.done.is_none() {
                        let why = payload["message"].as_str().unwrap_or(code).to_string();
                        finish(t, Final::NotFound(why));
                    }
                }
            }
            kind if kind.starts_with("task") => {
                let fresh = on_event(tracks, kind, payload);
                if fresh && json {
                    println!("{}", text.as_str());
                }
            }
            _ => {}
        }
        if tracks.values().all(|t| t.done.is_some()) {
            let _ = ws.close(None).await;
            return Ok(End::AllDone);
        }
    }
}

fn on_subscribed(tracks: &mut HashMap<String, Track>, payload: &Value) {
    let Some(t) = payload["videoId"]
        .as_str()
        .and_then(|id| tracks.get_mut(id))
    else {
        return;
    };
    let task = &payload["task"];
    show(&t.bar, task);
    t.replays_left = payload["replayed"].as_i64().unwrap_or(0);
    t.snapshot = final_of(task["status"].as_str().unwrap_or_default(), task);
    if t.replays_left == 0 {
        settle_from_snapshot(t);
    }
}

/// Applies one event frame; false when it was old (already seen).
fn on_event(tracks: &mut HashMap<String, Track>, kind: &str, p: &Value) -> bool {
    let Some(t) = p["videoId"].as_str().and_then(|id| tracks.get_mut(id)) else {
        return false;
    };
    let seq = p["seq"].as_i64().unwrap_or(0);
    let fresh = seq > t.last_seq && t.done.is_none();
    if fresh {
        t.last_seq = seq;
        show(&t.bar, p);
        let status = match kind {
            "taskCompleted" => "completed",
            "taskFailed" => "failed",
            "taskCancelled" => "cancelled",
            _ => "",
        };
        if let Some(f) = final_of(status, p) {
            finish(t, f);
        }
    }
    if t.replays_left > 0 {
        t.replays_left -= 1;
        if t.replays_left == 0 {
            settle_from_snapshot(t);
        }
    }
    fresh
}

fn settle_from_snapshot(t: &mut Track) {
    if t.done.is_none() {
        if let Some(f) = t.snapshot.take() {
            finish(t, f);
        }
    }
}

fn show(bar: &ProgressBar, p: &Value) {
    bar.set_position(p["progress"].as_u64().unwrap_or(0).min(100));
    let status = p["status"].as_str().unwrap_or_default();
    match p["message"].as_str() {
        Some(m) => bar.set_message(format!("{status}: {m}")),
        None => bar.set_message(status.to_string()),
    }
}

fn final_of(status: &str, p: &Value) -> Option<Final> {
    match status {
        "completed" => Some(Final::Completed {
            url: p["result"]["videoUrl"].as_str().map(str::to_string),
        }),
        "failed" => Some(Final::Failed {
            code: p["error"]["code"].as_str().unwrap_or("failed").to_string(),
            message: p["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }),
        "cancelled" => Some(Final::Cancelled),
        _ => None,
    }
}

fn finish(t: &mut Track, f: Final) {
    match &f {
        Final::Completed { .. } => {
            t.bar.set_position(100);
            t.bar.finish_with_message("completed");
        }
        Final::Failed { code, .. } => t.bar.abandon_with_message(format!("failed: {code}")),
        Final::Cancelled => t.bar.abandon_with_message("cancelled"),
        Final::NotFound(_) => t.bar.abandon_with_message("not found"),
    }
    t.done = Some(f);
}

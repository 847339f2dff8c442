//! The whole pipeline (`--create-url`): instead of publishing synthetic events, the load
//! generator creates real tasks over REST on the node given (the one whose poller drives
//! them) while its sockets, on another node, watch their users; the events are the ones the
//! poller commits. Each frame is timed from its commit `timestamp` (Unix ms, so the figure
//! is rounded up by up to 1 ms), each task from the moment its REST create returned to its
//! first `taskProgress` frame on any socket. At the end every task is read back over REST
//! (its final status and `seq`) to check that every socket got every event up to the last.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::setup::{create_task, LgUser};
use crate::stats::{now_us, Histogram, Stats};

/// What the sockets saw of each task, shared by all of them.
#[derive(Default)]
pub struct Tracker {
    tasks: Mutex<HashMap<String, Seen>>,
}

#[derive(Default)]
struct Seen {
    /// When the REST create returned (µs since the epoch).
    created_us: Option<u64>,
    first_progress_us: Option<u64>,
    frames: u64,
    terminal_frames: u64,
}

impl Tracker {
    pub fn on_event(&self, video_id: &str, kind: &str, received_us: u64) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        let seen = match tasks.get_mut(video_id) {
            Some(s) => s,
            None => tasks.entry(video_id.to_string()).or_default(),
        };
        seen.frames += 1;
        if kind == "taskProgress" {
            let first = seen.first_progress_us.get_or_insert(received_us);
            *first = (*first).min(received_us);
        }
        if matches!(kind, "taskCompleted" | "taskFailed" | "taskCancelled") {
            seen.terminal_frames += 1;
        }
    }

    fn created(&self, video_id: &str, at_us: u64) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.entry(video_id.to_string()).or_default().created_us = Some(at_us);
    }

    /// Terminal frames seen for `tasks`, in all.
    fn terminal_frames(&self, tasks: &[(String, usize)]) -> u64 {
        let seen = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks
            .iter()
            .filter_map(|(v, _)| seen.get(v))
            .map(|s| s.terminal_frames)
            .sum()
    }
}

pub struct Opts {
    /// Base URL of the node that creates (and so drives) the tasks.
    pub create_url: String,
    /// Tasks created per second, round-robin over the users.
    pub task_rate: f64,
    pub duration: Duration,
    /// Wait for this file before creating the first task (several load generators start
    /// together).
    pub start_file: Option<PathBuf>,
    /// Longest wait, once the last task is created, for every socket's terminal frames.
    pub drain_max: Duration,
}

/// The pipeline phase; returns its figures. `cpu` reads the node's and this process's CPU
/// ticks.
pub async fn run(
    opts: &Opts,
    users: &[Arc<LgUser>],
    stats: &Stats,
    track: &Arc<Tracker>,
    cpu: impl Fn() -> (Option<u64>, Option<u64>),
) -> anyhow::Result<Value> {
    if let Some(f) = &opts.start_file {
        println!("pipeline: ready, waiting for {}", f.display());
        while !f.exists() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let base = opts.create_url.trim_end_matches('/').to_string();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let cpu0 = cpu();
    let frames0 = stats.latency.count();
    let t = Instant::now();
    let created: Arc<Mutex<Vec<(String, usize)>>> = Arc::default();
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let create_ms = Arc::new(Histogram::default());
    let inflight = Arc::new(Semaphore::new(64));
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut sent = 0u64;
    while t.elapsed() < opts.duration && opts.task_rate > 0.0 {
        tick.tick().await;
        let due = (t.elapsed().as_secs_f64() * opts.task_rate) as u64;
        for n in sent..due {
            let u = n as usize % users.len();
            let permit = inflight.clone().acquire_owned().await?;
            let (http, base, user, track) =
                (http.clone(), base.clone(), users[u].clone(), track.clone());
            let (created, failed, create_ms) = (created.clone(), failed.clone(), create_ms.clone());
            tokio::spawn(async move {
                let sent_us = now_us();
                let prompt = format!("pipeline {} #{n}", user.id);
                match create_task(&http, &base, &user.token, &prompt).await {
                    Ok(vid) => {
                        let at = now_us();
                        create_ms.record(at.saturating_sub(sent_us));
                        track.created(&vid, at);
                        created
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((vid, u));
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("create failed: {e:#}");
                        }
                    }
                }
                drop(permit);
            });
        }
        sent = due;
    }
    // Every create answered...
    let _ = inflight.acquire_many(64).await?;
    let create_secs = t.elapsed().as_secs_f64();
    let tasks = std::mem::take(&mut *created.lock().unwrap_or_else(|e| e.into_inner()));
    // ...then every open socket's terminal frame of every task of its user, or the drain
    // limit (a socket that failed to connect or closed is not waited for).
    let sockets_of = |u: usize| users[u].sockets.load(Ordering::Relaxed);
    let want = || -> u64 { tasks.iter().map(|(_, u)| sockets_of(*u)).sum() };
    let drain = Instant::now();
    while track.terminal_frames(&tasks) < want() && drain.elapsed() < opts.drain_max {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let want = want();
    let wall = t.elapsed().as_secs_f64();
    let cpu1 = cpu();
    let delivered = stats.latency.count() - frames0;

    // Read every task back from the node that drives it: its final status and seq.
    let finals: Vec<(usize, anyhow::Result<(String, i64)>)> =
        futures_util::stream::iter(tasks.iter().cloned())
            .map(|(vid, u)| {
                let (http, base, token) = (http.clone(), base.clone(), users[u].token.clone());
                async move { (u, final_state(&http, &base, &token, &vid).await) }
            })
            .buffered(16)
            .collect()
            .await;
    let (mut expected_frames, mut terminal_tasks, mut read_errors) = (0u64, 0u64, 0u64);
    let mut statuses: HashMap<String, u64> = HashMap::new();
    for (u, f) in &finals {
        match f {
            Ok((status, seq)) => {
                // Subscribed before the task existed: every event, seq 1 to the last.
                expected_frames += *seq as u64 * sockets_of(*u);
                *statuses.entry(status.clone()).or_default() += 1;
                if matches!(status.as_str(), "completed" | "failed" | "cancelled") {
                    terminal_tasks += 1;
                }
            }
            Err(_) => read_errors += 1,
        }
    }
    let first_progress = Histogram::default();
    let (mut event_frames, mut terminal_frames, mut no_progress, mut before_return) =
        (0u64, 0u64, 0u64, 0u64);
    {
        let seen = track.tasks.lock().unwrap_or_else(|e| e.into_inner());
        for (vid, _) in &tasks {
            let Some(s) = seen.get(vid) else {
                no_progress += 1;
                continue;
            };
            event_frames += s.frames;
            terminal_frames += s.terminal_frames;
            match (s.created_us, s.first_progress_us) {
                (Some(c), Some(p)) if p >= c => first_progress.record(p - c),
                // The progress frame arrived before the create's answer was read.
                (Some(_), Some(_)) => {
                    before_return += 1;
                    first_progress.record(0);
                }
                _ => no_progress += 1,
            }
        }
    }
    let ms = |us: u64| us as f64 / 1000.0;
    let pct = |h: &Histogram| {
        json!({"p50": ms(h.percentile(50.0)), "p99": ms(h.percentile(99.0)),
            "p999": ms(h.percentile(99.9)), "max": ms(h.max())})
    };
    let ticks = |a: Option<u64>, b: Option<u64>| a.zip(b).map(|(a, b)| b - a);
    let node_ticks = ticks(cpu0.0, cpu1.0);
    let per_1000 = |t: Option<u64>| {
        // Ticks are 1/100 s: 10 ms each.
        t.filter(|_| delivered > 0)
            .map(|t| (t as f64 * 10.0 * 1000.0 / delivered as f64 * 100.0).round() / 100.0)
    };
    Ok(json!({
        "tasksCreated": tasks.len(), "createFailed": failed.load(Ordering::Relaxed),
        "taskRate": opts.task_rate, "createSecs": create_secs, "phaseSecs": wall,
        "createRequestMs": pct(&create_ms),
        "tasksTerminal": terminal_tasks, "taskStatuses": statuses, "readBackErrors": read_errors,
        "expectedEventFrames": expected_frames, "deliveredEventFrames": event_frames,
        "framesTimed": delivered,
        "expectedTerminalFrames": want, "deliveredTerminalFrames": terminal_frames,
        "framesPerSec": (delivered as f64 / wall).round(),
        "commitToReadMs": pct(&stats.latency),
        "createdToFirstProgressMs": pct(&first_progress),
        // For merging: (bucket upper edge µs, count) and the max.
        "commitToReadHist": {"buckets": stats.latency.sparse(), "maxUs": stats.latency.max()},
        "firstProgressHist": {"buckets": first_progress.sparse(), "maxUs": first_progress.max()},
        "tasksWithoutProgressFrame": no_progress,
        "progressBeforeCreateReturned": before_return,
        "disorder": stats.disorder.load(Ordering::Relaxed),
        "seqGaps": stats.gaps.load(Ordering::Relaxed),
        "nodeCpuPct": node_ticks.map(|t| (t as f64 / wall).round()),
        "nodeCpuMsPer1000Frames": per_1000(node_ticks),
        "loadgenCpuMsPer1000Frames": per_1000(ticks(cpu0.1, cpu1.1)),
    }))
}

/// A task's status and latest seq, over REST.
async fn final_state(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    vid: &str,
) -> anyhow::Result<(String, i64)> {
    let v: Value = http
        .get(format!("{base}/api/video/tasks/{vid}"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let d = &v["data"];
    let status = d["status"].as_str().context("a task without status")?;
    let seq = d["seq"].as_i64().context("a task without seq")?;
    Ok((status.to_string(), seq))
}

//! The checker: reads everything back once the run is over and lists every violation of
//! taskhub's guarantees, with the timeline of each task involved.

use std::collections::HashMap;
use std::path::Path;

use reqwest::Method;

use crate::faults::FaultLog;
use crate::rest::Rest;
use crate::watch::Watcher;
use crate::workload::Registry;

pub struct Report {
    pub lines: Vec<String>,
    pub violations: Vec<String>,
    /// Tasks named by a violation (their timelines are printed).
    pub suspects: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct TaskRow {
    pub id: String,
    pub status: String,
    pub seq: i64,
}

pub async fn check(
    store: &taskhub::store::Store,
    rest: &Rest,
    reg: &Registry,
    watchers: &[std::sync::Arc<Watcher>],
    faults: &FaultLog,
    logs: &[&Path],
) -> anyhow::Result<Report> {
    let mut r = Report {
        lines: Vec::new(),
        violations: Vec::new(),
        suspects: Vec::new(),
    };
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT id, status, seq FROM tasks ORDER BY created_at")
            .fetch_all(store.pool())
            .await?;
    let tasks: HashMap<String, TaskRow> = rows
        .into_iter()
        .map(|(id, status, seq)| (id.clone(), TaskRow { id, status, seq }))
        .collect();
    terminal(&mut r, &tasks);
    rest_agrees(&mut r, rest, reg, &tasks).await;
    frames(&mut r, watchers, &tasks, reg);
    let ledger = store.ledger_audit().await?;
    r.lines
        .push(format!("chaos: ledger: {} violations", ledger.len()));
    r.violations
        .extend(ledger.into_iter().map(|l| format!("ledger: {l}")));
    server_errors(&mut r, rest, faults);
    panics_in(&mut r, logs);
    Ok(r)
}

fn terminal(r: &mut Report, tasks: &HashMap<String, TaskRow>) {
    let mut by_status: HashMap<&str, usize> = HashMap::new();
    for t in tasks.values() {
        *by_status.entry(t.status.as_str()).or_default() += 1;
        if !["completed", "failed", "cancelled"].contains(&t.status.as_str()) {
            r.violations
                .push(format!("task {}: not terminal ({})", t.id, t.status));
            r.suspects.push(t.id.clone());
        }
    }
    let mut counts: Vec<_> = by_status.into_iter().collect();
    counts.sort();
    r.lines
        .push(format!("chaos: tasks {} by status {counts:?}", tasks.len()));
    // Each committed event takes the next seq, so the seqs add up to the events committed.
    let events: i64 = tasks.values().map(|t| t.seq).sum();
    r.lines.push(format!("chaos: events committed {events}"));
}

/// Each task the workload created reads back over REST as the database has it.
async fn rest_agrees(
    r: &mut Report,
    rest: &Rest,
    reg: &Registry,
    tasks: &HashMap<String, TaskRow>,
) {
    let created = reg.all_tasks();
    let failures = reg
        .create_failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    r.lines.push(format!(
        "chaos: created over REST {} (refused or unanswered after retries: {})",
        created.len(),
        failures.len()
    ));
    for f in failures {
        r.violations
            .push(format!("creation failed outside every retry: {f}"));
    }
    // Each creation is retried under its own Idempotency-Key: one task per creation, even when
    // a node died after committing one and before answering (runs before the key made 301
    // tasks for 300).
    let distinct: std::collections::HashSet<&str> =
        created.iter().map(|(_, id)| id.as_str()).collect();
    if distinct.len() != created.len() || tasks.len() > created.len() {
        r.violations.push(format!(
            "{} tasks in the database, {} distinct of {} creations answered: a retried creation made a second task",
            tasks.len(),
            distinct.len(),
            created.len()
        ));
    }
    for (user, id) in created {
        let token = &reg.users[user].token;
        let path = format!("/api/video/tasks/{id}");
        let got = rest
            .call_retrying(Method::GET, &path, Some(token), None, &[], 5)
            .await;
        let Ok((200, body)) = got else {
            r.violations
                .push(format!("task {id}: REST read failed: {got:?}"));
            continue;
        };
        let d = &body["data"];
        let (status, seq) = (
            d["status"].as_str().unwrap_or(""),
            d["seq"].as_i64().unwrap_or(-1),
        );
        match tasks.get(&id) {
            Some(t) if t.status == status && t.seq == seq => {}
            other => {
                r.violations.push(format!(
                    "task {id}: REST says {status}/{seq}, database {other:?}"
                ));
                r.suspects.push(id);
            }
        }
    }
}

/// Per watcher and task: no violation seen live, a terminal frame for every task the
/// watcher had to follow, and that frame equal to the final state.
fn frames(
    r: &mut Report,
    watchers: &[std::sync::Arc<Watcher>],
    tasks: &HashMap<String, TaskRow>,
    reg: &Registry,
) {
    let (mut frames, mut connects, mut pairs) = (0, 0, 0);
    let mut closes: HashMap<String, u64> = HashMap::new();
    for w in watchers {
        frames += w.frames.load(std::sync::atomic::Ordering::Relaxed);
        connects += w.connects.load(std::sync::atomic::Ordering::Relaxed);
        for (k, v) in w.closes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            *closes.entry(k.clone()).or_default() += v;
        }
        let tracks = w.tracks.lock().unwrap_or_else(|p| p.into_inner());
        let must: Vec<String> = if w.task_mode {
            reg.tasks_of(w.user)
        } else {
            tracks.keys().cloned().collect()
        };
        for id in must {
            pairs += 1;
            let Some(t) = tracks.get(&id) else {
                r.violations
                    .push(format!("watcher {} never heard of its task {id}", w.id));
                r.suspects.push(id);
                continue;
            };
            for v in &t.violations {
                r.violations
                    .push(format!("watcher {} task {id}: {v}", w.id));
                r.suspects.push(id.clone());
            }
            let last = tasks.get(&id).map(|t| (t.status.clone(), t.seq));
            match (&t.terminal, &last) {
                (Some(seen), Some(db)) if seen == db => {}
                (seen, db) => {
                    r.violations.push(format!(
                        "watcher {} task {id}: last frame {seen:?}, final state {db:?}",
                        w.id
                    ));
                    r.suspects.push(id.clone());
                }
            }
        }
    }
    let mut closes: Vec<_> = closes.into_iter().collect();
    closes.sort();
    r.lines.push(format!(
        "chaos: watchers {} connections {connects} frames {frames} (watcher, task) pairs {pairs}",
        watchers.len()
    ));
    r.lines.push(format!("chaos: socket ends {closes:?}"));
}

fn server_errors(r: &mut Report, rest: &Rest, faults: &FaultLog) {
    let calls = rest.calls();
    let mut inside = 0;
    for c in &calls {
        if c.status >= 500 || c.status == 0 {
            if faults.expected(c.at_ms) {
                inside += 1;
            } else {
                r.violations.push(format!(
                    "{} answered {} at {} ms, outside every outage window",
                    c.what, c.status, c.at_ms
                ));
            }
        }
    }
    r.lines.push(format!(
        "chaos: REST calls {} (5xx or unanswered inside outage windows: {inside})",
        calls.len()
    ));
}

fn panics_in(r: &mut Report, logs: &[&Path]) {
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains("panicked")) {
            r.violations.push(format!("{}: {line}", log.display()));
        }
    }
}

/// A task's timeline: its event log, what each watcher saw of it, and the faults.
pub async fn timeline(
    store: &taskhub::store::Store,
    id: &str,
    watchers: &[std::sync::Arc<Watcher>],
    faults: &FaultLog,
) -> Vec<String> {
    let mut out = vec![format!("timeline of {id}:")];
    let events: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT seq, type, created_at FROM task_events WHERE task_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(store.pool())
    .await
    .unwrap_or_default();
    for (seq, kind, at) in events {
        out.push(format!("  log: seq {seq} {kind} at {at}"));
    }
    for w in watchers {
        let tracks = w.tracks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = tracks.get(id) {
            let seen: Vec<String> = t
                .seen
                .iter()
                .map(|(ms, seq, k)| format!("{ms}ms:{seq}:{k}"))
                .collect();
            out.push(format!("  watcher {}: {}", w.id, seen.join(" ")));
        }
    }
    for f in faults.all() {
        out.push(format!(
            "  fault {}..{} ms: {}",
            f.start_ms, f.until_ms, f.what
        ));
    }
    out
}

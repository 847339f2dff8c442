//! `/metrics` (Prometheus text) after a real task run, the settings that close or move it,
//! and `x-request-id` on responses and in error bodies.
//!
//! The recorder is global to this test process and shared by every app in it, so values
//! are checked as "at least", never exactly.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::helpers::{Backend, TestApp};
use crate::ws_client::Ws;

crate::backend_tests!(metrics_show_a_task_run_end_to_end);

/// `name{labels}` -> value, for every sample line.
fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse::<f64>().ok()?))
        })
        .collect()
}

/// The value of the sample named `name` whose labels include every `labels` pair.
fn value(samples: &HashMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples.iter().find_map(|(k, v)| {
        let (n, rest) = k.split_once('{').unwrap_or((k.as_str(), ""));
        let ok = n == name
            && labels
                .iter()
                .all(|(l, val)| rest.contains(&format!("{l}=\"{val}\"")));
        ok.then_some(*v)
    })
}

/// The sum of every series of `name`.
fn total(samples: &HashMap<String, f64>, name: &str) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| k.split_once('{').map_or(k.as_str(), |(n, _)| n) == name)
        .map(|(_, v)| v)
        .sum()
}

fn at_least(samples: &HashMap<String, f64>, name: &str, labels: &[(&str, &str)], min: f64) {
    let v = value(samples, name, labels)
        .unwrap_or_else(|| panic!("no sample {name} {labels:?} in /metrics"));
    assert!(
        v.is_finite() && v >= min,
        "{name} {labels:?} = {v}, want >= {min}"
    );
}

async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let resp = app.get("/metrics").response().await;
    assert_eq!(resp.status().as_u16(), 200);
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    parse(&resp.text().await.unwrap())
}

async fn metrics_show_a_task_run_end_to_end(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.poller.enabled = true;
        s.providers.simulator_seconds = 0.5;
        s.poller.poll_interval_ms = 100;
    })
    .await;
    let tok = app.token("metered").await;
    let mut ws = Ws::authed(&app, &tok).await;
    let id = app.create_task_id(&tok, "a red fox").await;
    ws.subscribe(&id, Some(0)).await;
    let frames = ws.task_frames_until_terminal(&id).await;
    assert_eq!(frames.last().unwrap()["type"], "taskCompleted");
    app.get("/no/such/route").await.expect(404);
    drop(ws);

    // The socket's close is counted once its writer has seen it go.
    // (A client that drops its TCP connection is answered 1002 by the server.)
    let deadline = Instant::now() + Duration::from_secs(10);
    let m = loop {
        let m = scrape(&app).await;
        if total(&m, "taskhub_ws_closed_total") >= 1.0 || Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let route = [
        ("route", "/api/video/tasks"),
        ("method", "POST"),
        ("status", "201"),
    ];
    at_least(&m, "taskhub_http_requests_total", &route, 1.0);
    at_least(
        &m,
        "taskhub_http_request_duration_seconds_count",
        &route,
        1.0,
    );
    at_least(
        &m,
        "taskhub_http_request_duration_seconds_bucket",
        &[("route", "/api/video/tasks"), ("le", "+Inf")],
        1.0,
    );
    let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    at_least(&m, "taskhub_http_requests_total", &unmatched, 1.0);
    assert!(
        !m.keys()
            .any(|k| k.contains("/no/such/route") || k.contains(&id)),
        "no raw paths or task ids as labels"
    );
    at_least(&m, "taskhub_ws_connections_total", &[], 1.0);
    at_least(&m, "taskhub_ws_sockets", &[], 0.0);
    at_least(&m, "taskhub_ws_sockets_authenticated", &[], 0.0);
    assert!(
        total(&m, "taskhub_ws_closed_total") >= 1.0,
        "a close was counted"
    );
    at_least(&m, "taskhub_ws_frames_sent_total", &[], 3.0);
    at_least(&m, "taskhub_ws_fanout_latency_seconds_count", &[], 1.0);
    at_least(&m, "taskhub_ws_fanout_latency_seconds_sum", &[], 0.0);
    at_least(&m, "taskhub_ws_event_latency_seconds_count", &[], 1.0);
    let bus_up = value(&m, "taskhub_bus_up", &[]).expect("taskhub_bus_up");
    assert!(bus_up == 0.0 || bus_up == 1.0, "bus_up {bus_up}");
    at_least(&m, "taskhub_poller_steps_total", &[], 2.0);
    at_least(&m, "taskhub_poller_events_total", &[], 2.0);
    let create = [
        ("provider", "simulator"),
        ("op", "create"),
        ("outcome", "ok"),
    ];
    at_least(&m, "taskhub_provider_calls_total", &create, 1.0);
    let status = [
        ("provider", "simulator"),
        ("op", "status"),
        ("outcome", "ok"),
    ];
    at_least(&m, "taskhub_provider_calls_total", &status, 1.0);
    at_least(
        &m,
        "taskhub_provider_call_duration_seconds_count",
        &status,
        1.0,
    );
    let done = [("status", "completed")];
    at_least(&m, "taskhub_task_duration_seconds_count", &done, 1.0);
    // The task took at least the simulator's 0.5 s.
    at_least(&m, "taskhub_task_duration_seconds_sum", &done, 0.5);
    at_least(&m, "taskhub_credits_total", &[("kind", "charged")], 20.0);
    // Every histogram's +Inf bucket equals its count (one scrape is one snapshot).
    let mut checked = 0;
    for (k, v) in &m {
        let Some((name, labels)) = k.split_once("_bucket{") else {
            continue;
        };
        let Some(labels) = labels.strip_suffix("le=\"+Inf\"}") else {
            continue;
        };
        let labels = labels.trim_end_matches(',');
        let count = if labels.is_empty() {
            format!("{name}_count")
        } else {
            format!("{name}_count{{{labels}}}")
        };
        assert_eq!(m.get(&count), Some(v), "{k} vs {count}");
        checked += 1;
    }
    assert!(
        checked >= 5,
        "histograms rendered as histograms ({checked})"
    );
}

#[tokio::test]
async fn metrics_can_be_closed_or_moved_to_an_admin_address() {
    let closed = TestApp::spawn_with(Backend::Sqlite, |s| s.ops.metrics = false).await;
    closed.get("/metrics").await.expect(404);

    let settings_dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(Backend::Sqlite, settings_dir.path()).await;
    settings.ops.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    let app = taskhub::startup::Application::build(settings)
        .await
        .unwrap();
    let (main, admin) = (app.port(), app.metrics_port().expect("admin listener"));
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(app.run_until_stopped(async move { stopped.cancelled().await }));
    let client = reqwest::Client::new();
    let on_main = client
        .get(format!("http://127.0.0.1:{main}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        on_main.status().as_u16(),
        404,
        "moved off the main listener"
    );
    let on_admin = client
        .get(format!("http://127.0.0.1:{admin}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_admin.status().as_u16(), 200);
    assert!(on_admin.text().await.unwrap().contains("taskhub_"));
    stop.cancel();
}

#[tokio::test]
async fn every_response_has_a_request_id_and_errors_repeat_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // Generated: a UUID in the header, the same in the error body.
    let resp = app.get("/api/video/tasks").response().await;
    assert_eq!(resp.status().as_u16(), 401);
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["requestId"], id.as_str(), "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");

    // Propagated: the client's own id comes back, in the header and the body.
    let resp = app
        .get("/no/such/route")
        .header("x-request-id", "trace-abc.123")
        .response()
        .await;
    assert_eq!(resp.headers()["x-request-id"], "trace-abc.123");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["requestId"], "trace-abc.123", "{body}");

    // An unusable id (too long) is replaced, not echoed.
    let long = "x".repeat(300);
    let resp = app
        .get("/health")
        .header("x-request-id", &long)
        .response()
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let got = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&got).is_ok(), "{got}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["success"], true, "success bodies are untouched");
    assert!(body.get("requestId").is_none());
}

/// The dashboard and the operations doc name only metrics the code records, and the doc
/// lists every one the code records.
#[test]
fn dashboard_and_docs_name_real_metrics() {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |p: &str| std::fs::read_to_string(format!("{root}/{p}")).unwrap();
    let names = |text: &str| -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        let mut rest = text;
        while let Some(i) = rest.find("taskhub_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..end];
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            if base.len() > "taskhub_".len() {
                out.insert(base.to_string());
            }
            rest = &tail[end..];
        }
        out
    };
    let code = names(&read("src/ops/metrics.rs"));
    let doc = names(&read("docs/operations.md"));
    let dash = names(&read("docs/grafana-dashboard.json"));
    for n in dash.iter().chain(&doc) {
        assert!(
            code.contains(n),
            "{n} is not recorded by src/ops/metrics.rs"
        );
    }
    for n in &code {
        assert!(doc.contains(n), "{n} is missing from docs/operations.md");
    }
}

#[tokio::test]
async fn a_dead_nodes_lease_taken_over_is_counted() {
    use taskhub::domain::time::now_ms;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tok = app.token("takeover").await;
    app.create_task_id(&tok, "orphaned").await;
    let store = &app.state.store;
    let names = vec!["simulator".to_string()];
    let now = now_ms();
    // A node claims the task and dies: its lease has already run out, unreleased.
    let dead = store
        .claim_due_tasks("dead", now, now - 1, 10, &names)
        .await;
    assert_eq!(dead.unwrap().len(), 1);
    let before = value(
        &scrape(&app).await,
        "taskhub_poller_lease_takeovers_total",
        &[],
    )
    .unwrap_or(0.0);
    let alive = store
        .claim_due_tasks("alive", now, now + 60_000, 10, &names)
        .await;
    assert_eq!(alive.unwrap().len(), 1);
    let after = value(
        &scrape(&app).await,
        "taskhub_poller_lease_takeovers_total",
        &[],
    )
    .expect("takeovers counted");
    assert!(after >= before + 1.0, "{before} -> {after}");
}

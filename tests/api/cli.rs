//! The terminal client against a live server: both are the real `taskhub` binary, the
//! server a child process on a loopback port, the client run as a subprocess with its own
//! config dir. Includes killing and restarting the server while `watch` follows a task.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::process::SECRET;

const BIN: &str = env!("CARGO_BIN_EXE_taskhub");
/// Longest any one client command may take.
const LIMIT: Duration = Duration::from_secs(60);

/// A server child on `addr` with its data in `dir`; returns it and its URL.
async fn server(dir: &Path, addr: &str, sim_seconds: &str) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("TASKHUB_ADDR", addr)
        .env("TASKHUB_DATA_DIR", dir)
        .env("JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .envs(crate::process::RELAXED_LIMITS.iter().copied())
        .env("TASKHUB_SIMULATOR_SECONDS", sim_seconds)
        .env("TASKHUB_POLL_INTERVAL_MS", "200")
        .env("TASKHUB_POLLER_TICK_MS", "50")
        // A killed node's lease must run out quickly for the restarted one to take over.
        .env("TASKHUB_LEASE_MS", "1000")
        .env("TASKHUB_PROVIDER_TIMEOUT_MS", "1000")
        .env("TASKHUB_PROVIDER_DOWNLOAD_TIMEOUT_MS", "2000")
        .env("TASKHUB_PROVIDER_MAX_RETRIES", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(LIMIT, lines.next_line())
        .await
        .expect("server start timed out")
        .expect("read server stdout")
        .expect("server printed nothing");
    let url = line
        .strip_prefix("taskhub listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    // Keep reading (and dropping) stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

/// The client, with `config` as its config dir.
fn client(config: &Path, server: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("TASKHUB_CONFIG_DIR")
        .env("XDG_CONFIG_HOME", config)
        .env("TASKHUB_SERVER", server)
        .env("TASKHUB_PASSWORD", "fake-password-123")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs the client to the end: (exit code, stdout, stderr).
async fn run(config: &Path, server: &str, args: &[&str]) -> (i32, String, String) {
    let out = tokio::time::timeout(LIMIT, client(config, server, args).output())
        .await
        .unwrap_or_else(|_| panic!("taskhub {args:?} did not finish"))
        .expect("run client");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8");
    (
        out.status.code().expect("exit code"),
        text(out.stdout),
        text(out.stderr),
    )
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_create_wait_watch_and_list_with_exit_codes() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let (_srv, url) = server(data.path(), "127.0.0.1:0", "0.4").await;
    let cfg = config.path();

    let (code, _, err) = run(cfg, &url, &["tasks"]).await;
    assert_eq!(code, 4, "not logged in: {err}");

    let args = [
        "login",
        "--email",
        "cli@example.com",
        "--register",
        "cliuser",
    ];
    let (code, out, err) = run(cfg, &url, &args).await;
    assert_eq!(code, 0, "{out}{err}");
    let file = cfg.join("taskhub").join("credentials.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "credentials are private");
    }
    let stored = std::fs::read_to_string(&file).unwrap();
    assert!(stored.contains("refreshToken"), "{stored}");
    assert!(!stored.contains("fake-password-123"), "no password stored");

    // Completed: the video URL at the end, exit 0.
    let (code, out, err) = run(cfg, &url, &["create", "--prompt", "a red fox", "--wait"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let last = out.lines().last().unwrap_or_default();
    assert!(last.contains(" completed "), "{out}");
    let video_url = last.rsplit(' ').next().unwrap();
    assert!(video_url.starts_with(&format!("{url}/")), "{video_url}");
    let video = reqwest::get(video_url).await.unwrap();
    assert_eq!(video.status().as_u16(), 200, "the printed URL plays");

    // Failed, as JSON lines: one event per line, in seq order, exit 1.
    let args = ["create", "--prompt", "[fail] a storm", "--wait", "--json"];
    let (code, out, err) = run(cfg, &url, &args).await;
    assert_eq!(code, 1, "{out}{err}");
    let events = json_lines(&out);
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["payload"]["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(events[0]["type"], "taskCreated");
    assert_eq!(events.last().unwrap()["type"], "taskFailed");

    // Cancelled: created, cancelled over REST, then watched: exit 3.
    let (code, out, _) = run(
        cfg,
        &url,
        &["create", "--prompt", "[slow] a river", "--seconds", "8"],
    )
    .await;
    assert_eq!(code, 0);
    let id = out.trim().to_string();
    assert!(id.starts_with("video_"), "{id}");
    let login: Value = serde_json::from_str(&stored).unwrap();
    let token = login["servers"][&url]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = reqwest::Client::new()
        .post(format!("{url}/api/video/tasks/{id}/cancel"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (code, out, err) = run(cfg, &url, &["watch", &id]).await;
    assert_eq!(code, 3, "{out}{err}");
    assert_eq!(out.trim(), format!("{id} cancelled"));

    // A task that is not there is refused: exit 5.
    let (code, out, _) = run(cfg, &url, &["watch", "video_nosuchtask0000"]).await;
    assert_eq!(code, 5, "{out}");

    // Image-to-video: the file goes up as the multipart `image` part.
    let image = config.path().join("fox.png");
    std::fs::write(&image, b"\x89PNG\r\n\x1a\nfake").unwrap();
    let img = image.to_str().unwrap();
    let (code, out, err) = run(
        cfg,
        &url,
        &["create", "--prompt", "animate", "--image", img, "--json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let task: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(task["kind"], "imageToVideo", "{task}");

    // The list, filtered by status.
    let (code, out, err) = run(cfg, &url, &["tasks", "--status", "completed", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let items = json_lines(&out);
    // The fox, and the image task if it finished already; nothing else.
    assert!(!items.is_empty() && items.len() <= 2, "{out}");
    assert!(items.iter().all(|t| t["status"] == "completed"), "{out}");
    let (code, out, _) = run(cfg, &url, &["tasks"]).await;
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.contains(&id) && out.contains("cancelled"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_with_since_seq_across_a_server_restart() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let cfg = config.path();
    let (mut first, url) = server(data.path(), "127.0.0.1:0", "5").await;
    let addr = url.strip_prefix("http://").unwrap().to_string();
    let args = [
        "login",
        "--email",
        "restart@example.com",
        "--register",
        "restarter",
    ];
    assert_eq!(run(cfg, &url, &args).await.0, 0);
    let (code, out, _) = run(cfg, &url, &["create", "--prompt", "a long pan"]).await;
    assert_eq!(code, 0);
    let id = out.trim().to_string();

    let mut watch = client(cfg, &url, &["watch", &id, "--json"])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut events = Vec::new();
    // Follow until the task is running, then kill the server under the watcher.
    while !events
        .iter()
        .any(|e: &Value| e["payload"]["status"] == "processing")
    {
        let line = tokio::time::timeout(LIMIT, lines.next_line())
            .await
            .expect("no event before the restart")
            .unwrap()
            .expect("watch ended early");
        events.push(serde_json::from_str(&line).unwrap());
    }
    let before = events.len();
    first.kill().await.unwrap();
    let _ = first.wait().await;
    let (_second, url2) = server(data.path(), &addr, "5").await;
    assert_eq!(url2, url, "same port");

    while let Some(line) = tokio::time::timeout(LIMIT, lines.next_line())
        .await
        .expect("watch stalled after the restart")
        .unwrap()
    {
        events.push(serde_json::from_str(&line).unwrap());
    }
    let status = tokio::time::timeout(LIMIT, watch.wait())
        .await
        .unwrap()
        .unwrap();
    let mut stderr = String::new();
    if let Some(mut e) = watch.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut stderr).await;
    }
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(events.len() > before, "events arrived after the restart");
    assert_eq!(events.last().unwrap()["type"], "taskCompleted");
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["payload"]["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "no event twice: {seqs:?}"
    );
    // The resubscription asked only for what came after the last event seen.
    let prefix = format!("resubscribing {id} sinceSeq=");
    let since: i64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no resubscription with sinceSeq: {stderr}"));
    assert!(since >= seqs[before - 1], "{since} vs {seqs:?}");
}

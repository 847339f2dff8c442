//! How many tasks per second one node drives against the built-in simulator.
//!
//! Starts a real node (SQLite in a temp dir, or `--database postgres://…`), puts `--tasks`
//! queued tasks in its store, lets the node's own poller drive them all through the
//! simulator over HTTP (submit, polls at the simulator's hinted interval, completion with the
//! MP4 and thumbnail copied into media storage), and reports throughput, the work done per
//! task, how late tasks finished compared with the simulator's time, and the CPU used.
//!
//! ```sh
//! cargo run --release --example bench_poller -- --tasks 2000 --sim-seconds 2
//! ```

use std::time::{Duration, Instant};

use taskhub::config::{Secret, Settings};
use taskhub::startup::Application;
use taskhub::store::{NewTask, NewUser, Store};

struct Args {
    tasks: usize,
    sim_seconds: f64,
    concurrency: usize,
    database: Option<String>,
    media_copy: bool,
}

fn args() -> Args {
    let mut a = Args {
        tasks: 2000,
        sim_seconds: 2.0,
        concurrency: 64,
        database: None,
        media_copy: true,
    };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    for pair in raw.chunks(2) {
        let v = pair.get(1).map(String::as_str).unwrap_or("");
        match pair[0].as_str() {
            "--tasks" => a.tasks = v.parse().expect("--tasks N"),
            "--sim-seconds" => a.sim_seconds = v.parse().expect("--sim-seconds S"),
            "--concurrency" => a.concurrency = v.parse().expect("--concurrency N"),
            "--database" => a.database = Some(v.to_string()),
            "--media-copy" => a.media_copy = v.parse().expect("--media-copy true|false"),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// This process's CPU time so far (user + system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

async fn open_count(store: &Store) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tasks WHERE next_poll_at IS NOT NULL")
        .fetch_one(store.pool())
        .await
        .expect("count");
    n
}

async fn fill(store: &Store, n: usize) -> anyhow::Result<()> {
    let user = store
        .create_user(NewUser {
            username: "bench",
            email: "bench@example.com",
            password_hash: "x",
        })
        .await?;
    for i in 0..n {
        store
            .create_task(NewTask {
                user_id: user.id.clone(),
                provider: "simulator".into(),
                kind: "textToVideo".into(),
                model: "sora-2".into(),
                prompt: format!("bench task {i}"),
                seconds: 4,
                size: "720x1280".into(),
                quality: "standard".into(),
                reference_image_url: None,
                input_image: None,
                webhook_url: None,
                retry_of: None,
                price: 0,
            })
            .await?;
    }
    Ok(())
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let a = args();
    let dir = tempfile::tempdir()?;
    let mut settings = Settings {
        addr: "127.0.0.1:0".parse()?,
        data_dir: dir.path().to_path_buf(),
        database_url: a.database.clone(),
        jwt_secret: Secret::new("fake-bench-secret-0123456789abcdef0123"),
        db_max_connections: 16,
        ..Settings::default()
    };
    settings.poller.simulator_seconds = a.sim_seconds;
    settings.poller.poller_concurrency = a.concurrency;
    settings.poller.media_copy = a.media_copy;

    let app = Application::build(settings).await?;
    let store = app.state().store.clone();
    let t0 = Instant::now();
    fill(&store, a.tasks).await?;
    let fill_s = t0.elapsed().as_secs_f64();

    let (cpu0, start, start_ms) = (cpu_seconds(), Instant::now(), taskhub::store::now_ms());
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone();
    let server = tokio::spawn(app.run_until_stopped(async move { stopped.cancelled().await }));
    while open_count(&store).await > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(1800),
            "did not finish"
        );
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;

    let (completed, failed): (i64, i64) = sqlx::query_as(
        "SELECT CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT),
                CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS BIGINT) FROM tasks",
    )
    .fetch_one(store.pool())
    .await?;
    let (events,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM task_events")
        .fetch_one(store.pool())
        .await?;
    let (polls,): (i64,) = sqlx::query_as("SELECT CAST(SUM(poll_attempts) AS BIGINT) FROM tasks")
        .fetch_one(store.pool())
        .await?;
    let mut lag: Vec<i64> =
        sqlx::query_as::<_, (i64,)>("SELECT completed_at FROM tasks WHERE status = 'completed'")
            .fetch_all(store.pool())
            .await?
            .into_iter()
            .map(|(ms,)| ms - start_ms)
            .collect();
    lag.sort_unstable();
    stop.cancel();
    let _ = server.await;

    let n = a.tasks as f64;
    println!(
        "bench_poller: {} tasks, simulator {} s/job, concurrency {}, media copy {}, db {}",
        a.tasks,
        a.sim_seconds,
        a.concurrency,
        a.media_copy,
        if a.database.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    );
    println!("  filled the store in {fill_s:.1} s; drove all tasks to the end in {elapsed:.2} s");
    println!("  completed {completed}, failed {failed}");
    println!(
        "  throughput: {:.0} tasks/s ({:.0} events/s, {:.0} provider calls/s)",
        n / elapsed,
        (events as f64 - n) / elapsed,
        (polls as f64 + n) / elapsed
    );
    println!(
        "  per task: {:.1} events, {:.1} provider calls (create + polls) + 2 downloads",
        events as f64 / n,
        (polls as f64 + n) / n
    );
    if !lag.is_empty() {
        println!(
            "  start -> completed: p50 {} ms, p99 {} ms, max {} ms (simulator time {} ms)",
            pct(&lag, 0.5),
            pct(&lag, 0.99),
            lag[lag.len() - 1],
            (a.sim_seconds * 1000.0) as i64
        );
    }
    println!(
        "  CPU: {:.1} s = {:.2} cores (poller, simulator, SQLite/pg client, all in this process)",
        cpu,
        cpu / elapsed
    );
    Ok(())
}

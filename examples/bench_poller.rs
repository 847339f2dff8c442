//! How many tasks per second one node drives against the built-in simulator.
//!
//! Starts a real node (SQLite in a temp dir, or `--database postgres://…`) whose own poller
//! drives tasks through the simulator over HTTP: submit, polls at the simulator's hinted
//! interval (a tenth of the job's time), completion with the MP4 and thumbnail copied into
//! media storage. Two modes:
//!
//! - `--rate R` (steady): new tasks arrive at R per second for `--seconds` seconds. The node
//!   keeps up when every task finishes about the simulator's time after it was created; the
//!   report gives that delay's percentiles beyond the simulator's time ("lag").
//! - otherwise (burst): `--tasks N` tasks are queued at once and the node drains them. Under
//!   a backlog tasks get fewer polls each, so the burst figure flatters; prefer `--rate`.
//!
//! `--db-connections N` sizes the database pool (default 16).
//!
//! Also reported: events and provider calls per task and per second, and the CPU used (the
//! poller, the simulator and the database client all run in this process).
//!
//! ```sh
//! cargo run --release --example bench_poller -- --rate 200 --seconds 20
//! cargo run --release --example bench_poller -- --tasks 5000
//! cargo run --release --example bench_poller -- --rate 150 --seconds 15 --db-connections 4
//! ```

use std::time::{Duration, Instant};

use taskhub::config::Settings;
use taskhub::domain::time::now_ms;
use taskhub::secret::Secret;
use taskhub::startup::Application;
use taskhub::store::{NewTask, NewUser, Store};

struct Args {
    tasks: usize,
    rate: Option<f64>,
    seconds: f64,
    sim_seconds: f64,
    concurrency: usize,
    database: Option<String>,
    media_copy: bool,
    db_connections: u32,
}

fn args() -> Args {
    let mut a = Args {
        tasks: 2000,
        rate: None,
        seconds: 20.0,
        sim_seconds: 2.0,
        concurrency: 64,
        database: None,
        media_copy: true,
        db_connections: 16,
    };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    for pair in raw.chunks(2) {
        let v = pair.get(1).map(String::as_str).unwrap_or("");
        let bad = |what: &str| -> ! { panic!("{} needs {what}", pair[0]) };
        match pair[0].as_str() {
            "--tasks" => a.tasks = v.parse().unwrap_or_else(|_| bad("a count")),
            "--rate" => a.rate = Some(v.parse().unwrap_or_else(|_| bad("tasks per second"))),
            "--seconds" => a.seconds = v.parse().unwrap_or_else(|_| bad("seconds")),
            "--sim-seconds" => a.sim_seconds = v.parse().unwrap_or_else(|_| bad("seconds")),
            "--concurrency" => a.concurrency = v.parse().unwrap_or_else(|_| bad("a count")),
            "--database" => a.database = Some(v.to_string()),
            "--media-copy" => a.media_copy = v.parse().unwrap_or_else(|_| bad("true|false")),
            "--db-connections" => a.db_connections = v.parse().unwrap_or_else(|_| bad("a count")),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// This process's CPU time so far (user + system), from /proc.
fn cpu_seconds() -> f64 {
    cpu_of("/proc/self/stat")
}

/// CPU time so far of every process named `postgres` (the database server's share).
fn postgres_cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.flatten()
        .map(|e| e.path().join("stat"))
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|s| s.contains("(postgres)")))
        .map(|p| cpu_of(&p.to_string_lossy()))
        .sum()
}

fn cpu_of(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
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

async fn scalar(store: &Store, q: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(q).fetch_one(store.pool()).await.expect(q);
    n
}

fn new_task(user_id: &str, i: usize) -> NewTask {
    NewTask {
        user_id: user_id.to_string(),
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
    }
}

/// Creates `total` tasks at `rate` per second (in 50 ms slices, up to 32 creations at a
/// time, like concurrent REST requests); returns how long it took.
async fn feed(store: Store, user_id: String, total: usize, rate: f64) -> f64 {
    let start = Instant::now();
    let mut in_flight = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due > Instant::now() + Duration::from_millis(50) {
            tokio::time::sleep_until(due.into()).await;
        }
        while in_flight.len() >= 32 {
            in_flight.join_next().await;
        }
        let (store, user_id) = (store.clone(), user_id.clone());
        in_flight.spawn(async move {
            if let Err(e) = store.create_task(new_task(&user_id, i)).await {
                eprintln!("create failed: {e}");
            }
        });
    }
    while in_flight.join_next().await.is_some() {}
    start.elapsed().as_secs_f64()
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("error").init();
    let a = args();
    let dir = tempfile::tempdir()?;
    let mut settings = Settings {
        addr: "127.0.0.1:0".parse()?,
        data_dir: dir.path().to_path_buf(),
        database_url: a.database.clone(),
        jwt_secret: Secret::new("fake-bench-secret-0123456789abcdef0123"),
        db_max_connections: Some(a.db_connections),
        ..Settings::default()
    };
    settings.providers.simulator_seconds = a.sim_seconds;
    settings.poller.poller_concurrency = a.concurrency;
    settings.media.media_copy = a.media_copy;

    let app = Application::build(settings).await?;
    let store = app.state().store.clone();
    let user = store
        .create_user(NewUser {
            username: "bench",
            email: "bench@example.com",
            password_hash: "x",
        })
        .await?;
    let total = match a.rate {
        Some(rate) => (rate * a.seconds).round() as usize,
        None => {
            for i in 0..a.tasks {
                store.create_task(new_task(&user.id, i)).await?;
            }
            a.tasks
        }
    };

    let (cpu0, pg0) = (cpu_seconds(), postgres_cpu_seconds());
    let (start, start_ms) = (Instant::now(), now_ms());
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone();
    let server = tokio::spawn(app.run_until_stopped(async move { stopped.cancelled().await }));
    let feeder = a
        .rate
        .map(|rate| tokio::spawn(feed(store.clone(), user.id.clone(), total, rate)));
    let finished = "SELECT COUNT(*) FROM tasks WHERE next_poll_at IS NULL";
    while (scalar(&store, finished).await as usize) < total {
        tokio::time::sleep(Duration::from_millis(100)).await;
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(1800),
            "did not finish"
        );
    }
    let fed_in = match feeder {
        Some(f) => Some(f.await?),
        None => None,
    };
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let pg_cpu = postgres_cpu_seconds() - pg0;

    let completed = scalar(
        &store,
        "SELECT COUNT(*) FROM tasks WHERE status = 'completed'",
    )
    .await;
    let events = scalar(&store, "SELECT COUNT(*) FROM task_events").await;
    let polls = scalar(
        &store,
        "SELECT CAST(SUM(poll_attempts) AS BIGINT) FROM tasks",
    )
    .await;
    // How long after its creation (or the start, for a backlog) each task completed.
    let mut done: Vec<i64> = sqlx::query_as::<_, (i64, i64)>(
        "SELECT created_at, completed_at FROM tasks WHERE status = 'completed'",
    )
    .fetch_all(store.pool())
    .await?
    .into_iter()
    .map(|(created, completed)| completed - created.max(start_ms))
    .collect();
    done.sort_unstable();
    stop.cancel();
    let _ = server.await;

    let n = total as f64;
    let sim_ms = (a.sim_seconds * 1000.0) as i64;
    let db = if a.database.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    match a.rate {
        Some(rate) => println!(
            "bench_poller steady: {rate} tasks/s offered for {} s ({total} tasks), simulator {} s/job, concurrency {}, media copy {}, {db}",
            a.seconds, a.sim_seconds, a.concurrency, a.media_copy
        ),
        None => println!(
            "bench_poller burst: {total} tasks queued at once, simulator {} s/job, concurrency {}, media copy {}, {db}",
            a.sim_seconds, a.concurrency, a.media_copy
        ),
    }
    if let Some(t) = fed_in {
        println!(
            "  created {total} tasks in {t:.2} s = {:.0} tasks/s arrived",
            n / t
        );
    }
    println!("  all {total} finished in {elapsed:.2} s; completed {completed}");
    println!(
        "  throughput: {:.0} tasks/s; {:.0} events/s; {:.0} provider calls/s (+ 2 downloads per task)",
        n / elapsed,
        (events as f64 - n) / elapsed,
        (polls as f64 + n) / elapsed
    );
    println!(
        "  per task: {:.1} events, {:.1} provider calls (create + status)",
        events as f64 / n,
        (polls as f64 + n) / n
    );
    if !done.is_empty() {
        let lag = |p| pct(&done, p) - sim_ms;
        println!(
            "  lag beyond the simulator's {sim_ms} ms: p50 {} ms, p99 {} ms, max {} ms",
            lag(0.5),
            lag(0.99),
            done[done.len() - 1] - sim_ms
        );
    }
    println!(
        "  CPU of this process: {cpu:.1} s = {:.2} cores",
        cpu / elapsed
    );
    if a.database.is_some() {
        let cores = pg_cpu / elapsed;
        println!("  CPU of the PostgreSQL server: {pg_cpu:.1} s = {cores:.2} cores");
    }
    Ok(())
}

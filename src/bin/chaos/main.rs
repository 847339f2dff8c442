//! `chaos`: taskhub's guarantees under many faults at once (see RELIABILITY.md).
//!
//! Starts three nodes on one PostgreSQL database and a Redis of the run's own behind nginx
//! (round robin, WebSocket upgrades, no stickiness), the provider simulator behind a flaky
//! relay (random delays and resets), and each node's Redis connection behind a relay it can
//! cut. Then, all at once: creates `--tasks` tasks over REST from `--users` users through
//! nginx (some fail at the provider, some get cancelled), keeps `--watchers` sockets that
//! follow tasks and drop and resume with `sinceSeq`, and injects faults: SIGKILL of a node
//! and its restart, a Redis restart, a PostgreSQL restart, a node cut off Redis. Once every
//! task has ended (or `--max-seconds` passed) the checker reads everything back and prints
//! what it found; the exit code is non-zero on any violation. Talks to 127.0.0.1 only.
//!
//! `scripts/chaos.sh` builds it and runs it with the sizes of CI or of the large run.

mod check;
mod faults;
mod procs;
mod relay;
mod rest;
mod soak;
mod watch;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use tokio::sync::Mutex as AsyncMutex;
use tokio_util::sync::CancellationToken;

use faults::{Cluster, FaultLog};
use procs::Proc;
use relay::Relay;
use rest::Rest;
use watch::{Ctx, Watcher};
use workload::{Mix, Registry};

#[derive(Parser, Debug)]
#[command(
    name = "chaos",
    about = "taskhub under faults: three nodes behind nginx, checked"
)]
struct Args {
    #[arg(long, default_value_t = 300)]
    tasks: usize,
    #[arg(long, default_value_t = 20)]
    users: usize,
    #[arg(long, default_value_t = 200)]
    watchers: usize,
    /// Shortest and longest life (ms) of a watcher's connection before it drops on purpose
    /// and resumes. Scale it with the number of watchers: each reconnect is a WebSocket
    /// sign-in, so `watchers / mean life` is the sign-in rate the nodes see.
    #[arg(long, default_value_t = 2000)]
    watcher_life_min_ms: u64,
    #[arg(long, default_value_t = 10_000)]
    watcher_life_max_ms: u64,
    /// Seconds over which the tasks are created.
    #[arg(long, default_value_t = 60)]
    create_secs: u64,
    /// Rounds of faults (each round: kill a node, restart Redis, restart PostgreSQL, cut a
    /// node off Redis).
    #[arg(long, default_value_t = 1)]
    fault_rounds: usize,
    /// Seconds between two faults.
    #[arg(long, default_value_t = 12)]
    fault_gap: u64,
    /// Seconds after a fault during which 5xx answers are expected.
    #[arg(long, default_value_t = 10)]
    grace: u64,
    /// Seconds a simulated job takes.
    #[arg(long, default_value_t = 6)]
    job_secs: u64,
    /// Per mille of tasks that fail at the provider, and that the workload cancels.
    #[arg(long, default_value_t = 150)]
    fail_per_mille: u64,
    #[arg(long, default_value_t = 50)]
    cancel_per_mille: u64,
    /// Provider relay: largest delay (ms) and per mille of connections reset.
    #[arg(long, default_value_t = 300)]
    provider_delay_ms: u64,
    #[arg(long, default_value_t = 30)]
    provider_reset_per_mille: u64,
    /// The taskhub binary the nodes run.
    #[arg(long, default_value = "target/debug/taskhub")]
    taskhub: PathBuf,
    /// PostgreSQL server (the run makes and drops its own database there).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// How to restart PostgreSQL.
    #[arg(
        long,
        default_value = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | sort -n | tail -1) main restart"
    )]
    pg_restart: String,
    /// First of the ports the run uses (nginx, nodes, Redis, relays: 12 in all).
    #[arg(long, default_value_t = 18700)]
    base_port: u16,
    /// Folder for logs (default: a new folder under target/chaos).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Soak sampling: every this many seconds, each node's RSS, open files, threads, sockets
    /// and tokio tasks (0: off). Use with `--fault-rounds 0` for a soak run.
    #[arg(long, default_value_t = 0)]
    sample_secs: u64,
    /// Soak: growth is measured from the first sample after this many seconds.
    #[arg(long, default_value_t = 300)]
    warmup_secs: u64,
    /// The run stops by itself after this long, whatever happens.
    #[arg(long, default_value_t = 600)]
    max_seconds: u64,
}

/// Milliseconds since the run started (every log line and window uses it).
#[derive(Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    pub fn ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

/// A random number in `lo..hi`.
pub fn rnd(lo: u64, hi: u64) -> u64 {
    lo + rand::random::<u64>() % (hi - lo).max(1)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let limit = Duration::from_secs(args.max_seconds);
    match tokio::time::timeout(limit, run(args)).await {
        Ok(Ok(0)) => Ok(()),
        Ok(Ok(n)) => {
            eprintln!("chaos: FAILED with {n} violations");
            std::process::exit(1)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => {
            eprintln!("chaos: FAILED: the run did not end within {limit:?}");
            std::process::exit(2)
        }
    }
}

/// Runs the whole thing; returns the number of violations.
async fn run(args: Args) -> anyhow::Result<usize> {
    let clock = Clock(Instant::now());
    let run_id = format!("{}", std::process::id());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("target/chaos/run-{run_id}")));
    std::fs::create_dir_all(&out)?;
    let out = std::path::absolute(&out)?;
    let stop = CancellationToken::new();
    let db = format!("th_chaos_{run_id}");
    let db_url = fresh_database(&args.postgres, &db).await?;
    let p = args.base_port;
    let (nginx_port, node_ports, redis_port, provider_port) =
        (p, [p + 1, p + 2, p + 3], p + 4, p + 5);

    let mut redis = procs::redis(&out, redis_port);
    redis.start().await?;
    let mut simulator = Proc::new(
        "simulator",
        &args.taskhub,
        &[
            "simulator",
            "--addr",
            &format!("127.0.0.1:{provider_port}"),
            "--seconds",
            &args.job_secs.to_string(),
        ],
        &out,
        provider_port,
    );
    simulator.start().await?;
    let provider = Relay::start(0, format!("127.0.0.1:{provider_port}"), stop.clone()).await?;
    provider.flaky(args.provider_delay_ms, args.provider_reset_per_mille);
    let mut redis_relays = Vec::new();
    let mut nodes = Vec::new();
    for (i, port) in node_ports.iter().enumerate() {
        let relay = Relay::start(0, format!("127.0.0.1:{redis_port}"), stop.clone()).await?;
        let mut node = node(&args, &out, i, *port, &db_url, relay.port, provider.port);
        node.start()
            .await
            .with_context(|| format!("node{}", i + 1))?;
        nodes.push(AsyncMutex::new(node));
        redis_relays.push(relay);
    }
    let mut nginx = procs::nginx(&out, nginx_port, &node_ports, args.watchers)?;
    nginx.start().await?;
    println!(
        "chaos: 3 nodes {node_ports:?} behind nginx :{nginx_port}, database {db}, logs in {}",
        out.display()
    );

    let cluster = Arc::new(Cluster {
        nodes,
        redis: AsyncMutex::new(redis),
        redis_relays,
        pg_restart: args.pg_restart.clone(),
    });
    let base = format!("http://127.0.0.1:{nginx_port}");
    let rest = Arc::new(Rest::new(base.clone(), clock));
    let users = workload::sign_in(&rest, args.users, &run_id).await?;
    let reg = Arc::new(Registry::new(users));
    let ctx = Arc::new(Ctx {
        ws_url: format!("ws://127.0.0.1:{nginx_port}/ws"),
        reg: reg.clone(),
        clock,
        calm: CancellationToken::new(),
        stop: stop.clone(),
        // First connections spread over 2 ms per watcher (10 s for 5,000), not all at once.
        start_spread_ms: args.watchers as u64 * 2,
        life_ms: (
            args.watcher_life_min_ms,
            args.watcher_life_max_ms.max(args.watcher_life_min_ms + 1),
        ),
    });
    let watchers: Vec<Arc<Watcher>> = (0..args.watchers)
        .map(|i| Arc::new(Watcher::new(i, args.users)))
        .collect();
    for w in &watchers {
        tokio::spawn(w.clone().run(ctx.clone()));
    }
    let fault_log = Arc::new(FaultLog::default());
    let faults = tokio::spawn(faults::run(
        cluster.clone(),
        fault_log.clone(),
        clock,
        args.fault_rounds,
        Duration::from_secs(args.fault_gap),
        Duration::from_secs(args.grace),
        stop.clone(),
    ));
    let sampler = (args.sample_secs > 0).then(|| {
        tokio::spawn(soak::run(
            cluster.clone(),
            node_ports,
            Duration::from_secs(args.sample_secs),
            clock,
            stop.clone(),
        ))
    });
    let mix = Mix {
        tasks: args.tasks,
        create_secs: args.create_secs,
        fail_per_mille: args.fail_per_mille,
        cancel_per_mille: args.cancel_per_mille,
    };
    workload::create_tasks(rest.clone(), reg.clone(), mix).await?;
    println!(
        "chaos: {} tasks created by {:.1}s",
        reg.all_tasks().len(),
        clock.ms() as f64 / 1000.0
    );
    faults.await??;
    println!(
        "chaos: faults over at {:.1}s; settling",
        clock.ms() as f64 / 1000.0
    );
    ctx.calm.cancel();

    let store = taskhub::store::Store::connect(&db_url, 4).await?;
    // Settling may use the run's time up to four fifths of --max-seconds (at least a minute):
    // the rest is for the checker, so a run that cannot settle still prints its report.
    let settle_until = Duration::from_secs(args.max_seconds * 4 / 5);
    let settle_for = settle_until
        .saturating_sub(Duration::from_millis(clock.ms()))
        .max(Duration::from_secs(60));
    let settled = settle(&store, &reg, &watchers, settle_for).await;
    println!(
        "chaos: {} at {:.1}s",
        match settled {
            Ok(()) => "settled".to_string(),
            Err((open, waiting)) => format!(
                "did not settle ({open} tasks not ended, {waiting} watchers short of an end)"
            ),
        },
        clock.ms() as f64 / 1000.0
    );
    stop.cancel();
    let samples = match sampler {
        Some(s) => s.await.unwrap_or_default(),
        None => Vec::new(),
    };
    let logs: Vec<PathBuf> = (1..=3).map(|i| out.join(format!("node{i}.log"))).collect();
    let refs: Vec<&std::path::Path> = logs.iter().map(|p| p.as_path()).collect();
    let report = check::check(&store, &rest, &reg, &watchers, &fault_log, &refs).await?;
    for n in &cluster.nodes {
        n.lock().await.stop(Duration::from_secs(10)).await;
    }
    nginx.stop(Duration::from_secs(5)).await;
    simulator.stop(Duration::from_secs(5)).await;
    cluster
        .redis
        .lock()
        .await
        .stop(Duration::from_secs(5))
        .await;
    let violations = report.violations;
    for l in &report.lines {
        println!("{l}");
    }
    println!(
        "chaos: provider relay: {} connections, {} reset",
        provider
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        provider.resets.load(std::sync::atomic::Ordering::Relaxed)
    );
    for f in fault_log.all() {
        println!(
            "chaos: fault {:.1}s..{:.1}s {}",
            f.start_ms as f64 / 1000.0,
            f.until_ms as f64 / 1000.0,
            f.what
        );
    }
    for line in soak::summary(&samples, Duration::from_secs(args.warmup_secs)) {
        println!("{line}");
    }
    println!("chaos: violations {}", violations.len());
    for v in violations.iter().take(50) {
        println!("chaos: VIOLATION {v}");
    }
    let mut suspects = report.suspects;
    suspects.sort();
    suspects.dedup();
    for id in suspects.iter().take(5) {
        for line in check::timeline(&store, id, &watchers, &fault_log).await {
            println!("{line}");
        }
    }
    drop(store);
    if violations.is_empty() {
        drop_database(&args.postgres, &db).await;
    }
    Ok(violations.len())
}

/// Waits until every task has ended and every watcher has seen the end of what it follows;
/// past `limit`, returns how many tasks had not ended and how many watchers were short.
async fn settle(
    store: &taskhub::store::Store,
    reg: &Registry,
    watchers: &[Arc<Watcher>],
    limit: Duration,
) -> Result<(), (i64, usize)> {
    let start = Instant::now();
    loop {
        let open: Result<(i64,), _> = sqlx::query_as(
            "SELECT COUNT(*) FROM tasks WHERE status NOT IN ('completed', 'failed', 'cancelled')",
        )
        .fetch_one(store.pool())
        .await;
        let waiting = watchers.iter().filter(|w| !w.done(reg)).count();
        if matches!(open, Ok((0,))) && waiting == 0 {
            return Ok(());
        }
        if start.elapsed() >= limit {
            return Err((open.map_or(-1, |(n,)| n), waiting));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn node(
    args: &Args,
    out: &std::path::Path,
    i: usize,
    port: u16,
    db: &str,
    redis_port: u16,
    provider_port: u16,
) -> Proc {
    let name = format!("node{}", i + 1);
    let data = out.join(&name);
    Proc::new(&name, &args.taskhub, &["serve"], out, port)
        .env("TASKHUB_ENV", "development")
        .env("TASKHUB_ADDR", format!("127.0.0.1:{port}"))
        .env("TASKHUB_DATA_DIR", data.display().to_string())
        .env("DATABASE_URL", db)
        .env("REDIS_URL", format!("redis://127.0.0.1:{redis_port}"))
        .env("JWT_SECRET", "FAKE-chaos-run-secret-0123456789abcdef")
        .env("TASKHUB_PROVIDER", "openai")
        .env(
            "OPENAI_BASE_URL",
            format!("http://127.0.0.1:{provider_port}/v1"),
        )
        .env("OPENAI_API_KEY", "sk-FAKE-chaos")
        .env("TASKHUB_MEDIA_COPY", "false")
        .env("TASKHUB_LEASE_MS", "10000")
        .env("TASKHUB_POLL_INTERVAL_MS", "500")
        .env("TASKHUB_PROVIDER_RETRY_BASE_MS", "100")
        // A node that dies mid-call keeps its lease for the call's worst case (timeout x
        // attempts): 12 s here instead of 124 s by default (see RELIABILITY.md).
        .env("TASKHUB_PROVIDER_TIMEOUT_MS", "5000")
        .env("TASKHUB_PROVIDER_MAX_RETRIES", "1")
        .env("TASKHUB_SIGNUP_BONUS_CREDITS", "1000000")
        // The watchers keep the access token they signed in with (they do not refresh it):
        // it must outlive the run. The first large run, past the default 15 minutes, saw
        // every reconnect refused with 4001 (token expired) from then on.
        .env(
            "TASKHUB_ACCESS_TOKEN_TTL_SECS",
            (args.max_seconds + 600).to_string(),
        )
        .env("TASKHUB_WS_COALESCE_PROGRESS", "false")
        .env("TASKHUB_WS_MAX_SOCKETS_PER_USER", "1000")
        .env("TASKHUB_WS_MAX_FRAMES_PER_SEC", "1000")
        .env("TASKHUB_TRUSTED_PROXIES", "127.0.0.1/32")
        .env("TASKHUB_RATE_AUTH_PER_MIN", "1000000")
        .env("TASKHUB_RATE_TASK_CREATE_PER_MIN", "1000000")
        .env("TASKHUB_RATE_TASK_QUERY_PER_MIN", "1000000")
        .env("TASKHUB_RATE_OTHER_PER_MIN", "1000000")
        .env("TASKHUB_HTTP_MAX_CONNECTIONS", "20000")
        .env("TASKHUB_WS_MAX_UNAUTHENTICATED_PER_IP", "0")
        .env(
            "RUST_LOG",
            std::env::var("CHAOS_NODE_LOG").unwrap_or_else(|_| "warn".into()),
        )
}

/// Creates `name` anew on the server at `root`; returns its URL.
async fn fresh_database(root: &str, name: &str) -> anyhow::Result<String> {
    let admin = taskhub::store::Store::connect(&format!("{root}/postgres"), 1).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(admin.pool())
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(admin.pool())
        .await?;
    Ok(format!("{root}/{name}"))
}

async fn drop_database(root: &str, name: &str) {
    if let Ok(admin) = taskhub::store::Store::connect(&format!("{root}/postgres"), 1).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(admin.pool())
            .await;
    }
}

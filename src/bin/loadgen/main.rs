//! `loadgen`: a load generator for the taskhub WebSocket hub.
//!
//! Against a running server (development mode, with `REDIS_URL`): signs in `--users` users
//! and gives each `--tasks-per-user` tasks over REST, opens `--sockets` authenticated and
//! subscribed sockets spread over `--sources` 127.0.0.x source addresses, then publishes
//! `--rate` events per second for `--duration` seconds on the users' Redis channels and
//! reports connections held, server memory per connection, frames delivered per second,
//! end-to-end latency (publish -> frame read) and both processes' CPU. Bounded: it stops by
//! itself after `--max-seconds` whatever happens. With `--create-url` it measures the whole
//! pipeline instead (see `pipeline.rs`): real tasks created over REST on another node, the
//! events its poller commits. See BENCHMARKS.md for recorded runs.

mod client;
mod pipeline;
mod publish;
mod raw;
mod setup;
mod stats;

use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use client::Mode;
use stats::{cpu_ticks, pid_listening_on, rss_kib, Stats};

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Load generator for the taskhub WebSocket hub"
)]
struct Args {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Where the sockets connect, if not to `--url` (which still makes the users and
    /// tasks): e.g. a `--raw-server` to compare with.
    #[arg(long)]
    ws_url: Option<String>,
    /// Run the minimal raw WebSocket server (see `raw.rs`) on this address instead of a
    /// load; it forwards what is published on `taskhub:user:*` to its sockets.
    #[arg(long)]
    raw_server: Option<String>,
    /// Sockets to open (one process holds at most ~19,800 here: 20,000 open files).
    #[arg(long, default_value_t = 1000)]
    sockets: usize,
    /// Users the sockets are spread over (round-robin).
    #[arg(long, default_value_t = 100)]
    users: usize,
    #[arg(long, default_value_t = 1)]
    tasks_per_user: usize,
    /// What each socket subscribes to.
    #[arg(long, value_enum, default_value_t = Mode::User)]
    mode: Mode,
    /// Source addresses `--source-ip` and the N-1 after it (127.0.0.1 .. 127.0.0.N by
    /// default), so ephemeral ports do not run out.
    #[arg(long, default_value_t = 4)]
    sources: u8,
    /// The first source address.
    #[arg(long, default_value = "127.0.0.1")]
    source_ip: Ipv4Addr,
    /// Users are `{prefix}{i}@loadgen.test` (several load generators: one prefix each).
    #[arg(long, default_value = "lg")]
    user_prefix: String,
    /// The whole pipeline: create real tasks over REST on this node (whose poller drives
    /// them) during the event phase instead of publishing synthetic events.
    #[arg(long)]
    create_url: Option<String>,
    /// With --create-url: tasks created per second (round-robin over the users), for
    /// --duration seconds.
    #[arg(long, default_value_t = 2.0)]
    task_rate: f64,
    /// With --create-url: wait for this file to exist before creating the first task.
    #[arg(long)]
    start_file: Option<std::path::PathBuf>,
    /// With --create-url: longest wait after the last create for every terminal frame.
    #[arg(long, default_value_t = 120)]
    drain_max: u64,
    /// Events per second published (each reaches every socket of its user).
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Server pid for RSS/CPU (default: whoever listens on the URL's port).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 200)]
    connect_parallel: usize,
    /// Tokio worker threads of the load generator.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seconds to wait after connecting before reading the server's memory.
    #[arg(long, default_value_t = 3)]
    settle: u64,
    /// Hard stop for the whole run.
    #[arg(long, default_value_t = 600)]
    max_seconds: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    if let Some(addr) = args.raw_server.clone() {
        return rt.block_on(raw::serve(&addr, &args.redis_url));
    }
    let limit = Duration::from_secs(args.max_seconds);
    rt.block_on(async {
        match tokio::time::timeout(limit, run(args)).await {
            Ok(r) => r,
            Err(_) => anyhow::bail!("stopped: the run exceeded --max-seconds"),
        }
    })?;
    // Sockets are dropped with the runtime; no need to wait for their close handshakes.
    rt.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let base = args.url.trim_end_matches('/').to_string();
    let ws_base = args
        .ws_url
        .as_deref()
        .unwrap_or(&base)
        .trim_end_matches('/');
    let host = ws_base.trim_start_matches("http://");
    let server: SocketAddr = host
        .to_socket_addrs()
        .context("server address")?
        .find(|a| a.is_ipv4())
        .context("an IPv4 server address")?;
    let pid = args.server_pid.or_else(|| pid_listening_on(server.port()));
    let me = std::process::id();
    println!("loadgen: {args:?}");
    println!("server pid: {pid:?}");

    let t = Instant::now();
    let users = setup::users(
        &base,
        &args.user_prefix,
        args.users,
        args.tasks_per_user,
        16,
    )
    .await?;
    println!(
        "setup: {} users with {} tasks each in {:.1}s",
        users.len(),
        args.tasks_per_user,
        t.elapsed().as_secs_f64()
    );
    let users: Vec<Arc<setup::LgUser>> = users.into_iter().map(Arc::new).collect();

    let rss0 = pid.and_then(rss_kib);
    let stats = Arc::new(Stats::default());
    let stop = CancellationToken::new();
    let gate = Arc::new(Semaphore::new(args.connect_parallel.max(1)));
    let track = args
        .create_url
        .as_ref()
        .map(|_| Arc::new(pipeline::Tracker::default()));
    let t = Instant::now();
    for i in 0..args.sockets {
        let source = u32::from(args.source_ip) + (i % args.sources.max(1) as usize) as u32;
        let plan = client::Plan {
            user: users[i % users.len()].clone(),
            source: Ipv4Addr::from(source),
            server,
            mode: args.mode,
            track: track.clone(),
        };
        tokio::spawn(client::run(plan, stats.clone(), gate.clone(), stop.clone()));
    }
    while stats.ready.load(Ordering::Relaxed) + stats.failed.load(Ordering::Relaxed)
        < args.sockets as u64
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready = stats.ready.load(Ordering::Relaxed);
    println!(
        "connected: {ready} ready, {} failed, in {:.1}s ({:.0}/s)",
        stats.failed.load(Ordering::Relaxed),
        t.elapsed().as_secs_f64(),
        ready as f64 / t.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(args.settle)).await;
    let rss1 = pid.and_then(rss_kib);
    let per_socket = match (rss0, rss1) {
        (Some(a), Some(b)) if ready > 0 => Some((b as f64 - a as f64) * 1024.0 / ready as f64),
        _ => None,
    };
    println!(
        "server RSS: {rss0:?} KiB before sockets, {rss1:?} KiB with {ready} -> {:.0} bytes/socket; loadgen RSS {:?} KiB",
        per_socket.unwrap_or(f64::NAN),
        rss_kib(me)
    );
    if let (Some(url), Some(track)) = (&args.create_url, &track) {
        let opts = pipeline::Opts {
            create_url: url.clone(),
            task_rate: args.task_rate,
            duration: Duration::from_secs(args.duration),
            start_file: args.start_file.clone(),
            drain_max: Duration::from_secs(args.drain_max),
        };
        let cpu = || (pid.and_then(cpu_ticks), cpu_ticks(me));
        let mut summary = pipeline::run(&opts, &users, &stats, track, cpu).await?;
        summary["sockets"] = args.sockets.into();
        summary["ready"] = ready.into();
        summary["held"] = (ready - stats.closed.load(Ordering::Relaxed)).into();
        summary["closed4002"] = stats.closed_4002.load(Ordering::Relaxed).into();
        summary["users"] = users.len().into();
        summary["serverRssBeforeKiB"] = rss0.into();
        summary["serverRssKiB"] = rss1.into();
        summary["serverBytesPerSocket"] = per_socket.map(|b| b.round()).into();
        summary["serverRssAfterEventsKiB"] = pid.and_then(rss_kib).into();
        stop.cancel();
        println!("summary: {summary}");
        return Ok(());
    }

    let targets: Vec<publish::Target> = users
        .iter()
        .flat_map(|u| {
            u.tasks.iter().map(|t| publish::Target {
                user_id: u.id.clone(),
                video_id: t.clone(),
                seq: publish::FIRST_SEQ,
            })
        })
        .collect();
    let fanout = args.sockets as f64 / users.len() as f64;
    let cpu0 = (pid.and_then(cpu_ticks), cpu_ticks(me));
    let frames0 = stats.latency.count();
    let t = Instant::now();
    let reporter = tokio::spawn(report_each_second(stats.clone(), stop.clone()));
    let duration = Duration::from_secs(args.duration);
    let published = publish::run(&args.redis_url, targets, args.rate, duration).await?;
    // Let frames in flight arrive.
    let drain_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu1 = (pid.and_then(cpu_ticks), cpu_ticks(me));
    let rss2 = pid.and_then(rss_kib);
    stop.cancel();
    let worst_per_sec = reporter.await.unwrap_or_default();

    let delivered = stats.latency.count() - frames0;
    let cpu = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => (b - a) as f64 / wall, // ticks are 1/100 s: percent of a core
        _ => f64::NAN,
    };
    let h = &stats.latency;
    let ms = |us: u64| us as f64 / 1000.0;
    let mut sorted = worst_per_sec.clone();
    sorted.sort_unstable();
    let summary = serde_json::json!({
        "sockets": args.sockets, "ready": ready,
        "held": ready - stats.closed.load(Ordering::Relaxed),
        "users": users.len(), "mode": format!("{:?}", args.mode), "sources": args.sources,
        "serverRssKiB": rss1, "serverBytesPerSocket": per_socket.map(|b| b.round()),
        "serverRssAfterEventsKiB": rss2,
        "publishedEvents": published, "expectedFrames": (published as f64 * fanout).round(),
        "deliveredFrames": delivered,
        "framesPerSec": (delivered as f64 / args.duration as f64).round(),
        "latencyMs": {"p50": ms(h.percentile(50.0)), "p99": ms(h.percentile(99.0)),
            "p999": ms(h.percentile(99.9)), "max": ms(h.max())},
        "worstPerSecondMs": {"median": sorted.get(sorted.len() / 2).map(|u| ms(*u)),
            "max": sorted.last().map(|u| ms(*u))},
        "disorder": stats.disorder.load(Ordering::Relaxed),
        "seqGaps": stats.gaps.load(Ordering::Relaxed),
        "closed4002": stats.closed_4002.load(Ordering::Relaxed),
        "serverCpuPct": cpu(cpu0.0, cpu1.0).round(), "loadgenCpuPct": cpu(cpu0.1, cpu1.1).round(),
        // CPU per delivered frame, µs (percent of a core over the phase's wall time).
        "serverCpuUsPerFrame": per_frame(cpu(cpu0.0, cpu1.0), delivered, wall),
        "loadgenCpuUsPerFrame": per_frame(cpu(cpu0.1, cpu1.1), delivered, wall),
    });
    println!("summary: {summary}");
    Ok(())
}

/// CPU µs per frame from a CPU percentage over `wall` seconds and the frames delivered.
fn per_frame(cpu_pct: f64, frames: u64, wall: f64) -> Option<f64> {
    (frames > 0 && cpu_pct.is_finite())
        .then(|| (cpu_pct / 100.0 * wall * 1e6 / frames as f64 * 100.0).round() / 100.0)
}

/// Prints frames and worst latency each second; returns each second's worst (µs).
async fn report_each_second(stats: Arc<Stats>, stop: CancellationToken) -> Vec<u64> {
    let mut worst = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut n = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return worst,
            _ = tick.tick() => {}
        }
        n += 1;
        let frames = stats.sec_frames.swap(0, Ordering::Relaxed);
        let max = stats.sec_max_us.swap(0, Ordering::Relaxed);
        if frames > 0 {
            worst.push(max);
        }
        println!(
            "t={n:>3}s frames={frames:>7} worst={:>8.1}ms closed={}",
            max as f64 / 1000.0,
            stats.closed.load(Ordering::Relaxed)
        );
    }
}

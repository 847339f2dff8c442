//! The soak's sampler (`--sample-secs`): every N seconds, each node's resident memory, open
//! files and threads from `/proc`, its open sockets and alive tokio tasks from `/metrics`; at the end,
//! the growth from the first sample after `--warmup-secs` to the last one.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::faults::Cluster;
use crate::Clock;

#[derive(Clone, Copy, Default, Debug)]
pub struct Sample {
    pub at_ms: u64,
    pub rss_kib: u64,
    pub fds: u64,
    pub threads: u64,
    pub sockets: u64,
    pub tasks: u64,
}

fn status_field(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn read(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    (
        status_field(&status, "VmRSS:"),
        fds,
        status_field(&status, "Threads:"),
    )
}

/// The node's open sockets and alive tokio tasks (`taskhub_ws_sockets`,
/// `taskhub_runtime_tasks`; 0 when unreadable).
async fn gauges(http: &reqwest::Client, port: u16) -> (u64, u64) {
    let text = match http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
    {
        Ok(res) => res.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let gauge = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    };
    (gauge("taskhub_ws_sockets"), gauge("taskhub_runtime_tasks"))
}

/// Samples every node until `stop`; prints one line per node per sample.
pub async fn run(
    cluster: Arc<Cluster>,
    ports: [u16; 3],
    every: Duration,
    clock: Clock,
    stop: CancellationToken,
) -> Vec<Vec<Sample>> {
    let http = reqwest::Client::new();
    let mut all = vec![Vec::new(); 3];
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return all,
            _ = tick.tick() => {}
        }
        for (i, node) in cluster.nodes.iter().enumerate() {
            let Some(pid) = node.lock().await.pid() else {
                continue;
            };
            let (rss_kib, fds, threads) = read(pid);
            let (sockets, tasks) = gauges(&http, ports[i]).await;
            let s = Sample {
                at_ms: clock.ms(),
                rss_kib,
                fds,
                threads,
                sockets,
                tasks,
            };
            println!(
                "soak: {:>7.1}s node{} rss {} KiB, open files {}, threads {}, sockets {}, tokio tasks {}",
                s.at_ms as f64 / 1000.0,
                i + 1,
                s.rss_kib,
                s.fds,
                s.threads,
                s.sockets,
                s.tasks
            );
            all[i].push(s);
        }
    }
}

/// One line per node: first sample after the warm-up against the last, and the peak.
pub fn summary(samples: &[Vec<Sample>], warmup: Duration) -> Vec<String> {
    let warm = warmup.as_millis() as u64;
    let mut out = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        let (Some(first), Some(last)) = (s.iter().find(|x| x.at_ms >= warm), s.last()) else {
            continue;
        };
        let peak = s.iter().map(|x| x.rss_kib).max().unwrap_or(0);
        let growth =
            (last.rss_kib as f64 - first.rss_kib as f64) * 100.0 / first.rss_kib.max(1) as f64;
        out.push(format!(
            "soak: node{} after warm-up ({:.0}s) -> end ({:.0}s): rss {} -> {} KiB ({growth:+.1}%, peak {peak}), open files {} -> {}, threads {} -> {}, sockets {} -> {}, tokio tasks {} -> {}",
            i + 1,
            first.at_ms as f64 / 1000.0,
            last.at_ms as f64 / 1000.0,
            first.rss_kib,
            last.rss_kib,
            first.fds,
            last.fds,
            first.threads,
            last.threads,
            first.sockets,
            last.sockets,
            first.tasks,
            last.tasks,
        ));
    }
    out
}

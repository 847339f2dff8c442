//! The faults of a chaos run, injected while the workload runs, each logged with its time
//! and the window during which errors are expected (the fault, then `grace` to recover).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Mutex as AsyncMutex;
use tokio_util::sync::CancellationToken;

use crate::procs::{shell, Proc};
use crate::relay::Relay;
use crate::Clock;

/// Everything a fault can act on.
pub struct Cluster {
    pub nodes: Vec<AsyncMutex<Proc>>,
    pub redis: AsyncMutex<Proc>,
    /// Node i's connection to Redis goes through `redis_relays[i]`.
    pub redis_relays: Vec<Arc<Relay>>,
    pub pg_restart: String,
}

#[derive(Clone, Debug)]
pub struct Fault {
    pub what: String,
    pub start_ms: u64,
    /// When errors are no longer expected (end of the fault plus the grace).
    pub until_ms: u64,
}

#[derive(Default)]
pub struct FaultLog(Mutex<Vec<Fault>>);

impl FaultLog {
    pub fn all(&self) -> Vec<Fault> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether `at_ms` lies in a declared outage window.
    pub fn expected(&self, at_ms: u64) -> bool {
        self.all()
            .iter()
            .any(|f| (f.start_ms..=f.until_ms).contains(&at_ms))
    }

    fn push(&self, f: Fault) {
        println!(
            "chaos: fault at {:>6.1}s: {} (errors expected until {:.1}s)",
            f.start_ms as f64 / 1000.0,
            f.what,
            f.until_ms as f64 / 1000.0
        );
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(f);
    }
}

pub enum Kind {
    KillNode(usize),
    RestartRedis,
    RestartPostgres,
    CutNodeFromRedis(usize),
}

/// Runs `rounds` rounds of every fault, `gap` apart, starting after `gap`; stops early when
/// `stop` is cancelled.
pub async fn run(
    cluster: Arc<Cluster>,
    log: Arc<FaultLog>,
    clock: Clock,
    rounds: usize,
    gap: Duration,
    grace: Duration,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let n = cluster.nodes.len();
    for round in 0..rounds {
        let plan = [
            Kind::KillNode(round % n),
            Kind::RestartRedis,
            Kind::RestartPostgres,
            Kind::CutNodeFromRedis((round + n - 1) % n),
        ];
        for kind in plan {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tokio::time::sleep(gap) => {}
            }
            let start_ms = clock.ms();
            let what = inject(&cluster, kind).await?;
            log.push(Fault {
                what,
                start_ms,
                until_ms: clock.ms() + grace.as_millis() as u64,
            });
        }
    }
    Ok(())
}

async fn inject(c: &Cluster, kind: Kind) -> anyhow::Result<String> {
    Ok(match kind {
        Kind::KillNode(i) => {
            let mut node = c.nodes[i].lock().await;
            node.kill9().await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            node.start().await?;
            format!("SIGKILL {} and restart after 3 s", node.name)
        }
        Kind::RestartRedis => {
            let mut redis = c.redis.lock().await;
            redis.kill9().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            redis.start().await?;
            "Redis killed, restarted after 2 s (empty)".to_string()
        }
        Kind::RestartPostgres => {
            shell(&c.pg_restart).await?;
            format!("PostgreSQL restarted (`{}`)", c.pg_restart)
        }
        Kind::CutNodeFromRedis(i) => {
            c.redis_relays[i].cut();
            tokio::time::sleep(Duration::from_secs(8)).await;
            c.redis_relays[i].restore();
            format!("node{} cut off Redis for 8 s", i + 1)
        }
    })
}

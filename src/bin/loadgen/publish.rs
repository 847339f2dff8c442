//! Drives events through the real fan-out path: synthetic `taskProgress` envelopes for the
//! loadgen's own tasks, published on the users' Redis channels (PROTOCOL §5) exactly as a
//! node publishes committed events. Each carries `lgSentUs`, the publish time in µs, which
//! the server forwards untouched, so a socket can time the event end to end.

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::stats::now_us;

/// The first seq the load generator publishes for a task: far above the seqs of the task's
/// real events (the server's poller may still drive the task and publish `taskStarted`,
/// progress: seq 2, 3, ...), which would otherwise take the same seqs and have the
/// synthetic events dropped as duplicates.
pub const FIRST_SEQ: i64 = 1_000_000_000;

pub struct Target {
    pub user_id: String,
    pub video_id: String,
    /// Next seq to publish for this task.
    pub seq: i64,
}

/// Publishes `rate` events per second, round-robin over `targets`, for `duration`.
/// Returns how many it published.
pub async fn run(
    redis_url: &str,
    mut targets: Vec<Target>,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<u64> {
    if targets.is_empty() || rate <= 0.0 {
        tokio::time::sleep(duration).await;
        return Ok(0);
    }
    let client = redis::Client::open(redis_url).context("redis url")?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .context("connecting to Redis")?;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let start = Instant::now();
    let (mut sent, mut next) = (0u64, 0usize);
    while start.elapsed() < duration {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        if due <= sent {
            continue;
        }
        let mut pipe = redis::pipe();
        let len = targets.len();
        for _ in sent..due {
            let t = &mut targets[next % len];
            next += 1;
            let frame = format!(
                r#"{{"type":"taskProgress","timestamp":{ms},"payload":{{"videoId":"{vid}","externalVideoId":null,"status":"processing","progress":{p},"seq":{seq},"message":"loadgen","lgSentUs":{us}}}}}"#,
                ms = now_us() / 1000,
                vid = t.video_id,
                p = t.seq % 99,
                seq = t.seq,
                us = now_us(),
            );
            t.seq += 1;
            pipe.cmd("PUBLISH")
                .arg(format!("taskhub:user:{}", t.user_id))
                .arg(frame)
                .ignore();
        }
        pipe.query_async::<()>(&mut conn)
            .await
            .context("publishing")?;
        sent = due;
    }
    Ok(sent)
}

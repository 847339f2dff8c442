//! Background sweeps: run a step now and then every interval until shutdown. Used by the
//! credit expiry sweep, the housekeeping sweep and the orphaned-upload sweep.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Spawns a task that runs `step` at once and then every `every` (at least 1 s) until
/// `shutdown`. A step that overruns delays the next one instead of bunching them.
pub fn spawn_every<F, Fut>(every: Duration, shutdown: CancellationToken, mut step: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let every = every.max(Duration::from_secs(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            step().await;
        }
    });
}

//! The housekeeping sweep: every `prune_interval_secs`, deletes refresh tokens expired or
//! revoked more than `refresh_token_retention_days` ago and Stripe event ids older than
//! `webhook_event_retention_days` (at least [`MIN_EVENT_RETENTION_DAYS`], Stripe's retry
//! window plus a day, so a late retry is still recognised as a duplicate); and showcase view
//! rows older than the previous clock hour ([`crate::showcase::prune_views`]).

use std::time::Duration;

use crate::billing::BillingSettings;
use crate::domain::time::now_ms;
use crate::store::{Store, StoreResult};
use tokio_util::sync::CancellationToken;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Stripe retries a webhook for up to three days.
pub const MIN_EVENT_RETENTION_DAYS: i64 = 4;
/// Rows deleted per statement; a sweep repeats until a batch comes back short.
const BATCH: i64 = 1000;

/// Runs one sweep at `now`; returns (refresh tokens, Stripe events) deleted.
pub async fn sweep(store: &Store, b: &BillingSettings, now: i64) -> StoreResult<(u64, u64)> {
    let token_cutoff = now - b.refresh_token_retention_days.max(0).saturating_mul(DAY_MS);
    let event_days = b.webhook_event_retention_days.max(MIN_EVENT_RETENTION_DAYS);
    let event_cutoff = now - event_days.saturating_mul(DAY_MS);
    let mut tokens = 0;
    loop {
        let n = store.prune_refresh_tokens(token_cutoff, BATCH).await?;
        tokens += n;
        if n < BATCH as u64 {
            break;
        }
    }
    let mut events = 0;
    loop {
        let n = store.prune_stripe_events(event_cutoff, BATCH).await?;
        events += n;
        if n < BATCH as u64 {
            break;
        }
    }
    Ok((tokens, events))
}

/// Sweeps every `prune_interval_secs` until shutdown (the first sweep runs at once).
pub fn spawn(store: Store, billing: BillingSettings, shutdown: CancellationToken) {
    let every = Duration::from_secs(billing.prune_interval_secs);
    let billing = std::sync::Arc::new(billing);
    crate::periodic::spawn_every(every, shutdown, move || {
        let (store, billing) = (store.clone(), billing.clone());
        async move {
            match sweep(&store, &billing, now_ms()).await {
                Ok((0, 0)) => {}
                Ok((tokens, events)) => {
                    tracing::info!(refresh_tokens = tokens, stripe_events = events, "pruned")
                }
                Err(e) => tracing::warn!(error = %e, "housekeeping sweep failed"),
            }
            match crate::showcase::prune_views(&store, now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(showcase_views = n, "pruned"),
                Err(e) => tracing::warn!(error = %e, "showcase view pruning failed"),
            }
        }
    });
}

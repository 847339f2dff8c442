//! Filling the gap after the bus lost events (Redis dropped our subscription).
//!
//! From the moment the bus reports the loss, live events are held in one node-level buffer
//! before the order gate. Once the bus is subscribed again, every user with a socket here
//! gets their events committed since the loss (minus a margin) read back from the log and
//! passed through the order gate (which drops what it already let through: the sockets have
//! it) and the per-socket filters; only then do the held live events go through the gate, in
//! arrival order (it drops those the refill already sent). So each socket still sees every
//! task's frames in `seq` order, none twice, none missing, whatever cursors it forgot.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;

use super::HubInner;
use crate::bus::{BusEvent, BusSink};
use crate::domain::time::now_ms;

/// Live events held while refilling; past this the hold is dropped and the refill repeated
/// (the log has them all).
const HOLD_CAP: usize = 200_000;
/// Events read back per user and refill round.
const USER_LIMIT: i64 = 10_000;
/// Users refilled concurrently (each is one query).
const PARALLEL: usize = 4;

#[derive(Default)]
pub(super) struct RefillState {
    /// True from a bus loss until the refill that follows has released the held events.
    pub holding: AtomicBool,
    /// Bumped by every loss and recovery; only the latest refill releases the hold.
    generation: AtomicU64,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    events: Vec<Arc<BusEvent>>,
    overflowed: bool,
}

impl RefillState {
    /// Starts holding live events; returns the new generation.
    pub fn begin(&self) -> u64 {
        let _held = self.lock();
        self.holding.store(true, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Holds `ev` if still holding (true), else the caller dispatches it.
    pub fn hold(&self, ev: &Arc<BusEvent>) -> bool {
        let mut held = self.lock();
        if !self.holding.load(Ordering::Acquire) {
            return false;
        }
        if held.events.len() < HOLD_CAP {
            held.events.push(ev.clone());
        } else {
            held.overflowed = true;
        }
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Refills every user with a socket here from `since_ms`, then releases the held events
/// (unless a newer loss happened meanwhile: its own refill releases them).
pub(super) async fn run(hub: Arc<HubInner>, generation: u64, mut since_ms: i64) {
    let margin = hub.settings.bus_resync_margin_ms as i64;
    loop {
        let round_start = now_ms();
        refill_users(&hub, since_ms).await;
        let mut held = hub.refill.lock();
        if hub.refill.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if held.overflowed {
            tracing::warn!("too many live events held during a bus refill; refilling again");
            held.overflowed = false;
            held.events.clear();
            since_ms = round_start - margin;
            continue;
        }
        let events = std::mem::take(&mut held.events);
        hub.refill.holding.store(false, Ordering::Release);
        drop(held);
        let released = events.len();
        for ev in events {
            hub.deliver(ev);
        }
        tracing::info!(released, "bus refill done");
        return;
    }
}

async fn refill_users(hub: &Arc<HubInner>, since_ms: i64) {
    let users = hub.registry.users_online();
    let started = std::time::Instant::now();
    let count = users.len();
    futures_util::stream::iter(users)
        .for_each_concurrent(PARALLEL, |user_id| async move {
            match hub
                .store
                .user_events_since(&user_id, since_ms, USER_LIMIT)
                .await
            {
                Ok(events) => {
                    if events.len() as i64 >= USER_LIMIT {
                        tracing::warn!(user_id = %user_id, "bus refill hit its per-user limit");
                    }
                    crate::ops::metrics::get()
                        .bus_refilled
                        .increment(events.len() as u64);
                    for e in &events {
                        hub.refilled(Arc::new(BusEvent::from_task_event(e)));
                    }
                }
                Err(e) => tracing::error!(error = %e, user_id = %user_id, "bus refill read failed"),
            }
        })
        .await;
    tracing::info!(
        users = count,
        ms = started.elapsed().as_millis() as u64,
        "bus refill read the log"
    );
}

//! The WebSocket hub: holds this node's sockets, knows who watches what, and pushes each
//! bus event to the sockets that watch its task or its user (PROTOCOL §3).
//!
//! - [`protocol`]: client/server frames.
//! - [`session`]: one socket's protocol loop over any `Sink`/`Stream`; [`commands`]: what a
//!   client may ask.
//! - [`outbox`]: one socket's bounded, coalescing outbound queue; [`writer`]: its writer.
//! - [`registry`]: task -> sockets and user -> sockets, sharded maps.
//! - [`refill`]: after the bus lost events, read them back from the log.
//!
//! The fan-out path: the bus hands an event (serialized once) to [`HubInner::deliver`],
//! which looks up the task's and the user's watchers in the registry and queues a shared
//! reference to the same frame on each socket. No global lock is taken on the way.

pub mod commands;
mod fxhash;
pub mod outbox;
pub mod protocol;
mod refill;
pub mod registry;
pub mod session;
pub mod settings;
#[cfg(test)]
mod tests;
pub mod writer;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::ws::WebSocket;
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::auth::jwt::JwtKeys;
use crate::bus::{Bus, BusEvent, BusSink};
use crate::store::Store;
pub use settings::HubSettings;

#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

pub struct HubInner {
    pub settings: HubSettings,
    store: Store,
    bus: Arc<dyn Bus>,
    jwt: JwtKeys,
    registry: registry::Registry,
    shutdown: CancellationToken,
    live: AtomicUsize,
    idle: Notify,
    next_id: AtomicU64,
    refill: refill::RefillState,
    me: Weak<HubInner>,
}

impl Hub {
    /// Creates the hub and attaches it to `bus` as the receiver of this node's events.
    pub fn new(
        settings: HubSettings,
        store: Store,
        bus: Arc<dyn Bus>,
        jwt: JwtKeys,
        shutdown: CancellationToken,
    ) -> Self {
        let inner = Arc::new_cyclic(|me| HubInner {
            settings,
            store,
            bus: bus.clone(),
            jwt,
            registry: registry::Registry::default(),
            shutdown,
            live: AtomicUsize::new(0),
            idle: Notify::new(),
            next_id: AtomicU64::new(1),
            refill: refill::RefillState::default(),
            me: me.clone(),
        });
        let sink: Weak<dyn BusSink> = Arc::downgrade(&inner) as Weak<dyn BusSink>;
        bus.attach(sink);
        Self { inner }
    }

    pub fn settings(&self) -> &HubSettings {
        &self.inner.settings
    }

    /// Serves an upgraded socket until it closes.
    pub async fn serve(&self, socket: WebSocket, query_token: Option<String>) {
        let (sink, stream) = socket.split();
        session::run(self.clone(), sink, stream, query_token).await;
    }

    /// Sockets open on this node.
    pub fn live_sockets(&self) -> usize {
        self.inner.live.load(Ordering::Acquire)
    }

    /// (authenticated sockets, watched tasks, users with sockets) on this node.
    pub fn counts(&self) -> (usize, usize, usize) {
        self.inner.registry.counts()
    }

    /// Waits until every socket has closed, or `grace` passes. True if all closed.
    pub async fn drain(&self, grace: Duration) -> bool {
        let all_closed = async {
            loop {
                let idle = self.inner.idle.notified();
                if self.live_sockets() == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(grace, all_closed).await.is_ok()
    }
}

impl HubInner {
    fn next_conn_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn live_guard(self: &Arc<Self>) -> LiveGuard {
        self.live.fetch_add(1, Ordering::AcqRel);
        let m = crate::ops::metrics::get();
        m.ws_sockets.increment(1.0);
        m.ws_connections.increment(1);
        LiveGuard(self.clone())
    }
}

/// Counts a socket while its session runs.
struct LiveGuard(Arc<HubInner>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        crate::ops::metrics::get().ws_sockets.decrement(1.0);
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl BusSink for HubInner {
    fn deliver(&self, event: Arc<BusEvent>) {
        if self.refill.holding.load(Ordering::Acquire) && self.refill.hold(&event) {
            return;
        }
        self.registry.dispatch(&event);
    }

    fn bus_lost(&self) {
        self.refill.begin();
    }

    fn bus_restored(&self, since_ms: i64) {
        let generation = self.refill.begin();
        if let Some(me) = self.me.upgrade() {
            let since = since_ms - self.settings.bus_resync_margin_ms as i64;
            tokio::spawn(refill::run(me, generation, since));
        }
    }
}

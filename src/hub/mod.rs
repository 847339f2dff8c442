//! The WebSocket hub: holds this node's sockets, knows who watches what, and pushes each
//! bus event to the sockets that watch its task or its user (PROTOCOL §3).
//!
//! - [`protocol`]: client/server frames.
//! - [`session`]: one socket's protocol loop over any `Sink`/`Stream`; [`commands`]: what a
//!   client may ask.
//! - [`outbox`]: one socket's bounded, coalescing outbound queue (and the check that it
//!   carries its own user's events only); `subscribe`: its subscriptions; [`writer`]: its
//!   writer.
//! - [`registry`]: task -> sockets and user -> sockets, sharded maps.
//! - [`refill`]: after the bus lost events, read them back from the log.
//! - [`admission`]: caps on sockets that have not authenticated; [`transport`]: the
//!   connection under a session and its lingering close; [`lean_io`]: its WebSocket
//!   framing, which holds no read or write buffer while the socket is idle.
//!
//! The fan-out path: the bus hands an event (serialized once) to [`HubInner::deliver`],
//! which looks up the task's and the user's watchers in the registry and queues a shared
//! reference to the same frame on each socket. No global lock is taken on the way.

pub mod admission;
pub mod commands;
mod cursor_map;
pub mod lean_io;
#[cfg(test)]
mod memory_tests;
#[cfg(test)]
mod model_tests;
mod order;
pub mod outbox;
pub mod protocol;
mod ratelimit;
mod refill;
pub mod registry;
pub mod session;
pub mod settings;
mod subscribe;
#[cfg(test)]
mod tests;
pub mod transport;
pub mod writer;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::auth::jwt::JwtKeys;
use crate::bus::{Bus, BusEvent, BusSink};
use crate::store::Store;
pub use settings::HubSettings;

/// An event committed longer ago than this when it reaches the hub counts as late (see
/// `HubInner::fan_out`).
const LATE_EVENT_MS: i64 = 1_000;

/// Close code of a socket whose account was deleted (PROTOCOL §3).
pub const CLOSE_ACCOUNT_DELETED: u16 = 4003;

/// A socket the upgrade handler answered, for [`Hub::serve`].
pub struct Upgrade {
    pub on_upgrade: hyper::upgrade::OnUpgrade,
    /// The upgrade URL's `?token=`.
    pub query_token: Option<String>,
    /// From [`Hub::admit`].
    pub admitted: Result<admission::UnauthSlot, admission::Refusal>,
}

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
    admission: admission::Admission,
    shutdown: CancellationToken,
    /// Sockets not yet authenticated (the registry knows the others): on shutdown every
    /// socket is woken through one of the two, so no socket waits on the token itself.
    unauthed: dashmap::DashMap<u64, Arc<outbox::Conn>>,
    live: AtomicUsize,
    idle: Notify,
    next_id: AtomicU64,
    refill: refill::RefillState,
    /// Each task's live events in seq order, whichever node published them.
    order: order::Order,
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
            admission: admission::Admission::default(),
            shutdown,
            unauthed: dashmap::DashMap::new(),
            live: AtomicUsize::new(0),
            idle: Notify::new(),
            next_id: AtomicU64::new(1),
            refill: refill::RefillState::default(),
            order: order::Order::default(),
            me: me.clone(),
        });
        let sink: Weak<dyn BusSink> = Arc::downgrade(&inner) as Weak<dyn BusSink>;
        bus.attach(sink);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (token, hub) = (inner.shutdown.clone(), Arc::downgrade(&inner));
            rt.spawn(async move {
                token.cancelled().await;
                if let Some(hub) = hub.upgrade() {
                    hub.wake_every_socket();
                }
            });
        }
        Self { inner }
    }

    pub fn settings(&self) -> &HubSettings {
        &self.inner.settings
    }

    /// Counts a new socket from `peer` as unauthenticated, or says which cap refuses it.
    /// Call before answering the upgrade; hand the result to [`Hub::serve`].
    pub fn admit(
        &self,
        peer: Option<std::net::IpAddr>,
    ) -> Result<admission::UnauthSlot, admission::Refusal> {
        let admitted = admission::Admission::admit(&self.inner, peer);
        if admitted.is_err() {
            metrics::counter!("taskhub_ws_unauthenticated_refused_total").increment(1);
        }
        admitted
    }

    /// Serves a connection until it closes, from its upgrade on: a session if it was
    /// admitted, else close 1013 at once. Either way the connection is closed lingeringly after
    /// a refusal. This is the socket's whole task (`routes::ws` spawns it).
    pub async fn serve(self, upgrade: Box<Upgrade>) {
        let Upgrade {
            on_upgrade,
            query_token,
            admitted,
        } = *upgrade;
        let io = match on_upgrade.await {
            Ok(io) => io,
            Err(e) => {
                tracing::debug!(error = %e, "WebSocket upgrade failed");
                return;
            }
        };
        let s = &self.inner.settings;
        let ws = transport::open(io, s);
        let slot = match admitted {
            Ok(slot) => slot,
            Err(refusal) => {
                let code = admission::CLOSE_TRY_AGAIN;
                // Boxed (like the linger below): only refused sockets pay for it.
                Box::pin(transport::refuse(ws, code, refusal.reason(), s)).await;
                return;
            }
        };
        let (sink, stream) = transport::split(ws);
        let start = session::Start::new(query_token, Some(slot));
        if let Some((sink, stream)) = session::run(self.clone(), sink, stream, start).await {
            // Boxed: its read buffer must not enlarge every socket's task.
            Box::pin(transport::linger(sink, stream, s)).await;
        }
    }

    /// (unauthenticated sockets, peer addresses with one) on this node.
    pub fn unauthenticated(&self) -> (usize, usize) {
        self.inner.admission.counts()
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
    /// Shutdown: every socket's task looks at the token (`Session::read_loop`).
    fn wake_every_socket(&self) {
        for conn in self.registry.all_sockets() {
            conn.wake_reader();
        }
        for e in self.unauthed.iter() {
            e.value().wake_reader();
        }
    }

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

impl HubInner {
    /// Fans out an event that passed the order gate.
    ///
    /// An event committed well before now (published late by a node that lost the bus, or
    /// read back to fill a gap) reaches a user subscription that has no cursor for its task
    /// only if it is newer than that subscription, like a refill: a socket that subscribed
    /// after it was committed must not get a task's old frames out of the blue (the chaos run
    /// found a resumed client getting a finished task's last frames again).
    fn fan_out(&self, event: &Arc<BusEvent>, from_log: bool) {
        let scope = fan_out_scope(event.created_at, crate::domain::time::now_ms(), from_log);
        self.registry.dispatch_with(event, scope);
    }

    /// An event read back from the log by the bus refill: through the order gate like a live
    /// one, then to the sockets as read from the log. So the refill sends only what the gate
    /// has not passed yet (no socket has it), and the event's live copy, if a late publisher
    /// still sends it, is dropped at the gate. (It used to go around the gate: the late live
    /// copy then passed as new and reached a socket twice when the socket had forgotten the
    /// task's cursor; the model test found it.)
    fn refilled(&self, event: Arc<BusEvent>) {
        match self.order.admit(&event) {
            order::Verdict::Send(events) => {
                for ev in &events {
                    self.registry.dispatch_with(ev, outbox::Scope::UserRefill);
                }
            }
            order::Verdict::Held { fill_from: Some(_) } => {
                if let Some(me) = self.me.upgrade() {
                    tokio::spawn(me.fill_gap(event.video_id.clone()));
                }
            }
            order::Verdict::Held { fill_from: None } | order::Verdict::Drop => {}
        }
    }

    /// Reads a task's missing events from the log after [`order::GAP_WAIT`] (unless the
    /// straggler came meanwhile) and fans out what the gap held. Retries a failed read for
    /// about 30 s ([`gap_retry_delays`]), holding the events meanwhile, then lets the held
    /// events go (the gap is then the client's to see and resync with `sinceSeq`).
    async fn fill_gap(self: Arc<Self>, video_id: Arc<str>) {
        for delay in gap_retry_delays() {
            tokio::time::sleep(delay).await;
            let Some(last) = self.order.gap_open(&video_id) else {
                self.order.filled(&video_id, Vec::new(), false);
                return;
            };
            match self.store.events_since(&video_id, last, 1000).await {
                Ok(events) => {
                    let events: Vec<_> = events
                        .iter()
                        .map(|e| Arc::new(BusEvent::from_task_event(e)))
                        .collect();
                    crate::ops::metrics::get()
                        .bus_gaps_filled
                        .increment(events.len() as u64);
                    for ev in self.order.filled(&video_id, events, false) {
                        self.fan_out(&ev, true);
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, video_id = %video_id, "reading a gap from the log failed")
                }
            }
        }
        for ev in self.order.filled(&video_id, Vec::new(), true) {
            self.fan_out(&ev, true);
        }
    }
}

/// How an event that passed the order gate reaches user subscriptions (see
/// [`HubInner::fan_out`]): as a refill (only to subscriptions older than the event, or with a
/// cursor for its task) when it was read from the log or committed more than
/// [`LATE_EVENT_MS`] ago; as live otherwise.
fn fan_out_scope(created_at: i64, now_ms: i64, from_log: bool) -> outbox::Scope {
    if from_log || now_ms - created_at > LATE_EVENT_MS {
        outbox::Scope::UserRefill
    } else {
        outbox::Scope::User
    }
}

/// Waits before each read of a gap from the log: [`order::GAP_WAIT`], then doubling up to 2 s,
/// about 30 s in all. A PostgreSQL restart keeps the log unreadable for seconds: the large
/// chaos run restarted it eight times, and the first retries (five, 2.25 s in all) gave up
/// four times and let the held frames go out past a gap (RELIABILITY.md).
fn gap_retry_delays() -> impl Iterator<Item = Duration> {
    let cap = Duration::from_secs(2);
    let mut next = order::GAP_WAIT;
    let mut total = Duration::ZERO;
    std::iter::from_fn(move || {
        if total >= Duration::from_secs(30) {
            return None;
        }
        let d = next;
        total += d;
        next = (next * 2).min(cap);
        Some(d)
    })
}

impl BusSink for HubInner {
    fn deliver(&self, event: Arc<BusEvent>) {
        // While a bus refill runs, live events wait before the gate; the refill's events pass
        // it first, then these (see `refill`).
        if self.refill.holding.load(Ordering::Acquire) && self.refill.hold(&event) {
            return;
        }
        match self.order.admit(&event) {
            order::Verdict::Send(events) => events.iter().for_each(|ev| self.fan_out(ev, false)),
            order::Verdict::Held { fill_from: Some(_) } => {
                if let Some(me) = self.me.upgrade() {
                    tokio::spawn(me.fill_gap(event.video_id.clone()));
                }
            }
            order::Verdict::Held { fill_from: None } | order::Verdict::Drop => {}
        }
    }

    fn bus_lost(&self) {
        self.refill.begin();
    }

    fn close_user(&self, user_id: &str) {
        let frame = protocol::ServerFrame::AuthError {
            code: "accountDeleted",
            message: "this account was deleted",
        };
        for conn in self.registry.sockets_of(user_id) {
            conn.push_text(frame.encode(None));
            conn.close(CLOSE_ACCOUNT_DELETED, "account deleted");
        }
    }

    fn bus_restored(&self, since_ms: i64) {
        let generation = self.refill.begin();
        if let Some(me) = self.me.upgrade() {
            let since = since_ms - self.settings.bus_resync_margin_ms as i64;
            tokio::spawn(refill::run(me, generation, since));
        }
    }
}

/// A shared frame as the text of a WebSocket message, without copying or re-checking it.
pub(crate) fn text_of(frame: &crate::domain::Frame) -> tokio_tungstenite::tungstenite::Utf8Bytes {
    // SAFETY: a `Frame` can only be built from a `String` or a `&'static str`, so its bytes
    // are valid UTF-8 (its `as_str` checks that again in every test that reads a frame).
    unsafe {
        tokio_tungstenite::tungstenite::Utf8Bytes::from_bytes_unchecked(frame.clone().into_bytes())
    }
}

#[cfg(test)]
mod fan_out_tests {
    use super::*;

    /// Chaos run regression (RELIABILITY.md, finding 2): a task's last frames, published late
    /// by a node that had lost the bus, reached a user subscription made after they were
    /// committed. A late or logged event goes out as a refill, which such a subscription
    /// skips (`hub::tests::user_refill_skips_what_predates_the_subscription`).
    #[test]
    fn an_event_committed_over_a_second_ago_or_read_from_the_log_goes_out_as_a_refill() {
        let now = 1_000_000;
        assert_eq!(fan_out_scope(now - 10, now, false), outbox::Scope::User);
        assert_eq!(
            fan_out_scope(now - LATE_EVENT_MS, now, false),
            outbox::Scope::User
        );
        assert_eq!(
            fan_out_scope(now - LATE_EVENT_MS - 1, now, false),
            outbox::Scope::UserRefill
        );
        assert_eq!(fan_out_scope(now, now, true), outbox::Scope::UserRefill);
    }
}

#[cfg(test)]
mod gap_retry_tests {
    use super::*;

    #[test]
    fn a_gap_is_read_again_for_about_thirty_seconds_before_its_frames_go_out() {
        let delays: Vec<Duration> = gap_retry_delays().collect();
        let total: Duration = delays.iter().sum();
        // Longer than the longest outage window of a PostgreSQL restart in the chaos runs
        // (13 s), with room; the first read still comes after GAP_WAIT.
        assert!(
            total >= Duration::from_secs(30) && total < Duration::from_secs(33),
            "{total:?}"
        );
        assert_eq!(delays[0], order::GAP_WAIT);
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(2)));
        assert!(delays.windows(2).all(|w| w[1] >= w[0]));
    }
}

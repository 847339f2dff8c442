//! One socket's outbound side: a bounded queue of frames, the per-task delivery cursors
//! that keep each task's frames in `seq` order without duplicates, and the writer loop.
//!
//! A socket delivers only events of its authenticated user ([`Conn::set_owner`]); every
//! event frame is queued through one check of that, so a wrong registry entry or a held
//! frame can never reach another user.
//!
//! The fan-out (any thread) pushes into the queue under the socket's own short lock and
//! wakes the writer only when the queue was empty; the writer takes everything queued, feeds
//! it to the WebSocket and flushes once, so a socket with a backlog gets several frames per
//! write system call while an idle one is written at once (the writer is [`super::writer`]). Queued `taskProgress` frames of a
//! task are replaced by newer ones (latest wins); other frames are never dropped: a queue
//! that still overflows closes the socket with 4002 so the client resubscribes with
//! `sinceSeq` and reads the rest from the event log.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::bus::BusEvent;
use crate::domain::lifecycle::EventType;

/// Close code telling the client it was too slow: reconnect and resubscribe with sinceSeq.
pub const CLOSE_TOO_SLOW: u16 = 4002;
/// Frames held for one task while its subscription snapshot is being read.
const HELD_CAP: usize = 256;

/// Which subscription an event reaches a socket through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Task,
    User,
    /// A user-scope event read back from the log after a bus outage: only for tasks the
    /// socket already follows, or events newer than its user subscription.
    UserRefill,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Open,
    /// Write what is queued, then close with this code.
    Closing(u16, &'static str),
    /// Our close frame is out; waiting for the peer's.
    CloseSent,
    /// Gone: stop reading and writing.
    Dead,
}

pub enum Out {
    Event(Arc<BusEvent>),
    Text(Utf8Bytes),
    Ping,
}

#[derive(Default)]
pub(super) struct Cursor {
    /// Highest seq queued (or covered by a snapshot) for this socket.
    pub(super) delivered: i64,
    /// A `subscribe_task` for this task is active.
    pub(super) task_scope: bool,
    pub(super) terminal: bool,
    /// While the subscription snapshot is read: live frames wait here (boxed: rare, and a
    /// cursor is kept per task per socket).
    #[allow(clippy::box_collection)] // 8 bytes in every cursor instead of 24: rarely used
    pub(super) held: Option<Box<Vec<Arc<BusEvent>>>>,
    /// Absolute queue position of this task's queued, not yet written progress frame.
    pub(super) queued_progress: Option<u64>,
    /// Absolute queue position of this task's latest frame (how recently it was active).
    pub(super) last: u64,
}

pub struct Outbox {
    pub(super) frames: VecDeque<Out>,
    /// Frames handed to the writer so far (positions below this are no longer queued).
    pub(super) taken: u64,
    pub(super) pushed: u64,
    pub(super) cap: usize,
    pub(super) coalesce: bool,
    pub(super) state: State,
    pub(super) cursors: super::cursor_map::CursorMap,
    /// Cursors kept before the user subscription's least recently active ones are forgotten.
    pub(super) cursor_cap: usize,
    pub(super) task_subs: usize,
    /// The authenticated user; no other user's event is ever queued (none before auth).
    pub(super) owner: Option<Arc<str>>,
    /// Set while a user subscription is on: when it started (Unix ms).
    pub(super) user_since: Option<i64>,
    /// What the socket had of the tasks whose cursors it dropped while open (cursor cap, end
    /// of a task subscription, of the user subscription): (hash of the task id, seq
    /// delivered), the latest `2 × cursor_cap` of them. Such a task's new cursor starts from
    /// there, so a frame the socket already sent (through a replay, before the bus delivered
    /// its live copy late) is not sent again. Boxed: most sockets never need it.
    #[allow(clippy::box_collection)]
    pub(super) forgotten: Option<Box<VecDeque<(u64, i64)>>>,
}

/// One socket's shared state: what the fan-out and the session touch.
pub struct Conn {
    pub id: u64,
    pub(super) out: Mutex<Outbox>,
    wake: Wake,
}

/// Wake-ups for the socket's task. Its reader and its writer run in that one task
/// (`session::run`), so one waker serves both, and a flag each says which of them has
/// something to do. Like a `Notify` permit, a wake-up given while nobody waits is kept (once)
/// for the next wait. Two `Notify`s and their two `Notified` futures took about 200 bytes a
/// socket; this takes 32.
struct Wake {
    waker: futures_util::task::AtomicWaker,
    flags: AtomicU8,
}

const WRITER: u8 = 1;
const READER: u8 = 2;

impl Wake {
    fn new() -> Self {
        Self {
            waker: futures_util::task::AtomicWaker::new(),
            flags: AtomicU8::new(0),
        }
    }

    fn notify(&self, who: u8) {
        self.flags.fetch_or(who, Ordering::AcqRel);
        self.waker.wake();
    }

    fn poll(&self, who: u8, cx: &mut Context<'_>) -> Poll<()> {
        if self.flags.fetch_and(!who, Ordering::AcqRel) & who != 0 {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // A wake-up between the check and the registration went to the old waker, if any.
        if self.flags.fetch_and(!who, Ordering::AcqRel) & who != 0 {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Conn {
    pub fn new(id: u64, cap: usize, coalesce: bool, cursor_cap: usize) -> Self {
        Self {
            id,
            out: Mutex::new(Outbox {
                frames: VecDeque::new(),
                taken: 0,
                pushed: 0,
                cap: cap.max(4),
                coalesce,
                state: State::Open,
                cursors: Default::default(),
                cursor_cap: cursor_cap.max(1),
                task_subs: 0,
                owner: None,
                user_since: None,
                forgotten: None,
            }),
            wake: Wake::new(),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Outbox> {
        // A panic while holding this lock cannot leave the queue half-updated in a way that
        // matters more than losing the socket; keep serving.
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> State {
        self.lock().state.clone()
    }

    /// The user whose events this socket may deliver (set once, at authentication).
    pub fn set_owner(&self, user_id: Arc<str>) {
        self.lock().owner.get_or_insert(user_id);
    }

    /// Queues an event frame if this socket should get it. Returns false if the socket's
    /// queue overflowed (it is being closed with 4002).
    pub fn push_event(&self, ev: &Arc<BusEvent>, scope: Scope) -> bool {
        let mut o = self.lock();
        let was_empty = o.frames.is_empty();
        let ok = o.push_event(ev, scope);
        drop(o);
        self.after_push(was_empty, ok)
    }

    /// Queues a control/reply frame.
    pub fn push_text(&self, text: Utf8Bytes) -> bool {
        self.push_out(Out::Text(text))
    }

    pub fn push_ping(&self) -> bool {
        self.push_out(Out::Ping)
    }

    fn push_out(&self, out: Out) -> bool {
        let mut o = self.lock();
        let was_empty = o.frames.is_empty();
        let ok = o.state != State::Open || o.enqueue(out);
        drop(o);
        self.after_push(was_empty, ok)
    }

    pub(super) fn after_push(&self, was_empty: bool, ok: bool) -> bool {
        if !ok {
            crate::ops::metrics::get().ws_slow_closed.increment(1);
            self.wake.notify(WRITER | READER);
        } else if was_empty {
            self.wake.notify(WRITER);
        }
        ok
    }

    /// Writes what is queued, then closes with `code` (first close decision wins).
    pub fn close(&self, code: u16, reason: &'static str) {
        let mut o = self.lock();
        if o.state == State::Open {
            o.state = State::Closing(code, reason);
        }
        drop(o);
        self.wake.notify(WRITER);
    }

    /// Stops everything now (peer gone, write failed).
    pub fn kill(&self) {
        self.lock().state = State::Dead;
        self.wake.notify(WRITER | READER);
    }

    pub(super) fn set_close_sent(&self) {
        let mut o = self.lock();
        if o.state != State::Dead {
            o.state = State::CloseSent;
        }
        drop(o);
        self.wake.notify(READER);
    }

    /// Has the reader look at the socket's state and the hub's (shutdown).
    pub(super) fn wake_reader(&self) {
        self.wake.notify(READER);
    }

    /// Resolves once the reader has something to act on (a state change), or at once if it
    /// was told so while not waiting. Only the socket's own task may wait here.
    pub async fn reader_woken(&self) {
        std::future::poll_fn(|cx| self.wake.poll(READER, cx)).await
    }

    /// Resolves once there is something to write (or a state change), or at once if the
    /// writer was told so while not waiting. Only the socket's own task may wait here.
    pub(super) async fn writer_woken(&self) {
        std::future::poll_fn(|cx| self.wake.poll(WRITER, cx)).await
    }

    #[cfg(test)]
    pub(super) fn take_for_test(&self) -> (VecDeque<Out>, State) {
        self.take()
    }

    /// Everything queued, for the writer, and the state to act on once it is written.
    pub(super) fn take(&self) -> (VecDeque<Out>, State) {
        let mut o = self.lock();
        let frames = std::mem::take(&mut o.frames);
        o.taken += frames.len() as u64;
        (frames, o.state.clone())
    }
}

impl Outbox {
    /// Whether `ev` is this socket's user's: the one check every event frame passes.
    pub(super) fn owns(&self, ev: &BusEvent) -> bool {
        let own = self.owner.as_deref().is_some_and(|o| *o == *ev.user_id);
        if !own {
            metrics::counter!("taskhub_ws_foreign_events_refused_total").increment(1);
            tracing::warn!(video_id = %ev.video_id, "refused another user's event on a socket");
        }
        own
    }

    pub(super) fn push_event(&mut self, ev: &Arc<BusEvent>, scope: Scope) -> bool {
        if self.state != State::Open || !self.owns(ev) {
            return true;
        }
        let key: &str = &ev.video_id;
        match scope {
            Scope::Task => {
                if !self.cursors.get(key).is_some_and(|c| c.task_scope) {
                    return true;
                }
            }
            Scope::User | Scope::UserRefill => {
                let Some(since) = self.user_since else {
                    return true;
                };
                if !self.cursors.contains_key(key) {
                    if scope == Scope::UserRefill && ev.created_at < since {
                        return true;
                    }
                    self.make_room();
                    let cursor = self.new_cursor(key);
                    self.cursors.insert(ev.video_id.clone(), cursor);
                }
            }
        }
        let Some(c) = self.cursors.get_mut(key) else {
            return true;
        };
        if let Some(held) = c.held.as_mut() {
            return hold(held, ev);
        }
        self.push_ordered(ev, true)
    }

    /// Queues `ev` if it is newer than what this socket has of the task.
    pub(super) fn push_ordered(&mut self, ev: &Arc<BusEvent>, coalesce: bool) -> bool {
        // Closing (its queue overflowed, say): nothing more goes out before the close frame.
        // (A subscription's replay used to be queued after its own `subscribed` overflowed the
        // queue, so the client got the replayed frames without their header; the model test
        // found it.)
        if self.state != State::Open || !self.owns(ev) {
            return true;
        }
        let (taken, pushed) = (self.taken, self.pushed);
        let Some(c) = self.cursors.get_mut(&ev.video_id) else {
            return true;
        };
        if ev.seq <= c.delivered {
            return true;
        }
        c.delivered = ev.seq;
        c.last = pushed;
        let progress = ev.kind == EventType::TaskProgress;
        if progress && coalesce && self.coalesce {
            if let Some(pos) = c.queued_progress.filter(|p| *p >= taken) {
                if let Some(slot) = self.frames.get_mut((pos - taken) as usize) {
                    *slot = Out::Event(ev.clone());
                    crate::ops::metrics::get().ws_coalesced.increment(1);
                    return true;
                }
            }
        }
        c.queued_progress = progress.then_some(pushed);
        if ev.kind.is_terminal() {
            c.terminal = true;
            if c.task_scope {
                self.end_task_scope(&ev.video_id);
            }
        }
        self.enqueue(Out::Event(ev.clone()))
    }

    pub(super) fn enqueue(&mut self, out: Out) -> bool {
        if self.frames.len() >= self.cap {
            self.state = State::Closing(CLOSE_TOO_SLOW, "too slow: resubscribe with sinceSeq");
            crate::ops::metrics::get()
                .ws_frames_dropped
                .increment(self.frames.len() as u64);
            self.frames.clear();
            return false;
        }
        self.frames.push_back(out);
        self.pushed += 1;
        true
    }
}

pub(super) fn hold(held: &mut Vec<Arc<BusEvent>>, ev: &Arc<BusEvent>) -> bool {
    if held.len() >= HELD_CAP {
        // Only progress can pile up this fast; keep the latest.
        if let Some(pos) = held.iter().rposition(|h| h.kind == EventType::TaskProgress) {
            held.remove(pos);
        }
    }
    held.push(ev.clone());
    true
}

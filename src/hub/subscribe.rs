//! A socket's subscriptions, on its [`Conn`]: starting a task subscription (its live frames
//! held while the snapshot is read), finishing or aborting it, the user subscription, and
//! keeping the per-socket cursor map bounded.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::outbox::{Conn, Cursor, Out, Outbox, Scope, State};
use super::protocol::WsError;
use crate::bus::BusEvent;

impl Conn {
    /// Starts a task subscription: from now on this task's live frames are held until
    /// [`Conn::finish_subscribe`]. Refused past `max` subscriptions.
    pub fn begin_subscribe(&self, video_id: &Arc<str>, max: usize) -> Result<(), WsError> {
        let mut o = self.lock();
        let already = o.cursors.get(video_id).is_some_and(|c| c.task_scope);
        if !already && o.task_subs >= max {
            return Err(WsError::new(
                "limitExceeded",
                format!("at most {max} task subscriptions per socket"),
            ));
        }
        if !already {
            o.task_subs += 1;
        }
        if !o.cursors.contains_key(video_id) {
            o.make_room();
            let cursor = o.new_cursor(video_id);
            o.cursors.insert(video_id.clone(), cursor);
        }
        let c = o.cursors.get_or_default(video_id);
        c.task_scope = true;
        c.held.get_or_insert_with(Default::default);
        Ok(())
    }

    /// Queues `subscribed`, the replayed events, then the frames held meanwhile that the
    /// snapshot does not cover. Returns true when the task is finished, so the subscription
    /// has ended by itself (the caller drops it from the registry).
    pub fn finish_subscribe(
        &self,
        video_id: &str,
        subscribed: Utf8Bytes,
        replay: Vec<Arc<BusEvent>>,
        snapshot_seq: i64,
        snapshot_terminal: bool,
    ) -> bool {
        let mut o = self.lock();
        if o.state != State::Open {
            return false;
        }
        let was_empty = o.frames.is_empty();
        let held = match o.cursors.get_mut(video_id) {
            Some(c) => c.held.take().map(|h| *h).unwrap_or_default(),
            None => Vec::new(),
        };
        let mut ok = o.enqueue(Out::Text(subscribed));
        for ev in replay {
            ok &= o.push_ordered(&ev, false);
        }
        if let Some(c) = o.cursors.get_mut(video_id) {
            c.delivered = c.delivered.max(snapshot_seq);
            c.terminal |= snapshot_terminal;
        }
        for ev in held {
            ok &= o.push_ordered(&ev, true);
        }
        // No cursor left: a terminal frame (replayed or held) ended the subscription and its
        // cursor went with it (the socket has no user subscription); it has ended all the same.
        let ended = o.cursors.get(video_id).is_none_or(|c| c.terminal);
        if ended {
            o.end_task_scope(video_id);
        }
        drop(o);
        self.after_push(was_empty, ok);
        ended
    }

    /// Drops a subscription that failed, and the frames held for it: only the user's own
    /// events go on, to a user subscription if the socket has one (it would have had them
    /// without the hold). The task's cursor goes too, unless that subscription uses it.
    pub fn abort_subscribe(&self, video_id: &str) {
        let mut o = self.lock();
        let was_empty = o.frames.is_empty();
        let mut held = o
            .cursors
            .get_mut(video_id)
            .and_then(|c| c.held.take())
            .map(|h| *h)
            .unwrap_or_default();
        o.end_task_scope(video_id);
        if o.user_since.is_none() {
            held.clear();
        }
        held.retain(|ev| o.owns(ev));
        let mut ok = true;
        for ev in held {
            ok &= o.push_event(&ev, Scope::User);
        }
        let unused = |c: &Cursor| !c.task_scope && c.delivered == 0;
        if o.cursors.get(video_id).is_some_and(unused) {
            o.cursors.remove(video_id);
        }
        drop(o);
        self.after_push(was_empty, ok);
    }

    /// Ends a task subscription; false if there was none.
    pub fn unsubscribe(&self, video_id: &str) -> bool {
        self.lock().end_task_scope(video_id)
    }

    pub fn set_user_scope(&self, since_ms: i64) {
        let mut o = self.lock();
        o.user_since.get_or_insert(since_ms);
    }

    pub fn clear_user_scope(&self) -> bool {
        let mut o = self.lock();
        let had = o.user_since.take().is_some();
        o.forget(|c| c.task_scope);
        had
    }

    /// Task subscriptions held now (for cleanup).
    pub fn task_subscriptions(&self) -> Vec<Arc<str>> {
        let o = self.lock();
        o.cursors
            .iter()
            .filter(|(_, c)| c.task_scope)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Open tasks this socket follows and the seq it has up to (for the log refill).
    pub fn open_cursors(&self) -> Vec<(Arc<str>, i64)> {
        let o = self.lock();
        o.cursors
            .iter()
            .filter(|(_, c)| !c.terminal)
            .map(|(k, c)| (k.clone(), c.delivered))
            .collect()
    }
}

impl Outbox {
    pub(super) fn end_task_scope(&mut self, video_id: &str) -> bool {
        let user = self.user_since.is_some();
        let Some(c) = self.cursors.get_mut(video_id) else {
            return false;
        };
        if !c.task_scope {
            return false;
        }
        c.task_scope = false;
        c.held = None;
        // Forgotten, not lost: a user subscription this socket starts later may still get
        // the task's last frames live, and must not send them twice (the chaos run saw a
        // resumed task's terminal frame twice, once replayed, once live; `forget_one` keeps
        // the seq the socket had).
        self.task_subs = self.task_subs.saturating_sub(1);
        if !user {
            self.forget_one(video_id);
        }
        true
    }

    /// Keeps the cursor map bounded before a new cursor goes in: at the cap, forgets the
    /// finished tasks of the user subscription, then, if that was not enough, its less
    /// recently active half. A task subscription's cursor stays (those are capped by
    /// `ws_max_subscriptions`). A forgotten task's next frame starts a new cursor.
    pub(super) fn make_room(&mut self) {
        if self.cursors.len() < self.cursor_cap {
            return;
        }
        self.forget(|c| c.task_scope || !c.terminal);
        if self.cursors.len() < self.cursor_cap {
            return;
        }
        let mut ages: Vec<u64> = self
            .cursors
            .values()
            .filter(|c| !c.task_scope)
            .map(|c| c.last)
            .collect();
        if ages.is_empty() {
            return;
        }
        let mid = ages.len() / 2;
        let (_, &mut cut, _) = ages.select_nth_unstable(mid);
        self.forget(|c| c.task_scope || c.last > cut);
        metrics::counter!("taskhub_ws_cursors_forgotten_total").increment(1);
    }

    /// How many dropped tasks a socket remembers: twice its cursors. A task is either in the
    /// cursor map or remembered, never both, so nothing remembered is pushed out until the
    /// socket has followed more than three times `cursor_cap` tasks. With only `cursor_cap`
    /// of them, one cap-halving `make_room` could push out what an earlier one remembered:
    /// the model test saw a finished task's cursor dropped at the cap, then two more, and
    /// the bus refill sent its terminal frame a second time.
    fn forgotten_cap(&self) -> usize {
        self.cursor_cap.saturating_mul(2)
    }

    /// Drops the cursors `keep` refuses, noting what each had (see `Outbox::forgotten`).
    fn forget(&mut self, keep: impl Fn(&Cursor) -> bool) {
        let cap = self.forgotten_cap();
        let mut forgotten = self.forgotten.take().unwrap_or_default();
        self.cursors.retain(|k, c| {
            if keep(c) {
                return true;
            }
            note(&mut forgotten, cap, k, c.delivered);
            false
        });
        self.forgotten = (!forgotten.is_empty()).then_some(forgotten);
    }

    /// Drops one task's cursor, noting what it had.
    fn forget_one(&mut self, video_id: &str) {
        if let Some(c) = self.cursors.remove(video_id) {
            let cap = self.forgotten_cap();
            let forgotten = self.forgotten.get_or_insert_with(Default::default);
            note(forgotten, cap, video_id, c.delivered);
        }
    }

    /// A cursor for a task that has none: from what the socket had of it if it was forgotten.
    pub(super) fn new_cursor(&mut self, video_id: &str) -> Cursor {
        let h = task_hash(video_id);
        let delivered = self
            .forgotten
            .as_mut()
            .and_then(|f| {
                let i = f.iter().rposition(|(k, _)| *k == h)?;
                f.remove(i).map(|(_, seq)| seq)
            })
            .unwrap_or(0);
        Cursor {
            delivered,
            ..Cursor::default()
        }
    }
}

fn note(forgotten: &mut VecDeque<(u64, i64)>, cap: usize, video_id: &str, delivered: i64) {
    if delivered == 0 {
        return; // nothing sent: nothing to remember
    }
    if forgotten.len() >= cap {
        forgotten.pop_front();
    }
    forgotten.push_back((task_hash(video_id), delivered));
}

fn task_hash(video_id: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(video_id)
}

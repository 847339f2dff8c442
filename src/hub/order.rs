//! Each task's events in `seq` order at this node, whichever node published them.
//!
//! The bus keeps the order of one publisher, but one task's events come from several nodes
//! (whichever node's poller drove each step), and a node that cannot reach the bus for a
//! while publishes its events late. Without a gate, a socket here could see `seq` 11 before
//! the late 10 (the chaos run found it: a node cut off Redis while the others went on
//! driving its tasks). So before fan-out every live event passes [`Order::admit`]:
//!
//! - the next `seq` of its task is fanned out at once (and any held ones it unblocks);
//! - one already passed (a late duplicate, or a straggler after a fill) is dropped;
//! - one past a gap is held, and the missing events are read back from the event log (where
//!   every event is committed before it is published) after a short wait for the straggler
//!   ([`GAP_WAIT`]); then everything is fanned out in order.
//!
//! The first event of a task seen here opens its entry; entries of ended tasks are kept a
//! while to drop their stragglers, then forgotten, as are idle ones. Memory is bounded by the
//! tasks whose users have sockets here ([`HELD_CAP`] held events per task at most).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bus::BusEvent;

/// How long a gap may stay open before the log is read (the straggler usually arrives first).
pub const GAP_WAIT: Duration = Duration::from_millis(150);
/// Held events per task past which the gate gives up ordering that task (fans out as is).
const HELD_CAP: usize = 1024;
/// How long an ended task's entry is kept to drop its stragglers.
const ENDED_KEEP: Duration = Duration::from_secs(120);
/// An entry without events for this long is forgotten.
const IDLE_KEEP: Duration = Duration::from_secs(600);
/// How often entries are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

struct Entry {
    last: i64,
    held: BTreeMap<i64, Arc<BusEvent>>,
    /// A log read for this task's gap is in flight.
    filling: bool,
    ended: bool,
    touched: Instant,
}

/// What to do with an event.
#[derive(Debug)]
pub enum Verdict {
    /// Fan these out, in this order.
    Send(Vec<Arc<BusEvent>>),
    /// Held behind a gap; when `fill_from` is set, read the log after that seq.
    Held { fill_from: Option<i64> },
    /// Already passed: drop it.
    Drop,
}

pub struct Order {
    tasks: Mutex<HashMap<Arc<str>, Entry>>,
    swept: Mutex<Instant>,
}

impl Default for Order {
    fn default() -> Self {
        Self {
            tasks: Mutex::new(HashMap::new()),
            swept: Mutex::new(Instant::now()),
        }
    }
}

impl Order {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Entry>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A live event from the bus.
    pub fn admit(&self, ev: &Arc<BusEvent>) -> Verdict {
        self.maybe_sweep();
        let now = Instant::now();
        let mut tasks = self.lock();
        let Some(e) = tasks.get_mut(&ev.video_id) else {
            tasks.insert(
                ev.video_id.clone(),
                Entry {
                    last: ev.seq,
                    held: BTreeMap::new(),
                    filling: false,
                    ended: ev.kind.is_terminal(),
                    touched: now,
                },
            );
            return Verdict::Send(vec![ev.clone()]);
        };
        e.touched = now;
        if ev.seq <= e.last || e.held.contains_key(&ev.seq) {
            crate::ops::metrics::get()
                .bus_stragglers_dropped
                .increment(1);
            return Verdict::Drop;
        }
        e.held.insert(ev.seq, ev.clone());
        let out = release(e);
        if !out.is_empty() {
            return Verdict::Send(out);
        }
        if e.held.len() > HELD_CAP {
            // Give up ordering this task: fan out what is held (sockets resync with sinceSeq).
            let all: Vec<_> = std::mem::take(&mut e.held).into_values().collect();
            e.last = all.last().map_or(e.last, |l| l.seq);
            return Verdict::Send(all);
        }
        if e.filling {
            return Verdict::Held { fill_from: None };
        }
        e.filling = true;
        Verdict::Held {
            fill_from: Some(e.last),
        }
    }

    /// A socket here is about to follow `video_id`, whose committed events reach `seq`: if
    /// no event of the task has passed this gate yet, its entry opens at `seq`, so a first
    /// live event past a gap is held and filled from the log instead of going out as the
    /// start (the chaos run found it: a node cut off Redis delivered its own `seq` 6 to a
    /// socket resumed at 3 while 4 and 5, published by other nodes, never reached it).
    /// An open entry is left as it is: its sockets may still wait for events up to `seq`.
    pub fn known(&self, video_id: &Arc<str>, seq: i64) {
        self.lock()
            .entry(video_id.clone())
            .or_insert_with(|| Entry {
                last: seq,
                held: BTreeMap::new(),
                filling: false,
                ended: false,
                touched: Instant::now(),
            });
    }

    /// Whether the task still waits for events after its last one (a fill is still needed).
    pub fn gap_open(&self, video_id: &str) -> Option<i64> {
        let tasks = self.lock();
        let e = tasks.get(video_id)?;
        (!e.held.is_empty()).then_some(e.last)
    }

    /// Events read back from the log for `video_id`'s gap: what to fan out now, in order.
    /// With `give_up`, whatever is still held goes out too (the log could not be read).
    pub fn filled(
        &self,
        video_id: &str,
        events: Vec<Arc<BusEvent>>,
        give_up: bool,
    ) -> Vec<Arc<BusEvent>> {
        let mut tasks = self.lock();
        let Some(e) = tasks.get_mut(video_id) else {
            return Vec::new();
        };
        for ev in events {
            if ev.seq > e.last {
                e.held.entry(ev.seq).or_insert(ev);
            }
        }
        let mut out = release(e);
        if give_up && !e.held.is_empty() {
            let rest: Vec<_> = std::mem::take(&mut e.held).into_values().collect();
            e.last = rest.last().map_or(e.last, |l| l.seq);
            out.extend(rest);
        }
        e.filling = false;
        out
    }

    fn maybe_sweep(&self) {
        let now = Instant::now();
        {
            let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
            if now.duration_since(*swept) < SWEEP_EVERY {
                return;
            }
            *swept = now;
        }
        self.lock().retain(|_, e| {
            let idle = now.duration_since(e.touched);
            e.filling || !e.held.is_empty() || idle < if e.ended { ENDED_KEEP } else { IDLE_KEEP }
        });
    }
}

/// Takes the held events that follow `last` without a gap.
fn release(e: &mut Entry) -> Vec<Arc<BusEvent>> {
    let mut out = Vec::new();
    while let Some(ev) = e.held.remove(&(e.last + 1)) {
        e.last = ev.seq;
        e.ended |= ev.kind.is_terminal();
        out.push(ev);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lifecycle::EventType;

    fn ev(seq: i64) -> Arc<BusEvent> {
        let kind = if seq == 9 {
            EventType::TaskCompleted
        } else {
            EventType::TaskProgress
        };
        Arc::new(BusEvent {
            user_id: Arc::from("u"),
            video_id: Arc::from("v"),
            seq,
            kind,
            created_at: seq,
            frame: crate::domain::Frame::from(format!("{{\"seq\":{seq}}}")),
            received_at: Instant::now(),
        })
    }

    fn seqs(v: Verdict) -> Vec<i64> {
        match v {
            Verdict::Send(evs) => evs.iter().map(|e| e.seq).collect(),
            other => panic!("expected Send, got {other:?}"),
        }
    }

    #[test]
    fn in_order_events_pass_and_repeats_are_dropped() {
        let o = Order::default();
        assert_eq!(
            seqs(o.admit(&ev(3))),
            vec![3],
            "the first one seen opens the task"
        );
        assert_eq!(seqs(o.admit(&ev(4))), vec![4]);
        assert!(matches!(o.admit(&ev(4)), Verdict::Drop));
        assert!(matches!(o.admit(&ev(2)), Verdict::Drop));
    }

    #[test]
    fn a_gap_holds_until_the_straggler_then_releases_in_order() {
        let o = Order::default();
        o.admit(&ev(1));
        assert!(matches!(
            o.admit(&ev(3)),
            Verdict::Held { fill_from: Some(1) }
        ));
        assert!(matches!(o.admit(&ev(4)), Verdict::Held { fill_from: None }));
        assert_eq!(seqs(o.admit(&ev(2))), vec![2, 3, 4]);
        assert_eq!(o.gap_open("v"), None);
        // The fill that was started finds nothing left to do.
        assert!(o.filled("v", vec![ev(2), ev(3)], false).is_empty());
        assert!(matches!(o.admit(&ev(3)), Verdict::Drop));
    }

    #[test]
    fn a_gap_is_filled_from_the_log_and_late_copies_are_dropped() {
        let o = Order::default();
        o.admit(&ev(5));
        assert!(matches!(
            o.admit(&ev(8)),
            Verdict::Held { fill_from: Some(5) }
        ));
        assert_eq!(o.gap_open("v"), Some(5));
        let out: Vec<i64> = o
            .filled("v", vec![ev(6), ev(7), ev(8)], false)
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(out, vec![6, 7, 8]);
        assert!(
            matches!(o.admit(&ev(7)), Verdict::Drop),
            "the late original of a filled event"
        );
        assert_eq!(seqs(o.admit(&ev(9))), vec![9]);
        assert!(
            matches!(o.admit(&ev(9)), Verdict::Drop),
            "a straggler after the end"
        );
    }

    #[test]
    fn a_subscription_opens_the_entry_so_a_first_event_past_a_gap_is_filled() {
        let o = Order::default();
        let v: Arc<str> = Arc::from("v");
        o.known(&v, 3);
        assert!(matches!(
            o.admit(&ev(6)),
            Verdict::Held { fill_from: Some(3) }
        ));
        let out: Vec<i64> = o
            .filled("v", vec![ev(4), ev(5), ev(6)], false)
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(out, vec![4, 5, 6]);
        // An open entry is not moved back or forward by a later subscription.
        o.known(&v, 2);
        o.known(&v, 9);
        assert_eq!(seqs(o.admit(&ev(7))), vec![7]);
    }

    #[test]
    fn when_the_log_cannot_be_read_the_held_events_still_go_out() {
        let o = Order::default();
        o.admit(&ev(1));
        o.admit(&ev(4));
        let out: Vec<i64> = o.filled("v", vec![], true).iter().map(|e| e.seq).collect();
        assert_eq!(out, vec![4]);
        assert_eq!(seqs(o.admit(&ev(5))), vec![5]);
    }
}

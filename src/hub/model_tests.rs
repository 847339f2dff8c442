//! Model test of what a client sees (issue 12): proptest generates sequences of operations
//! (subscribe to a task or to the user, with or without `sinceSeq`, unsubscribe, task events
//! published in order, twice or late, a slow socket that stops draining or drains a few
//! frames, reconnects that resume with `sinceSeq`, bus outages and their log refill) and drives
//! the real hub with them: [`super::HubInner`] as the bus's sink (order gate, fan-out, refill),
//! each socket's real session ([`super::session::run`]: commands, outbox, cursors, writer) over
//! an in-process pipe whose writing side the test throttles. No network: the pipe is the socket.
//! The store is SQLite in memory (the event log the replay and the refills read).
//!
//! After every operation the test waits until the hub is quiet (each session has handled what
//! was sent and its writer has written what it may), so a case runs the same way every time,
//! except for the order gate's log read after [`super::order::GAP_WAIT`], which is real time.
//!
//! The model is what PROTOCOL §3 promises, checked on what each client received:
//! - per socket and task: `seq` strictly increasing (no duplicate, no disorder), nothing
//!   after the terminal frame;
//! - after `subscribed` to a `subscribe_task` with `sinceSeq` = k: nothing ≤ k of that task;
//! - a client that follows a task (subscribed, never unsubscribed, resuming with `sinceSeq` =
//!   the last seq it saw after every reconnect) gets every event after its first snapshot
//!   (or its first `sinceSeq`): every non-progress frame, the terminal one included;
//! - a client with a user subscription gets every event committed after it subscribed (on
//!   the socket it has then: a user subscription cannot resume);
//! - a missing `taskProgress` frame was coalesced: a newer progress frame of the task arrived
//!   and only progress events lie between them (latest wins, never replaced by anything else).

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_util::{Sink, Stream};
use proptest::prelude::*;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::outbox::{Conn, State};
use super::{Hub, HubSettings};
use crate::auth::jwt::JwtKeys;
use crate::bus::memory::MemoryBus;
use crate::bus::{BusEvent, BusSink};
use crate::domain::lifecycle::{EventType, TaskChange, TaskResult, TaskStatus};
use crate::domain::TaskEvent;
use crate::secret::Secret;
use crate::store::{NewUser, Store};

const TASKS: usize = 3;
const CLIENTS: usize = 2;

// ---------------------------------------------------------------- operations

#[derive(Clone, Copy, Debug)]
pub(super) enum Since {
    /// No `sinceSeq`: the snapshot is the starting point.
    No,
    /// `sinceSeq` = the last seq the client saw of the task (a resume).
    Seen,
    /// `sinceSeq` = that minus n (the client lost some of what it saw).
    Back(u8),
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Publish {
    /// The bus delivers it at once.
    Now,
    /// Twice (two nodes, or a retried publish).
    Twice,
    /// Later, at the next [`Op::Late`] (a node that published late), newest first.
    Late,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum End {
    Completed,
    Failed,
    Cancelled,
}

#[derive(Clone, Debug)]
pub(super) enum Op {
    SubTask {
        c: usize,
        t: usize,
        since: Since,
    },
    UnsubTask {
        c: usize,
        t: usize,
    },
    SubUser {
        c: usize,
    },
    UnsubUser {
        c: usize,
    },
    /// A progress change of task t (status `processing`, progress up by `step`).
    Progress {
        t: usize,
        step: u8,
        bus: Publish,
    },
    /// The terminal change of task t.
    End {
        t: usize,
        how: End,
        bus: Publish,
    },
    /// The late events are published now, newest first.
    Late,
    /// Client c's socket stops draining.
    Stall {
        c: usize,
    },
    /// Client c's socket drains n more frames, then stalls again.
    Drain {
        c: usize,
        n: usize,
    },
    /// Client c's socket drains freely again.
    Unstall {
        c: usize,
    },
    /// Client c drops its socket, opens a new one and resumes what it follows.
    Reconnect {
        c: usize,
    },
    /// The bus loses its connection: what is published meanwhile does not arrive (a late
    /// publisher keeps its events until the bus is back).
    BusDown,
    /// The bus is back: the hub refills from the log.
    BusUp,
}

#[derive(Clone, Debug)]
pub(super) struct Case {
    pub queue: usize,
    pub coalesce: bool,
    /// `ws_max_subscriptions` and `ws_max_cursors` (small: cursors get forgotten).
    pub max_subs: usize,
    pub ops: Vec<Op>,
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..CLIENTS;
    let t = 0..TASKS;
    let since = prop_oneof![
        Just(Since::No),
        Just(Since::Seen),
        (0u8..4).prop_map(Since::Back)
    ];
    let bus =
        prop_oneof![6 => Just(Publish::Now), 1 => Just(Publish::Twice), 2 => Just(Publish::Late)];
    let end = prop_oneof![
        Just(End::Completed),
        Just(End::Failed),
        Just(End::Cancelled)
    ];
    prop_oneof![
        4 => (c.clone(), t.clone(), since).prop_map(|(c, t, since)| Op::SubTask { c, t, since }),
        1 => (c.clone(), t.clone()).prop_map(|(c, t)| Op::UnsubTask { c, t }),
        2 => c.clone().prop_map(|c| Op::SubUser { c }),
        1 => c.clone().prop_map(|c| Op::UnsubUser { c }),
        8 => (t.clone(), 1u8..30, bus.clone()).prop_map(|(t, step, bus)| Op::Progress { t, step, bus }),
        2 => (t, end, bus).prop_map(|(t, how, bus)| Op::End { t, how, bus }),
        1 => Just(Op::Late),
        2 => c.clone().prop_map(|c| Op::Stall { c }),
        2 => (c.clone(), 1usize..4).prop_map(|(c, n)| Op::Drain { c, n }),
        1 => c.clone().prop_map(|c| Op::Unstall { c }),
        1 => c.prop_map(|c| Op::Reconnect { c }),
        1 => Just(Op::BusDown),
        1 => Just(Op::BusUp),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(4usize), Just(6), Just(64)],
        prop::bool::weighted(0.8),
        prop_oneof![Just(2usize), Just(64)],
        prop::collection::vec(op(), 1..40),
    )
        .prop_map(|(queue, coalesce, max_subs, ops)| Case {
            queue,
            coalesce,
            max_subs,
            ops,
        })
}

// ---------------------------------------------------------------- the socket

/// Both ends of one in-process socket: what the client sent (read by the session's stream)
/// and what the server wrote (through its sink), with the client's drain credit.
#[derive(Default)]
struct Wire {
    inbox: VecDeque<Message>,
    /// The client hung up: the stream ends, writes fail.
    gone: bool,
    /// The session polled its stream and found nothing (it handled everything sent).
    idle: bool,
    reader: Option<Waker>,
    received: Vec<Message>,
    /// Frames the client will still take; None: as many as come.
    credit: Option<usize>,
    writer: Option<Waker>,
}

#[derive(Clone, Default)]
struct Pipe(Arc<Mutex<Wire>>);

impl Pipe {
    fn lock(&self) -> std::sync::MutexGuard<'_, Wire> {
        self.0.lock().unwrap()
    }

    fn send(&self, v: Value) {
        let mut w = self.lock();
        w.inbox.push_back(Message::Text(v.to_string().into()));
        w.idle = false;
        if let Some(r) = w.reader.take() {
            r.wake();
        }
    }

    fn set_credit(&self, credit: Option<usize>) {
        let mut w = self.lock();
        w.credit = credit;
        if let Some(r) = w.writer.take() {
            r.wake();
        }
    }

    fn hang_up(&self) {
        let mut w = self.lock();
        w.gone = true;
        if let Some(r) = w.reader.take() {
            r.wake();
        }
        if let Some(r) = w.writer.take() {
            r.wake();
        }
    }
}

impl Stream for Pipe {
    type Item = Result<Message, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut w = self.lock();
        if let Some(m) = w.inbox.pop_front() {
            return Poll::Ready(Some(Ok(m)));
        }
        if w.gone {
            return Poll::Ready(None);
        }
        w.idle = true;
        w.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Sink<Message> for Pipe {
    type Error = std::io::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let mut w = self.lock();
        if w.gone {
            return Poll::Ready(Err(std::io::Error::other("the client hung up")));
        }
        if w.credit == Some(0) {
            w.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        let mut w = self.lock();
        if let Some(c) = w.credit.as_mut() {
            *c = c.saturating_sub(1);
        }
        w.received.push(item);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

// ---------------------------------------------------------------- the model

#[derive(Clone, Debug)]
enum Got {
    Event {
        t: usize,
        seq: i64,
        kind: EventType,
    },
    Subscribed {
        rid: Option<u64>,
        t: usize,
        seq: i64,
    },
    Refused {
        rid: Option<u64>,
    },
    Close,
}

struct TaskM {
    id: String,
    progress: u8,
    ended: bool,
}

#[derive(Clone, Copy, Debug)]
struct Committed {
    t: usize,
    seq: i64,
    kind: EventType,
}

struct Client {
    pipe: Pipe,
    conn: Arc<Conn>,
    session: tokio::task::JoinHandle<()>,
    socket: usize,
    parsed: usize,
    /// Everything received, with the socket it came on.
    got: Vec<(usize, Got)>,
    /// Per task, the last seq seen (frames and snapshots).
    seen: HashMap<usize, i64>,
    /// Tasks whose terminal frame (or terminal snapshot) the client saw.
    ended: HashSet<usize>,
    /// Tasks the client follows, with the request ids of its subscribes since it started to.
    want: HashMap<usize, Vec<u64>>,
    /// Commits from which the user subscription of the current socket holds.
    user_from: Option<usize>,
}

struct Rig {
    hub: Hub,
    store: Store,
    user_id: String,
    token: String,
    tasks: Vec<TaskM>,
    by_id: HashMap<String, usize>,
    committed: Vec<Committed>,
    late: Vec<TaskEvent>,
    bus_down: Option<i64>,
    clients: Vec<Client>,
    next_rid: u64,
    /// Request id -> (task, sinceSeq) of every subscribe_task sent.
    subs: HashMap<u64, (usize, Option<i64>)>,
    conns: HashSet<u64>,
}

fn settings(case: &Case) -> HubSettings {
    HubSettings {
        ws_outbound_queue: case.queue,
        ws_coalesce_progress: case.coalesce,
        ws_max_subscriptions: case.max_subs,
        ws_max_cursors: case.max_subs,
        ws_max_frames_per_sec: 100_000,
        ws_heartbeat_interval_ms: 600_000,
        ws_write_timeout_ms: 60_000,
        ..HubSettings::default()
    }
}

/// One store and signing key per test thread (each case gets its own user and tasks).
struct Env {
    rt: tokio::runtime::Runtime,
    store: Store,
    jwt: JwtKeys,
    users: std::cell::Cell<u64>,
}

thread_local! {
    static ENV: Env = {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let store = rt.block_on(async {
            let store = Store::connect("sqlite::memory:", 1).await.unwrap();
            store.migrate().await.unwrap();
            store
        });
        let jwt = JwtKeys::new(&Secret::new("fake-model-test-secret-0123456789abcdef"), 3600).unwrap();
        Env { rt, store, jwt, users: std::cell::Cell::new(0) }
    };
}

/// Runs one case against the real hub and checks what the clients received.
pub(super) fn run_case(case: &Case) -> Result<(), TestCaseError> {
    ENV.with(|env| {
        let n = env.users.get() + 1;
        env.users.set(n);
        env.rt.block_on(async {
            let mut rig = Rig::new(env, case, n).await;
            for op in &case.ops {
                rig.apply(op).await;
            }
            rig.finish().await;
            let verdict = rig.check();
            rig.close().await;
            verdict
        })
    })
}

impl Rig {
    async fn new(env: &Env, case: &Case, n: u64) -> Rig {
        let store = env.store.clone();
        let name = format!("model{n}");
        let user = store
            .create_user(NewUser {
                username: &name,
                email: &format!("{name}@example.com"),
                password_hash: "x",
            })
            .await
            .unwrap();
        let hub = Hub::new(
            settings(case),
            store.clone(),
            Arc::new(MemoryBus::default()),
            env.jwt.clone(),
            CancellationToken::new(),
        );
        let (token, _) = env.jwt.issue(&user.id, &name).unwrap();
        let mut rig = Rig {
            hub,
            store,
            user_id: user.id.clone(),
            token,
            tasks: Vec::new(),
            by_id: HashMap::new(),
            committed: Vec::new(),
            late: Vec::new(),
            bus_down: None,
            clients: Vec::new(),
            next_rid: 1,
            subs: HashMap::new(),
            conns: HashSet::new(),
        };
        for t in 0..TASKS {
            let (task, event) = rig
                .store
                .create_task(super::tests::sample_task(&user.id))
                .await
                .unwrap();
            rig.by_id.insert(task.id.clone(), t);
            rig.tasks.push(TaskM {
                id: task.id.clone(),
                progress: 0,
                ended: false,
            });
            rig.committed.push(Committed {
                t,
                seq: event.seq,
                kind: event.event_type,
            });
            rig.deliver(&event);
        }
        for _ in 0..CLIENTS {
            let (pipe, conn, session) = rig.connect().await;
            rig.clients.push(Client {
                pipe,
                conn,
                session,
                socket: 0,
                parsed: 0,
                got: Vec::new(),
                seen: HashMap::new(),
                ended: HashSet::new(),
                want: HashMap::new(),
                user_from: None,
            });
        }
        rig
    }

    fn deliver(&self, event: &TaskEvent) {
        self.hub
            .inner
            .deliver(Arc::new(BusEvent::from_task_event(event)));
    }

    /// Opens a socket of the user (authenticated with `?token=`) and waits until it is served.
    async fn connect(&mut self) -> (Pipe, Arc<Conn>, tokio::task::JoinHandle<()>) {
        let pipe = Pipe::default();
        let (hub, sink, stream) = (self.hub.clone(), pipe.clone(), pipe.clone());
        let token = self.token.clone();
        let session = tokio::spawn(async move {
            let start = super::session::Start::new(Some(token), None);
            super::session::run(hub, sink, stream, start).await;
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let conn = loop {
            let idle = pipe.lock().idle;
            let new = self
                .hub
                .inner
                .registry
                .sockets_of(&self.user_id)
                .into_iter()
                .find(|c| !self.conns.contains(&c.id));
            if let (true, Some(conn)) = (idle, new) {
                break conn;
            }
            assert!(Instant::now() < deadline, "a socket did not authenticate");
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        self.conns.insert(conn.id);
        (pipe, conn, session)
    }

    fn rid(&mut self) -> u64 {
        self.next_rid += 1;
        self.next_rid
    }

    fn subscribe(&mut self, c: usize, t: usize, since: Option<i64>) {
        let rid = self.rid();
        self.subs.insert(rid, (t, since));
        self.clients[c].want.entry(t).or_default().push(rid);
        let mut payload = json!({"videoId": self.tasks[t].id});
        if let Some(s) = since {
            payload["sinceSeq"] = json!(s);
        }
        self.clients[c]
            .pipe
            .send(json!({"type": "subscribeTask", "payload": payload, "requestId": rid}));
    }

    fn subscribe_user(&mut self, c: usize) {
        let rid = self.rid();
        self.clients[c]
            .pipe
            .send(json!({"type": "subscribeUser", "payload": {}, "requestId": rid}));
    }

    async fn apply(&mut self, op: &Op) {
        // A client that saw its socket closed reconnects first, as a real one would.
        for c in 0..self.clients.len() {
            let closed = self.clients[c].session.is_finished()
                || self.clients[c]
                    .got
                    .iter()
                    .any(|(s, g)| *s == self.clients[c].socket && matches!(g, Got::Close));
            if closed {
                self.reconnect(c).await;
            }
        }
        match *op {
            Op::SubTask { c, t, since } => {
                let seen = self.clients[c].seen.get(&t).copied();
                let since = match since {
                    Since::No => None,
                    Since::Seen => seen,
                    Since::Back(n) => seen.map(|s| (s - i64::from(n)).max(0)),
                };
                self.subscribe(c, t, since);
            }
            Op::UnsubTask { c, t } => {
                self.clients[c].want.remove(&t);
                let rid = self.rid();
                self.clients[c].pipe.send(json!({"type": "unsubscribeTask", "payload": {"videoId": self.tasks[t].id}, "requestId": rid}));
            }
            Op::SubUser { c } => {
                let from = self.committed.len();
                self.clients[c].user_from.get_or_insert(from);
                self.subscribe_user(c);
            }
            Op::UnsubUser { c } => {
                self.clients[c].user_from = None;
                let rid = self.rid();
                self.clients[c]
                    .pipe
                    .send(json!({"type": "unsubscribeUser", "payload": {}, "requestId": rid}));
            }
            Op::Progress { t, step, bus } => {
                if self.tasks[t].ended {
                    return;
                }
                let p = self.tasks[t].progress.saturating_add(step).min(99);
                self.tasks[t].progress = p;
                let change = TaskChange {
                    status: Some(TaskStatus::Processing),
                    progress: Some(p),
                    message: Some(format!("step {}", self.committed.len())),
                    ..Default::default()
                };
                self.commit(t, change, bus).await;
            }
            Op::End { t, how, bus } => {
                if self.tasks[t].ended {
                    return;
                }
                let change = match how {
                    End::Completed => TaskChange {
                        status: Some(TaskStatus::Completed),
                        result: Some(TaskResult {
                            video_url: "https://example.com/v.mp4".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    End::Failed => TaskChange {
                        status: Some(TaskStatus::Failed),
                        ..Default::default()
                    },
                    End::Cancelled => TaskChange {
                        status: Some(TaskStatus::Cancelled),
                        ..Default::default()
                    },
                };
                self.tasks[t].ended = true;
                self.commit(t, change, bus).await;
            }
            Op::Late => self.publish_late(),
            Op::Stall { c } => self.clients[c].pipe.set_credit(Some(0)),
            Op::Drain { c, n } => {
                let credit = self.clients[c].pipe.lock().credit;
                if let Some(k) = credit {
                    self.clients[c].pipe.set_credit(Some(k + n));
                }
            }
            Op::Unstall { c } => self.clients[c].pipe.set_credit(None),
            Op::Reconnect { c } => self.reconnect(c).await,
            Op::BusDown => {
                if self.bus_down.is_none() {
                    self.bus_down = Some(crate::domain::time::now_ms());
                    self.hub.inner.bus_lost();
                }
            }
            Op::BusUp => self.bus_up().await,
        }
        self.settle().await;
    }

    async fn commit(&mut self, t: usize, change: TaskChange, bus: Publish) {
        let Some((_, event)) = self
            .store
            .apply_change(&self.tasks[t].id, &change)
            .await
            .unwrap()
        else {
            return;
        };
        self.committed.push(Committed {
            t,
            seq: event.seq,
            kind: event.event_type,
        });
        match bus {
            Publish::Late => self.late.push(event),
            // Lost: the bus is down.
            _ if self.bus_down.is_some() => {}
            Publish::Now => self.deliver(&event),
            Publish::Twice => {
                self.deliver(&event);
                self.deliver(&event);
            }
        }
    }

    fn publish_late(&mut self) {
        if self.bus_down.is_some() {
            return; // the late publisher is still waiting for the bus
        }
        for event in std::mem::take(&mut self.late).iter().rev() {
            self.deliver(event);
        }
    }

    async fn bus_up(&mut self) {
        let Some(since) = self.bus_down.take() else {
            return;
        };
        self.hub.inner.bus_restored(since);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.hub.inner.refill.holding.load(Ordering::Acquire) {
            assert!(Instant::now() < deadline, "the refill did not finish");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Drops client c's socket, opens a new one and resumes: the user subscription again,
    /// each followed open task with `sinceSeq` = the last seq seen.
    async fn reconnect(&mut self, c: usize) {
        self.hang_up(c).await;
        let (pipe, conn, session) = self.connect().await;
        let from = self.committed.len();
        let cl = &mut self.clients[c];
        cl.pipe = pipe;
        cl.conn = conn;
        cl.session = session;
        cl.socket += 1;
        cl.parsed = 0;
        if cl.user_from.is_some() {
            cl.user_from = Some(from);
            self.subscribe_user(c);
        }
        let mut follow: Vec<usize> = self.clients[c]
            .want
            .keys()
            .copied()
            .filter(|t| !self.clients[c].ended.contains(t))
            .collect();
        follow.sort_unstable();
        for t in follow {
            let since = self.clients[c].seen.get(&t).copied();
            self.subscribe(c, t, since);
        }
        self.settle().await;
    }

    async fn hang_up(&mut self, c: usize) {
        self.clients[c].pipe.hang_up();
        let session = &mut self.clients[c].session;
        tokio::time::timeout(Duration::from_secs(10), session)
            .await
            .expect("a session did not end after its client hung up")
            .unwrap();
    }

    fn quiet(&self) -> bool {
        let refilling = self.hub.inner.refill.holding.load(Ordering::Acquire);
        (self.bus_down.is_some() || !refilling)
            && self.clients.iter().all(|c| {
                if c.session.is_finished() {
                    return true;
                }
                let w = c.pipe.lock();
                w.inbox.is_empty()
                    && w.idle
                    && (w.credit == Some(0) || c.conn.lock().frames.is_empty())
            })
    }

    /// Waits until every session has handled what was sent and written what it may.
    async fn settle(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            for _ in 0..16 {
                tokio::task::yield_now().await;
            }
            if self.quiet() {
                for _ in 0..16 {
                    tokio::task::yield_now().await;
                }
                if self.quiet() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "the hub did not settle");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.parse();
    }

    /// Reads what each client received since the last call.
    fn parse(&mut self) {
        for c in 0..self.clients.len() {
            let new: Vec<Message> = {
                let cl = &self.clients[c];
                let w = cl.pipe.lock();
                w.received[cl.parsed..].to_vec()
            };
            self.clients[c].parsed += new.len();
            for m in new {
                let got = match m {
                    Message::Close(_) => Some(Got::Close),
                    Message::Text(text) => self.read_frame(text.as_str()),
                    _ => None,
                };
                let Some(got) = got else { continue };
                let cl = &mut self.clients[c];
                match got.clone() {
                    Got::Event { t, seq, kind } => {
                        let s = cl.seen.entry(t).or_insert(seq);
                        *s = (*s).max(seq);
                        if kind.is_terminal() {
                            cl.ended.insert(t);
                        }
                    }
                    Got::Subscribed { t, seq, .. } => {
                        let s = cl.seen.entry(t).or_insert(seq);
                        *s = (*s).max(seq);
                        if self
                            .committed
                            .iter()
                            .any(|e| e.t == t && e.seq == seq && e.kind.is_terminal())
                        {
                            cl.ended.insert(t);
                        }
                    }
                    Got::Refused { rid: Some(rid) } => {
                        if let Some((t, _)) = self.subs.get(&rid) {
                            if cl.want.get(t).is_some_and(|r| r.contains(&rid)) {
                                cl.want.remove(t);
                            }
                        }
                    }
                    _ => {}
                }
                cl.got.push((cl.socket, got));
            }
        }
    }

    fn read_frame(&self, text: &str) -> Option<Got> {
        let v: Value = serde_json::from_str(text).unwrap();
        let rid = v["requestId"].as_u64();
        let task = |v: &Value| self.by_id.get(v.as_str()?).copied();
        match v["type"].as_str()? {
            "subscribed" => Some(Got::Subscribed {
                rid,
                t: task(&v["payload"]["videoId"])?,
                seq: v["payload"]["task"]["seq"].as_i64().unwrap(),
            }),
            "error" => Some(Got::Refused { rid }),
            _ => {
                let kind: EventType = serde_json::from_value(v["type"].clone()).ok()?;
                Some(Got::Event {
                    t: task(&v["payload"]["videoId"]).expect("an event of another task"),
                    seq: v["payload"]["seq"].as_i64().unwrap(),
                    kind,
                })
            }
        }
    }

    /// Everything published arrives, slow sockets drain, closed ones reconnect.
    async fn finish(&mut self) {
        self.bus_up().await;
        self.publish_late();
        for c in 0..self.clients.len() {
            self.clients[c].pipe.set_credit(None);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for _ in 0..4 {
            // The order gate reads a gap from the log after GAP_WAIT.
            while self
                .tasks
                .iter()
                .any(|t| self.hub.inner.order.gap_open(&t.id).is_some())
            {
                assert!(Instant::now() < deadline, "a gap stayed open");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            self.settle().await;
            let mut again = false;
            for c in 0..self.clients.len() {
                let cl = &self.clients[c];
                let closed = cl.session.is_finished()
                    || cl.conn.state() != State::Open
                    || cl
                        .got
                        .iter()
                        .any(|(s, g)| *s == cl.socket && matches!(g, Got::Close));
                if closed {
                    self.reconnect(c).await;
                    again = true;
                }
            }
            if !again {
                return;
            }
        }
    }

    async fn close(&mut self) {
        for c in 0..self.clients.len() {
            self.hang_up(c).await;
        }
    }

    fn check(&self) -> Result<(), TestCaseError> {
        for (c, cl) in self.clients.iter().enumerate() {
            // Per socket and task: increasing, nothing after the end, nothing at or below
            // the sinceSeq of a subscription once it is confirmed.
            let mut last: HashMap<(usize, usize), i64> = HashMap::new();
            let mut ended: HashSet<(usize, usize)> = HashSet::new();
            let mut floor: HashMap<(usize, usize), i64> = HashMap::new();
            for (i, (s, got)) in cl.got.iter().enumerate() {
                match *got {
                    Got::Event { t, seq, kind } => {
                        let key = (*s, t);
                        prop_assert!(
                            !ended.contains(&key),
                            "client {c} socket {s} task {t}: seq {seq} after the terminal frame (item {i})"
                        );
                        if let Some(&l) = last.get(&key) {
                            prop_assert!(
                                seq > l,
                                "client {c} socket {s} task {t}: seq {seq} after {l} (item {i})"
                            );
                        }
                        if let Some(&f) = floor.get(&key) {
                            prop_assert!(
                                seq > f,
                                "client {c} socket {s} task {t}: seq {seq} after subscribing with sinceSeq {f} (item {i})"
                            );
                        }
                        last.insert(key, seq);
                        if kind.is_terminal() {
                            ended.insert(key);
                        }
                    }
                    Got::Subscribed {
                        rid: Some(rid), t, ..
                    } => {
                        // With sinceSeq = k the client asks again for what follows k, even
                        // what this socket already sent it: from here on its frames of the
                        // task start after k.
                        if let Some(&(_, Some(k))) = self.subs.get(&rid) {
                            let key = (*s, t);
                            floor.insert(key, k);
                            last.remove(&key);
                            ended.remove(&key);
                        }
                    }
                    _ => {}
                }
            }
            let received: HashSet<(usize, i64)> = cl
                .got
                .iter()
                .filter_map(|(_, g)| match *g {
                    Got::Event { t, seq, .. } => Some((t, seq)),
                    _ => None,
                })
                .collect();
            // What the client must have: each followed task after its first confirmed
            // subscription, and everything committed after its user subscription.
            let mut expected: Vec<Committed> = Vec::new();
            for (&t, rids) in &cl.want {
                // A sinceSeq below what the socket already delivered of the task cannot be
                // honoured without breaking the socket's order: the socket goes on from there.
                let first = cl.got.iter().enumerate().find_map(|(i, (s, g))| match *g {
                    Got::Subscribed {
                        rid: Some(rid),
                        t: gt,
                        seq,
                    } if gt == t && rids.contains(&rid) => {
                        let had = cl.got[..i]
                            .iter()
                            .filter_map(|(gs, g)| match *g {
                                Got::Event { t: et, seq, .. } if gs == s && et == t => Some(seq),
                                _ => None,
                            })
                            .max()
                            .unwrap_or(0);
                        Some(self.subs[&rid].1.map_or(seq, |k| k.max(had)))
                    }
                    _ => None,
                });
                let Some(from) = first else {
                    if cl.ended.contains(&t) {
                        continue; // it saw the end: a reconnect does not subscribe again
                    }
                    return Err(TestCaseError::fail(format!(
                        "client {c}: task {t}'s subscription was never confirmed"
                    )));
                };
                expected.extend(self.committed.iter().filter(|e| e.t == t && e.seq > from));
            }
            if let Some(from) = cl.user_from {
                expected.extend(self.committed[from..].iter());
            }
            // A subscribe without sinceSeq asks for the current state: its snapshot covers
            // what it includes, as a frame would.
            let snapshot: HashMap<usize, i64> =
                cl.got.iter().fold(HashMap::new(), |mut m, (_, g)| {
                    if let Got::Subscribed {
                        rid: Some(rid),
                        t,
                        seq,
                    } = *g
                    {
                        if self.subs.get(&rid).is_some_and(|s| s.1.is_none()) {
                            let s = m.entry(t).or_insert(seq);
                            *s = (*s).max(seq);
                        }
                    }
                    m
                });
            for e in expected {
                let covered = snapshot.get(&e.t).is_some_and(|&s| s >= e.seq);
                if covered || received.contains(&(e.t, e.seq)) {
                    continue;
                }
                prop_assert!(
                    e.kind == EventType::TaskProgress,
                    "client {c} task {}: {:?} seq {} never arrived",
                    e.t,
                    e.kind,
                    e.seq
                );
                // Coalesced: a newer progress frame arrived with only progress in between.
                let replaced = self
                    .committed
                    .iter()
                    .filter(|n| n.t == e.t && n.seq > e.seq)
                    .take_while(|n| n.kind == EventType::TaskProgress)
                    .any(|n| received.contains(&(n.t, n.seq)));
                prop_assert!(
                    replaced,
                    "client {c} task {}: progress seq {} missing and not replaced by a newer progress frame",
                    e.t,
                    e.seq
                );
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn what_clients_see_matches_the_model(input in case()) {
        run_case(&input)?;
    }
}

// ---------------------------------------------------------------- regressions
//
// Cases the model test found, shrunk, kept as named tests (RELIABILITY.md, "Model test").

fn run(queue: usize, coalesce: bool, max_subs: usize, ops: Vec<Op>) {
    let case = Case {
        queue,
        coalesce,
        max_subs,
        ops,
    };
    if let Err(e) = run_case(&case) {
        panic!("{e}\n{case:#?}");
    }
}

/// Finding 1: the bus refill sent events past the order gate, so the gate did not know the
/// socket had them. When the bus then delivered the same event late (a node that published
/// it after the outage), it passed the gate as new; the socket had meanwhile forgotten the
/// task's cursor (cursor cap), so the frame went out twice.
#[test]
fn a_refilled_event_published_late_again_is_not_sent_twice() {
    use Publish::*;
    run(
        4,
        true,
        2,
        vec![
            Op::SubUser { c: 0 },
            Op::Progress {
                t: 1,
                step: 1,
                bus: Late,
            },
            Op::BusDown,
            Op::Progress {
                t: 0,
                step: 1,
                bus: Twice,
            },
            Op::SubTask {
                c: 0,
                t: 0,
                since: Since::No,
            },
            Op::Progress {
                t: 2,
                step: 23,
                bus: Late,
            },
        ],
    );
}

/// Finding 2: a subscription's replay sent a task's terminal frame before the bus delivered
/// it (late); the socket, which also had a user subscription, then forgot the finished task's
/// cursor to make room (cursor cap); the late live frame passed the gate as new and made a new
/// cursor: the terminal frame went out a second time.
#[test]
fn a_replayed_frame_delivered_late_after_its_cursor_was_forgotten_is_not_sent_again() {
    use Publish::*;
    run(
        4,
        false,
        2,
        vec![
            Op::SubUser { c: 1 },
            Op::Progress {
                t: 2,
                step: 1,
                bus: Now,
            },
            Op::End {
                t: 2,
                how: End::Completed,
                bus: Late,
            },
            Op::SubTask {
                c: 1,
                t: 2,
                since: Since::Seen,
            },
            Op::SubTask {
                c: 1,
                t: 1,
                since: Since::No,
            },
            Op::Progress {
                t: 0,
                step: 1,
                bus: Now,
            },
        ],
    );
}

/// Finding 3: a subscription's `subscribed` overflowed a slow socket's queue (which closes it
/// with 4002 and drops what is queued), yet its replay was queued after that and written
/// before the close frame: the client got a finished task's frames again, without the
/// `subscribed` that would have announced them. Shrunk case: SubTask{c0,t2,No},
/// End{t2,Completed,Now}, Stall{c0}, UnsubTask{c0,t0}, SubUser{c0}, Progress{t0} twice,
/// SubTask{c0,t2,Back(2)} (queue 4); since finding 4's fix that case no longer shows it (the
/// socket remembers what it sent), so the outbox is checked here directly.
#[test]
fn a_replay_is_not_queued_once_its_subscribed_overflowed_the_queue() {
    use tokio_tungstenite::tungstenite::Utf8Bytes;
    let ev = |seq: i64, kind: EventType| {
        Arc::new(BusEvent {
            user_id: Arc::from("u1"),
            video_id: Arc::from("v1"),
            seq,
            kind,
            created_at: seq,
            frame: crate::domain::Frame::from(format!("{{\"seq\":{seq}}}")),
            received_at: std::time::Instant::now(),
        })
    };
    let conn = Conn::new(1, 4, false, 64);
    conn.set_owner(Arc::from("u1"));
    for _ in 0..4 {
        assert!(conn.push_text(Utf8Bytes::from_static("{}")));
    }
    conn.begin_subscribe(&Arc::from("v1"), 10).unwrap();
    let replay = vec![
        ev(1, EventType::TaskCreated),
        ev(2, EventType::TaskCompleted),
    ];
    conn.finish_subscribe("v1", Utf8Bytes::from_static("{}"), replay, 2, true);
    let (frames, state) = conn.take_for_test();
    assert_eq!(frames.len(), 0, "nothing queued after the overflow");
    assert_eq!(
        state,
        State::Closing(
            super::outbox::CLOSE_TOO_SLOW,
            "too slow: resubscribe with sinceSeq"
        )
    );
}

/// Finding 4 (finding 2 without the cursor cap): a resumed task subscription replayed the
/// task's terminal frame before the bus delivered it late; the subscription ended with it
/// and its cursor went; the socket then subscribed to its user, and the late live frame made
/// a new cursor there: the terminal frame went out a second time.
#[test]
fn a_replayed_terminal_frame_delivered_late_reaches_a_new_user_subscription_once() {
    use Publish::*;
    run(
        64,
        true,
        64,
        vec![
            Op::SubTask {
                c: 0,
                t: 1,
                since: Since::No,
            },
            Op::End {
                t: 1,
                how: End::Completed,
                bus: Late,
            },
            Op::SubTask {
                c: 0,
                t: 1,
                since: Since::Seen,
            },
            Op::SubUser { c: 0 },
        ],
    );
}

/// Finding 5: a socket remembered only as many dropped tasks as it keeps cursors. With a
/// user subscription during a bus outage, a resumed task subscription replayed the task's
/// terminal frame and ended; the refill then brought two other tasks, whose cursors pushed
/// the finished task's out at the cap and then were dropped themselves by the next
/// `make_room`, pushing what the socket remembered of the finished task out of the ring; the
/// refill's copy of the terminal frame made a new cursor and went out a second time. (Found
/// by the proptest in about one run out of five.)
#[test]
fn a_socket_remembers_a_dropped_task_while_later_ones_are_dropped_too() {
    use Publish::*;
    run(
        4,
        true,
        2,
        vec![
            Op::SubTask {
                c: 1,
                t: 2,
                since: Since::No,
            },
            Op::BusDown,
            Op::SubUser { c: 1 },
            Op::Progress {
                t: 0,
                step: 1,
                bus: Now,
            },
            Op::End {
                t: 2,
                how: End::Completed,
                bus: Now,
            },
            Op::SubTask {
                c: 1,
                t: 2,
                since: Since::Seen,
            },
            Op::Progress {
                t: 1,
                step: 1,
                bus: Now,
            },
        ],
    );
}

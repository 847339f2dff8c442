//! The Redis bus of a multi-node deployment (PROTOCOL §5).
//!
//! Publishing: `publish` queues `PUBLISH taskhub:user:{userId} <envelope JSON>` for one
//! publisher task, which sends the queue in order (pipelined when it piles up) on a
//! self-reconnecting connection and retries a failing batch for a few seconds, so a request
//! never waits on Redis. A commit is never undone by a bus failure; the subscribers' gap
//! refill covers what stays lost.
//!
//! Receiving: one pub/sub connection per node, owned by a supervisor task. The node is
//! subscribed to a user's channel while it holds at least one socket of that user: the hub
//! calls [`Bus::subscribe_user`] / [`Bus::unsubscribe_user`] per socket, a per-user count
//! decides when the channel changes, and the command goes into one ordered queue while the
//! count's map entry is still locked, so the last queued command for a user always matches
//! the count. When the connection drops (Redis restarted, or it cut a slow subscriber at its
//! output-buffer limit), the supervisor tells the sink, reconnects with backoff, subscribes
//! every wanted channel again, and then tells the sink from when events may be missing so it
//! refills them from the event log. A user's channel also carries
//! [`super::CLOSE_USER_MESSAGE`] (the account was deleted: close its sockets).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use dashmap::DashMap;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{user_channel, Bus, BusEvent, BusSink, CLOSE_USER_MESSAGE};
use crate::domain::time::now_ms;
use crate::domain::TaskEvent;

const CHANNEL_PREFIX: &str = "taskhub:user:";
/// How long a socket waits for its user's channel to be confirmed before it goes on
/// without (the refill after the bus recovers covers the gap).
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Events queued for publishing before `publish` refuses more.
const PUBLISH_QUEUE: usize = 65_536;
/// Events sent in one pipelined round trip at most.
const PUBLISH_BATCH: usize = 256;
/// After this long failing to publish a batch, say so (once per batch); it is retried until
/// Redis takes it. Never dropped: a node cut off Redis alone must not lose what it committed
/// meanwhile for the other nodes' sockets, which never lost the bus and so never refill.
const PUBLISH_WARN_AFTER: Duration = Duration::from_secs(5);
/// Subscription changes applied in one pipelined round trip at most.
const CTL_BATCH: usize = 512;

enum Ctl {
    Sub(String, oneshot::Sender<()>),
    Unsub(String),
    /// Answered once every command queued before it has been applied.
    Barrier(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct RedisBus {
    inner: Arc<Inner>,
}

struct Inner {
    publisher: ConnectionManager,
    /// Sockets on this node per user id; a user is subscribed while its count is > 0.
    refs: DashMap<String, usize>,
    /// Unbounded, yet bounded in practice: each socket queues at most one command when it
    /// authenticates and one when it goes, and the queue is drained even while disconnected.
    ctl: mpsc::UnboundedSender<Ctl>,
    connected: AtomicBool,
    sink: OnceLock<Weak<dyn BusSink>>,
    /// Events waiting to be published, in commit order (one publisher task keeps it).
    outbox: mpsc::Sender<(String, String)>,
}

impl RedisBus {
    /// Connects the publisher (failing if Redis does not answer) and starts the subscriber
    /// supervisor, which runs until `shutdown`.
    pub async fn connect(url: &str, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("invalid REDIS_URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(1000));
        let publisher = tokio::time::timeout(
            CONNECT_TIMEOUT * 2,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| anyhow!("timed out connecting to Redis"))?
        .context("connecting to Redis")?;
        let (ctl, rx) = mpsc::unbounded_channel();
        let (outbox, out_rx) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(publish_loop(publisher.clone(), out_rx));
        let inner = Arc::new(Inner {
            outbox,
            publisher,
            refs: DashMap::new(),
            ctl,
            connected: AtomicBool::new(false),
            sink: OnceLock::new(),
        });
        tokio::spawn(supervise(inner.clone(), client, rx, shutdown));
        Ok(Self { inner })
    }
}

#[async_trait]
impl Bus for RedisBus {
    /// Queues the event for the publisher task and returns: a request never waits on Redis.
    /// Fails only when the queue is full (Redis down for a while); subscribers then refill
    /// from the log once the bus is back.
    async fn publish(&self, event: &TaskEvent) -> anyhow::Result<()> {
        let item = (user_channel(&event.user_id), event.frame_text());
        let outbox = &self.inner.outbox;
        let sent = outbox.try_send(item);
        let m = crate::ops::metrics::get();
        m.bus_publish_queue
            .set((outbox.max_capacity() - outbox.capacity()) as f64);
        if sent.is_err() {
            m.bus_publish_dropped.increment(1);
        }
        sent.map_err(|_| anyhow!("the Redis publish queue is full (Redis down?)"))
    }

    async fn is_healthy(&self) -> bool {
        if !self.inner.connected.load(Ordering::Acquire) {
            return false;
        }
        let mut conn = self.inner.publisher.clone();
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        matches!(
            tokio::time::timeout(Duration::from_secs(1), ping).await,
            Ok(Ok(_))
        )
    }

    async fn subscribe_user(&self, user_id: &str) -> anyhow::Result<()> {
        let (tx, rx) = oneshot::channel();
        {
            let mut count = self.inner.refs.entry(user_id.to_string()).or_insert(0);
            *count += 1;
            let cmd = if *count == 1 {
                Ctl::Sub(user_id.to_string(), tx)
            } else {
                Ctl::Barrier(tx)
            };
            let _ = self.inner.ctl.send(cmd);
        }
        match tokio::time::timeout(SUBSCRIBE_WAIT, rx).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(anyhow!(
                "the Redis subscription is not confirmed (bus down?)"
            )),
        }
    }

    fn unsubscribe_user(&self, user_id: &str) {
        if let dashmap::Entry::Occupied(mut count) = self.inner.refs.entry(user_id.to_string()) {
            *count.get_mut() -= 1;
            if *count.get() == 0 {
                count.remove();
                let _ = self.inner.ctl.send(Ctl::Unsub(user_id.to_string()));
            }
        }
    }

    fn attach(&self, sink: Weak<dyn BusSink>) {
        let _ = self.inner.sink.set(sink);
    }

    /// Closes this node's sockets of the user now; the other nodes' through its channel.
    async fn close_user(&self, user_id: &str) -> anyhow::Result<()> {
        if let Some(sink) = self.inner.sink() {
            sink.close_user(user_id);
        }
        let item = (user_channel(user_id), CLOSE_USER_MESSAGE.to_string());
        self.inner
            .outbox
            .try_send(item)
            .map_err(|_| anyhow!("the Redis publish queue is full (Redis down?)"))
    }
}

impl Inner {
    fn sink(&self) -> Option<Arc<dyn BusSink>> {
        self.sink.get().and_then(Weak::upgrade)
    }
}

/// Owns the pub/sub connection: connect, subscribe what is wanted, pump messages into the
/// sink and apply subscription changes, until the connection drops; then again.
async fn supervise(
    inner: Arc<Inner>,
    client: redis::Client,
    mut rx: mpsc::UnboundedReceiver<Ctl>,
    shutdown: CancellationToken,
) {
    let mut lost_at = now_ms();
    let mut backoff = Duration::from_millis(100);
    let m = crate::ops::metrics::get();
    let mut first = true;
    loop {
        let connect = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub());
        let pubsub = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = connect => r,
        };
        let (sink, mut stream) = match pubsub {
            Ok(Ok(p)) => p.split(),
            other => {
                let err = match other {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".into(),
                };
                tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "Redis pub/sub connect failed");
                if !wait_draining(&mut rx, backoff, &shutdown).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let wanted: Vec<String> = inner.refs.iter().map(|e| e.key().clone()).collect();
        if let Err(e) = resubscribe(&sink, &wanted).await {
            tracing::warn!(error = %e, "Redis resubscribe failed");
            if !wait_draining(&mut rx, backoff, &shutdown).await {
                return;
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
            continue;
        }
        backoff = Duration::from_millis(100);
        inner.connected.store(true, Ordering::Release);
        m.bus_up.set(1.0);
        if !std::mem::take(&mut first) {
            m.bus_reconnects.increment(1);
        }
        tracing::info!("Redis pub/sub connected");
        if let Some(s) = inner.sink() {
            s.bus_restored(lost_at);
        }
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { return };
                    let mut batch = vec![cmd];
                    while batch.len() < CTL_BATCH {
                        match rx.try_recv() {
                            Ok(c) => batch.push(c),
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = apply(&sink, batch).await {
                        tracing::warn!(error = %e, "Redis subscription change failed");
                        break;
                    }
                }
                msg = stream.next() => match msg {
                    Some(msg) => deliver(&inner, msg),
                    None => break,
                },
            }
        }
        inner.connected.store(false, Ordering::Release);
        m.bus_up.set(0.0);
        lost_at = now_ms();
        tracing::warn!("Redis pub/sub connection lost; reconnecting");
        if let Some(s) = inner.sink() {
            s.bus_lost();
        }
    }
}

/// Publishes queued events in order, several per round trip when they pile up. Runs until
/// the bus is dropped, so events committed during a graceful shutdown still go out (unless
/// Redis stays away 5 s past the drop). While Redis is unreachable it retries the batch at
/// hand (late events are ordered and deduplicated by every node's order gate) and the queue
/// holds the rest, up to [`PUBLISH_QUEUE`]; past that `publish` refuses (counted as dropped).
async fn publish_loop(conn: ConnectionManager, mut rx: mpsc::Receiver<(String, String)>) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for (channel, payload) in &batch {
            pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
        }
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(50);
        let mut warned = false;
        loop {
            let mut c = conn.clone();
            let sent =
                tokio::time::timeout(Duration::from_secs(2), pipe.query_async::<()>(&mut c)).await;
            match sent {
                Ok(Ok(())) => break,
                other => {
                    let overdue = started.elapsed() >= PUBLISH_WARN_AFTER;
                    if overdue && rx.is_closed() {
                        // The bus is gone (the process is ending): nobody is left to wait for.
                        crate::ops::metrics::get()
                            .bus_publish_dropped
                            .increment((batch.len() + rx.len()) as u64);
                        tracing::warn!(
                            events = batch.len() + rx.len(),
                            "dropping events Redis never took; the bus is closed"
                        );
                        return;
                    }
                    if overdue && !warned {
                        warned = true;
                        let err = match other {
                            Ok(Err(e)) => e.to_string(),
                            _ => "timed out".into(),
                        };
                        tracing::warn!(error = %err, events = batch.len(), queued = rx.len(), "Redis does not take published events; holding them until it does");
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        }
        if warned {
            tracing::warn!(
                events = batch.len(),
                "published the events held while Redis was away"
            );
        }
        batch.clear();
        crate::ops::metrics::get()
            .bus_publish_queue
            .set(rx.len() as f64);
    }
}

/// What one pub/sub message on a user's channel says.
#[derive(Debug)]
pub enum Received<'a> {
    /// [`CLOSE_USER_MESSAGE`]: close this user's sockets (the user id from the channel).
    CloseUser(&'a str),
    /// A task event of the channel's user.
    Event(BusEvent),
}

/// Reads one message as it comes off Redis (its channel name and payload bytes): `None` for a
/// channel that is not a user's, an error for a payload that is neither the close message nor
/// a UTF-8 event envelope. Pure, so it is fuzzed (`fuzz/fuzz_targets/bus_message.rs`).
pub fn decode<'a>(channel: &'a str, payload: &[u8]) -> Option<anyhow::Result<Received<'a>>> {
    let user_id = channel.strip_prefix(CHANNEL_PREFIX)?;
    let text = match std::str::from_utf8(payload) {
        Ok(text) => text,
        Err(e) => {
            return Some(Err(
                anyhow::Error::new(e).context("bus message is not UTF-8")
            ))
        }
    };
    if text == CLOSE_USER_MESSAGE {
        return Some(Ok(Received::CloseUser(user_id)));
    }
    Some(BusEvent::parse(user_id, text.to_string()).map(Received::Event))
}

fn deliver(inner: &Inner, msg: redis::Msg) {
    let channel = msg.get_channel_name();
    match decode(channel, msg.get_payload_bytes()) {
        None => {}
        Some(Ok(Received::CloseUser(user_id))) => {
            if let Some(sink) = inner.sink() {
                sink.close_user(user_id);
            }
        }
        Some(Ok(Received::Event(event))) => {
            if let Some(sink) = inner.sink() {
                sink.deliver(Arc::new(event));
            }
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, channel, "ignoring a malformed bus message")
        }
    }
}

/// Subscribes the channels of `users` (pipelined).
async fn resubscribe(sink: &PubSubSink, users: &[String]) -> anyhow::Result<()> {
    for chunk in users.chunks(CTL_BATCH) {
        let futs = chunk.iter().map(|user| {
            let mut s = sink.clone();
            let channel = user_channel(user);
            async move { s.subscribe(channel).await }
        });
        for r in futures_util::future::join_all(futs).await {
            r?;
        }
    }
    Ok(())
}

/// Applies queued subscription changes in order (one pipelined round trip), then answers
/// their waiters. On error the waiters are dropped, so they see the bus as down.
async fn apply(sink: &PubSubSink, batch: Vec<Ctl>) -> anyhow::Result<()> {
    let futs = batch.iter().map(|c| {
        let mut s = sink.clone();
        let op = match c {
            Ctl::Sub(user, _) => Some((true, user_channel(user))),
            Ctl::Unsub(user) => Some((false, user_channel(user))),
            Ctl::Barrier(_) => None,
        };
        async move {
            match op {
                Some((true, ch)) => s.subscribe(ch).await,
                Some((false, ch)) => s.unsubscribe(ch).await,
                None => Ok(()),
            }
        }
    });
    for r in futures_util::future::join_all(futs).await {
        r?;
    }
    for c in batch {
        if let Ctl::Sub(_, tx) | Ctl::Barrier(tx) = c {
            let _ = tx.send(());
        }
    }
    Ok(())
}

/// Sleeps `delay` while answering queued commands with "down" (their waiters see an error;
/// the counts stay, and the next connection subscribes from them). False on shutdown.
async fn wait_draining(
    rx: &mut mpsc::UnboundedReceiver<Ctl>,
    delay: Duration,
    shutdown: &CancellationToken,
) -> bool {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = &mut sleep => return true,
            cmd = rx.recv() => if cmd.is_none() { return false },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_reads_user_channels_only() {
        let frame =
            r#"{"type":"taskProgress","timestamp":5,"payload":{"videoId":"video_1","seq":2}}"#;
        match decode("taskhub:user:u1", frame.as_bytes()) {
            Some(Ok(Received::Event(ev))) => {
                assert_eq!((&*ev.user_id, &*ev.video_id, ev.seq), ("u1", "video_1", 2));
                assert_eq!(ev.frame.as_str(), frame);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode("taskhub:user:u1", CLOSE_USER_MESSAGE.as_bytes()),
            Some(Ok(Received::CloseUser("u1")))
        ));
        assert!(decode("taskhub:other", frame.as_bytes()).is_none());
        assert!(matches!(decode("taskhub:user:u1", b"\xff{}"), Some(Err(_))));
        assert!(matches!(decode("taskhub:user:u1", b"{}"), Some(Err(_))));
    }
}

//! One socket's protocol (PROTOCOL §3), over any `Sink`/`Stream` of WebSocket messages, so
//! unit tests drive it with channels. Each socket is one task: the reader (this file) holds
//! the session state and its timers (auth timeout, token expiry, heartbeat, close linger),
//! and polls the writer ([`write_loop`], which only drains the socket's queue) beside
//! whatever it waits for. Client requests are handled in boxed futures so an idle socket's
//! task stays small.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Sink, Stream, StreamExt};
use rand::RngExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::admission::UnauthSlot;
use super::commands::Authed;
use super::outbox::{Conn, State};
use super::protocol::{self, parse_client, WsError};
use super::ratelimit::{Admit, TokenBucket};
use super::writer::write_loop;
use super::Hub;

/// After our close frame is out, how long to wait for the peer's.
const LINGER: Duration = Duration::from_secs(2);

/// What a socket starts with. Boxed where it is handed down: each level of the socket's task
/// (`Hub::serve`, [`run`]) keeps its arguments for the task's whole life, so two words
/// instead of seven at each.
pub struct Start {
    /// The upgrade URL's `?token=`.
    pub query_token: Option<String>,
    /// Counts the socket as unauthenticated until it authenticates or goes.
    pub slot: Option<UnauthSlot>,
}

impl Start {
    pub fn new(query_token: Option<String>, slot: Option<UnauthSlot>) -> Box<Self> {
        Box::new(Self { query_token, slot })
    }
}

/// Serves one socket until it closes. Returns the two halves when a refusal stopped reading
/// and the close frame is out: the caller then closes the connection lingeringly
/// ([`super::transport::linger`]).
pub async fn run<S, R, E>(hub: Hub, mut sink: S, mut stream: R, start: Box<Start>) -> Option<(S, R)>
where
    S: Sink<Message> + Unpin + Send + 'static,
    R: Stream<Item = Result<Message, E>> + Unpin,
    E: std::error::Error + 'static,
{
    let Start { query_token, slot } = *start;
    let _live = hub.inner.live_guard();
    let settings = &hub.inner.settings;
    let conn = Arc::new(Conn::new(
        hub.inner.next_conn_id(),
        settings.ws_outbound_queue,
        settings.ws_coalesce_progress,
        settings.ws_max_cursors.max(settings.ws_max_subscriptions),
    ));
    let write_timeout = Duration::from_millis(settings.ws_write_timeout_ms);
    let mut session = Session::new(hub.clone(), conn.clone(), slot);
    conn.push_text(session.connected_frame());
    // The writer runs in this task, beside the reader (one task per socket).
    let refused;
    let closed = {
        let mut writer = Writer {
            future: std::pin::pin!(write_loop(&conn, &mut sink, write_timeout)),
            done: None,
        };
        if let Some(token) = query_token {
            writer.beside(Box::pin(session.on_auth(&token, None))).await;
        }
        session.read_loop(&mut stream, &mut writer).await;
        refused = session.refused_read;
        drop(session); // forgets the socket everywhere (see `Drop for Session`)
        match writer.done {
            Some(closed) => closed,
            // The reader has marked the socket dead; a writer stuck on a peer that reads
            // nothing is not waited for.
            None => tokio::time::timeout(LINGER, writer.future)
                .await
                .unwrap_or(false),
        }
    };
    (closed && refused).then_some((sink, stream))
}

/// The socket's writer ([`write_loop`]), polled by the session's task beside whatever it
/// awaits; `done` holds its result once it ended (true: it wrote the close frame).
pub(super) struct Writer<'a, F> {
    future: std::pin::Pin<&'a mut F>,
    done: Option<bool>,
}

impl<F: Future<Output = bool>> Writer<'_, F> {
    /// Polls the writer until it ends; never resolves after that.
    pub(super) async fn next_end(&mut self) {
        if self.done.is_some() {
            return std::future::pending().await;
        }
        self.done = Some(self.future.as_mut().await);
    }

    /// Runs `work` to its end while the writer keeps writing.
    pub(super) async fn beside<T>(&mut self, work: impl Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        loop {
            tokio::select! {
                biased;
                out = &mut work => return out,
                _ = self.next_end() => {}
            }
        }
    }
}

pub(super) struct Session {
    pub(super) hub: Hub,
    pub(super) conn: Arc<Conn>,
    pub(super) user: Option<Authed>,
    pub(super) user_scope: bool,
    auth_deadline: Option<Instant>,
    next_ping: Instant,
    unanswered_pings: u32,
    bucket: TokenBucket,
    linger: Option<Instant>,
    close_sent: bool,
    reading: bool,
    /// A bad frame ended reading (the connection then closes lingeringly).
    refused_read: bool,
    shutting_down: bool,
    /// Held while the socket is unauthenticated (boxed: a word, not four, in every socket).
    unauth: Option<Box<UnauthSlot>>,
}

impl Session {
    fn new(hub: Hub, conn: Arc<Conn>, unauth: Option<UnauthSlot>) -> Self {
        let s = &hub.inner.settings;
        let now = Instant::now();
        let interval = s.ws_heartbeat_interval_ms.max(10);
        // Each socket pings at its own phase, so pings spread over the interval.
        let phase = rand::rng().random_range(interval / 2..=interval);
        hub.inner.unauthed.insert(conn.id, conn.clone());
        Self {
            auth_deadline: Some(now + Duration::from_millis(s.ws_auth_timeout_ms)),
            next_ping: now + Duration::from_millis(phase),
            unanswered_pings: 0,
            // A reconnecting client resubscribes everything at once: let that burst through.
            bucket: TokenBucket::new(s.ws_max_frames_per_sec, s.ws_max_subscriptions + 10),
            linger: None,
            close_sent: false,
            reading: true,
            refused_read: false,
            shutting_down: false,
            unauth: unauth.map(Box::new),
            user: None,
            user_scope: false,
            hub,
            conn,
        }
    }

    fn connected_frame(&self) -> tokio_tungstenite::tungstenite::Utf8Bytes {
        let s = &self.hub.inner.settings;
        protocol::ServerFrame::Connected {
            // Not kept: nothing refers to it later, and every socket would pay its 16 bytes.
            connection_id: &uuid::Uuid::new_v4().simple().to_string(),
            server_version: env!("CARGO_PKG_VERSION"),
            capabilities: &[
                "auth",
                "queryToken",
                "tokenRefresh",
                "subscribeTask",
                "sinceSeq",
                "subscribeUser",
                "unsubscribeUser",
                "ping",
                "coalescedProgress",
                "reconnect",
            ],
            heartbeat_interval_ms: s.ws_heartbeat_interval_ms,
            auth_timeout_ms: s.ws_auth_timeout_ms,
            limits: protocol::Limits {
                max_frame_bytes: s.ws_max_frame_bytes,
                max_subscriptions: s.ws_max_subscriptions,
                max_sockets_per_user: s.ws_max_sockets_per_user,
                max_frames_per_second: s.ws_max_frames_per_sec,
            },
        }
        .encode(None)
    }

    async fn read_loop<R, E, F>(&mut self, stream: &mut R, writer: &mut Writer<'_, F>)
    where
        R: Stream<Item = Result<Message, E>> + Unpin,
        E: std::error::Error + 'static,
        F: Future<Output = bool>,
    {
        loop {
            // Woken by `HubInner::wake_every_socket` (or seen on any other wake-up).
            if !self.shutting_down && self.hub.inner.shutdown.is_cancelled() {
                self.on_shutdown();
            }
            match self.conn.state() {
                State::Dead => break,
                State::CloseSent if !self.reading => break,
                State::CloseSent if !self.close_sent => {
                    self.close_sent = true;
                    self.linger = Some(Instant::now() + LINGER);
                }
                State::Closing(..) if self.linger.is_none() => {
                    self.linger = Some(Instant::now() + LINGER + self.write_timeout());
                }
                _ => {}
            }
            let deadline = self.next_deadline();
            tokio::select! {
                biased;
                _ = self.conn.reader_woken() => {}
                _ = writer.next_end() => {}
                msg = stream.next(), if self.reading => match msg {
                    None => break,
                    Some(Ok(m)) => {
                        self.unanswered_pings = 0;
                        if let Some(frame) = self.on_message(m) {
                            writer.beside(Box::pin(self.handle(frame))).await;
                        }
                    }
                    Some(Err(e)) => self.on_read_error(&e),
                },
                _ = tokio::time::sleep_until(deadline) => if !self.on_timer() { break },
            }
        }
        self.conn.kill();
    }

    fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.hub.inner.settings.ws_write_timeout_ms)
    }

    fn next_deadline(&self) -> Instant {
        [
            Some(self.next_ping),
            self.auth_deadline,
            self.user.as_ref().map(|u| u.expires_at),
            self.linger,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(self.next_ping)
    }

    /// Timers; false when the socket must go now.
    fn on_timer(&mut self) -> bool {
        let now = Instant::now();
        if self.linger.is_some_and(|l| now >= l) {
            return false;
        }
        if self.auth_deadline.is_some_and(|d| now >= d) {
            self.auth_deadline = None;
            self.auth_error("authTimeout", "no auth frame within authTimeoutMs", None);
        }
        if self.user.as_ref().is_some_and(|u| now >= u.expires_at) {
            if let Some(u) = self.user.as_mut() {
                u.expires_at = now + Duration::from_secs(3600);
            }
            self.auth_error(
                "tokenExpired",
                "the session's token expired; reconnect with a fresh one",
                None,
            );
        }
        if now >= self.next_ping {
            if self.unanswered_pings >= 2 {
                tracing::debug!(conn = self.conn.id, "dropping a peer that missed two pings");
                return false;
            }
            self.unanswered_pings += 1;
            self.conn.push_ping();
            self.next_ping = now
                + Duration::from_millis(self.hub.inner.settings.ws_heartbeat_interval_ms.max(10));
        }
        true
    }

    fn on_shutdown(&mut self) {
        self.shutting_down = true;
        let retry = self.hub.inner.settings.ws_reconnect_after_ms;
        let frame = protocol::ServerFrame::Reconnect {
            reason: "shutdown",
            retry_after_ms: retry,
        };
        self.conn.push_text(frame.encode(None));
        self.conn.close(1012, "server restarting");
    }

    /// A text frame that passed the rate limit, parsed; everything else is answered here.
    fn on_message(&mut self, msg: Message) -> Option<protocol::ClientFrame> {
        if self.linger.is_some() {
            return None; // closing: ignore what the peer still sends
        }
        match &msg {
            Message::Pong(_) => return None,
            Message::Close(_) => {
                self.linger = Some(Instant::now() + LINGER);
                return None;
            }
            _ => {}
        }
        match self.bucket.take() {
            Admit::Yes => {}
            Admit::NoAndSay => {
                let e = WsError::new("rateLimited", "too many frames; slow down");
                self.conn.push_text(protocol::error_frame(&e, None));
                return None;
            }
            Admit::No => return None,
            Admit::Flood => {
                self.conn.close(1008, "rate limit exceeded");
                return None;
            }
        }
        match msg {
            Message::Text(text) => match parse_client(text.as_str()) {
                Ok(frame) => Some(frame),
                Err((rid, e)) => {
                    self.conn.push_text(protocol::error_frame(&e, rid.as_ref()));
                    None
                }
            },
            Message::Binary(_) => {
                let e =
                    WsError::bad_frame("binary frames are not supported; send JSON text frames");
                self.conn.push_text(protocol::error_frame(&e, None));
                None
            }
            _ => None,
        }
    }

    fn on_read_error(&mut self, err: &(dyn std::error::Error + 'static)) {
        use tokio_tungstenite::tungstenite::Error as WsErr;
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
        let mut code = None;
        while let Some(e) = cause {
            if let Some(ws) = e.downcast_ref::<WsErr>() {
                code = match ws {
                    WsErr::Capacity(_) => Some((1009, "frame too big")),
                    WsErr::Utf8(_) => Some((1007, "invalid UTF-8")),
                    WsErr::Protocol(_) => Some((1002, "protocol error")),
                    _ => None,
                };
                break;
            }
            cause = e.source();
        }
        self.reading = false;
        match code {
            Some((code, reason)) => {
                self.refused_read = true;
                tracing::debug!(conn = self.conn.id, code, error = %err, "closing a socket after a bad frame");
                self.conn.close(code, reason);
            }
            None => self.conn.kill(),
        }
    }

    /// Replies `authError` and closes with 4001.
    pub(super) fn auth_error(
        &mut self,
        code: &str,
        message: &str,
        rid: Option<&serde_json::Value>,
    ) {
        let frame = protocol::ServerFrame::AuthError { code, message };
        self.conn.push_text(frame.encode(rid));
        self.conn.close(4001, "authentication failed");
    }

    pub(super) fn authenticated(&mut self) {
        // The registry knows it now (`Registry::add_socket`, just before).
        self.hub.inner.unauthed.remove(&self.conn.id);
        self.auth_deadline = None;
        self.unauth = None; // no longer counts against the unauthenticated caps
    }
}

/// Runs however the session ends, a panic included: the socket is forgotten everywhere
/// (registry, per-user count, bus subscription) and its writer stops.
impl Drop for Session {
    fn drop(&mut self) {
        self.conn.kill();
        self.hub.inner.unauthed.remove(&self.conn.id);
        self.cleanup();
    }
}

impl Session {
    fn cleanup(&mut self) {
        let Some(user) = self.user.take() else {
            return;
        };
        let inner = &self.hub.inner;
        for video_id in self.conn.task_subscriptions() {
            inner.registry.unwatch_task(&video_id, self.conn.id);
        }
        if self.user_scope {
            inner.registry.unwatch_user(&user.id, self.conn.id);
        }
        inner.registry.remove_socket(&user.id, self.conn.id);
        inner.bus.unsubscribe_user(&user.id);
    }
}

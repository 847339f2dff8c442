//! What a socket may ask (PROTOCOL §3 "Client -> server"): `auth`, `subscribe_task`,
//! `unsubscribe_task`, `subscribe_user`, `unsubscribe_user`, `ping`.
//!
//! `subscribe_task` first checks that the task is the user's (nothing is registered for
//! anyone else's). For an open task it then registers the socket's interest, reads the
//! snapshot again, holds the task's live frames meanwhile, and queues `subscribed`, the
//! replayed events after `sinceSeq`, and the held frames the snapshot does not cover, so
//! nothing is missed or repeated between the snapshot and the live stream. (The outbox
//! also refuses any event of another user, whatever the registry says.)

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::protocol::{self, ClientCommand, ClientFrame, ClientKind, ServerFrame, WsError};
use super::session::Session;
use crate::bus::BusEvent;
use crate::domain::time::{now_ms, rfc3339};
use crate::store::{StoreError, Task};

/// Replayed events read from the log per query.
const REPLAY_PAGE: i64 = 500;

/// The signed-in user of a socket.
pub(super) struct Authed {
    /// Shared with the registry's entry for the user (one allocation per user, not socket).
    pub id: Arc<str>,
    pub session_id: uuid::Uuid,
    pub expires_at: Instant,
}

impl Session {
    pub(super) async fn handle(&mut self, frame: ClientFrame) {
        let rid = frame.request_id.clone();
        // An unauthenticated socket may only authenticate or ping: refused before its
        // payload is looked at.
        if self.user.is_none() && !matches!(frame.kind, ClientKind::Auth | ClientKind::Ping) {
            let e = WsError::new("unauthorized", "send auth {token} first");
            self.conn.push_text(protocol::error_frame(&e, rid.as_ref()));
            return;
        }
        let result = match frame.command() {
            Err(e) => Err(e),
            Ok(ClientCommand::Auth { token }) => {
                self.on_auth(&token, rid.as_ref()).await;
                Ok(())
            }
            Ok(ClientCommand::Ping) => {
                let pong = ServerFrame::Pong {
                    server_time: now_ms(),
                };
                self.conn.push_text(pong.encode(rid.as_ref()));
                Ok(())
            }
            Ok(ClientCommand::SubscribeTask {
                video_id,
                since_seq,
            }) => {
                self.subscribe_task(&video_id, since_seq, rid.as_ref())
                    .await
            }
            Ok(ClientCommand::UnsubscribeTask { video_id }) => {
                self.unsubscribe_task(&video_id, rid.as_ref())
            }
            Ok(ClientCommand::SubscribeUser) => self.subscribe_user(rid.as_ref()),
            Ok(ClientCommand::UnsubscribeUser) => self.unsubscribe_user(rid.as_ref()),
        };
        if let Err(e) = result {
            self.conn.push_text(protocol::error_frame(&e, rid.as_ref()));
        }
    }

    /// First `auth` signs the socket in (and subscribes the node to the user's events);
    /// a later one with a fresh token of the same user extends the session.
    pub(super) async fn on_auth(&mut self, token: &str, rid: Option<&Value>) {
        let inner = self.hub.inner.clone();
        let Ok(claims) = inner.jwt.verify(token) else {
            self.auth_error("unauthorized", "invalid or expired token", rid);
            return;
        };
        let left_ms = (claims.exp * 1000 - now_ms()).max(0) as u64;
        let expires_at = Instant::now() + Duration::from_millis(left_ms);
        if let Some(user) = self.user.as_mut() {
            if *user.id != *claims.sub {
                self.auth_error("forbidden", "the token belongs to another user", rid);
                return;
            }
            user.expires_at = expires_at;
        } else {
            let max = inner.settings.ws_max_sockets_per_user;
            let Some(id) = inner.registry.add_socket(&claims.sub, max, &self.conn) else {
                let e = WsError::new("limitExceeded", format!("at most {max} sockets per user"));
                self.conn.push_text(protocol::error_frame(&e, rid));
                self.conn.close(1008, "too many sockets for this user");
                return;
            };
            // From here on the socket delivers events of this user only.
            self.conn.set_owner(id.clone());
            self.user = Some(Authed {
                id,
                session_id: uuid::Uuid::new_v4(),
                expires_at,
            });
            self.authenticated();
            // Confirmed before authSuccess: a subscription made after it cannot miss an
            // event published by another node.
            if let Err(e) = inner.bus.subscribe_user(&claims.sub).await {
                tracing::warn!(error = %e, "bus subscription not confirmed; the refill after recovery covers it");
            }
            // Checked once subscribed: a deletion committed after this check reaches this
            // socket through the bus (`close_user`).
            match inner.store.user_is_live(&claims.sub).await {
                Ok(true) => {}
                Ok(false) => {
                    self.auth_error("accountDeleted", "this account was deleted", rid);
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "could not check the account is live"),
            }
        }
        let Some(user) = self.user.as_ref() else {
            return;
        };
        let success = ServerFrame::AuthSuccess {
            user_id: &user.id,
            // From this token (same user): the socket keeps no copy of the name.
            username: &claims.name,
            session_id: &user.session_id.to_string(),
            expires_at: rfc3339(claims.exp * 1000),
        };
        self.conn.push_text(success.encode(rid));
    }

    async fn subscribe_task(
        &mut self,
        video_id: &str,
        since: Option<i64>,
        rid: Option<&Value>,
    ) -> Result<(), WsError> {
        if !crate::domain::ids::is_video_id(video_id) {
            return Err(WsError::validation(
                "payload.videoId must be a video id (video_<uuid>)",
            ));
        }
        let user_id = self.user.as_ref().map(|u| u.id.clone()).unwrap_or_default();
        let inner = self.hub.inner.clone();
        let key = inner.registry.task_key(video_id);
        // Ownership first: nothing is registered or held for someone else's task.
        let first = inner
            .store
            .get_user_task(&user_id, &key)
            .await
            .map_err(read_error)?;
        self.conn
            .begin_subscribe(&key, inner.settings.ws_max_subscriptions)?;
        let finished = first.status().is_terminal();
        if !finished {
            // Before any live event of it can reach this socket: this node's order gate
            // starts the task at what is committed now, if it has not seen it yet.
            inner.order.known(&key, first.seq);
        }
        let snapshot = if finished {
            // Nothing will change any more: no live frames to wait for.
            Ok(first)
        } else {
            // Interest, then the snapshot: whatever commits after the read reaches us live.
            inner.registry.watch_task(key.clone(), &self.conn);
            inner.store.get_user_task(&user_id, &key).await
        };
        let loaded = match snapshot {
            Ok(task) => match since {
                Some(s) if s < task.seq => self.load_replay(&task, s).await.map(|r| (task, r)),
                _ => Ok((task, Vec::new())),
            },
            Err(e) => Err(e),
        };
        let (task, replay) = match loaded {
            Ok(ok) => ok,
            Err(e) => {
                inner.registry.unwatch_task(&key, self.conn.id);
                self.conn.abort_subscribe(&key);
                return Err(read_error(e));
            }
        };
        let snapshot = Box::new(crate::wire::TaskView::new(&task, inner.store.media_urls()));
        let subscribed = ServerFrame::SubscribedTask {
            video_id: &task.id,
            task: snapshot,
            replayed: replay.len(),
        }
        .encode(rid);
        let terminal = task.status().is_terminal();
        if self
            .conn
            .finish_subscribe(&key, subscribed, replay, task.seq, terminal)
            && !finished
        {
            inner.registry.unwatch_task(&key, self.conn.id);
        }
        Ok(())
    }

    /// The task's events in `(since, task.seq]`, oldest first. A replay longer than the
    /// socket's queue keeps only the latest progress frame of each run (latest wins).
    async fn load_replay(&self, task: &Task, since: i64) -> Result<Vec<Arc<BusEvent>>, StoreError> {
        let store = &self.hub.inner.store;
        let mut out: Vec<Arc<BusEvent>> = Vec::new();
        let mut from = since;
        while from < task.seq {
            let page = store.events_since(&task.id, from, REPLAY_PAGE).await?;
            let Some(last) = page.last() else { break };
            from = last.seq;
            out.extend(
                page.iter()
                    .filter(|e| e.seq <= task.seq)
                    .map(|e| Arc::new(BusEvent::from_task_event(e))),
            );
        }
        let room = self.hub.inner.settings.ws_outbound_queue / 2;
        if out.len() > room {
            let kinds: Vec<_> = out.iter().map(|e| e.kind).collect();
            let mut i = 0;
            out.retain(|e| {
                let next_is_progress = kinds.get(i + 1) == Some(&e.kind);
                i += 1;
                !(e.kind == crate::domain::lifecycle::EventType::TaskProgress && next_is_progress)
            });
        }
        Ok(out)
    }

    fn unsubscribe_task(&mut self, video_id: &str, rid: Option<&Value>) -> Result<(), WsError> {
        self.hub.inner.registry.unwatch_task(video_id, self.conn.id);
        self.conn.unsubscribe(video_id);
        let frame = ServerFrame::UnsubscribedTask { video_id };
        self.conn.push_text(frame.encode(rid));
        Ok(())
    }

    fn subscribe_user(&mut self, rid: Option<&Value>) -> Result<(), WsError> {
        let Some(user) = self.user.as_ref() else {
            return Ok(());
        };
        self.conn.set_user_scope(now_ms());
        self.hub.inner.registry.watch_user(&user.id, &self.conn);
        self.user_scope = true;
        let frame = ServerFrame::SubscribedUser {
            scope: "user",
            user_id: &user.id,
        };
        self.conn.push_text(frame.encode(rid));
        Ok(())
    }

    fn unsubscribe_user(&mut self, rid: Option<&Value>) -> Result<(), WsError> {
        let Some(user) = self.user.as_ref() else {
            return Ok(());
        };
        self.hub.inner.registry.unwatch_user(&user.id, self.conn.id);
        self.conn.clear_user_scope();
        self.user_scope = false;
        let frame = ServerFrame::UnsubscribedUser { scope: "user" };
        self.conn.push_text(frame.encode(rid));
        Ok(())
    }
}

/// How a failed read for a subscription is answered: someone else's task exactly like a
/// missing one.
fn read_error(e: StoreError) -> WsError {
    match e {
        StoreError::NotFound => WsError::new("notFound", "task not found"),
        other => {
            tracing::error!(error = %other, "reading a task for a subscription");
            WsError::new("internal", "could not read the task; try again")
        }
    }
}

//! The bus carries committed task events between nodes (PROTOCOL §5). The hub never knows
//! whether events came from memory or Redis: it asks the bus for a user's events while it
//! holds a socket of that user ([`Bus::subscribe_user`]), and receives them through the
//! [`BusSink`] it attached. A bus that may lose events (Redis dropping a connection) says so
//! with [`BusSink::bus_lost`] and [`BusSink::bus_restored`], and the hub refills the gap from
//! the event log.

pub mod memory;
pub mod redis;

use std::sync::{Arc, Weak};

use anyhow::Context;
use async_trait::async_trait;
use serde::Deserialize;

use crate::domain::{EventType, Frame, TaskEvent};

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes a committed event to every node (call after the transaction commits).
    async fn publish(&self, event: &TaskEvent) -> anyhow::Result<()>;
    /// Whether the bus can currently deliver (for `/ready`).
    async fn is_healthy(&self) -> bool;
    /// Starts delivering `user_id`'s events to this node's sink, counted per call: the node
    /// stays subscribed until as many [`Bus::unsubscribe_user`] calls. Resolves once events
    /// published from now on are sure to arrive.
    async fn subscribe_user(&self, _user_id: &str) -> anyhow::Result<()> {
        Ok(())
    }
    /// Undoes one [`Bus::subscribe_user`].
    fn unsubscribe_user(&self, _user_id: &str) {}
    /// Where this node's received events go. Set once, at startup.
    fn attach(&self, _sink: Weak<dyn BusSink>) {}
    /// Closes every socket of `user_id` on every node (its account was deleted): this
    /// node's at once, the others' through the user's channel (PROTOCOL §5).
    async fn close_user(&self, _user_id: &str) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The control message on a user's channel that closes that user's sockets on every node.
/// Not an event envelope (it has no `type`), so no node mistakes it for one.
pub const CLOSE_USER_MESSAGE: &str = r#"{"control":"closeUser"}"#;

/// The receiving side of a bus on one node (the hub).
pub trait BusSink: Send + Sync + 'static {
    /// One event, in the order the bus received it.
    fn deliver(&self, event: Arc<BusEvent>);
    /// The bus may be losing events from now on (its connection dropped).
    fn bus_lost(&self) {}
    /// The bus is subscribed again; events committed from `since_ms` on may have been missed.
    fn bus_restored(&self, _since_ms: i64) {}
    /// Close every socket of `user_id` on this node (its account was deleted).
    fn close_user(&self, _user_id: &str) {}
}

/// An event as the hub fans it out: routing fields plus the frame, serialized once and
/// shared by every socket that receives it.
#[derive(Clone, Debug)]
pub struct BusEvent {
    pub user_id: Arc<str>,
    pub video_id: Arc<str>,
    pub seq: i64,
    pub kind: EventType,
    /// Commit time (Unix ms), the frame's `timestamp`.
    pub created_at: i64,
    /// The WS frame text, exactly the envelope JSON.
    pub frame: Frame,
    /// When this node received it from the bus (fan-out latency is measured from here).
    pub received_at: std::time::Instant,
}

impl BusEvent {
    pub fn from_task_event(event: &TaskEvent) -> Self {
        Self {
            user_id: Arc::from(event.user_id.as_str()),
            video_id: Arc::from(event.video_id.as_str()),
            seq: event.seq,
            kind: event.event_type,
            created_at: event.created_at,
            frame: event.frame(),
            received_at: std::time::Instant::now(),
        }
    }

    /// Reads the routing fields of an envelope received from another node, keeping its
    /// text as the frame (no re-serialization).
    pub fn parse(user_id: &str, frame: String) -> anyhow::Result<Self> {
        #[derive(Deserialize)]
        struct Envelope<'a> {
            #[serde(rename = "type")]
            kind: EventType,
            timestamp: i64,
            #[serde(borrow)]
            payload: Routing<'a>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Routing<'a> {
            #[serde(borrow)]
            video_id: std::borrow::Cow<'a, str>,
            seq: i64,
        }
        let env: Envelope =
            serde_json::from_str(&frame).context("bus message is not an event envelope")?;
        let video_id = Arc::from(env.payload.video_id.as_ref());
        Ok(Self {
            user_id: Arc::from(user_id),
            video_id,
            seq: env.payload.seq,
            kind: env.kind,
            created_at: env.timestamp,
            frame: Frame::from(frame),
            received_at: std::time::Instant::now(),
        })
    }
}

/// The Redis channel of a user's events (PROTOCOL §5).
pub fn user_channel(user_id: &str) -> String {
    format!("taskhub:user:{user_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_the_text_and_reads_routing() {
        let ev = TaskEvent {
            video_id: "video_1".into(),
            user_id: "u1".into(),
            seq: 3,
            event_type: EventType::TaskProgress,
            payload: crate::domain::EventPayload {
                video_id: "video_1".into(),
                external_video_id: None,
                status: crate::domain::TaskStatus::Processing,
                progress: 40,
                seq: 3,
                detail: crate::domain::EventDetail::Progress {
                    message: Some("m".into()),
                },
            },
            created_at: 1234,
        };
        let local = BusEvent::from_task_event(&ev);
        let remote = BusEvent::parse("u1", local.frame.as_str().to_string()).unwrap();
        assert_eq!(&*remote.video_id, "video_1");
        assert_eq!(
            (remote.seq, remote.kind, remote.created_at),
            (3, EventType::TaskProgress, 1234)
        );
        assert_eq!(remote.frame.as_str(), local.frame.as_str());
        assert!(BusEvent::parse("u1", "{\"type\":\"nope\"}".into()).is_err());
        assert!(BusEvent::parse("u1", "not json".into()).is_err());
    }
}

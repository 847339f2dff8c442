//! The hub's settings (flattened into `Settings`; env `TASKHUB_<FIELD>`).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct HubSettings {
    /// WS ping interval; a peer that misses two pings is dropped. Each socket pings at its
    /// own phase, so pings are spread over the interval.
    pub ws_heartbeat_interval_ms: u64,
    /// How long a new socket may stay unauthenticated.
    pub ws_auth_timeout_ms: u64,
    /// Largest inbound frame (and message); bigger ones close the socket with 1009.
    pub ws_max_frame_bytes: usize,
    /// Task subscriptions one socket may hold.
    pub ws_max_subscriptions: usize,
    /// Authenticated sockets one user may hold on one node.
    pub ws_max_sockets_per_user: usize,
    /// Inbound frames per second per socket. Bursts may reach twice that, or
    /// `ws_max_subscriptions + 10` if larger (a reconnecting client resubscribes everything at
    /// once). Excess frames get `error rateLimited`; a socket that keeps flooding is closed
    /// with 1008.
    pub ws_max_frames_per_sec: u32,
    /// Frames waiting to be written to one socket. Progress frames of one task coalesce;
    /// a socket whose queue still overflows is closed with 4002 (resubscribe with sinceSeq).
    pub ws_outbound_queue: usize,
    /// Replace a queued, unwritten `taskProgress` frame by the task's newer one. Off: every
    /// frame is written, and a slow socket reaches its queue limit (4002) sooner.
    pub ws_coalesce_progress: bool,
    /// A write (one batch of frames) that does not finish in this time drops the socket.
    pub ws_write_timeout_ms: u64,
    /// Frames are buffered up to this many bytes before a write; several frames per write
    /// system call when a socket has a backlog. The buffer is released once written.
    pub ws_write_buffer_bytes: usize,
    /// `retryAfterMs` in the `reconnect` frame sent on shutdown.
    pub ws_reconnect_after_ms: u64,
    /// On shutdown: how long to wait for sockets to close (and background work to finish).
    pub shutdown_grace_ms: u64,
    /// After the bus recovers, events committed this long before the drop are refilled too
    /// (a connection can be dead a little before it is seen to be).
    pub bus_resync_margin_ms: u64,
    /// Sockets on this node that have not authenticated yet; one more is closed with 1013
    /// (try again later) at once.
    pub ws_max_unauthenticated: usize,
    /// The same, per peer address (IPv6: per /64); 0 turns the per-address cap off.
    pub ws_max_unauthenticated_per_ip: usize,
    /// Delivery cursors (one per task a socket has seen frames of) kept per socket. Past it,
    /// finished tasks' cursors are forgotten first, then the least recently active ones of
    /// the user subscription; a task subscription's cursor is never forgotten. The socket
    /// keeps the seq it had of as many forgotten tasks (16 bytes each).
    pub ws_max_cursors: usize,
    /// After a refusal that ends reading (an oversize or malformed frame), the server stops
    /// writing and reads and discards what the peer still sends, for at most this long...
    pub ws_linger_ms: u64,
    /// ...and at most this many bytes, before it closes the connection, so the kernel does
    /// not answer unread input with a reset that would overtake the close frame.
    pub ws_linger_bytes: usize,
}

impl Default for HubSettings {
    fn default() -> Self {
        Self {
            ws_heartbeat_interval_ms: 25_000,
            ws_auth_timeout_ms: 10_000,
            ws_max_frame_bytes: 16 * 1024,
            ws_max_subscriptions: 200,
            ws_max_sockets_per_user: 20,
            ws_max_frames_per_sec: 20,
            ws_outbound_queue: 512,
            ws_coalesce_progress: true,
            ws_write_timeout_ms: 15_000,
            ws_write_buffer_bytes: 4096,
            ws_reconnect_after_ms: 1000,
            shutdown_grace_ms: 10_000,
            bus_resync_margin_ms: 5_000,
            ws_max_unauthenticated: 1024,
            ws_max_unauthenticated_per_ip: 32,
            ws_max_cursors: 1024,
            ws_linger_ms: 2_000,
            ws_linger_bytes: 1024 * 1024,
        }
    }
}

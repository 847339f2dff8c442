//! The connection under a session: the upgraded HTTP/1.1 connection as a tokio-tungstenite
//! stream (so the hub can reach the raw connection again), its two halves speaking tungstenite's
//! [`Message`] to the session, and the lingering close.
//!
//! Lingering close: after a refusal that stops reading (an oversize or malformed frame), the
//! server writes its close frame, stops writing (half-close), then reads and discards what
//! the peer still sends until it sees EOF, `ws_linger_ms` pass or `ws_linger_bytes` arrive,
//! and only then closes. Closing with unread input makes the kernel answer with a reset, and
//! a reset that overtakes the close frame leaves the peer with 1006 instead of the code.
//! Reading through tungstenite instead is not possible (its stream is finished after an
//! error) nor wise (it would buffer the rest of the oversize frame).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self as ts, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::HubSettings;

pub type RawWs = WebSocketStream<TokioIo<Upgraded>>;

/// The tungstenite configuration of a server socket: small buffers, inbound size limits.
pub fn config(s: &HubSettings) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(s.ws_read_buffer_bytes)
        .write_buffer_size(s.ws_write_buffer_bytes)
        .max_message_size(Some(s.ws_max_frame_bytes))
        .max_frame_size(Some(s.ws_max_frame_bytes))
}

/// Wraps the upgraded connection (the handshake is already answered).
pub async fn open(io: Upgraded, s: &HubSettings) -> RawWs {
    WebSocketStream::from_raw_socket(
        TokioIo::new(io),
        ts::protocol::Role::Server,
        Some(config(s)),
    )
    .await
}

/// The writing half.
pub struct WsSink(SplitSink<RawWs, ts::Message>);
/// The reading half (raw frames filtered out).
pub struct WsStream(SplitStream<RawWs>);

pub fn split(ws: RawWs) -> (WsSink, WsStream) {
    let (sink, stream) = ws.split();
    (WsSink(sink), WsStream(stream))
}

impl Sink<Message> for WsSink {
    type Error = ts::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ts::Error>> {
        self.0.poll_ready_unpin(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), ts::Error> {
        self.0.start_send_unpin(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ts::Error>> {
        self.0.poll_flush_unpin(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ts::Error>> {
        self.0.poll_close_unpin(cx)
    }
}

impl Stream for WsStream {
    type Item = Result<Message, ts::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return match self.0.poll_next_unpin(cx) {
                // Raw frames never come out of a reading stream; skip them if they do.
                Poll::Ready(Some(Ok(Message::Frame(_)))) => continue,
                Poll::Ready(Some(Ok(m))) => Poll::Ready(Some(Ok(m))),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

/// Sends `close` (if any) on a socket no session serves, then closes it lingeringly.
pub async fn refuse(ws: RawWs, code: u16, reason: &'static str, s: &HubSettings) {
    let (mut sink, stream) = split(ws);
    let frame = CloseFrame {
        code: code.into(),
        reason: Utf8Bytes::from_static(reason),
    };
    let write_timeout = Duration::from_millis(s.ws_write_timeout_ms).min(Duration::from_secs(5));
    let sent = tokio::time::timeout(write_timeout, sink.send(Message::Close(Some(frame)))).await;
    if matches!(sent, Ok(Ok(()))) {
        linger(sink, stream, s).await;
    }
}

/// The lingering close (see the module doc). Returns the bytes discarded.
pub async fn linger(sink: WsSink, stream: WsStream, s: &HubSettings) -> usize {
    let Ok(mut ws) = stream.0.reunite(sink.0) else {
        return 0;
    };
    let io = ws.get_mut();
    let max = s.ws_linger_bytes;
    let mut discarded = 0usize;
    let drain = async {
        let _ = io.shutdown().await;
        let mut buf = [0u8; 1024];
        while discarded < max {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => discarded += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(s.ws_linger_ms), drain).await;
    tracing::debug!(discarded, "lingering close done");
    discarded
}

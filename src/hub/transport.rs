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
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self as ts, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::lean_io::{LeanIo, SharedOut};
use super::HubSettings;

pub type RawWs = WebSocketStream<LeanIo<TokioIo<Upgraded>>>;

/// The tungstenite configuration of a server socket: inbound size limits, and no write
/// buffer of its own (every frame goes straight to [`LeanIo`], which batches the writes
/// and holds no buffer once they are out).
pub fn config(s: &HubSettings) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(s.ws_read_buffer_bytes)
        .write_buffer_size(0)
        .max_message_size(Some(s.ws_max_frame_bytes))
        .max_frame_size(Some(s.ws_max_frame_bytes))
}

/// A server socket: tungstenite over [`LeanIo`], and the bytes on their way out.
pub struct Socket {
    ws: RawWs,
    out: SharedOut,
    batch: usize,
}

/// Wraps the upgraded connection (the handshake is already answered).
pub async fn open(io: Upgraded, s: &HubSettings) -> Socket {
    let out = SharedOut::default();
    let batch = s.ws_write_buffer_bytes;
    let ws = WebSocketStream::from_raw_socket(
        LeanIo::new(TokioIo::new(io), out.clone(), batch),
        ts::protocol::Role::Server,
        Some(config(s)),
    )
    .await;
    Socket { ws, out, batch }
}

/// The writing half. Text frames and pings are framed straight into the socket's
/// outgoing bytes (see [`super::lean_io`]); the close frame goes through tungstenite, which
/// keeps the closing handshake's state.
pub struct WsSink {
    sink: SplitSink<RawWs, ts::Message>,
    out: SharedOut,
    batch: usize,
}
/// The reading half (raw frames filtered out).
pub struct WsStream {
    stream: SplitStream<RawWs>,
    out: SharedOut,
}

pub fn split(socket: Socket) -> (WsSink, WsStream) {
    let (sink, stream) = socket.ws.split();
    let out = socket.out;
    let batch = socket.batch;
    (
        WsSink {
            sink,
            out: out.clone(),
            batch,
        },
        WsStream { stream, out },
    )
}

impl Sink<Message> for WsSink {
    type Error = ts::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ts::Error>> {
        if self.out.lock().pending() >= self.batch {
            // A backlog: write it before taking more.
            ready!(self.sink.poll_flush_unpin(cx))?;
        }
        self.sink.poll_ready_unpin(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), ts::Error> {
        let opcode = match &item {
            Message::Text(_) => 0x1,
            Message::Ping(_) => 0x9,
            _ => return self.sink.start_send_unpin(item),
        };
        let mut out = self.out.lock();
        if out.peer_closed {
            return Err(ts::Error::Protocol(ProtocolError::SendAfterClosing));
        }
        out.push_frame(opcode, item.into_data().as_ref());
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ts::Error>> {
        self.sink.poll_flush_unpin(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ts::Error>> {
        self.sink.poll_close_unpin(cx)
    }
}

impl Stream for WsStream {
    type Item = Result<Message, ts::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return match self.stream.poll_next_unpin(cx) {
                // Raw frames never come out of a reading stream; skip them if they do.
                Poll::Ready(Some(Ok(Message::Frame(_)))) => continue,
                Poll::Ready(Some(Ok(Message::Close(c)))) => {
                    // tungstenite answers it; nothing of ours may follow that answer.
                    self.out.lock().peer_closed = true;
                    Poll::Ready(Some(Ok(Message::Close(c))))
                }
                Poll::Ready(Some(Ok(m))) => Poll::Ready(Some(Ok(m))),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

/// Sends `close` (if any) on a socket no session serves, then closes it lingeringly.
pub async fn refuse(ws: Socket, code: u16, reason: &'static str, s: &HubSettings) {
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
    let Ok(mut ws) = stream.stream.reunite(sink.sink) else {
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

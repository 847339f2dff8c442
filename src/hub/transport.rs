//! The connection under a session: the upgraded HTTP/1.1 connection with the WebSocket
//! framing of [`super::lean_io`], its two halves speaking tungstenite's [`Message`] to the
//! session, and the lingering close.
//!
//! Both halves share one small [`Inner`] (the connection, the bytes going out, what was read
//! of an unfinished frame, the closing handshake) behind an uncontended mutex: the session
//! polls them in the one task that serves the socket. An idle socket holds no buffer.
//!
//! Lingering close: after a refusal that stops reading (an oversize or malformed frame), the
//! server writes its close frame, stops writing (half-close), then reads and discards what
//! the peer still sends until it sees EOF, `ws_linger_ms` pass or `ws_linger_bytes` arrive,
//! and only then closes. Closing with unread input makes the kernel answer with a reset, and
//! a reset that overtakes the close frame leaves the peer with 1006 instead of the code.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_util::{Sink, Stream};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error, Message, Utf8Bytes};

use super::lean_io::{Closing, Incoming, Outgoing};
use super::HubSettings;

/// The upgraded connection of a server socket.
pub type ServerIo = TokioIo<Upgraded>;

/// Everything a socket's framing holds.
struct Inner<T> {
    io: T,
    out: Outgoing,
    incoming: Incoming,
    closing: Closing,
    /// Past this many unsent bytes, they go to the socket before more are taken.
    batch: usize,
    /// The reading half returned its last item.
    ended: bool,
}

impl<T: AsyncWrite + Unpin> Inner<T> {
    /// Writes what reading queued (pongs, the answer to the peer's close), as far as the
    /// socket takes it now; a write error ends the reading half.
    fn send_answers(&mut self, cx: &mut Context<'_>) -> Result<(), Error> {
        if self.out.pending() == 0 {
            return Ok(());
        }
        match self.out.poll_send(&mut self.io, cx) {
            Poll::Ready(Err(e)) => {
                self.ended = true;
                Err(Error::Io(e))
            }
            _ => Ok(()),
        }
    }
}

type Shared<T> = Arc<Mutex<Inner<T>>>;

fn lock<T>(shared: &Shared<T>) -> MutexGuard<'_, Inner<T>> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// A server socket after the handshake.
pub struct Socket<T = ServerIo> {
    shared: Shared<T>,
}

/// Wraps the upgraded connection (the handshake is already answered).
pub fn open(io: Upgraded, s: &HubSettings) -> Socket {
    Socket::new(
        TokioIo::new(io),
        s.ws_max_frame_bytes,
        s.ws_write_buffer_bytes,
    )
}

impl<T> Socket<T> {
    /// A server socket over `io`: frames and messages from the peer of up to `max_bytes`,
    /// writes batched up to `batch` bytes.
    pub fn new(io: T, max_bytes: usize, batch: usize) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Inner {
                io,
                out: Outgoing::default(),
                incoming: Incoming::new(max_bytes),
                closing: Closing::Open,
                batch: batch.max(1),
                ended: false,
            })),
        }
    }

    /// Another handle on the same socket, to look at its buffers while its halves work.
    #[cfg(test)]
    pub(crate) fn probe(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }

    /// Bytes of buffer capacity held now (read and write side): 0 on an idle socket.
    pub fn buffered_capacity(&self) -> usize {
        let inner = lock(&self.shared);
        inner.out.capacity() + inner.incoming.capacity()
    }
}

/// The writing half.
pub struct WsSink<T = ServerIo> {
    shared: Shared<T>,
}

/// The reading half.
pub struct WsStream<T = ServerIo> {
    shared: Shared<T>,
}

pub fn split<T>(socket: Socket<T>) -> (WsSink<T>, WsStream<T>) {
    (
        WsSink {
            shared: socket.shared.clone(),
        },
        WsStream {
            shared: socket.shared,
        },
    )
}

impl<T: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WsSink<T> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut guard = lock(&self.shared);
        let inner = &mut *guard;
        if inner.out.pending() >= inner.batch {
            // A backlog: write it before taking more.
            ready!(inner.out.poll_send(&mut inner.io, cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        let mut inner = lock(&self.shared);
        let opcode = match &item {
            Message::Text(_) => 0x1,
            Message::Binary(_) => 0x2,
            Message::Ping(_) => 0x9,
            Message::Pong(_) => 0xA,
            Message::Close(close) => {
                // Like tungstenite: the first close frame starts the handshake; after the
                // peer's (which was answered) or ours, there is nothing more to send.
                if inner.closing == Closing::Open {
                    inner.closing = Closing::ByUs;
                    inner.out.push_close(close.as_ref());
                }
                return Ok(());
            }
            Message::Frame(_) => {
                return Err(Error::Io(io::Error::other("raw frames are not sent")));
            }
        };
        if !inner.closing.can_send() {
            return Err(Error::Protocol(ProtocolError::SendAfterClosing));
        }
        inner.out.push_frame(opcode, &item.into_data());
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut guard = lock(&self.shared);
        let inner = &mut *guard;
        ready!(inner.out.poll_send(&mut inner.io, cx))?;
        Poll::Ready(ready!(Pin::new(&mut inner.io).poll_flush(cx)).map_err(Error::Io))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut guard = lock(&self.shared);
        let inner = &mut *guard;
        ready!(inner.out.poll_send(&mut inner.io, cx))?;
        Poll::Ready(ready!(Pin::new(&mut inner.io).poll_shutdown(cx)).map_err(Error::Io))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Stream for WsStream<T> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut guard = lock(&self.shared);
        let inner = &mut *guard;
        if inner.ended {
            return Poll::Ready(None);
        }
        // A pong or a close answer that the socket did not take at once (below).
        if let Err(e) = inner.send_answers(cx) {
            return Poll::Ready(Some(Err(e)));
        }
        let read =
            inner
                .incoming
                .poll_message(&mut inner.io, &mut inner.out, &mut inner.closing, cx);
        let item = match ready!(read) {
            Ok(Some(msg)) => Some(Ok(msg)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        };
        if !matches!(item, Some(Ok(_))) {
            inner.ended = true;
        } else if let Err(e) = inner.send_answers(cx) {
            // The pong or close answer reading queued: on its way now (what the socket does
            // not take goes with the next write, or when this is polled again).
            return Poll::Ready(Some(Err(e)));
        }
        Poll::Ready(item)
    }
}

/// Sends close `code` on a socket no session serves, then closes it lingeringly.
pub async fn refuse<T>(ws: Socket<T>, code: u16, reason: &'static str, s: &HubSettings)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, stream) = split(ws);
    let frame = CloseFrame {
        code: code.into(),
        reason: Utf8Bytes::from_static(reason),
    };
    let write_timeout = Duration::from_millis(s.ws_write_timeout_ms).min(Duration::from_secs(5));
    let sent = tokio::time::timeout(
        write_timeout,
        futures_util::SinkExt::send(&mut sink, Message::Close(Some(frame))),
    )
    .await;
    if matches!(sent, Ok(Ok(()))) {
        linger(sink, stream, s).await;
    }
}

/// The lingering close (see the module doc). Returns the bytes discarded.
pub async fn linger<T>(sink: WsSink<T>, stream: WsStream<T>, s: &HubSettings) -> usize
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    drop(sink);
    let Ok(inner) = Arc::try_unwrap(stream.shared) else {
        return 0;
    };
    let Inner {
        mut io, mut out, ..
    } = inner.into_inner().unwrap_or_else(|p| p.into_inner());
    let max = s.ws_linger_bytes;
    let mut discarded = 0usize;
    let drain = async {
        if std::future::poll_fn(|cx| out.poll_send(&mut io, cx))
            .await
            .is_err()
        {
            return;
        }
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

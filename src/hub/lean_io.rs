//! A socket's byte stream under tungstenite that holds no buffer while the socket is idle.
//!
//! tungstenite is configured with no buffers of its own (read buffer 0, write buffer 0), so
//! every byte goes through here:
//! - reads land in a stack buffer; what tungstenite does not take at once waits in `unread`,
//!   which is released as soon as it is drained (an idle socket holds no read buffer);
//! - writes are collected in [`Outgoing`] until a flush (or `batch` bytes) and written in
//!   one system call; the buffer is released once it is on the wire (an idle socket holds
//!   no write buffer). The hub's own text frames are framed straight into [`Outgoing`]
//!   (`transport::WsSink`), not through tungstenite, whose write buffer would keep the
//!   capacity of the largest frame it ever wrote.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read from the socket per system call at most (on the stack, not per socket).
pub const READ_CHUNK: usize = 4096;

/// Bytes on their way to one socket, whole frames in order, from tungstenite (control
/// frames) and from the hub (text frames).
#[derive(Default)]
pub struct Outgoing {
    /// Not yet on the wire from `sent` on.
    bytes: Vec<u8>,
    sent: usize,
    /// The peer's close frame was read: no data frame may follow ours.
    pub peer_closed: bool,
}

/// An [`Outgoing`] shared by the socket's [`LeanIo`] and its sink.
#[derive(Clone, Default)]
pub struct SharedOut(Arc<Mutex<Outgoing>>);

impl SharedOut {
    pub fn lock(&self) -> MutexGuard<'_, Outgoing> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Outgoing {
    /// Bytes not yet written.
    pub fn pending(&self) -> usize {
        self.bytes.len() - self.sent
    }

    /// Queues a final, unmasked frame (a server's) with `opcode` and `payload`.
    pub fn push_frame(&mut self, opcode: u8, payload: &[u8]) {
        let n = payload.len();
        self.bytes.reserve(n + 10);
        self.bytes.push(0x80 | opcode);
        if n < 126 {
            self.bytes.push(n as u8);
        } else if let Ok(short) = u16::try_from(n) {
            self.bytes.push(126);
            self.bytes.extend_from_slice(&short.to_be_bytes());
        } else {
            self.bytes.push(127);
            self.bytes.extend_from_slice(&(n as u64).to_be_bytes());
        }
        self.bytes.extend_from_slice(payload);
    }

    /// Writes everything unsent, then releases the buffer.
    fn poll_send<T: AsyncWrite + Unpin>(
        &mut self,
        io: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.sent < self.bytes.len() {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, &self.bytes[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.bytes = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

pub struct LeanIo<T> {
    inner: T,
    /// Read from the socket, not yet taken by tungstenite (from `read_pos` on).
    unread: Vec<u8>,
    read_pos: usize,
    out: SharedOut,
    /// Past this many unsent bytes, they go to the socket without waiting for a flush.
    batch: usize,
}

impl<T> LeanIo<T> {
    pub fn new(inner: T, out: SharedOut, batch: usize) -> Self {
        Self {
            inner,
            unread: Vec::new(),
            read_pos: 0,
            out,
            batch,
        }
    }

    /// Bytes of buffer capacity held now (read and write side): 0 on an idle socket.
    pub fn buffered_capacity(&self) -> usize {
        self.unread.capacity() + self.out.lock().bytes.capacity()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for LeanIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.read_pos < me.unread.len() {
            let n = buf.remaining().min(me.unread.len() - me.read_pos);
            buf.put_slice(&me.unread[me.read_pos..me.read_pos + n]);
            me.read_pos += n;
            if me.read_pos == me.unread.len() {
                me.unread = Vec::new();
                me.read_pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= READ_CHUNK {
            return Pin::new(&mut me.inner).poll_read(cx, buf);
        }
        let mut chunk = [0u8; READ_CHUNK];
        let mut tmp = ReadBuf::new(&mut chunk);
        ready!(Pin::new(&mut me.inner).poll_read(cx, &mut tmp))?;
        let got = tmp.filled();
        let n = got.len().min(buf.remaining());
        buf.put_slice(&got[..n]);
        if n < got.len() {
            me.unread = got[n..].to_vec();
            me.read_pos = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for LeanIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let mut out = me.out.lock();
        out.bytes.extend_from_slice(buf);
        if out.pending() >= me.batch {
            // A backlog: start writing now; whatever the socket does not take waits.
            if let Poll::Ready(Err(e)) = out.poll_send(&mut me.inner, cx) {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        ready!(me.out.lock().poll_send(&mut me.inner, cx))?;
        Pin::new(&mut me.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        ready!(me.out.lock().poll_send(&mut me.inner, cx))?;
        Pin::new(&mut me.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::{LeanIo, SharedOut};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn an_idle_stream_holds_no_buffer() {
        let (a, mut b) = tokio::io::duplex(64 * 1024);
        let mut io = LeanIo::new(a, SharedOut::default(), 4096);
        b.write_all(&[7u8; 1000]).await.unwrap();
        let mut small = [0u8; 14];
        io.read_exact(&mut small).await.unwrap();
        assert!(io.buffered_capacity() > 0, "the rest of the read waits");
        let mut rest = vec![0u8; 986];
        io.read_exact(&mut rest).await.unwrap();
        assert_eq!(io.buffered_capacity(), 0, "drained: released");
        io.write_all(b"hello").await.unwrap();
        io.write_all(b" world").await.unwrap();
        assert!(io.buffered_capacity() > 0, "collected until the flush");
        io.flush().await.unwrap();
        assert_eq!(io.buffered_capacity(), 0, "written: released");
        let mut got = [0u8; 11];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello world");
    }

    #[tokio::test]
    async fn a_backlog_is_written_without_waiting_for_a_flush() {
        let (a, mut b) = tokio::io::duplex(64 * 1024);
        let mut io = LeanIo::new(a, SharedOut::default(), 8);
        io.write_all(b"0123456789").await.unwrap();
        assert_eq!(
            io.buffered_capacity(),
            0,
            "over the batch size: already sent"
        );
        let mut got = [0u8; 10];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"0123456789");
    }

    #[tokio::test]
    async fn frames_pushed_beside_tungstenite_go_out_in_order() {
        let (a, mut b) = tokio::io::duplex(64 * 1024);
        let out = SharedOut::default();
        let mut io = LeanIo::new(a, out.clone(), 4096);
        out.lock().push_frame(0x1, b"hi");
        io.write_all(&[0x8a, 0x00]).await.unwrap(); // a pong, as tungstenite writes it
        out.lock().push_frame(0x1, &[b'x'; 200]);
        io.flush().await.unwrap();
        let mut got = vec![0u8; 4 + 2 + 4 + 200];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..6], &[0x81, 2, b'h', b'i', 0x8a, 0x00]);
        assert_eq!(&got[6..10], &[0x81, 126, 0, 200], "16-bit length");
        assert_eq!(io.buffered_capacity(), 0);
    }
}

//! Lingering close: a connection's socket, which on drop is not closed at once.
//!
//! When a server closes a socket while the client's unread bytes sit in its receive buffer
//! (a 413 sent before the 3 MB body was read), the kernel answers with a TCP reset, and a
//! reset that reaches the client before it has read the reply destroys the reply. So, as
//! nginx and Apache do, a dropped [`LingerStream`] first shuts its write side (FIN after the
//! reply), then reads and discards what still arrives, until the client closes, or
//! `http_linger_ms` pass, or `http_linger_max_bytes` were read, and only then closes.
//! It also holds the connection's slot (the cap in `serve`) until it is really closed.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

/// How long and how much a closing connection keeps reading.
#[derive(Clone, Copy, Debug)]
pub struct Linger {
    pub time: Duration,
    pub max_bytes: usize,
}

/// A TCP stream that lingers when dropped (see the module doc).
pub struct LingerStream {
    stream: Option<TcpStream>,
    linger: Linger,
    permit: Option<OwnedSemaphorePermit>,
}

impl LingerStream {
    pub fn new(stream: TcpStream, linger: Linger, permit: Option<OwnedSemaphorePermit>) -> Self {
        Self {
            stream: Some(stream),
            linger,
            permit,
        }
    }

    fn stream(&mut self) -> io::Result<&mut TcpStream> {
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }
}

impl Drop for LingerStream {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        let (linger, permit) = (self.linger, self.permit.take());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                drain(stream, linger).await;
                drop(permit);
            });
        }
    }
}

/// Shuts the write side, then reads and discards until EOF, an error, the time or the byte
/// bound; the stream closes when it is dropped on return.
pub async fn drain(mut stream: TcpStream, linger: Linger) {
    let _ = stream.shutdown().await;
    let deadline = tokio::time::Instant::now() + linger.time;
    let mut buf = [0u8; 8192];
    let mut read = 0usize;
    while read < linger.max_bytes {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => read += n,
            _ => break,
        }
    }
}

impl AsyncRead for LingerStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.stream()?).poll_read(cx, buf)
    }
}

impl AsyncWrite for LingerStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.stream()?).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.stream()?).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()?).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()?).poll_shutdown(cx)
    }
}

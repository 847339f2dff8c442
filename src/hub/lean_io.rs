//! A server socket's WebSocket framing (RFC 6455 §5) after the handshake, holding no buffer
//! while the socket is idle. tungstenite parses each frame's header; the rest is here, so a
//! socket's whole framing state is a few words (see `transport::Socket`):
//! - reads land in a stack buffer; the bytes of a frame that has not fully arrived, and a
//!   fragmented message being assembled, wait in a [`Partial`] that exists only while there
//!   is something in it;
//! - writes are whole frames appended to [`Outgoing`] and written in one system call per
//!   flush (or per `batch` bytes); the buffer is released once it is on the wire.
//!
//! The rules a frame from a client must follow, and the error each breach gives, are
//! tungstenite's own (`WebSocketContext::read_message_frame`), so the session maps them to
//! close codes as before: too big 1009, invalid UTF-8 1007, anything else 1002.

use std::io::{self, Cursor};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Error, Message, Utf8Bytes};

/// Bytes read from the socket per system call at most (on the stack, not per socket).
pub const READ_CHUNK: usize = 4096;

/// Past this many unwritten bytes, a ping is not answered.
const PONG_BACKLOG_BYTES: usize = 4096;

/// Bytes on their way to one socket: whole frames in order.
#[derive(Default)]
pub struct Outgoing {
    /// Not yet on the wire from `sent` on.
    bytes: Vec<u8>,
    sent: usize,
}

impl Outgoing {
    /// Bytes not yet written.
    pub fn pending(&self) -> usize {
        self.bytes.len() - self.sent
    }

    /// Bytes of buffer capacity held now: 0 once everything is written.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
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

    /// Queues a close frame (`None`: without a code).
    pub fn push_close(&mut self, close: Option<&CloseFrame>) {
        let mut payload = Vec::new();
        if let Some(c) = close {
            payload.extend_from_slice(&u16::from(c.code).to_be_bytes());
            payload.extend_from_slice(c.reason.as_bytes());
        }
        self.push_frame(0x8, &payload);
    }

    /// Writes everything unsent, then releases the buffer.
    pub fn poll_send<T: AsyncWrite + Unpin>(
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

/// Where the closing handshake is (tungstenite's `WebSocketState`, less what a server with
/// a session on top never needs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Closing {
    Open,
    /// We sent our close frame; the peer's may still come.
    ByUs,
    /// The peer sent its close frame and we answered it: nothing more may be sent.
    ByPeer,
    /// Both close frames went.
    Done,
}

impl Closing {
    pub fn can_send(self) -> bool {
        self == Closing::Open
    }
}

/// Read and not yet taken: the start of a frame that has not fully arrived (from `pos`
/// on), and a fragmented message being assembled (text or not, its bytes so far).
#[derive(Default)]
struct Partial {
    buf: Vec<u8>,
    pos: usize,
    fragmented: Option<(bool, Vec<u8>)>,
}

/// A socket's reading side: what is buffered between frames, and the size limit.
pub struct Incoming {
    partial: Option<Box<Partial>>,
    max_bytes: usize,
}

impl Incoming {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            partial: None,
            max_bytes,
        }
    }

    /// Bytes of buffer capacity held now: 0 between frames.
    pub fn capacity(&self) -> usize {
        self.partial.as_ref().map_or(0, |p| {
            p.buf.capacity() + p.fragmented.as_ref().map_or(0, |f| f.1.capacity())
        })
    }

    /// Reads until a message (or a control frame) is whole. `Ok(None)` at the end of the
    /// stream. Pongs and close replies go to `out`; `closing` follows the handshake.
    pub fn poll_message<T: AsyncRead + Unpin>(
        &mut self,
        io: &mut T,
        out: &mut Outgoing,
        closing: &mut Closing,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Message>, Error>> {
        loop {
            while let Some(frame) = self.next_frame()? {
                if let Some(msg) = self.on_frame(frame, out, closing)? {
                    return Poll::Ready(Ok(Some(msg)));
                }
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut got = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut *io).poll_read(cx, &mut got))?;
            if got.filled().is_empty() {
                // The peer is gone, with or without its close frame: nobody is left to
                // tell anything (tungstenite calls the latter a protocol error, which made
                // the session answer a vanished peer with a 1002 close).
                self.partial = None;
                return Poll::Ready(Ok(None));
            }
            let p = self.partial.get_or_insert_with(Box::default);
            // What was taken goes first: a peer whose frames never line up with the reads
            // (always part of the next one at the end) would otherwise grow this for ever.
            p.buf.drain(..p.pos);
            p.pos = 0;
            p.buf.extend_from_slice(got.filled());
        }
    }

    /// The next whole frame buffered, unmasked, if there is one.
    fn next_frame(&mut self) -> Result<Option<(FrameHeader, Bytes)>, Error> {
        let Some(p) = self.partial.as_mut() else {
            return Ok(None);
        };
        let mut cursor = Cursor::new(&p.buf[p.pos..]);
        let Some((header, len)) = FrameHeader::parse(&mut cursor)? else {
            return Ok(None);
        };
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.max_bytes {
            // Refused before its payload is read, let alone buffered.
            return Err(Error::Capacity(CapacityError::MessageTooLong {
                size: len,
                max_size: self.max_bytes,
            }));
        }
        let start = p.pos + cursor.position() as usize;
        if p.buf.len() - start < len {
            return Ok(None);
        }
        let Some(mask) = header.mask else {
            return Err(Error::Protocol(ProtocolError::UnmaskedFrameFromClient));
        };
        let payload: Vec<u8> = p.buf[start..start + len]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i & 3])
            .collect();
        p.pos = start + len;
        if p.pos == p.buf.len() {
            p.buf = Vec::new();
            p.pos = 0;
        }
        self.release_if_empty();
        Ok(Some((header, Bytes::from(payload))))
    }

    fn release_if_empty(&mut self) {
        if self
            .partial
            .as_ref()
            .is_some_and(|p| p.buf.is_empty() && p.fragmented.is_none())
        {
            self.partial = None;
        }
    }

    /// What a whole frame means (tungstenite's rules); `None` for a fragment.
    fn on_frame(
        &mut self,
        (header, payload): (FrameHeader, Bytes),
        out: &mut Outgoing,
        closing: &mut Closing,
    ) -> Result<Option<Message>, Error> {
        if matches!(closing, Closing::ByPeer | Closing::Done) {
            return Err(Error::Protocol(ProtocolError::ReceivedAfterClosing));
        }
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(Error::Protocol(ProtocolError::NonZeroReservedBits));
        }
        match header.opcode {
            OpCode::Control(_) if !header.is_final => {
                Err(Error::Protocol(ProtocolError::FragmentedControlFrame))
            }
            OpCode::Control(_) if payload.len() > 125 => {
                Err(Error::Protocol(ProtocolError::ControlFrameTooBig))
            }
            OpCode::Control(Control::Close) => {
                let close = close_of(payload)?;
                Ok(on_close(close, out, closing).map(Message::Close))
            }
            OpCode::Control(Control::Reserved(i)) => {
                Err(Error::Protocol(ProtocolError::UnknownControlFrameType(i)))
            }
            OpCode::Control(Control::Ping) => {
                // A peer that pings without reading does not grow our buffer: past a backlog,
                // its pings go unanswered (RFC 6455 §5.5.3 lets an endpoint answer only the
                // latest; the rate limit closes a peer that keeps on).
                if closing.can_send() && out.pending() < PONG_BACKLOG_BYTES {
                    out.push_frame(0xA, &payload);
                }
                Ok(Some(Message::Ping(payload)))
            }
            OpCode::Control(Control::Pong) => Ok(Some(Message::Pong(payload))),
            OpCode::Data(data) => self.on_data(data, header.is_final, payload),
        }
    }

    fn on_data(&mut self, data: Data, fin: bool, payload: Bytes) -> Result<Option<Message>, Error> {
        let max = self.max_bytes;
        let assembling = self.partial.as_mut().and_then(|p| p.fragmented.as_mut());
        let (text, bytes) = match (data, assembling) {
            (Data::Continue, None) => {
                return Err(Error::Protocol(ProtocolError::UnexpectedContinueFrame))
            }
            (Data::Continue, Some((_, so_far))) => {
                if so_far.len() + payload.len() > max {
                    return Err(Error::Capacity(CapacityError::MessageTooLong {
                        size: so_far.len() + payload.len(),
                        max_size: max,
                    }));
                }
                so_far.extend_from_slice(&payload);
                if !fin {
                    return Ok(None);
                }
                let (text, whole) = self
                    .partial
                    .as_mut()
                    .and_then(|p| p.fragmented.take())
                    .unwrap_or_default();
                self.release_if_empty();
                (text, Bytes::from(whole))
            }
            (data, Some(_)) => return Err(Error::Protocol(ProtocolError::ExpectedFragment(data))),
            (Data::Reserved(i), None) => {
                return Err(Error::Protocol(ProtocolError::UnknownDataFrameType(i)))
            }
            (data, None) => {
                let text = data == Data::Text;
                if !fin {
                    let p = self.partial.get_or_insert_with(Box::default);
                    p.fragmented = Some((text, payload.to_vec()));
                    return Ok(None);
                }
                (text, payload)
            }
        };
        Ok(Some(if text {
            Message::Text(Utf8Bytes::try_from(bytes)?)
        } else {
            Message::Binary(bytes)
        }))
    }
}

/// A close frame's code and reason (none, or at least the two bytes of a code).
fn close_of(payload: Bytes) -> Result<Option<CloseFrame>, Error> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(Error::Protocol(ProtocolError::InvalidCloseSequence)),
        _ => Ok(Some(CloseFrame {
            code: CloseCode::from(u16::from_be_bytes([payload[0], payload[1]])),
            reason: Utf8Bytes::try_from(payload.slice(2..))?,
        })),
    }
}

/// The peer's close frame: answered (with its own code, or 1002 for a code nobody may
/// send) when it came first; what the session is told, if anything.
fn on_close(
    close: Option<CloseFrame>,
    out: &mut Outgoing,
    closing: &mut Closing,
) -> Option<Option<CloseFrame>> {
    match *closing {
        Closing::Open => {
            *closing = Closing::ByPeer;
            let close = close.map(|c| {
                if c.code.is_allowed() {
                    c
                } else {
                    CloseFrame {
                        code: CloseCode::Protocol,
                        reason: Utf8Bytes::from_static("Protocol violation"),
                    }
                }
            });
            out.push_close(close.as_ref());
            Some(close)
        }
        Closing::ByUs => {
            *closing = Closing::Done;
            Some(close)
        }
        Closing::ByPeer | Closing::Done => None,
    }
}

#[cfg(test)]
#[path = "lean_io_tests.rs"]
mod tests;

//! One socket's writer task: takes everything queued in its [`Conn`], feeds it to the
//! WebSocket and flushes once (one write system call for a whole backlog), then sleeps
//! until the queue is non-empty again. Ends after writing the close frame, or when the
//! socket dies or a write does not finish within the write timeout.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{Sink, SinkExt};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::outbox::{Conn, Out, State};

/// Writes what the socket's queue holds until the connection closes or dies. True when it
/// ended by writing the close frame.
pub async fn write_loop<S>(conn: &Conn, sink: &mut S, write_timeout: Duration) -> bool
where
    S: Sink<Message> + Unpin,
{
    loop {
        let (batch, state) = conn.take();
        if !batch.is_empty() {
            // Boxed: the write's state (and its timer) exists only while a batch is being
            // written, not in every idle socket's task.
            if !Box::pin(write_batch(conn, sink, batch, write_timeout)).await {
                return false;
            }
            continue;
        }
        match state {
            State::Open => conn.writer_woken().await,
            State::Closing(code, reason) => {
                return Box::pin(write_close(conn, sink, code, reason, write_timeout)).await;
            }
            State::CloseSent => return false,
            State::Dead => {
                crate::ops::metrics::get().ws_closed(None);
                return false;
            }
        }
    }
}

/// Feeds `batch` to the WebSocket and flushes once; false (the socket is killed) if that
/// failed or did not finish within `write_timeout`.
async fn write_batch<S>(
    conn: &Conn,
    sink: &mut S,
    batch: VecDeque<Out>,
    write_timeout: Duration,
) -> bool
where
    S: Sink<Message> + Unpin,
{
    let m = crate::ops::metrics::get();
    let n = batch.len() as u64;
    // Latency is sampled: the batch's oldest event frame stands for the batch.
    let sample = batch.iter().find_map(|out| match out {
        Out::Event(ev) => Some((ev.received_at, ev.created_at)),
        _ => None,
    });
    let write = async {
        for out in batch {
            let msg = match out {
                Out::Event(ev) => Message::Text(super::text_of(&ev.frame)),
                Out::Text(t) => Message::Text(t),
                Out::Ping => Message::Ping(Default::default()),
            };
            sink.feed(msg).await?;
        }
        sink.flush().await
    };
    match tokio::time::timeout(write_timeout, write).await {
        Ok(Ok(())) => {
            m.ws_frames_sent.increment(n);
            if let Some((received, created_at)) = sample {
                m.frame_written(received, created_at);
            }
            true
        }
        _ => {
            m.ws_write_errors.increment(1);
            m.ws_closed(None);
            conn.kill();
            false
        }
    }
}

/// Writes the close frame; true if it went out.
async fn write_close<S>(
    conn: &Conn,
    sink: &mut S,
    code: u16,
    reason: &'static str,
    write_timeout: Duration,
) -> bool
where
    S: Sink<Message> + Unpin,
{
    crate::ops::metrics::get().ws_closed(Some(code));
    let frame = CloseFrame {
        code: code.into(),
        reason: Utf8Bytes::from_static(reason),
    };
    let sent = tokio::time::timeout(
        write_timeout.min(Duration::from_secs(5)),
        sink.send(Message::Close(Some(frame))),
    )
    .await;
    match sent {
        Ok(Ok(())) => {
            conn.set_close_sent();
            true
        }
        _ => {
            conn.kill();
            false
        }
    }
}

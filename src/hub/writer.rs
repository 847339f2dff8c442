//! One socket's writer task: takes everything queued in its [`Conn`], feeds it to the
//! WebSocket and flushes once (one write system call for a whole backlog), then sleeps
//! until the queue is non-empty again. Ends after writing the close frame, or when the
//! socket dies or a write does not finish within the write timeout.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::{Sink, SinkExt};

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
            let n = batch.len() as u64;
            let write = async {
                for out in batch {
                    let msg = match out {
                        Out::Event(ev) => Message::Text(ev.frame.clone()),
                        Out::Text(t) => Message::Text(t),
                        Out::Ping => Message::Ping(Default::default()),
                    };
                    sink.feed(msg).await?;
                }
                sink.flush().await
            };
            match tokio::time::timeout(write_timeout, write).await {
                Ok(Ok(())) => metrics::counter!("taskhub_ws_frames_sent_total").increment(n),
                _ => {
                    conn.kill();
                    return false;
                }
            }
            continue;
        }
        match state {
            State::Open => conn.wake_writer.notified().await,
            State::Closing(code, reason) => {
                let frame = CloseFrame {
                    code,
                    reason: Utf8Bytes::from_static(reason),
                };
                let sent = tokio::time::timeout(
                    write_timeout.min(Duration::from_secs(5)),
                    sink.send(Message::Close(Some(frame))),
                )
                .await;
                return match sent {
                    Ok(Ok(())) => {
                        conn.set_close_sent();
                        true
                    }
                    _ => {
                        conn.kill();
                        false
                    }
                };
            }
            State::CloseSent | State::Dead => return false,
        }
    }
}

//! `loadgen --raw-server ADDR`: the floor to compare the hub with. A minimal WebSocket
//! server on plain tokio: the handshake answered by hand, one task per socket, frames
//! written by hand (several per write when a socket has a backlog), no session, no limits,
//! no delivery guarantees. It speaks just enough of the hub's protocol for the load
//! generator's sockets: `connected` and `authSuccess` on open (the user is the unverified
//! `sub` of `?token=`), `subscribed` for each frame the client sends, and every message
//! published on Redis channel `taskhub:user:{id}` is forwarded as is to that user's sockets.
//! Run it as its own process so its CPU and memory can be read like the hub's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Frames queued per socket before the publisher drops them (a slow reader loses frames).
const QUEUE: usize = 512;

type Sockets = Arc<Mutex<HashMap<String, Vec<mpsc::Sender<Bytes>>>>>;

/// Serves until killed; prints `raw server listening on http://ADDR` once bound.
pub async fn serve(addr: &str, redis_url: &str) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await.context("binding")?;
    println!("raw server listening on http://{}", listener.local_addr()?);
    let sockets: Sockets = Arc::default();
    tokio::spawn(fan_out(redis_url.to_string(), sockets.clone()));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(pair) => pair,
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(socket(stream, sockets.clone()));
    }
}

/// Redis -> the user's sockets, each message forwarded as one text frame.
async fn fan_out(redis_url: String, sockets: Sockets) -> anyhow::Result<()> {
    let client = redis::Client::open(redis_url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.psubscribe("taskhub:user:*").await?;
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let Some(user) = msg.get_channel_name().strip_prefix("taskhub:user:") else {
            continue;
        };
        let frame = Bytes::from(text_frame(msg.get_payload_bytes()));
        let map = sockets.lock().unwrap_or_else(|p| p.into_inner());
        for tx in map.get(user).into_iter().flatten() {
            let _ = tx.try_send(frame.clone());
        }
    }
    Ok(())
}

/// An unmasked, final text frame carrying `payload`.
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 10);
    f.push(0x81);
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n <= 0xffff => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// The `sub` claim of a JWT, unverified (the raw server trusts its load generator).
fn subject(token: &str) -> Option<String> {
    let body = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&json).ok()?;
    v["sub"].as_str().map(str::to_string)
}

/// The request head's `?token=` and `Sec-WebSocket-Key`.
fn parse_head(head: &str) -> Option<(String, String)> {
    let target = head.lines().next()?.split(' ').nth(1)?;
    let token = target
        .split_once("token=")
        .map(|(_, t)| t.split('&').next().unwrap_or(t).to_string())?;
    let key = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_string())
    })?;
    Some((token, key))
}

async fn socket(mut stream: TcpStream, sockets: Sockets) -> anyhow::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        anyhow::ensure!(n > 0 && head.len() < 16 * 1024, "bad request head");
        head.extend_from_slice(&buf[..n]);
    }
    let (token, key) = parse_head(&String::from_utf8_lossy(&head)).context("not an upgrade")?;
    let user = subject(&token).context("no sub in the token")?;
    let reply = format!(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    let mut hello = reply.into_bytes();
    hello.extend(text_frame(br#"{"type":"connected","payload":{}}"#));
    hello.extend(text_frame(br#"{"type":"authSuccess","payload":{}}"#));
    stream.write_all(&hello).await?;
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
    sockets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(user.clone())
        .or_default()
        .push(tx);
    let result = pump(&mut stream, &mut rx).await;
    drop(rx);
    let mut map = sockets.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(list) = map.get_mut(&user) {
        list.retain(|tx| !tx.is_closed());
    }
    result
}

/// Text frames complete in `buf` (client frames, masked), removed from it.
fn take_text_frames(buf: &mut Vec<u8>) -> usize {
    let (mut n, mut pos) = (0, 0);
    while buf.len() - pos >= 2 {
        let rest = &buf[pos..];
        let masked = if rest[1] & 0x80 != 0 { 4 } else { 0 };
        let (len, head) = match rest[1] & 0x7f {
            126 if rest.len() >= 4 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 if rest.len() >= 10 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&rest[2..10]);
                (u64::from_be_bytes(b) as usize, 10)
            }
            126 | 127 => break,
            l => (l as usize, 2),
        };
        let total = head + masked + len;
        if rest.len() < total {
            break;
        }
        if rest[0] & 0x0f == 1 {
            n += 1;
        }
        pos += total;
    }
    buf.drain(..pos);
    n
}

/// Reads (answering each client frame `subscribed`) and writes queued frames until the
/// connection ends.
async fn pump(stream: &mut TcpStream, rx: &mut mpsc::Receiver<Bytes>) -> anyhow::Result<()> {
    let (mut rd, mut wr) = stream.split();
    let mut inbound = [0u8; 4096];
    let mut partial: Vec<u8> = Vec::new();
    let mut batch: Vec<u8> = Vec::new();
    loop {
        tokio::select! {
            frame = rx.recv() => {
                let Some(frame) = frame else { return Ok(()) };
                batch.extend_from_slice(&frame);
                while let Ok(more) = rx.try_recv() {
                    batch.extend_from_slice(&more);
                }
                wr.write_all(&batch).await?;
                batch = Vec::new();
            }
            n = rd.read(&mut inbound) => {
                let n = n?;
                if n == 0 {
                    return Ok(());
                }
                // Each text frame from the client is a subscription: answered `subscribed`.
                partial.extend_from_slice(&inbound[..n]);
                for _ in 0..take_text_frames(&mut partial) {
                    wr.write_all(&text_frame(br#"{"type":"subscribed","payload":{}}"#)).await?;
                }
                if partial.is_empty() {
                    partial = Vec::new();
                }
            }
        }
    }
}

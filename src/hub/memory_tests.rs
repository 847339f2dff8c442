//! The memory shape of one socket, checked without timing anything: how big the futures
//! that make up a socket's task are (each socket holds one for its whole life). A change
//! that grows them past these bounds costs every socket that much again (BENCHMARKS.md,
//! "Memory per socket").

use std::future::Future;

use hyper::upgrade::Upgraded;

use super::admission::{Refusal, UnauthSlot};
use super::transport::{WsSink, WsStream};
use super::Hub;

fn size_of_future4<A, B, C, D, F: Future>(_: impl Fn(A, B, C, D) -> F) -> usize {
    std::mem::size_of::<F>()
}

fn size_of_future5<A, B, C, D, E, F: Future>(_: impl Fn(A, B, C, D, E) -> F) -> usize {
    std::mem::size_of::<F>()
}

/// The socket's whole task (upgrade to close) as `routes::ws` spawns it, less a few words.
/// Measured (debug build): 1,032 bytes for `Hub::serve`, 856 for `session::run` since the
/// WebSocket framing is the hub's own (`lean_io`: the halves are a pointer each) and no
/// socket waits on the shutdown token itself (2026-12-03); 1,384 and 1,096 before that;
/// 1,480 and 1,192 before the reader and writer shared one waker instead of two `Notify`s;
/// before issue 13 the writer was a second task of its own.
const MAX_SERVE_FUTURE: usize = 1088;
/// The session inside it (reader, writer, timers).
const MAX_SESSION_FUTURE: usize = 904;

#[test]
fn a_sockets_futures_stay_small() {
    let serve = size_of_future4(
        |hub: &'static Hub,
         io: Upgraded,
         token: Option<String>,
         admitted: Result<UnauthSlot, Refusal>| hub.serve(io, token, admitted),
    );
    let session = size_of_future5(
        |hub: Hub,
         sink: WsSink,
         stream: WsStream,
         token: Option<String>,
         slot: Option<UnauthSlot>| { super::session::run(hub, sink, stream, token, slot) },
    );
    println!("Hub::serve future: {serve} bytes; session::run future: {session} bytes");
    println!(
        "Session {} bytes, Conn {} bytes, transport sink {} + stream {} bytes",
        std::mem::size_of::<super::session::Session>(),
        std::mem::size_of::<super::outbox::Conn>(),
        std::mem::size_of::<WsSink>(),
        std::mem::size_of::<WsStream>(),
    );
    assert!(
        serve <= MAX_SERVE_FUTURE,
        "Hub::serve future is {serve} bytes"
    );
    assert!(
        session <= MAX_SESSION_FUTURE,
        "session::run future is {session} bytes"
    );
}

//! The memory shape of one socket, checked without timing anything: how big the futures
//! that make up a socket's task are (each socket holds one for its whole life). A change
//! that grows them past these bounds costs every socket that much again (BENCHMARKS.md,
//! "Memory per socket").

use std::future::Future;

use super::session::Start;
use super::transport::{WsSink, WsStream};
use super::{Hub, Upgrade};

fn size_of_future2<A, B, F: Future>(_: impl Fn(A, B) -> F) -> usize {
    std::mem::size_of::<F>()
}

fn size_of_future4<A, B, C, D, F: Future>(_: impl Fn(A, B, C, D) -> F) -> usize {
    std::mem::size_of::<F>()
}

/// The socket's whole task (upgrade to close) as `routes::ws` spawns it, less a few words.
/// Measured (debug build, 2026-12-03): 912 bytes for `Hub::serve` (which now awaits the
/// upgrade itself, one level less) and 792 for `session::run` since what a socket starts with
/// is boxed where it is handed down (`Upgrade`, `session::Start`, the unauthenticated slot); 1,032 and 856 (plus the
/// spawned block around `serve`) since the WebSocket framing is the hub's own (`lean_io`: the
/// halves are a pointer each) and no socket waits on the shutdown token itself; 1,384 and
/// 1,096 before that;
/// 1,480 and 1,192 before the reader and writer shared one waker instead of two `Notify`s;
/// before issue 13 the writer was a second task of its own.
const MAX_SERVE_FUTURE: usize = 992;
/// The session inside it (reader, writer, timers).
const MAX_SESSION_FUTURE: usize = 864;

#[test]
fn a_sockets_futures_stay_small() {
    let serve = size_of_future2(|hub: Hub, upgrade: Box<Upgrade>| hub.serve(upgrade));
    let session = size_of_future4(
        |hub: Hub, sink: WsSink, stream: WsStream, start: Box<Start>| {
            super::session::run(hub, sink, stream, start)
        },
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

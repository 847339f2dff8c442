//! The framing against tungstenite's own client (interoperation) and against hand-made frames
//! (the rules a client's frame must follow), and the memory shape: no buffer while idle.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::WebSocketStream;

use crate::hub::transport::{split, Socket, WsSink, WsStream};

const MAX: usize = 1024;

fn server(max: usize) -> (WsSink<DuplexStream>, WsStream<DuplexStream>, DuplexStream) {
    let (a, b) = tokio::io::duplex(256 * 1024);
    let (sink, stream) = split(Socket::new(a, max, 4096));
    (sink, stream, b)
}

/// A client's frame: `first` is FIN, RSV and opcode; masked with a fixed key.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![first];
    let n = payload.len();
    if n < 126 {
        f.push(0x80 | n as u8);
    } else if n <= 0xffff {
        f.push(0x80 | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
    f
}

async fn next_err(stream: &mut WsStream<DuplexStream>) -> Error {
    match stream.next().await {
        Some(Err(e)) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn speaks_with_tungstenites_client() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (mut sink, mut stream) = split(Socket::new(a, MAX, 4096));
    let mut client = WebSocketStream::from_raw_socket(b, Role::Client, None).await;

    client
        .send(Message::text("{\"type\":\"ping\"}"))
        .await
        .unwrap();
    client.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    client
        .send(Message::Ping(b"hb".to_vec().into()))
        .await
        .unwrap();
    let got = stream.next().await.unwrap().unwrap();
    assert_eq!(got, Message::text("{\"type\":\"ping\"}"));
    let got = stream.next().await.unwrap().unwrap();
    assert_eq!(got, Message::binary(vec![1u8, 2, 3]));
    let got = stream.next().await.unwrap().unwrap();
    assert_eq!(got, Message::Ping(b"hb".to_vec().into()));

    sink.feed(Message::text("a".repeat(300))).await.unwrap();
    sink.feed(Message::Pong(b"unasked".to_vec().into()))
        .await
        .unwrap();
    sink.flush().await.unwrap();
    // The pong answering the client's ping went out first.
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::Pong(b"hb".to_vec().into())
    );
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::text("a".repeat(300))
    );
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::Pong(b"unasked".to_vec().into())
    );

    // The client closes: the server is told, answers with the same code, sends nothing more.
    let bye = CloseFrame {
        code: CloseCode::Away,
        reason: "bye".into(),
    };
    client
        .send(Message::Close(Some(bye.clone())))
        .await
        .unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        Message::Close(Some(bye.clone()))
    );
    assert!(matches!(
        sink.send(Message::text("late")).await,
        Err(Error::Protocol(ProtocolError::SendAfterClosing))
    ));
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::Close(Some(bye))
    );
    drop(client);
    let end = stream.next().await;
    assert!(end.is_none(), "the peer went: the end, not {end:?}");
}

#[tokio::test]
async fn our_close_then_the_peers_ends_the_handshake() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (mut sink, mut stream) = split(Socket::new(a, MAX, 4096));
    let mut client = WebSocketStream::from_raw_socket(b, Role::Client, None).await;
    let close = CloseFrame {
        code: CloseCode::from(4001),
        reason: "authentication failed".into(),
    };
    sink.send(Message::Close(Some(close.clone())))
        .await
        .unwrap();
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::Close(Some(close.clone()))
    );
    // tungstenite's client answers on its next read or write.
    client.flush().await.unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        Message::Close(Some(close))
    );
    drop(client);
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn an_idle_socket_holds_no_buffer_and_a_frame_split_over_reads_is_held_until_whole() {
    let (a, mut b) = tokio::io::duplex(64 * 1024);
    let socket = Socket::new(a, MAX, 4096);
    assert_eq!(socket.buffered_capacity(), 0);
    let probe = socket.probe();
    let (mut sink, mut stream) = split(socket);

    let whole = frame(0x81, br#"{"type":"subscribe_user"}"#);
    b.write_all(&whole[..5]).await.unwrap();
    let reading = tokio::spawn(async move {
        let m = stream.next().await.unwrap().unwrap();
        (m, stream)
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(probe.buffered_capacity() > 0, "half a frame waits");
    b.write_all(&whole[5..]).await.unwrap();
    let (m, _stream) = reading.await.unwrap();
    assert_eq!(m, Message::text(r#"{"type":"subscribe_user"}"#));
    assert_eq!(probe.buffered_capacity(), 0, "taken: released");

    sink.feed(Message::text("x".repeat(2000))).await.unwrap();
    assert!(
        probe.buffered_capacity() >= 2000,
        "collected until the flush"
    );
    sink.flush().await.unwrap();
    assert_eq!(probe.buffered_capacity(), 0, "written: released");
    let mut got = vec![0u8; 4 + 2000];
    b.read_exact(&mut got).await.unwrap();
    assert_eq!(&got[..4], &[0x81, 126, 0x07, 0xd0], "16-bit length");
}

#[tokio::test]
async fn frames_that_never_line_up_with_the_reads_do_not_grow_the_buffer() {
    let (a, mut b) = tokio::io::duplex(64 * 1024);
    let socket = Socket::new(a, MAX, 4096);
    let probe = socket.probe();
    let (_sink, mut stream) = split(socket);
    let f = frame(0x81, &[b'a'; 100]);
    b.write_all(&f[..50]).await.unwrap();
    let mut most = 0;
    for _ in 0..200 {
        // The rest of one frame and the start of the next, in one write.
        b.write_all(&[&f[50..], &f[..50]].concat()).await.unwrap();
        let m = stream.next().await.unwrap().unwrap();
        assert_eq!(m, Message::text("a".repeat(100)));
        most = most.max(probe.buffered_capacity());
    }
    // 200 frames went through; what is held is about one frame's worth, not 200.
    assert!(most < 4 * f.len(), "held up to {most} bytes");
}

#[tokio::test]
async fn pings_from_a_peer_that_does_not_read_do_not_grow_the_buffer() {
    // Room for a few pongs only: the peer never reads.
    let (a, mut b) = tokio::io::duplex(512);
    let socket = Socket::new(a, MAX, 4096);
    let probe = socket.probe();
    let (_sink, mut stream) = split(socket);
    let ping = frame(0x89, &[b'p'; 100]);
    let writer = tokio::spawn(async move {
        for _ in 0..200 {
            b.write_all(&ping).await.unwrap();
        }
        b
    });
    for _ in 0..200 {
        let m = stream.next().await.unwrap().unwrap();
        assert!(matches!(m, Message::Ping(_)));
    }
    let _b = writer.await.unwrap();
    let held = probe.buffered_capacity();
    assert!(held < 2 * 4096, "{held} bytes of pongs held");
}

#[tokio::test]
async fn a_backlog_is_written_before_more_is_taken() {
    let (a, mut b) = tokio::io::duplex(64 * 1024);
    let socket = Socket::new(a, MAX, 8);
    let probe = socket.probe();
    let (mut sink, _stream) = split(socket);
    sink.feed(Message::text("0123456789")).await.unwrap();
    sink.feed(Message::text("abc")).await.unwrap();
    // Taking the second frame wrote the first (over the batch size) without a flush.
    let mut got = [0u8; 12];
    b.read_exact(&mut got).await.unwrap();
    assert_eq!(&got[2..], b"0123456789");
    assert!(
        probe.buffered_capacity() > 0,
        "the second one waits for the flush"
    );
    sink.flush().await.unwrap();
    let mut got = [0u8; 5];
    b.read_exact(&mut got).await.unwrap();
    assert_eq!(&got[2..], b"abc");
}

#[tokio::test]
async fn fragments_are_assembled_and_control_frames_may_come_between() {
    let (_sink, mut stream, mut b) = server(MAX);
    let mut bytes = frame(0x01, b"{\"type\":");
    bytes.extend(frame(0x89, b"p"));
    bytes.extend(frame(0x00, b"\"ping\""));
    bytes.extend(frame(0x80, b"}"));
    b.write_all(&bytes).await.unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        Message::Ping(b"p".to_vec().into())
    );
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        Message::text("{\"type\":\"ping\"}")
    );
    let mut pong = [0u8; 3];
    b.read_exact(&mut pong).await.unwrap();
    assert_eq!(pong, [0x8a, 1, b'p']);
}

#[tokio::test]
async fn a_frame_over_the_limit_is_refused_before_its_payload_arrives() {
    let (_sink, mut stream, mut b) = server(MAX);
    let big = frame(0x81, &vec![b'a'; MAX + 1]);
    b.write_all(&big[..8]).await.unwrap(); // the header only
    assert!(matches!(
        next_err(&mut stream).await,
        Error::Capacity(CapacityError::MessageTooLong { size, max_size }) if size == MAX + 1 && max_size == MAX
    ));
    assert!(
        stream.next().await.is_none(),
        "nothing is read after a refusal"
    );
}

#[tokio::test]
async fn a_message_over_the_limit_in_fragments_is_refused() {
    let (_sink, mut stream, mut b) = server(MAX);
    let mut bytes = frame(0x01, &vec![b'a'; MAX]);
    bytes.extend(frame(0x80, b"a"));
    b.write_all(&bytes).await.unwrap();
    assert!(matches!(
        next_err(&mut stream).await,
        Error::Capacity(CapacityError::MessageTooLong { .. })
    ));
}

#[tokio::test]
async fn frames_that_break_the_rules_are_refused() {
    let unmasked = vec![0x81, 2, b'h', b'i'];
    type Expected = fn(&Error) -> bool;
    let cases: Vec<(Vec<u8>, Expected)> = vec![
        (frame(0x81, &[0xff, 0xfe]), |e| matches!(e, Error::Utf8(_))),
        (unmasked, |e| {
            matches!(e, Error::Protocol(ProtocolError::UnmaskedFrameFromClient))
        }),
        (frame(0xc1, b"x"), |e| {
            matches!(e, Error::Protocol(ProtocolError::NonZeroReservedBits))
        }),
        (frame(0x09, b"x"), |e| {
            matches!(e, Error::Protocol(ProtocolError::FragmentedControlFrame))
        }),
        (frame(0x89, &[0u8; 126]), |e| {
            matches!(e, Error::Protocol(ProtocolError::ControlFrameTooBig))
        }),
        (frame(0x80, b"x"), |e| {
            matches!(e, Error::Protocol(ProtocolError::UnexpectedContinueFrame))
        }),
        (frame(0x83, b"x"), |e| {
            matches!(e, Error::Protocol(ProtocolError::InvalidOpcode(3)))
        }),
        (frame(0x8b, b"x"), |e| {
            matches!(e, Error::Protocol(ProtocolError::InvalidOpcode(11)))
        }),
        (frame(0x88, b"x"), |e| {
            matches!(e, Error::Protocol(ProtocolError::InvalidCloseSequence))
        }),
        ([frame(0x01, b"a"), frame(0x81, b"b")].concat(), |e| {
            matches!(e, Error::Protocol(ProtocolError::ExpectedFragment(_)))
        }),
    ];
    for (i, (bytes, expected)) in cases.into_iter().enumerate() {
        let (_sink, mut stream, mut b) = server(MAX);
        b.write_all(&bytes).await.unwrap();
        let e = next_err(&mut stream).await;
        assert!(expected(&e), "case {i}: {e:?}");
    }
}

#[tokio::test]
async fn a_close_with_a_code_nobody_may_send_is_answered_with_1002() {
    let (_sink, mut stream, mut b) = server(MAX);
    b.write_all(&frame(0x88, &1005u16.to_be_bytes()))
        .await
        .unwrap();
    assert!(
        matches!(
            stream.next().await,
            Some(Ok(Message::Close(Some(c)))) if u16::from(c.code) == 1002
        ),
        "told as answered, like tungstenite does"
    );
    let mut answer = [0u8; 4];
    b.read_exact(&mut answer[..2]).await.unwrap();
    assert_eq!(answer[0], 0x88);
    let n = answer[1] as usize;
    let mut rest = vec![0u8; n];
    b.read_exact(&mut rest).await.unwrap();
    assert_eq!(&rest[..2], &1002u16.to_be_bytes());
    // Anything after the peer's close frame is a breach.
    b.write_all(&frame(0x81, b"late")).await.unwrap();
    assert!(matches!(
        next_err(&mut stream).await,
        Error::Protocol(ProtocolError::ReceivedAfterClosing)
    ));
}

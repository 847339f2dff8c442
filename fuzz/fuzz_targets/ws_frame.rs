//! A client WebSocket text frame (`hub::protocol::parse_client`), then its typed command.
//!
//! Properties beyond "no panic":
//! - a refused frame names a known error code, and an echoed `requestId` is a string or a
//!   number (what the hub sends back must be safe to echo);
//! - an accepted frame re-serializes (camelCase type, payload, requestId) and parses back
//!   to the same kind, payload and requestId, and to the same command;
//! - an accepted command rebuilt into a canonical frame parses back to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use taskhub::hub::protocol::{parse_client, ClientCommand, ClientKind};

fn type_name(kind: ClientKind) -> &'static str {
    match kind {
        ClientKind::Auth => "auth",
        ClientKind::SubscribeTask => "subscribeTask",
        ClientKind::UnsubscribeTask => "unsubscribeTask",
        ClientKind::SubscribeUser => "subscribeUser",
        ClientKind::UnsubscribeUser => "unsubscribeUser",
        ClientKind::Ping => "ping",
    }
}

fn canonical(cmd: &ClientCommand) -> Value {
    match cmd {
        ClientCommand::Auth { token } => json!({"type": "auth", "payload": {"token": token}}),
        ClientCommand::SubscribeTask {
            video_id,
            since_seq,
        } => json!({
            "type": "subscribe_task", "payload": {"videoId": video_id, "sinceSeq": since_seq}
        }),
        ClientCommand::UnsubscribeTask { video_id } => {
            json!({"type": "unsubscribe_task", "payload": {"videoId": video_id}})
        }
        ClientCommand::SubscribeUser => json!({"type": "subscribeUser"}),
        ClientCommand::UnsubscribeUser => json!({"type": "unsubscribeUser", "payload": {}}),
        ClientCommand::Ping => json!({"type": "PING", "payload": null}),
    }
}

fuzz_target!(|data: &[u8]| {
    // The hub only ever parses text frames, which tungstenite has checked are UTF-8.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let frame = match parse_client(text) {
        Ok(f) => f,
        Err((request_id, err)) => {
            assert!(
                matches!(err.code, "badFrame" | "unknownType"),
                "unexpected code {}",
                err.code
            );
            assert!(
                err.message.chars().count() <= 200,
                "error message echoes too much"
            );
            if let Some(id) = request_id {
                assert!(id.is_string() || id.is_number(), "echoed requestId {id}");
            }
            return;
        }
    };
    if let Some(id) = &frame.request_id {
        assert!(id.is_string() || id.is_number(), "kept requestId {id}");
    }
    let command = frame.command();
    if let Err(e) = &command {
        assert_eq!(e.code, "validationFailed");
    }

    let mut again = json!({"type": type_name(frame.kind), "payload": frame.payload});
    if let Some(id) = &frame.request_id {
        again["requestId"] = id.clone();
    }
    let text2 = serde_json::to_string(&again).expect("a Value serializes");
    let back = parse_client(&text2).expect("a re-serialized frame parses");
    assert_eq!(back.kind, frame.kind);
    // The payload as serde_json itself reads its own serialization back: a float is not
    // always read back to the same bits (serde_json's default float parsing is not
    // round-trip exact, e.g. an integer past u64 read as 4.444444444443444e39 comes back as
    // 4.4444444444434437e39), so the payload is compared with that, not with itself.
    let reread: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&serde_json::to_string(&frame.payload).expect("a Value serializes"))
            .expect("a serialized Value parses");
    assert_eq!(back.payload, reread);
    // The same for a numeric requestId (an integer past u64 is read as a float too).
    let reread_id: Option<serde_json::Value> = frame.request_id.as_ref().map(|id| {
        serde_json::from_str(&serde_json::to_string(id).expect("a Value serializes"))
            .expect("a serialized Value parses")
    });
    assert_eq!(back.request_id, reread_id);
    let command2 = back.command();
    assert_eq!(command2.as_ref().ok(), command.as_ref().ok());
    assert_eq!(
        command2.as_ref().err().map(|e| e.code),
        command.as_ref().err().map(|e| e.code)
    );

    if let Ok(cmd) = command {
        let text3 = serde_json::to_string(&canonical(&cmd)).expect("a Value serializes");
        let rebuilt = parse_client(&text3).expect("a canonical frame parses");
        assert_eq!(rebuilt.command().expect("a canonical frame is valid"), cmd);
    }
});

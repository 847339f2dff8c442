//! A message off Redis (`bus::redis::decode`: the channel name and the payload bytes of a
//! pub/sub message, as another node or anyone with access to Redis may have published it).
//!
//! Input: the channel name up to the first `\n`, the payload after it.
//!
//! Properties beyond "no panic":
//! - only `taskhub:user:{id}` channels are read, and the user id comes from the channel;
//! - an accepted event keeps the payload text as its frame, byte for byte (it is fanned out
//!   to sockets as is), and its routing fields (`type`, `timestamp`, `payload.videoId`,
//!   `payload.seq`) are exactly what a generic JSON reading of the text says;
//! - when the payload's fields also read as a typed event (`EventPayload::parse`), the event
//!   this node would publish for it decodes back to the same routing fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use taskhub::bus::redis::{decode, Received};
use taskhub::bus::{user_channel, BusEvent, CLOSE_USER_MESSAGE};
use taskhub::domain::{EventPayload, TaskEvent};

fuzz_target!(|data: &[u8]| {
    let (channel, payload) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"taskhub:user:u1"[..], data),
    };
    // Redis channel names are bytes; the client hands them over as a `&str` (lossy).
    let channel = String::from_utf8_lossy(channel);
    let Some(decoded) = decode(&channel, payload) else {
        assert!(!channel.starts_with("taskhub:user:"));
        return;
    };
    let user_id = channel
        .strip_prefix("taskhub:user:")
        .expect("a user channel");
    assert_eq!(user_channel(user_id), *channel);
    let ev = match decoded {
        Err(_) => return,
        Ok(Received::CloseUser(u)) => {
            assert_eq!(u, user_id);
            assert_eq!(payload, CLOSE_USER_MESSAGE.as_bytes());
            return;
        }
        Ok(Received::Event(ev)) => ev,
    };
    let text = std::str::from_utf8(payload).expect("an accepted message is UTF-8");
    assert_eq!(ev.frame.as_str(), text, "the frame is the message text");
    assert_eq!(&*ev.user_id, user_id);
    // An accepted message is JSON. A number past f64's range is valid JSON (RFC 8259 leaves
    // the range to implementations) that serde_json's `Value` refuses; the node forwards the
    // frame byte for byte and reads only the routing fields, so such a message is accepted:
    // check it is JSON, then there is nothing more to compare.
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) if e.to_string().starts_with("number out of range") => {
            serde_json::from_str::<serde::de::IgnoredAny>(text)
                .expect("an accepted message is JSON");
            return;
        }
        Err(e) => panic!("an accepted message is JSON: {e}"),
    };
    assert_eq!(v["type"].as_str(), Some(ev.kind.as_str()));
    assert_eq!(v["timestamp"].as_i64(), Some(ev.created_at));
    assert_eq!(v["payload"]["videoId"].as_str(), Some(&*ev.video_id));
    assert_eq!(v["payload"]["seq"].as_i64(), Some(ev.seq));

    // If the payload is a full typed event, what this node would publish for it decodes back.
    let Ok(typed) = EventPayload::parse(ev.kind, &v["payload"].to_string()) else {
        return;
    };
    let event = TaskEvent {
        video_id: ev.video_id.to_string(),
        user_id: user_id.to_string(),
        seq: ev.seq,
        event_type: ev.kind,
        payload: typed,
        created_at: ev.created_at,
    };
    let local = BusEvent::from_task_event(&event);
    let back = match decode(&channel, local.frame.as_str().as_bytes()) {
        Some(Ok(Received::Event(back))) => back,
        other => panic!("our own frame did not decode: {other:?}"),
    };
    assert_eq!(
        (&*back.video_id, back.seq, back.kind, back.created_at),
        (&*ev.video_id, ev.seq, ev.kind, ev.created_at)
    );
    assert_eq!(back.frame, local.frame);
});

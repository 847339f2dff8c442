//! The WebSocket frames of PROTOCOL §3: parsing client frames (snake_case or camelCase
//! types, `requestId` echoed) and building server frames. Pure, so it is tested here.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::domain::time::now_ms;

/// What a client may ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    Auth,
    SubscribeTask,
    UnsubscribeTask,
    SubscribeUser,
    UnsubscribeUser,
    Ping,
}

impl ClientKind {
    /// `subscribe_task`, `subscribeTask` and `SubscribeTask` are all the same type.
    fn parse(raw: &str) -> Option<Self> {
        let norm: String = raw
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Some(match norm.as_str() {
            "auth" => Self::Auth,
            "subscribetask" => Self::SubscribeTask,
            "unsubscribetask" => Self::UnsubscribeTask,
            "subscribeuser" => Self::SubscribeUser,
            "unsubscribeuser" => Self::UnsubscribeUser,
            "ping" => Self::Ping,
            _ => return None,
        })
    }
}

/// A parsed client frame.
#[derive(Debug)]
pub struct ClientFrame {
    pub kind: ClientKind,
    pub payload: Map<String, Value>,
    pub request_id: Option<Value>,
}

/// An `error` frame's `{code, message}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsError {
    pub code: &'static str,
    pub message: String,
}

impl WsError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn bad_frame(message: impl Into<String>) -> Self {
        Self::new("badFrame", message)
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("validationFailed", message)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFrame {
    #[serde(rename = "type")]
    kind: Value,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    request_id: Option<Value>,
}

/// Parses a text frame. On failure, the error comes with the frame's `requestId` when it
/// could be read, so the `error` reply still answers the request.
pub fn parse_client(text: &str) -> Result<ClientFrame, (Option<Value>, WsError)> {
    let raw: RawFrame = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(_) => {
            let request_id = serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| v.get("requestId").cloned());
            let msg = "expected a JSON envelope {\"type\", \"payload\", \"requestId\"?}";
            return Err((request_id, WsError::bad_frame(msg)));
        }
    };
    let request_id = raw.request_id.filter(|v| v.is_string() || v.is_number());
    let Some(type_str) = raw.kind.as_str() else {
        return Err((request_id, WsError::bad_frame("`type` must be a string")));
    };
    let Some(kind) = ClientKind::parse(type_str) else {
        let shown: String = type_str.chars().take(64).collect();
        return Err((
            request_id,
            WsError::new("unknownType", format!("unknown frame type '{shown}'")),
        ));
    };
    let payload = match raw.payload {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        _ => {
            return Err((
                request_id,
                WsError::bad_frame("`payload` must be an object"),
            ));
        }
    };
    Ok(ClientFrame {
        kind,
        payload,
        request_id,
    })
}

impl ClientFrame {
    /// A required string field of the payload.
    pub fn str_field(&self, name: &str) -> Result<&str, WsError> {
        match self.payload.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            Some(_) => Err(WsError::validation(format!(
                "payload.{name} must be a non-empty string"
            ))),
            None => Err(WsError::validation(format!("payload.{name} is required"))),
        }
    }

    /// An optional non-negative integer field of the payload.
    pub fn opt_seq(&self, name: &str) -> Result<Option<i64>, WsError> {
        match self.payload.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_i64() {
                Some(n) if n >= 0 => Ok(Some(n)),
                _ => Err(WsError::validation(format!(
                    "payload.{name} must be a non-negative integer"
                ))),
            },
        }
    }
}

/// A server frame: `{type, timestamp, payload, requestId?}`.
pub fn frame(kind: &str, payload: Value, request_id: Option<&Value>) -> Utf8Bytes {
    let mut env = json!({ "type": kind, "timestamp": now_ms(), "payload": payload });
    if let Some(id) = request_id {
        env["requestId"] = id.clone();
    }
    Utf8Bytes::from(env.to_string())
}

pub fn error_frame(err: &WsError, request_id: Option<&Value>) -> Utf8Bytes {
    frame(
        "error",
        json!({ "code": err.code, "message": err.message }),
        request_id,
    )
}

/// `videoId` must look like one (`video_` + UUID) before anything is looked up.
pub fn valid_video_id(id: &str) -> bool {
    id.strip_prefix("video_")
        .is_some_and(|u| uuid::Uuid::try_parse(u).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_in_both_cases_and_request_id_echo() {
        for t in ["subscribe_task", "subscribeTask", "SUBSCRIBE_TASK"] {
            let f = parse_client(&format!(
                r#"{{"type":"{t}","payload":{{"videoId":"v"}},"requestId":"r1"}}"#
            ))
            .unwrap();
            assert_eq!(f.kind, ClientKind::SubscribeTask);
            assert_eq!(f.request_id, Some(json!("r1")));
            assert_eq!(f.str_field("videoId").unwrap(), "v");
        }
        let f = parse_client(r#"{"type":"ping"}"#).unwrap();
        assert_eq!((f.kind, f.payload.len()), (ClientKind::Ping, 0));
    }

    #[test]
    fn bad_frames_name_their_problem() {
        let (id, e) = parse_client("{nope").unwrap_err();
        assert_eq!((id, e.code), (None, "badFrame"));
        let (id, e) = parse_client(r#"{"type":"fly","requestId":7}"#).unwrap_err();
        assert_eq!((id, e.code), (Some(json!(7)), "unknownType"));
        let (_, e) = parse_client(r#"{"type":3}"#).unwrap_err();
        assert_eq!(e.code, "badFrame");
        let (_, e) = parse_client(r#"{"type":"ping","payload":[1]}"#).unwrap_err();
        assert_eq!(e.code, "badFrame");
        let (_, e) = parse_client("[]").unwrap_err();
        assert_eq!(e.code, "badFrame");
        let f = parse_client(r#"{"type":"subscribe_task","payload":{"sinceSeq":-1}}"#).unwrap();
        assert_eq!(f.str_field("videoId").unwrap_err().code, "validationFailed");
        assert_eq!(f.opt_seq("sinceSeq").unwrap_err().code, "validationFailed");
    }

    #[test]
    fn frames_are_envelopes() {
        let f = frame("pong", json!({"serverTime": 1}), Some(&json!("a")));
        let v: Value = serde_json::from_str(f.as_str()).unwrap();
        assert_eq!(v["type"], "pong");
        assert_eq!(v["requestId"], "a");
        assert!(v["timestamp"].as_i64().unwrap() > 0);
        assert!(valid_video_id("video_0190b7a4-7c1a-7cc0-8000-000000000000"));
        assert!(!valid_video_id("video_x"));
    }
}

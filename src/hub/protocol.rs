//! The WebSocket frames of PROTOCOL §3: parsing client frames (snake_case or camelCase
//! types, `requestId` echoed) and building server frames. Pure, so it is tested here.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
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

/// Only a string or a number is echoed as `requestId` (never an object or array a client
/// could make as large as a frame), on success and on failure alike.
fn echoable(request_id: &Value) -> bool {
    request_id.is_string() || request_id.is_number()
}

/// Parses a text frame. On failure, the error comes with the frame's `requestId` when it
/// could be read, so the `error` reply still answers the request.
pub fn parse_client(text: &str) -> Result<ClientFrame, (Option<Value>, WsError)> {
    let raw: RawFrame = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(_) => {
            let request_id = serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| v.get("requestId").cloned())
                .filter(echoable);
            let msg = "expected a JSON envelope {\"type\", \"payload\", \"requestId\"?}";
            return Err((request_id, WsError::bad_frame(msg)));
        }
    };
    let request_id = raw.request_id.filter(echoable);
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

/// A client frame's request, typed: what [`ClientFrame::command`] makes of its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientCommand {
    Auth {
        token: String,
    },
    SubscribeTask {
        video_id: String,
        since_seq: Option<i64>,
    },
    UnsubscribeTask {
        video_id: String,
    },
    SubscribeUser,
    UnsubscribeUser,
    Ping,
}

impl ClientFrame {
    /// The typed request, its payload checked (a missing or malformed field is a
    /// `validationFailed` naming it). Separate from parsing so the hub can refuse an
    /// unauthenticated socket before it looks at the payload.
    pub fn command(&self) -> Result<ClientCommand, WsError> {
        Ok(match self.kind {
            ClientKind::Auth => ClientCommand::Auth {
                token: self.str_field("token")?.to_string(),
            },
            ClientKind::SubscribeTask => ClientCommand::SubscribeTask {
                video_id: self.str_field("videoId")?.to_string(),
                since_seq: self.opt_seq("sinceSeq")?,
            },
            ClientKind::UnsubscribeTask => ClientCommand::UnsubscribeTask {
                video_id: self.str_field("videoId")?.to_string(),
            },
            ClientKind::SubscribeUser => ClientCommand::SubscribeUser,
            ClientKind::UnsubscribeUser => ClientCommand::UnsubscribeUser,
            ClientKind::Ping => ClientCommand::Ping,
        })
    }
}

/// The limits a `connected` frame announces.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub max_frame_bytes: usize,
    pub max_subscriptions: usize,
    pub max_sockets_per_user: usize,
    pub max_frames_per_second: u32,
}

/// What the server sends besides task events (PROTOCOL §3): `type` is the tag, `payload`
/// the fields. Event frames are [`crate::domain::TaskEvent::frame`], serialized once.
#[derive(Clone, Debug, Serialize)]
#[serde(
    tag = "type",
    content = "payload",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ServerFrame<'a> {
    Connected {
        connection_id: &'a str,
        server_version: &'static str,
        capabilities: &'static [&'static str],
        heartbeat_interval_ms: u64,
        auth_timeout_ms: u64,
        limits: Limits,
    },
    AuthSuccess {
        user_id: &'a str,
        username: &'a str,
        session_id: &'a str,
        expires_at: String,
    },
    AuthError {
        code: &'a str,
        message: &'a str,
    },
    /// A task subscription: the task as it is now and how many logged events were replayed.
    #[serde(rename = "subscribed")]
    SubscribedTask {
        video_id: &'a str,
        task: Box<crate::wire::TaskView>,
        replayed: usize,
    },
    #[serde(rename = "subscribed")]
    SubscribedUser {
        scope: &'static str,
        user_id: &'a str,
    },
    #[serde(rename = "unsubscribed")]
    UnsubscribedTask {
        video_id: &'a str,
    },
    #[serde(rename = "unsubscribed")]
    UnsubscribedUser {
        scope: &'static str,
    },
    Pong {
        server_time: i64,
    },
    Error {
        code: &'a str,
        message: &'a str,
    },
    Reconnect {
        reason: &'static str,
        retry_after_ms: u64,
    },
}

/// `{type, payload, timestamp, requestId?}` on the wire.
#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(flatten)]
    frame: &'a ServerFrame<'a>,
    timestamp: i64,
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a Value>,
}

impl ServerFrame<'_> {
    /// The frame's text, stamped now, echoing `request_id`.
    pub fn encode(&self, request_id: Option<&Value>) -> Utf8Bytes {
        let env = Envelope {
            frame: self,
            timestamp: now_ms(),
            request_id,
        };
        Utf8Bytes::from(serde_json::to_string(&env).expect("server frames always serialize"))
    }
}

pub fn error_frame(err: &WsError, request_id: Option<&Value>) -> Utf8Bytes {
    ServerFrame::Error {
        code: err.code,
        message: &err.message,
    }
    .encode(request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn commands_are_typed_from_their_payloads() {
        let f = parse_client(r#"{"type":"subscribeTask","payload":{"videoId":"v","sinceSeq":4}}"#)
            .unwrap();
        assert_eq!(
            f.command().unwrap(),
            ClientCommand::SubscribeTask {
                video_id: "v".into(),
                since_seq: Some(4)
            }
        );
        let f = parse_client(r#"{"type":"auth","payload":{}}"#).unwrap();
        assert_eq!(f.command().unwrap_err().code, "validationFailed");
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

    /// Found by `fuzz/fuzz_targets/ws_frame.rs`: a frame that failed to parse echoed any
    /// `requestId`, objects included, while a parsed one kept only strings and numbers.
    #[test]
    fn a_bad_frame_echoes_only_a_string_or_number_request_id() {
        let (id, e) = parse_client(r#"{"typepayloqd":"x","requestId":{},"t":1}"#).unwrap_err();
        assert_eq!((id, e.code), (None, "badFrame"));
        let (id, _) = parse_client(r#"{"requestId":[1,2,3]}"#).unwrap_err();
        assert_eq!(id, None);
        let (id, _) = parse_client(r#"{"requestId":"r9","payload":[]}"#).unwrap_err();
        assert_eq!(id, Some(json!("r9")));
        let (id, _) = parse_client(r#"{"type":"fly","requestId":{"a":1}}"#).unwrap_err();
        assert_eq!(id, None);
    }

    #[test]
    fn frames_are_envelopes() {
        let f = ServerFrame::Pong { server_time: 1 }.encode(Some(&json!("a")));
        let v: Value = serde_json::from_str(f.as_str()).unwrap();
        assert_eq!(v["type"], "pong");
        assert_eq!(v["payload"], json!({"serverTime": 1}));
        assert_eq!(v["requestId"], "a");
        assert!(v["timestamp"].as_i64().unwrap() > 0);
        let f = ServerFrame::UnsubscribedUser { scope: "user" }.encode(None);
        let v: Value = serde_json::from_str(f.as_str()).unwrap();
        assert_eq!(v["type"], "unsubscribed");
        assert_eq!(v["payload"], json!({"scope": "user"}));
        assert!(v.get("requestId").is_none());
        assert!(crate::domain::ids::is_video_id(
            "video_0190b7a4-7c1a-7cc0-8000-000000000000"
        ));
        assert!(!crate::domain::ids::is_video_id("video_x"));
    }
}

//! Streaming one stored file as an HTTP response: `Range: bytes=…` (one range) → 206 with
//! `Content-Range`, an unsatisfiable one → 416 with `Content-Range: bytes */size`, several
//! ranges or a malformed header → the whole file (RFC 9110 lets a server ignore `Range`);
//! `HEAD` → the headers only; `ETag` and `Last-Modified` from the store.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::media::storage::{resolve, ByteRange, Meta, Storage, StorageError};

/// Longest `Range` header looked at; a longer one is ignored (whole file).
const MAX_RANGE_HEADER: usize = 100;

/// The one range `Range` asks for, if it is a well-formed single `bytes=` range.
pub fn parse(headers: &HeaderMap) -> Option<ByteRange> {
    let v = headers.get(header::RANGE)?.to_str().ok()?;
    if v.len() > MAX_RANGE_HEADER {
        return None;
    }
    let spec = v.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, false) => Some(ByteRange::Suffix(num(last)?)),
        (false, true) => Some(ByteRange::From(num(first)?)),
        (false, false) => Some(ByteRange::Inclusive(num(first)?, num(last)?)),
        (true, true) => None,
    }
}

/// The response for `key`: streamed, ranged, or headers only (`head`).
pub async fn stream(
    storage: &Storage,
    key: &str,
    headers: &HeaderMap,
    head: bool,
    content_type: &'static str,
) -> Response {
    let range = parse(headers);
    if head {
        return match storage.head(key).await {
            Ok(meta) => match range {
                None => reply(&meta, None, content_type, Body::empty()),
                Some(r) => match resolve(r, meta.size) {
                    Some(r) => reply(&meta, Some(r), content_type, Body::empty()),
                    None => unsatisfiable(meta.size),
                },
            },
            Err(e) => failure(e, storage, key).await,
        };
    }
    match storage.get(key, range).await {
        Ok(read) => {
            let sent = range.map(|_| read.range.clone());
            reply(&read.meta, sent, content_type, Body::from_stream(read.body))
        }
        Err(e) => failure(e, storage, key).await,
    }
}

fn reply(
    meta: &Meta,
    range: Option<std::ops::Range<u64>>,
    ct: &'static str,
    body: Body,
) -> Response {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let (status, len) = match &range {
        Some(r) => {
            let cr = format!("bytes {}-{}/{}", r.start, r.end - 1, meta.size);
            if let Ok(v) = HeaderValue::from_str(&cr) {
                h.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, r.end - r.start)
        }
        None => (StatusCode::OK, meta.size),
    };
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(tag) = meta.e_tag.as_deref() {
        let tag = if tag.starts_with('"') {
            tag.to_string()
        } else {
            format!("\"{tag}\"")
        };
        if let Ok(v) = HeaderValue::from_str(&tag) {
            h.insert(header::ETAG, v);
        }
    }
    let modified = meta
        .last_modified
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    if let Ok(v) = HeaderValue::from_str(&modified) {
        h.insert(header::LAST_MODIFIED, v);
    }
    (status, h, body).into_response()
}

fn unsatisfiable(size: u64) -> Response {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
        h.insert(header::CONTENT_RANGE, v);
    }
    (StatusCode::RANGE_NOT_SATISFIABLE, h).into_response()
}

async fn failure(e: StorageError, storage: &Storage, key: &str) -> Response {
    match e {
        StorageError::NotFound => ApiError::not_found("media").into_response(),
        StorageError::BadRange => match storage.head(key).await {
            Ok(meta) => unsatisfiable(meta.size),
            Err(_) => ApiError::not_found("media").into_response(),
        },
        e => ApiError::Internal(anyhow::Error::from(e)).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &str) -> Option<ByteRange> {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(v).unwrap());
        parse(&h)
    }

    #[test]
    fn one_bytes_range_is_parsed_and_anything_else_ignored() {
        assert_eq!(range("bytes=0-99"), Some(ByteRange::Inclusive(0, 99)));
        assert_eq!(range("bytes=10-"), Some(ByteRange::From(10)));
        assert_eq!(range("bytes=-5"), Some(ByteRange::Suffix(5)));
        for ignored in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=1",
        ] {
            assert_eq!(range(ignored), None, "{ignored}");
        }
        assert_eq!(range(&format!("bytes=0-{}", "9".repeat(120))), None);
    }
}

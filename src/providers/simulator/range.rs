//! Serving bytes with a single HTTP range (browsers seek in videos with `Range`).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Serves `data`, honouring a single `Range: bytes=…` (browsers seek with it).
pub fn ranged(data: &'static [u8], content_type: &'static str, headers: &HeaderMap) -> Response {
    let len = data.len() as u64;
    let base = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
    ];
    let Some(raw) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return (base, data).into_response();
    };
    match parse_range(raw, len) {
        Some((start, end)) => {
            let cr = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}"))
                .unwrap_or(HeaderValue::from_static("bytes */0"));
            let part = &data[start as usize..=end as usize];
            (
                StatusCode::PARTIAL_CONTENT,
                base,
                [(header::CONTENT_RANGE, cr)],
                part,
            )
                .into_response()
        }
        None => {
            let cr = HeaderValue::from_str(&format!("bytes */{len}"))
                .unwrap_or(HeaderValue::from_static("bytes */0"));
            (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, cr)],
            )
                .into_response()
        }
    }
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` against a body of `len` bytes: inclusive bounds.
fn parse_range(raw: &str, len: u64) -> Option<(u64, u64)> {
    let spec = raw.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split(',').next()?.trim().split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (len.checked_sub(n.min(len))?, len.checked_sub(1)?)
        }
        (a, "") => (a.parse().ok()?, len.checked_sub(1)?),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.min(len.checked_sub(1)?),
        ),
    };
    (start <= end && end < len).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_rfc_9110() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some((0, 99)));
        assert_eq!(parse_range("bytes=900-", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=-100", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=990-2000", 1000), Some((990, 999)));
        assert_eq!(parse_range("bytes=1000-", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
    }
}

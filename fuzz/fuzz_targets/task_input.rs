//! A task-creation body (`routes::task_input::read`: JSON or multipart by `Content-Type`),
//! driven through axum's extractors on a built `Request`, on a current-thread runtime, with
//! the default settings. No server, no store: `read` only parses and validates.
//!
//! Input: the `Content-Type` value up to the first `\n`, the body after it.
//!
//! Properties beyond "no panic":
//! - a refusal is a 400, 413, 415 or 422 (never a 5xx: the client sent something wrong);
//! - an accepted input obeys every rule of `validate` (prompt not blank and not too long,
//!   a known model and its seconds and sizes, the quality, http(s) URLs of at most 2048
//!   characters, an `upl_<uuid>`, an image part that is PNG/JPEG/WebP, not empty, not too
//!   large; a multipart request has an image or an upload id);
//! - its fields, sent again as a JSON body, are accepted as the same input.
#![no_main]

use axum::body::Body;
use axum::http::{header::CONTENT_TYPE, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use std::sync::OnceLock;
use taskhub::config::Settings;
use taskhub::error::ApiError;
use taskhub::routes::task_input::{read, ReadTask};

fn settings() -> &'static Settings {
    static S: OnceLock<Settings> = OnceLock::new();
    S.get_or_init(Settings::default)
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

fn run(ctype: &[u8], body: Vec<u8>) -> Result<ReadTask, ApiError> {
    let mut req = Request::post("/api/video/tasks");
    if !ctype.is_empty() {
        req = req.header(CONTENT_TYPE, ctype);
    }
    let Ok(req) = req.body(Body::from(body)) else {
        // Not a valid header value: hyper would have refused the request already.
        return Err(ApiError::BadRequest("header".into()));
    };
    runtime().block_on(read(req, settings()))
}

fn is_good_url(u: &str) -> bool {
    u.len() <= 2048 && url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https"))
}

fuzz_target!(|data: &[u8]| {
    let (ctype, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"application/json"[..], data),
    };
    let is_multipart = String::from_utf8_lossy(ctype)
        .to_ascii_lowercase()
        .starts_with("multipart/form-data");
    let read = match run(ctype, body.to_vec()) {
        Ok(r) => r,
        Err(e) => {
            let status = e.status();
            assert!(
                matches!(
                    status,
                    StatusCode::BAD_REQUEST
                        | StatusCode::PAYLOAD_TOO_LARGE
                        | StatusCode::UNSUPPORTED_MEDIA_TYPE
                        | StatusCode::UNPROCESSABLE_ENTITY
                ),
                "refused with {status}: {e:?}"
            );
            return;
        }
    };
    let s = settings();
    let input = &read.input;
    assert!(!input.prompt.trim().is_empty());
    assert!(input.prompt.chars().count() <= s.max_prompt_chars);
    let model = s.model(&input.model).expect("a known model");
    assert!(model.seconds.iter().any(|&a| i64::from(a) == input.seconds));
    assert!(model.sizes.contains(&input.size));
    assert!(input.quality == "standard" || input.quality == "hd");
    for u in [&input.webhook_url, &input.reference_image_url]
        .into_iter()
        .flatten()
    {
        assert!(is_good_url(u), "accepted URL {u:?}");
    }
    if let Some(id) = &read.upload_id {
        assert!(
            taskhub::uploads::is_upload_id(id),
            "accepted upload id {id:?}"
        );
    }
    match &input.image {
        Some(img) => {
            assert!(is_multipart, "an image from a JSON body");
            assert!(!img.bytes.is_empty() && img.bytes.len() <= s.max_upload_bytes);
            assert!(matches!(img.ext, "png" | "jpg" | "webp"));
        }
        None if is_multipart => assert!(read.upload_id.is_some(), "multipart without image"),
        None => {}
    }

    // The same fields as a JSON body read back as the same input.
    let again = json!({
        "prompt": input.prompt,
        "model": input.model,
        "seconds": input.seconds,
        "size": input.size,
        "quality": input.quality,
        "webhookUrl": input.webhook_url,
        "referenceImageUrl": input.reference_image_url,
        "referenceImageUploadId": read.upload_id,
    });
    let back = run(b"application/json", again.to_string().into_bytes())
        .unwrap_or_else(|e| panic!("its own fields refused: {e:?} for {again}"));
    let b = &back.input;
    assert_eq!(
        (&b.prompt, &b.model, b.seconds, &b.size, &b.quality),
        (
            &input.prompt,
            &input.model,
            input.seconds,
            &input.size,
            &input.quality
        )
    );
    assert_eq!(
        (&b.webhook_url, &b.reference_image_url, &back.upload_id),
        (
            &input.webhook_url,
            &input.reference_image_url,
            &read.upload_id
        )
    );
    assert!(b.image.is_none());
});

//! `POST {prefix}/videos/{id}/remix {prompt}`: a new job with the finished source job's model,
//! seconds and size and a new prompt, as in the OpenAI Videos API. The source must exist, not
//! be deleted and be completed (else 404 / 400, like the real API).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::job::Spec;
use super::{api_error, live_spec, with_hint, Simulator, MAX_ID_BYTES};
use crate::domain::time::now_ms;

#[derive(Deserialize)]
struct RemixBody {
    prompt: Option<String>,
}

pub(super) async fn remix(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let source = match live_spec(&sim, &id) {
        Ok(spec) => spec,
        Err(resp) => return *resp,
    };
    if source.video(&id, now_ms()).status != "completed" {
        let msg = "only a completed video can be remixed";
        return api_error(StatusCode::BAD_REQUEST, msg, Some("invalid_video_state"));
    }
    let prompt = match serde_json::from_slice::<RemixBody>(&body) {
        Ok(RemixBody { prompt: Some(p) }) if !p.trim().is_empty() && p.len() <= 32_000 => p,
        _ => {
            let msg = "prompt is required (at most 32000 bytes)";
            return api_error(StatusCode::BAD_REQUEST, msg, None);
        }
    };
    let slow = if prompt.contains("[slow]") { 10.0 } else { 1.0 };
    let spec = Spec {
        t: now_ms(),
        d: (sim.seconds * slow * 1000.0) as i64,
        f: prompt.contains("[fail]"),
        m: source.m,
        s: source.s,
        z: source.z,
        n: rand::random(),
    };
    let new_id = spec.id();
    if new_id.len() > MAX_ID_BYTES {
        return api_error(StatusCode::BAD_REQUEST, "the job is too large", None);
    }
    let video = spec.video(&new_id, spec.t);
    with_hint(&spec, video)
}

//! The simulator through the real OpenAI client, over HTTP.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use taskhub::providers::openai::OpenAiClient;
use taskhub::providers::simulator::{self, Simulator, SAMPLE_JPG, SAMPLE_MP4};
use taskhub::providers::{
    CreateJob, InputImage, JobState, JobStatus, Provider, ProviderError, Variant,
};

use crate::provider_openai::config;

/// A simulator alone on 127.0.0.1:0 and a client pointed at its `/v1`.
async fn simulator(seconds: f64) -> (String, OpenAiClient) {
    let app: axum::Router = simulator::router("/v1", Simulator::new(seconds));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = OpenAiClient::new(&base, None, config(5_000, 0)).unwrap();
    (base, client)
}

fn job(prompt: &str) -> CreateJob {
    CreateJob {
        model: "sora-2".into(),
        prompt: prompt.into(),
        seconds: 4,
        size: "720x1280".into(),
        input_reference: None,
    }
}

/// Polls until the job is terminal, returning every status seen.
async fn until_done(c: &OpenAiClient, id: &str) -> Vec<JobStatus> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let st = c.status(id).await.unwrap();
        let done = matches!(st.state, JobState::Completed | JobState::Failed);
        seen.push(st);
        if done {
            return seen;
        }
        assert!(Instant::now() < deadline, "job never finished: {seen:?}");
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

async fn bytes_of(c: &OpenAiClient, id: &str, v: Variant) -> (Option<String>, Vec<u8>) {
    let dl = c.download(id, v).await.unwrap();
    let body = dl.body.map(|b| b.unwrap().to_vec()).concat().await;
    (dl.content_type, body)
}

#[tokio::test]
async fn a_job_runs_to_a_playable_video() {
    let (_, c) = simulator(0.8).await;
    let created = c.create(&job("a red fox")).await.unwrap();
    assert_eq!(created.state, JobState::Queued);
    assert!(
        created.poll_after_ms.is_some(),
        "the simulator hints when to poll"
    );
    let seen = until_done(&c, &created.external_id).await;
    let last = seen.last().unwrap();
    assert_eq!(
        (last.state.clone(), last.progress),
        (JobState::Completed, Some(100))
    );
    assert!(
        seen.iter().any(|s| s.state == JobState::Running),
        "{seen:?}"
    );
    let progress: Vec<u8> = seen.iter().filter_map(|s| s.progress).collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress rises: {progress:?}"
    );
    assert!(last.expires_at.is_some() && last.seconds == Some(4));

    let (ct, video) = bytes_of(&c, &created.external_id, Variant::Video).await;
    assert_eq!(ct.as_deref(), Some("video/mp4"));
    assert_eq!(&video[4..8], b"ftyp", "an MP4");
    assert_eq!(video, SAMPLE_MP4);
    let (ct, thumb) = bytes_of(&c, &created.external_id, Variant::Thumbnail).await;
    assert_eq!(
        (ct.as_deref(), &thumb[..2]),
        (Some("image/jpeg"), &[0xFF, 0xD8][..])
    );
    assert_eq!(thumb, SAMPLE_JPG);

    // The provider's own URL plays in a browser: range requests get 206.
    let url = c.content_url(&created.external_id, Variant::Video).unwrap();
    let resp = reqwest::Client::new()
        .get(url)
        .header("range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    let cr = resp.headers()["content-range"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(cr, format!("bytes 0-99/{}", SAMPLE_MP4.len()));
    assert_eq!(resp.bytes().await.unwrap(), &SAMPLE_MP4[..100]);
}

#[tokio::test]
async fn fail_prompts_fail_with_a_provider_error() {
    let (_, c) = simulator(0.4).await;
    let created = c.create(&job("[fail] a fox")).await.unwrap();
    let last = until_done(&c, &created.external_id).await.pop().unwrap();
    assert_eq!(last.state, JobState::Failed);
    let e = last.error.unwrap();
    assert_eq!(e.code, "simulated_failure");
    assert!(e.message.contains("[fail]"), "{}", e.message);
    let err = c
        .download(&created.external_id, Variant::Video)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, ProviderError::Rejected { status: 400, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn slow_prompts_take_ten_times_longer() {
    let (_, c) = simulator(0.3).await;
    let slow = c.create(&job("[slow] a snail")).await.unwrap();
    let quick = c.create(&job("a hare")).await.unwrap();
    until_done(&c, &quick.external_id).await;
    let st = c.status(&slow.external_id).await.unwrap();
    assert!(
        matches!(st.state, JobState::Queued | JobState::Running),
        "{st:?}"
    );
    assert!(st.progress.unwrap_or(0) < 50, "{st:?}");
}

#[tokio::test]
async fn it_validates_like_the_api_and_deletes() {
    let (_, c) = simulator(5.0).await;
    let mut bad = job("x");
    bad.seconds = 0;
    let err = c.create(&bad).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 400, .. }),
        "{err:?}"
    );
    let err = c.status("video_nope").await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 404, .. }),
        "{err:?}"
    );

    let mut with_image = job("animate this");
    with_image.input_reference = Some(InputImage {
        bytes: Bytes::from_static(b"\x89PNG"),
        file_name: "r.png".into(),
        mime: "image/png".into(),
    });
    let created = c.create(&with_image).await.expect("multipart create");
    let not_image = InputImage {
        mime: "text/plain".into(),
        ..with_image.input_reference.clone().unwrap()
    };
    with_image.input_reference = Some(not_image);
    let err = c.create(&with_image).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 400, .. }),
        "{err:?}"
    );

    let err = c
        .download(&created.external_id, Variant::Video)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, ProviderError::Rejected { status: 400, .. }),
        "not ready: {err:?}"
    );
    c.cancel(&created.external_id).await.unwrap();
    let err = c.status(&created.external_id).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 404, .. }),
        "deleted: {err:?}"
    );
}

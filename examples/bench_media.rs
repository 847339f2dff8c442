//! Media throughput to the S3-compatible store, and range-read latency through a node.
//!
//! 1. Copy: `--copies N` streamed writes of a generated `--mib` MiB blob into the store
//!    through `Storage::put_stream` (the path a finished video takes: multipart, 8 MiB parts),
//!    then `--small N` writes of the simulator's MP4 (33 KB, one PUT each). Reports MB/s and
//!    objects/s.
//! 2. Range reads: a real node (SQLite in a temp dir, poller off) on the same store serves the
//!    simulator's MP4 at a signed `/media` URL; `--reads N` sequential `Range: bytes=0-99`
//!    GETs over loopback; reports p50/p90/p99. The same against a node on a local folder, for
//!    comparison.
//!
//! ```sh
//! scripts/moto.sh --install && scripts/moto.sh
//! cargo run --release --example bench_media -- --s3 http://127.0.0.1:5010
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use taskhub::config::Settings;
use taskhub::media::settings::{MediaSettings, StorageKind};
use taskhub::media::Storage;
use taskhub::providers::simulator::SAMPLE_MP4;
use taskhub::secret::Secret;
use taskhub::startup::Application;

struct Args {
    s3: String,
    copies: usize,
    mib: usize,
    small: usize,
    reads: usize,
}

fn args() -> Args {
    let mut a = Args {
        s3: "http://127.0.0.1:5010".into(),
        copies: 8,
        mib: 32,
        small: 200,
        reads: 1000,
    };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    for pair in raw.chunks(2) {
        let v = pair.get(1).map(String::as_str).unwrap_or("");
        let n = || -> usize {
            v.parse()
                .unwrap_or_else(|_| panic!("{} needs a number", pair[0]))
        };
        match pair[0].as_str() {
            "--s3" => a.s3 = v.to_string(),
            "--copies" => a.copies = n(),
            "--mib" => a.mib = n(),
            "--small" => a.small = n(),
            "--reads" => a.reads = n(),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn s3_settings(url: &str, bucket: &str) -> MediaSettings {
    MediaSettings {
        storage: StorageKind::S3,
        s3_endpoint: Some(url.into()),
        s3_bucket: Some(bucket.into()),
        s3_access_key_id: Some("fake-access-key-id".into()),
        s3_secret_access_key: Secret::new("fake-secret-access-key"),
        ..Default::default()
    }
}

async fn copies(storage: &Storage, a: &Args) {
    let blob: Vec<u8> = (0..a.mib << 20).map(|i| (i % 251) as u8).collect();
    let start = Instant::now();
    for i in 0..a.copies {
        let chunks: Vec<Result<Bytes, String>> = blob
            .chunks(256 << 10)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let key = format!("media/blob-{i}.mp4");
        storage
            .put_stream(&key, futures_util::stream::iter(chunks), u64::MAX)
            .await
            .expect("copy");
    }
    let secs = start.elapsed().as_secs_f64();
    let mb = (a.copies * blob.len()) as f64 / 1e6;
    println!(
        "copy   {} x {} MiB (multipart): {:.1} s, {:.1} MB/s",
        a.copies,
        a.mib,
        secs,
        mb / secs
    );
    let start = Instant::now();
    for i in 0..a.small {
        let body =
            futures_util::stream::iter(vec![Ok::<_, String>(Bytes::from_static(SAMPLE_MP4))]);
        storage
            .put_stream(&format!("media/small-{i}.mp4"), body, u64::MAX)
            .await
            .expect("copy");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "copy   {} x simulator MP4 ({} B, one PUT): {:.1} s, {:.0} objects/s, {:.2} MB/s",
        a.small,
        SAMPLE_MP4.len(),
        secs,
        a.small as f64 / secs,
        (a.small * SAMPLE_MP4.len()) as f64 / 1e6 / secs
    );
}

/// A node on `media` (temp data dir), serving the simulator's MP4; `reads` range GETs.
async fn range_reads(label: &str, media: MediaSettings, reads: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = Settings {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        jwt_secret: Secret::new("fake-bench-jwt-secret-0123456789abcdef"),
        media,
        ..Settings::default()
    };
    s.poller.enabled = false;
    s.http = s.http.relaxed();
    let app = Application::build(s).await.expect("build node");
    let port = app.port();
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let file = format!("video_{}.mp4", uuid::Uuid::now_v7());
    let key = format!("media/{file}");
    state
        .video
        .media
        .storage()
        .put(&key, Bytes::from_static(SAMPLE_MP4))
        .await
        .expect("put");
    let url = format!(
        "http://127.0.0.1:{port}{}",
        state.video.media.urls().url(&file)
    );
    let client = reqwest::Client::new();
    let mut took = Vec::with_capacity(reads);
    for i in 0..reads + 20 {
        let t = Instant::now();
        let r = client
            .get(&url)
            .header("range", "bytes=0-99")
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status().as_u16(), 206);
        let body = r.bytes().await.expect("body");
        assert_eq!(body.len(), 100);
        if i >= 20 {
            took.push(t.elapsed()); // the first 20 warm the connection up
        }
    }
    took.sort();
    let q = |p: f64| took[((took.len() as f64 * p) as usize).min(took.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "range  {label}: {reads} x bytes=0-99 through a node: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        ms(q(0.5)),
        ms(q(0.9)),
        ms(q(0.99))
    );
}

#[tokio::main]
async fn main() {
    let a = args();
    let bucket = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let made = reqwest::Client::new()
        .put(format!("{}/{bucket}", a.s3))
        .send()
        .await;
    assert!(
        made.is_ok_and(|r| r.status().is_success()),
        "create bucket on {}",
        a.s3
    );
    let storage = Storage::s3(&s3_settings(&a.s3, &bucket)).expect("S3 store");
    copies(&storage, &a).await;
    range_reads("S3 (moto)", s3_settings(&a.s3, &bucket), a.reads).await;
    range_reads("local folder", MediaSettings::default(), a.reads).await;
}

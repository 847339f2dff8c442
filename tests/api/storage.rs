//! The store behind uploads and media (`taskhub::media::Storage`) behaves the same on a
//! local folder and on an S3-compatible server (moto, `TEST_S3_URL`; tests named `s3` are
//! skipped by scripts/test.sh when it is not running): put, read, ranges, streamed
//! (multipart) writes with their limits, list, delete.

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use taskhub::config::Settings;
use taskhub::media::settings::{MediaSettings, StorageKind};
use taskhub::media::storage::{ByteRange, StorageError};
use taskhub::media::{SaveError, Storage};
use taskhub::secret::Secret;

/// The S3-compatible test server.
pub fn s3_url() -> String {
    std::env::var("TEST_S3_URL").expect("S3 tests need TEST_S3_URL (scripts/test.sh sets it)")
}

/// A new, empty bucket of its own on the test server (tests run at the same time).
pub async fn fresh_bucket() -> String {
    let name = format!("th-test-{}", uuid::Uuid::new_v4().simple());
    let resp = reqwest::Client::new()
        .put(format!("{}/{name}", s3_url()))
        .send()
        .await
        .expect("reach the S3 test server");
    assert!(
        resp.status().is_success(),
        "create bucket: {}",
        resp.status()
    );
    name
}

/// `settings` use the bucket `bucket` on the test server.
pub fn use_s3(settings: &mut Settings, bucket: &str) {
    settings.media = s3_media(bucket);
}

fn s3_media(bucket: &str) -> MediaSettings {
    MediaSettings {
        storage: StorageKind::S3,
        s3_endpoint: Some(s3_url()),
        s3_bucket: Some(bucket.into()),
        s3_access_key_id: Some("fake-access-key-id".into()),
        s3_secret_access_key: Secret::new("fake-secret-access-key"),
        ..Default::default()
    }
}

#[tokio::test]
async fn local_storage_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::local(dir.path()).unwrap();
    conformance(&storage).await;
    assert!(
        dir.path().join("uploads/b.jpg").is_file(),
        "keys are files under the data dir, as before"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_storage_conformance() {
    let storage = Storage::s3(&s3_media(&fresh_bucket().await)).unwrap();
    conformance(&storage).await;
}

async fn conformance(storage: &Storage) {
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    storage
        .put("uploads/a.png", data.clone().into())
        .await
        .unwrap();
    assert_eq!(storage.read("uploads/a.png").await.unwrap(), data);
    assert_eq!(storage.head("uploads/a.png").await.unwrap().size, 1000);

    for (range, want) in [
        (ByteRange::Inclusive(0, 99), 0..100),
        (ByteRange::Inclusive(990, 5000), 990..1000),
        (ByteRange::From(500), 500..1000),
        (ByteRange::Suffix(10), 990..1000),
    ] {
        let r = storage.get("uploads/a.png", Some(range)).await.unwrap();
        assert_eq!(
            (r.range.clone(), r.meta.size),
            (want.clone(), 1000),
            "{range:?}"
        );
        assert_eq!(
            collect(r.body).await,
            &data[want.start as usize..want.end as usize]
        );
    }
    let whole = storage.get("uploads/a.png", None).await.unwrap();
    assert_eq!(collect(whole.body).await, data);
    assert!(matches!(
        storage
            .get("uploads/a.png", Some(ByteRange::From(1000)))
            .await,
        Err(StorageError::BadRange)
    ));
    assert!(matches!(
        storage.get("uploads/missing.png", None).await,
        Err(StorageError::NotFound)
    ));
    assert!(matches!(
        storage.read("uploads/missing.png").await,
        Err(StorageError::NotFound)
    ));

    // Streamed writes: more than one part goes up as a multipart upload.
    let big: Vec<u8> = (0..(9u32 << 20)).map(|i| (i % 253) as u8).collect();
    let chunks: Vec<Result<Bytes, String>> = big
        .chunks(1 << 20)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let size = storage
        .put_stream("media/big.mp4", stream::iter(chunks), 10 << 20)
        .await
        .unwrap();
    assert_eq!(size, big.len() as u64);
    assert_eq!(storage.read("media/big.mp4").await.unwrap(), big);

    // Refused writes leave nothing behind.
    let too_big = stream::iter(vec![Ok::<_, String>(Bytes::from(vec![1u8; 2048]))]);
    assert!(matches!(
        storage.put_stream("media/too-big.mp4", too_big, 1024).await,
        Err(SaveError::TooLarge(1024))
    ));
    let empty = stream::iter(Vec::<Result<Bytes, String>>::new());
    assert!(matches!(
        storage.put_stream("media/empty.mp4", empty, 1024).await,
        Err(SaveError::Failed(_))
    ));
    let broken = stream::iter(vec![Ok(Bytes::from_static(b"abc")), Err("cut".to_string())]);
    assert!(matches!(
        storage.put_stream("media/broken.mp4", broken, 1024).await,
        Err(SaveError::Failed(m)) if m == "cut"
    ));
    for gone in ["media/too-big.mp4", "media/empty.mp4", "media/broken.mp4"] {
        assert!(
            matches!(storage.head(gone).await, Err(StorageError::NotFound)),
            "{gone}"
        );
    }

    storage
        .put("uploads/b.jpg", Bytes::from_static(b"b"))
        .await
        .unwrap();
    let mut listed: Vec<String> = storage
        .list("uploads")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    listed.sort();
    assert_eq!(listed, ["uploads/a.png", "uploads/b.jpg"]);

    storage.delete("uploads/a.png").await.unwrap();
    storage
        .delete("uploads/a.png")
        .await
        .expect("deleting twice is fine");
    assert!(matches!(
        storage.head("uploads/a.png").await,
        Err(StorageError::NotFound)
    ));
    assert_eq!(storage.list("uploads").await.unwrap().len(), 1);
}

async fn collect(
    mut body: futures_util::stream::BoxStream<'static, Result<Bytes, StorageError>>,
) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

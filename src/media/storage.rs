//! `Storage`: where uploads, finished videos and thumbnails live, through `object_store`:
//! a folder (the data dir, keys `uploads/…` and `media/…` as files, the layout of earlier
//! versions) or an S3-compatible bucket (`TASKHUB_STORAGE=s3`) that every node shares.
//! Writes are atomic (a half-written object is never read); large bodies go up as multipart
//! uploads with bounded memory.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};

use super::settings::{MediaSettings, StorageKind};

/// Bytes buffered before a body goes up as a multipart upload, and the size of each part
/// (S3 wants at least 5 MiB per part). With [`UPLOAD_CONCURRENCY`], the memory one upload
/// holds at most.
const PART_BYTES: usize = 8 << 20;
/// Parts of one upload in flight at once.
const UPLOAD_CONCURRENCY: usize = 2;

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// Presigns GET URLs (S3 only).
    s3: Option<Arc<AmazonS3>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.s3.is_some() {
            "Storage(s3)"
        } else {
            "Storage(local)"
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("no such object")]
    NotFound,
    /// The requested range starts at or after the end of the object.
    #[error("the range is outside the object")]
    BadRange,
    #[error("storage: {0}")]
    Failed(String),
}

impl From<object_store::Error> for StorageError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Self::NotFound,
            e => Self::Failed(e.to_string()),
        }
    }
}

/// A body streamed into the store failed.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    Failed(String),
}

/// What a reader needs before the bytes: size, version tag, time of writing.
#[derive(Clone, Debug)]
pub struct Meta {
    pub size: u64,
    pub e_tag: Option<String>,
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// A streamed read: the object's meta, the byte range sent, the bytes.
pub struct Reading {
    pub meta: Meta,
    pub range: Range<u64>,
    pub body: BoxStream<'static, Result<Bytes, StorageError>>,
}

/// A byte range asked for (`Range: bytes=…`), in the object's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// `first..=last` (`last` past the end means up to the end).
    Inclusive(u64, u64),
    /// From `first` to the end.
    From(u64),
    /// The last `n` bytes.
    Suffix(u64),
}

impl Storage {
    /// From the settings: a folder under `data_dir`, or the S3 bucket.
    pub fn from_settings(s: &MediaSettings, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        match s.storage {
            StorageKind::Local => Self::local(data_dir),
            StorageKind::S3 => Self::s3(s),
        }
    }

    /// Keys are files under `dir` (created if missing).
    pub fn local(dir: &std::path::Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
            s3: None,
        })
    }

    /// The bucket of `TASKHUB_S3_*`. `http://` only for a loopback endpoint or with
    /// `TASKHUB_S3_ALLOW_HTTP`.
    pub fn s3(s: &MediaSettings) -> anyhow::Result<Self> {
        let need = |v: &Option<String>, name: &str| {
            v.clone()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| anyhow::anyhow!("TASKHUB_STORAGE=s3 needs {name}"))
        };
        let bucket = need(&s.s3_bucket, "TASKHUB_S3_BUCKET")?;
        let key_id = need(&s.s3_access_key_id, "TASKHUB_S3_ACCESS_KEY_ID")?;
        if s.s3_secret_access_key.is_empty() {
            anyhow::bail!("TASKHUB_STORAGE=s3 needs TASKHUB_S3_SECRET_ACCESS_KEY");
        }
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&s.s3_region)
            .with_access_key_id(key_id)
            .with_secret_access_key(s.s3_secret_access_key.expose())
            .with_virtual_hosted_style_request(!s.s3_path_style)
            // A store that is down answers within seconds (object_store's default retries
            // for up to three minutes, holding a `/media` request that long).
            .with_retry(object_store::RetryConfig {
                max_retries: 3,
                retry_timeout: std::time::Duration::from_secs(15),
                ..Default::default()
            })
            .with_client_options(
                object_store::ClientOptions::new()
                    .with_connect_timeout(std::time::Duration::from_secs(5)),
            );
        if let Some(endpoint) = s.s3_endpoint.as_deref().filter(|e| !e.is_empty()) {
            let url = url::Url::parse(endpoint)
                .map_err(|e| anyhow::anyhow!("TASKHUB_S3_ENDPOINT is not a URL: {e}"))?;
            let http = url.scheme() == "http";
            if http && !s.s3_allow_http && !is_loopback(&url) {
                anyhow::bail!(
                    "TASKHUB_S3_ENDPOINT is plain http and not loopback; use https or set \
                     TASKHUB_S3_ALLOW_HTTP=true"
                );
            }
            b = b.with_endpoint(endpoint).with_allow_http(http);
        }
        let s3 = Arc::new(b.build()?);
        Ok(Self {
            store: s3.clone(),
            s3: Some(s3),
        })
    }

    pub fn is_s3(&self) -> bool {
        self.s3.is_some()
    }

    /// Writes `bytes` at `key` (atomically).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store
            .put(&Key::from(key), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// Streams `body` to `key`, refusing more than `max` bytes and an empty body; returns
    /// the size. Nothing is left at `key` on failure.
    pub async fn put_stream<S, E>(&self, key: &str, mut body: S, max: u64) -> Result<u64, SaveError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut w = BufWriter::with_capacity(self.store.clone(), Key::from(key), PART_BYTES)
            .with_max_concurrency(UPLOAD_CONCURRENCY);
        let result = async {
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| SaveError::Failed(e.to_string()))?;
                size += chunk.len() as u64;
                if size > max {
                    return Err(SaveError::TooLarge(max));
                }
                w.put(chunk).await.map_err(failed)?;
            }
            if size == 0 {
                return Err(SaveError::Failed("the provider sent an empty file".into()));
            }
            tokio::io::AsyncWriteExt::shutdown(&mut w)
                .await
                .map_err(|e| SaveError::Failed(format!("storage: {e}")))?;
            Ok(size)
        }
        .await;
        if result.is_err() {
            let _ = w.abort().await;
        }
        result
    }

    /// All of `key`'s bytes.
    pub async fn read(&self, key: &str) -> Result<Bytes, StorageError> {
        Ok(self.store.get(&Key::from(key)).await?.bytes().await?)
    }

    /// Size, version tag and time of writing of `key`.
    pub async fn head(&self, key: &str) -> Result<Meta, StorageError> {
        let m = self.store.head(&Key::from(key)).await?;
        Ok(Meta {
            size: m.size,
            e_tag: m.e_tag,
            last_modified: m.last_modified,
        })
    }

    /// Streams `key` (or `range` of it). A range starting at or past the end is
    /// [`StorageError::BadRange`]; one ending past the end is cut at the end.
    pub async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<Reading, StorageError> {
        let key = Key::from(key);
        let range = match range {
            None => None,
            // Decided against the size first: stores differ in how they refuse bad ranges.
            Some(r) => {
                let size = self.store.head(&key).await?.size;
                Some(GetRange::Bounded(
                    resolve(r, size).ok_or(StorageError::BadRange)?,
                ))
            }
        };
        let opts = GetOptions {
            range,
            ..Default::default()
        };
        let got = self.store.get_opts(&key, opts).await?;
        let meta = Meta {
            size: got.meta.size,
            e_tag: got.meta.e_tag.clone(),
            last_modified: got.meta.last_modified,
        };
        let range = got.range.clone();
        let body = got
            .into_stream()
            .map(|r| r.map_err(StorageError::from))
            .boxed();
        Ok(Reading { meta, range, body })
    }

    /// Copies `from` to `to` (server-side on S3); a missing `from` is `NotFound`.
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        Ok(self.store.copy(&Key::from(from), &Key::from(to)).await?)
    }

    /// Deletes `key`; a missing one is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Key::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Keys under `prefix` (a folder: `uploads`), with their time of writing.
    pub async fn list(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, StorageError> {
        let mut out = Vec::new();
        let mut listing = self.store.list(Some(&Key::from(prefix)));
        while let Some(m) = listing.next().await {
            let m = m?;
            out.push((m.location.to_string(), m.last_modified));
        }
        Ok(out)
    }

    /// A presigned GET URL of `key` working for `ttl` (S3 only; `None` for a folder).
    pub async fn presigned_get(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Option<Result<String, StorageError>> {
        let s3 = self.s3.as_ref()?;
        let signed = s3
            .signed_url(reqwest::Method::GET, &Key::from(key), ttl)
            .await
            .map(|u| u.to_string())
            .map_err(StorageError::from);
        Some(signed)
    }
}

fn failed(e: object_store::Error) -> SaveError {
    SaveError::Failed(format!("storage: {e}"))
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The byte range `r` names in an object of `size` bytes, or `None` if it is unsatisfiable.
pub fn resolve(r: ByteRange, size: u64) -> Option<Range<u64>> {
    let range = match r {
        ByteRange::Inclusive(first, last) if first <= last => {
            first..last.saturating_add(1).min(size)
        }
        ByteRange::Inclusive(..) => return None,
        ByteRange::From(first) => first..size,
        ByteRange::Suffix(n) => size.saturating_sub(n)..size,
    };
    (range.start < range.end).then_some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_against_the_size() {
        assert_eq!(resolve(ByteRange::Inclusive(0, 99), 1000), Some(0..100));
        assert_eq!(
            resolve(ByteRange::Inclusive(990, 2000), 1000),
            Some(990..1000)
        );
        assert_eq!(resolve(ByteRange::From(10), 1000), Some(10..1000));
        assert_eq!(resolve(ByteRange::Suffix(10), 1000), Some(990..1000));
        assert_eq!(resolve(ByteRange::Suffix(5000), 1000), Some(0..1000));
        assert_eq!(resolve(ByteRange::Inclusive(1000, 1001), 1000), None);
        assert_eq!(resolve(ByteRange::Inclusive(5, 4), 1000), None);
        assert_eq!(resolve(ByteRange::Suffix(0), 1000), None);
        assert_eq!(resolve(ByteRange::From(0), 0), None);
    }

    #[test]
    fn plain_http_is_loopback_only() {
        let mut s = MediaSettings {
            storage: StorageKind::S3,
            s3_bucket: Some("b".into()),
            s3_access_key_id: Some("fake-key".into()),
            s3_secret_access_key: crate::secret::Secret::new("fake-secret"),
            s3_endpoint: Some("http://s3.example.com".into()),
            ..Default::default()
        };
        assert!(Storage::s3(&s).is_err());
        s.s3_allow_http = true;
        assert!(Storage::s3(&s).is_ok());
        s.s3_allow_http = false;
        s.s3_endpoint = Some("http://127.0.0.1:5010".into());
        assert!(Storage::s3(&s).is_ok());
        s.s3_bucket = None;
        assert!(Storage::s3(&s).is_err());
    }
}

//! Settings of media storage (local folder or S3-compatible store), of finished-media copies
//! and of their signed URLs. Flattened into `config::Settings`, so every field is
//! `TASKHUB_<FIELD>` in the environment.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Where uploads, finished videos and thumbnails are kept.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Under the data dir (`uploads/`, `media/`): one node only.
    #[default]
    Local,
    /// An S3-compatible bucket (`TASKHUB_S3_*`), shared by every node.
    S3,
}

/// How `/media/{file}` hands out a file.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MediaDelivery {
    /// The node streams it from the store (Range → 206).
    #[default]
    Node,
    /// 302 to the store's presigned GET URL (S3 only).
    Presigned,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct MediaSettings {
    /// Copy finished videos into media storage (off: hand out the provider's URL).
    pub media_copy: bool,
    /// Largest video or thumbnail copied from a provider.
    pub media_max_bytes: u64,
    /// Prefix of media URLs, e.g. `https://hub.example.com`; unset: relative `/media/…`.
    pub media_base_url: Option<String>,
    /// How long a media URL works after it is handed out (signed when a task or event is
    /// read; a client re-reads the task for a fresh one).
    pub media_url_ttl_secs: u64,
    /// `node` streams media from the store; `presigned` redirects to the store (S3 only).
    pub media_delivery: MediaDelivery,
    /// How long a presigned store URL works (it is made for each `/media` request).
    pub media_presign_ttl_secs: u64,
    /// `local` (the data dir) or `s3`.
    pub storage: StorageKind,
    /// The S3-compatible endpoint, e.g. `https://s3.eu-west-1.amazonaws.com` or MinIO's URL.
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    pub s3_bucket: Option<String>,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Secret,
    /// Path-style addressing (`endpoint/bucket/key`), as MinIO-like servers need.
    pub s3_path_style: bool,
    /// Allow an `http://` endpoint that is not loopback (loopback is always allowed).
    pub s3_allow_http: bool,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            media_copy: true,
            media_max_bytes: 1 << 30,
            media_base_url: None,
            media_url_ttl_secs: 3600,
            media_delivery: MediaDelivery::Node,
            media_presign_ttl_secs: 300,
            storage: StorageKind::Local,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_bucket: None,
            s3_access_key_id: None,
            s3_secret_access_key: Secret::default(),
            s3_path_style: true,
            s3_allow_http: false,
        }
    }
}

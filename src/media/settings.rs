//! Settings of finished-media storage and its signed URLs. Flattened into
//! `config::Settings`, so every field is `TASKHUB_<FIELD>` in the environment.

use serde::{Deserialize, Serialize};

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
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            media_copy: true,
            media_max_bytes: 1 << 30,
            media_base_url: None,
            media_url_ttl_secs: 3600,
        }
    }
}

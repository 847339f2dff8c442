//! `TaskContext`: the handles and settings every task use case and the poller work with,
//! built once per node at startup. Cheap to clone.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::services::VideoServices;
use super::settings::{PollerSettings, UploadSettings};
use crate::billing::BillingSettings;
use crate::bus::Bus;
use crate::providers::settings::ProviderKind;
use crate::store::Store;

/// The settings the task use cases read (a slice of the node's settings).
#[derive(Clone, Debug)]
pub struct TaskSettings {
    pub poller: PollerSettings,
    /// Reference-image fetches and the orphaned-upload sweep.
    pub uploads: UploadSettings,
    /// Copy finished videos into media storage (`TASKHUB_MEDIA_COPY`).
    pub media_copy: bool,
    /// Plans allowed to generate and the price of a task.
    pub billing: BillingSettings,
    /// The provider new tasks go to.
    pub provider: ProviderKind,
    /// The local layout's root (uploads under `{data_dir}/uploads` with the folder store).
    pub data_dir: PathBuf,
    /// Where uploads live (`uploads/…` keys): the data dir or the S3 bucket.
    pub storage: crate::media::Storage,
    /// Largest image accepted, uploaded or fetched from a `referenceImageUrl`.
    pub max_upload_bytes: usize,
}

#[derive(Clone)]
pub struct TaskContext {
    pub settings: Arc<TaskSettings>,
    pub store: Store,
    pub bus: Arc<dyn Bus>,
    /// Providers, media storage and webhooks.
    pub video: Arc<VideoServices>,
    /// Cancelled once on shutdown.
    pub shutdown: CancellationToken,
}

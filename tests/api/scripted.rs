//! Test doubles for driving tasks: a provider whose answers a test scripts and which records
//! what it was asked (and whether two calls for one task ever overlapped), and a bus that
//! records what was published.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use dashmap::DashMap;
use taskhub::bus::Bus;
use taskhub::domain::TaskEvent;
use taskhub::providers::{
    CreateJob, Download, InputImage, JobState, JobStatus, Provider, ProviderError, ProviderResult,
    Variant,
};

type Answer = Box<dyn Fn(&str, usize) -> ProviderResult<JobStatus> + Send + Sync>;

pub struct Scripted {
    /// The answer to the n-th (0-based) status call for an external id.
    answer: Answer,
    /// When set, `create` fails with it.
    pub create_error: Mutex<Option<ProviderError>>,
    /// How long each call takes (widens the window in which overlaps would show).
    pub delay: Duration,
    pub creates: AtomicUsize,
    pub statuses: AtomicUsize,
    pub cancels: Mutex<Vec<String>>,
    /// The reference image of the last job created.
    pub last_image: Mutex<Option<InputImage>>,
    calls: DashMap<String, usize>,
    in_flight: DashMap<String, usize>,
    /// Times a call for a task started while another call for it was running.
    pub overlaps: AtomicUsize,
}

pub fn status(ext: &str, state: JobState, progress: Option<u8>) -> JobStatus {
    JobStatus {
        external_id: ext.into(),
        state,
        progress,
        error: None,
        expires_at: None,
        seconds: Some(4),
        size: Some("720x1280".into()),
        poll_after_ms: None,
    }
}

impl Scripted {
    pub fn new(
        answer: impl Fn(&str, usize) -> ProviderResult<JobStatus> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Self::with_delay(answer, Duration::ZERO)
    }

    pub fn with_delay(
        answer: impl Fn(&str, usize) -> ProviderResult<JobStatus> + Send + Sync + 'static,
        delay: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            answer: Box::new(answer),
            create_error: Mutex::new(None),
            delay,
            creates: AtomicUsize::new(0),
            statuses: AtomicUsize::new(0),
            cancels: Mutex::new(Vec::new()),
            last_image: Mutex::new(None),
            calls: DashMap::new(),
            in_flight: DashMap::new(),
            overlaps: AtomicUsize::new(0),
        })
    }

    /// Every job runs `steps` polls (progress rising) and then completes; calls take `delay`.
    pub fn auto(steps: usize, delay: Duration) -> Arc<Self> {
        let answer = move |ext: &str, n: usize| {
            Ok(if n >= steps {
                status(ext, JobState::Completed, Some(100))
            } else {
                status(ext, JobState::Running, Some((10 * (n + 1)).min(99) as u8))
            })
        };
        Self::with_delay(answer, delay)
    }

    async fn enter(&self, key: &str) {
        let mut n = self.in_flight.entry(key.to_string()).or_insert(0);
        *n += 1;
        if *n > 1 {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        drop(n);
        tokio::time::sleep(self.delay).await;
    }

    fn leave(&self, key: &str) {
        if let Some(mut n) = self.in_flight.get_mut(key) {
            *n -= 1;
        }
    }
}

#[async_trait]
impl Provider for Scripted {
    async fn create(&self, job: &CreateJob) -> ProviderResult<JobStatus> {
        // The external id derives from the prompt, so create and status share a key.
        let ext = format!("ext-{}", job.prompt);
        self.enter(&ext).await;
        self.creates.fetch_add(1, Ordering::SeqCst);
        *self.last_image.lock().unwrap() = job.input_reference.clone();
        let err = self.create_error.lock().unwrap().clone();
        self.leave(&ext);
        match err {
            Some(e) => Err(e),
            None => Ok(status(&ext, JobState::Queued, Some(0))),
        }
    }

    async fn status(&self, ext: &str) -> ProviderResult<JobStatus> {
        self.enter(ext).await;
        self.statuses.fetch_add(1, Ordering::SeqCst);
        let n = {
            let mut c = self.calls.entry(ext.to_string()).or_insert(0);
            *c += 1;
            *c - 1
        };
        let answer = (self.answer)(ext, n);
        self.leave(ext);
        answer
    }

    async fn download(&self, _ext: &str, variant: Variant) -> ProviderResult<Download> {
        let (ct, body): (&str, &[u8]) = match variant {
            Variant::Video => ("video/mp4", b"\0\0\0\x18ftypmp42 scripted video"),
            Variant::Thumbnail => ("image/jpeg", b"\xFF\xD8 scripted thumbnail"),
        };
        let chunk: ProviderResult<Bytes> = Ok(Bytes::from_static(body));
        Ok(Download {
            content_type: Some(ct.into()),
            content_length: Some(body.len() as u64),
            body: Box::pin(futures_util::stream::iter([chunk])),
        })
    }

    async fn cancel(&self, ext: &str) -> ProviderResult<()> {
        self.cancels.lock().unwrap().push(ext.to_string());
        Ok(())
    }

    fn content_url(&self, ext: &str, variant: Variant) -> Option<String> {
        Some(format!(
            "https://provider.example/{ext}/{}",
            variant.as_str()
        ))
    }

    fn max_call_ms(&self) -> u64 {
        1_000
    }
}

/// A bus that keeps every published event.
#[derive(Default)]
pub struct RecordingBus {
    pub events: Mutex<Vec<TaskEvent>>,
}

#[async_trait]
impl Bus for RecordingBus {
    async fn publish(&self, event: &TaskEvent) -> anyhow::Result<()> {
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
    async fn is_healthy(&self) -> bool {
        true
    }
}

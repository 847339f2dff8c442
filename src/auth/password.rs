//! argon2id password hashing, run on the blocking pool so it never stalls the async threads.
//!
//! Each hash or verification holds about 19 MiB (argon2's default memory cost) for its
//! duration, reused from one hash to the next during a burst and released after it
//! ([`super::hash_memory`]), so at most [`MAX_CONCURRENT`] run at once: a burst of logins or registrations
//! queues instead of growing the process by gigabytes. The queue is bounded too: a request
//! waits at most [`Queue::timeout`] for a slot, and at most [`Queue::max_waiting`] wait at
//! once; past either it is answered 503 `busy` with `Retry-After`, so a flood of bogus logins
//! cannot make real ones wait without end.

use argon2::password_hash::{rand_core::OsRng, SaltString};
use argon2::Params;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::hash_memory::{self, Pool};
use crate::error::ApiError;

/// Makes the allocator hand argon2's buffers back to the system when a hash ends.
///
/// glibc serves a large allocation with its own `mmap` and unmaps it on free, but after the
/// first such free it raises that threshold to the freed size (up to 32 MiB), so from then on
/// each 19 MiB buffer comes from a per-thread arena and stays there: after a burst of logins
/// on the blocking pool's threads the process kept about 1 GB it no longer used. A fixed
/// threshold turns that adjustment off. Process-wide and idempotent; other platforms and
/// allocators are left as they are.
pub fn return_hash_memory_to_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// Allocations at least this big are mapped on their own and unmapped on free.
        const MMAP_THRESHOLD: libc::c_int = 1 << 20;
        // SAFETY: mallopt only sets an allocator parameter; it is safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}

/// Hashes and verifications running at the same time.
pub const MAX_CONCURRENT: usize = 4;

static PERMITS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_CONCURRENT);

/// Requests waiting for a permit now.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// argon2's memory, reused by the hashes of a burst and released when it ends.
static MEMORY: Pool = Pool::new(MAX_CONCURRENT, return_freed_memory);

/// Hands the allocator's free pages back to the system at the end of a burst of hashes:
/// besides argon2's blocks (unmapped on their own), each hash and login leaves small freed
/// allocations on the blocking-pool threads' arenas, which glibc keeps (about 3 MB after
/// 1,000 logins here). Runs on the blocking pool, once per burst.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator; callable any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether another hash holds a permit or waits for one (called by a hash that ends).
fn others_pending() -> bool {
    WAITING.load(Ordering::Acquire) > 0 || PERMITS.available_permits() + 1 < MAX_CONCURRENT
}

/// How long and how many may wait for a hashing slot (`TASKHUB_HASH_QUEUE_*`).
#[derive(Clone, Copy, Debug)]
pub struct Queue {
    pub timeout: Duration,
    pub max_waiting: usize,
}

fn busy() -> ApiError {
    metrics::counter!("taskhub_password_queue_refused_total").increment(1);
    ApiError::Unavailable(
        "busy",
        "server busy: too many sign-ins at once; retry shortly".into(),
    )
}

/// Counts a waiter for as long as it lives.
struct Waiting;

impl Waiting {
    fn enter(max: usize) -> Option<Self> {
        if WAITING.fetch_add(1, Ordering::AcqRel) >= max {
            WAITING.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Waiting)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `work` on the blocking pool once one of the [`MAX_CONCURRENT`] permits is free,
/// waiting within `queue`'s bounds.
async fn limited<T: Send + 'static>(
    queue: Queue,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _permit = match PERMITS.try_acquire() {
        Ok(permit) => permit,
        Err(_) => {
            let _waiting = Waiting::enter(queue.max_waiting).ok_or_else(busy)?;
            match tokio::time::timeout(queue.timeout, PERMITS.acquire()).await {
                Ok(permit) => permit.map_err(anyhow::Error::from)?,
                Err(_) => return Err(busy()),
            }
        }
    };
    let out = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(e.into()));
    drop(_permit);
    // The last of a burst: with no turn held and none waited for, no hash is about to
    // start, so blocks still pooled were kept for nobody (see `Pool::release_if_idle`).
    if WAITING.load(Ordering::Acquire) == 0
        && PERMITS.available_permits() == MAX_CONCURRENT
        && MEMORY.pooled() > 0
    {
        tokio::task::spawn_blocking(|| MEMORY.release_if_idle());
    }
    out
}

pub async fn hash(password: String, queue: Queue) -> Result<String, ApiError> {
    limited(queue, move || {
        let salt = SaltString::generate(&mut OsRng);
        let params = Params::default();
        hash_memory::hash(
            &MEMORY,
            others_pending,
            password.as_bytes(),
            salt.as_salt(),
            params,
        )
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing password: {e}")))
    })
    .await?
}

/// False for a wrong password or an unparsable hash.
pub async fn verify(password: String, hash: String, queue: Queue) -> Result<bool, ApiError> {
    limited(queue, move || {
        hash_memory::verify(&MEMORY, others_pending, password.as_bytes(), &hash)
    })
    .await
}

/// A hash of a random password, verified against when the user does not exist so that an
/// unknown login costs the same time as a wrong password.
pub async fn dummy_hash(queue: Queue) -> Result<&'static str, ApiError> {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_try_init(|| hash(super::random_token(24), queue))
        .await
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::Queue;
    use std::time::Duration;

    const PATIENT: Queue = Queue {
        timeout: Duration::from_secs(60),
        max_waiting: 1000,
    };

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_max_concurrent_run_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        use std::sync::Arc;
        let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jobs = (0..16).map(|_| {
            let (now, peak) = (now.clone(), peak.clone());
            tokio::spawn(super::limited(PATIENT, move || {
                peak.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(20));
                now.fetch_sub(1, SeqCst);
            }))
        });
        for j in jobs.collect::<Vec<_>>() {
            j.await.unwrap().unwrap();
        }
        let peak = peak.load(SeqCst);
        assert!((2..=super::MAX_CONCURRENT).contains(&peak), "peak {peak}");
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = super::hash("correct horse".into(), PATIENT).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse".into(), h.clone(), PATIENT)
            .await
            .unwrap());
        assert!(!super::verify("wrong".into(), h, PATIENT).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_instead_of_waiting() {
        // Hold every slot, as a flood of logins would.
        let all = super::PERMITS
            .acquire_many(super::MAX_CONCURRENT as u32)
            .await
            .unwrap();
        let short = Queue {
            timeout: Duration::from_millis(50),
            max_waiting: 1000,
        };
        let e = super::limited(short, || ()).await.unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (503, "busy"));
        let no_room = Queue {
            timeout: Duration::from_secs(60),
            max_waiting: 0,
        };
        let e = super::limited(no_room, || ()).await.unwrap_err();
        assert_eq!(e.code(), "busy", "no waiting room: refused at once");
        drop(all);
        // Nothing stays stuck: with slots free, work runs again (other tests may be using
        // them, so this one waits patiently).
        assert_eq!(super::limited(PATIENT, || 7).await.unwrap(), 7);
    }
}

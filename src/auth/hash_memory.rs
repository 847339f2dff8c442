//! argon2 with reused memory: a hash or verification takes its ~19 MiB of blocks from a
//! pool instead of allocating (and the kernel zeroing) fresh ones, and the pool is emptied
//! whenever no hash is running and none is waiting, so a burst of logins runs on at most
//! [`super::password::MAX_CONCURRENT`] reused blocks and leaves nothing behind.
//!
//! The PHC strings are the ones `argon2`'s `PasswordHasher` writes and reads (same
//! algorithm, version, parameters, salt and output length): hashes made before and after
//! verify alike.

use std::sync::Mutex;

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Reusable argon2 memory: blocks of finished hashes, kept while others run or wait.
pub struct Pool {
    inner: Mutex<Inner>,
    /// Blocks kept at most (one per hash that may run at once).
    keep: usize,
    /// Called (outside the lock) each time the pool empties, when a burst ends.
    on_idle: fn(),
}

struct Inner {
    free: Vec<Vec<Block>>,
    running: usize,
}

impl Pool {
    pub const fn new(keep: usize, on_idle: fn()) -> Self {
        Self {
            inner: Mutex::new(Inner {
                free: Vec::new(),
                running: 0,
            }),
            keep,
            on_idle,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks held for reuse now.
    pub fn pooled(&self) -> usize {
        self.lock().free.len()
    }

    /// Runs `f` on `count` blocks (reused if the pool has them). `more_waiting` says whether
    /// other hashes wait for a turn: if none does and none runs when `f` ends, the pool is
    /// emptied (the memory goes back to the system).
    pub fn with_blocks<T>(
        &self,
        count: usize,
        more_waiting: impl Fn() -> bool,
        f: impl FnOnce(&mut [Block]) -> T,
    ) -> T {
        let reused = {
            let mut p = self.lock();
            p.running += 1;
            p.free.pop()
        };
        let mut blocks = match reused {
            Some(b) if b.len() == count => b,
            _ => vec![Block::default(); count],
        };
        let out = f(&mut blocks);
        let released = {
            let mut p = self.lock();
            p.running -= 1;
            if p.running == 0 && !more_waiting() {
                Some(std::mem::take(&mut p.free))
            } else {
                if p.free.len() < self.keep {
                    p.free.push(std::mem::take(&mut blocks));
                }
                None
            }
        };
        // Outside the lock: unmapping 19 MiB blocks takes a moment.
        if let Some(free) = released {
            drop(free);
            drop(blocks);
            (self.on_idle)();
        }
        out
    }

    /// Empties the pool if no hash is running; for the caller that knows none is about to
    /// start either (nobody holds a turn or waits for one). `with_blocks` cannot always tell
    /// at its end: a hash that has finished but not yet given back its turn looks like one
    /// still to start, and two finishing together then each keep their blocks for the other.
    /// Returns whether anything was released.
    pub fn release_if_idle(&self) -> bool {
        let free = {
            let mut p = self.lock();
            if p.running > 0 || p.free.is_empty() {
                return false;
            }
            std::mem::take(&mut p.free)
        };
        drop(free);
        (self.on_idle)();
        true
    }
}

/// The PHC hash of `password` under `salt` with `params` (argon2id, version 0x13).
pub fn hash<'a>(
    pool: &Pool,
    more_waiting: impl Fn() -> bool,
    password: &[u8],
    salt: Salt<'a>,
    params: Params,
) -> argon2::password_hash::Result<PasswordHash<'a>> {
    let (algorithm, version) = (Algorithm::Argon2id, Version::V0x13);
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = compute(pool, more_waiting, password, salt, &params, len, algorithm)?;
    Ok(PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt),
        hash: Some(output),
    })
}

/// Whether `password` matches the PHC hash `phc` (false for a wrong one or a bad hash).
pub fn verify(pool: &Pool, more_waiting: impl Fn() -> bool, password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    if version != Version::V0x13 {
        return false;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let computed = compute(
        pool,
        more_waiting,
        password,
        salt,
        &params,
        expected.len(),
        algorithm,
    );
    // `Output`'s equality is constant-time.
    computed.is_ok_and(|c| c == expected)
}

fn compute(
    pool: &Pool,
    more_waiting: impl Fn() -> bool,
    password: &[u8],
    salt: Salt<'_>,
    params: &Params,
    len: usize,
    algorithm: Algorithm,
) -> argon2::password_hash::Result<Output> {
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf)?;
    let argon = Argon2::new(algorithm, Version::V0x13, params.clone());
    Output::init_with(len, |out| {
        pool.with_blocks(params.block_count(), &more_waiting, |blocks| {
            argon.hash_password_into_with_memory(password, salt, out, blocks)
        })
        .map_err(Into::into)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, PasswordVerifier, SaltString};

    fn small() -> Params {
        Params::new(64, 1, 1, None).unwrap()
    }

    #[test]
    fn hashes_match_the_argon2_crates_own_both_ways() {
        let pool = Pool::new(4, || {});
        let salt = SaltString::generate(&mut OsRng);
        let ours = hash(&pool, || false, b"pw", salt.as_salt(), Params::default())
            .unwrap()
            .to_string();
        let theirs = Argon2::default()
            .hash_password(b"pw", salt.as_salt())
            .unwrap()
            .to_string();
        assert_eq!(ours, theirs);
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
        assert!(verify(&pool, || false, b"pw", &theirs));
        assert!(!verify(&pool, || false, b"other", &theirs));
        assert!(!verify(&pool, || false, b"pw", "not a hash"));
    }

    #[test]
    fn blocks_are_reused_while_others_wait_and_released_after() {
        let pool = Pool::new(2, || {});
        let count = small().block_count();
        // Another hash is waiting: the finished one's blocks stay for it...
        let first = pool.with_blocks(count, || true, |b| b.as_ptr() as usize);
        assert_eq!(pool.pooled(), 1);
        // ...and the next one runs on them.
        let second = pool.with_blocks(count, || true, |b| b.as_ptr() as usize);
        assert_eq!(first, second, "the same memory, not a new allocation");
        // Two at once, nobody waiting: the pool keeps them until the last one ends.
        pool.with_blocks(
            count,
            || false,
            |_| {
                pool.with_blocks(count, || false, |_| ());
                assert_eq!(pool.pooled(), 1, "one still runs: kept");
            },
        );
        assert_eq!(pool.pooled(), 0, "idle: everything released");
    }

    #[test]
    fn blocks_kept_for_a_hash_that_never_came_are_released_once_idle() {
        static IDLE_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let pool = Pool::new(2, || {
            IDLE_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let count = small().block_count();
        // It ended believing another was about to start (a finished hash still holding its
        // turn looks like that): its blocks were kept.
        pool.with_blocks(count, || true, |_| ());
        assert_eq!(pool.pooled(), 1);
        // Not while a hash runs...
        pool.with_blocks(
            count,
            || true,
            |_| assert!(!pool.release_if_idle(), "one runs: nothing released"),
        );
        assert_eq!(pool.pooled(), 1);
        assert_eq!(IDLE_CALLS.load(std::sync::atomic::Ordering::Relaxed), 0);
        // ...but once none runs, everything goes, and the allocator is asked to give back.
        assert!(pool.release_if_idle());
        assert_eq!(pool.pooled(), 0);
        assert_eq!(IDLE_CALLS.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(!pool.release_if_idle(), "nothing left to release");
    }
}

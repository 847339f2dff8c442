//! Persistence: users, refresh tokens, tasks and their event logs, the credit ledger,
//! payments and API keys, on SQLite or PostgreSQL.
//!
//! One `Store` serves both databases through sqlx's `Any` driver. Both schemas use TEXT ids
//! and BIGINT Unix-millisecond times, and every query uses `$N` placeholders (SQLite reads
//! them by number), so each query is written once. The few places where the dialects differ
//! (row locking for the poller's leases) ask [`Dialect`]. Each dialect keeps its own
//! migrations folder, applied by [`Store::migrate`].
//!
//! Write transactions always start with a write (`UPDATE … RETURNING`), which takes the row
//! lock on PostgreSQL and the write lock on SQLite before anything is read, so concurrent
//! writers queue instead of deadlocking.

mod accounts;
mod api_keys;
mod audit;
mod billing;
mod callbacks;
mod compat_ids;
mod events;
mod hub;
mod ledger;
mod payments;
mod poller;
mod profiles;
mod prune;
mod showcase;
mod showcase_writes;
mod subscriptions;
mod task_lists;
mod tasks;
mod uploads;
mod users;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

use crate::domain::TaskEvent;

pub use accounts::*;
pub use api_keys::*;
pub use billing::*;
pub use events::*;
pub use ledger::*;
pub use payments::*;
pub use profiles::*;
pub use showcase::*;
pub use subscriptions::*;
pub use tasks::*;
pub use uploads::UploadRow;
pub use users::*;
pub use webhooks::{NextStep, WebhookAttempt, WebhookDelivery};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("insufficient credits: required {required}, available {available}")]
    InsufficientCredits { required: i64, available: i64 },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict("already exists".into())
            }
            _ => StoreError::Other(anyhow::Error::new(e).context("database")),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The one transaction type: every multi-statement write runs in one of these.
pub type DbTx<'a> = sqlx::Transaction<'a, sqlx::Any>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The pool's size when `TASKHUB_DB_MAX_CONNECTIONS` is not set. SQLite runs one writer at
    /// a time and each of its connections is a worker thread with its own page cache and
    /// prepared statements (~300 KB once used), so past a few connections it gains nothing
    /// but memory: with 4 instead of 10 the poller's lag was the same or lower
    /// (`bench_poller --rate 150`, p99 ~930 ms either way) and a burst of 1,000 logins left
    /// ~0.7 MB less behind (BENCHMARKS.md, issue 13). PostgreSQL serves each connection in its
    /// own process and works on them in parallel.
    pub fn default_pool_size(self) -> u32 {
        match self {
            Dialect::Sqlite => 4,
            Dialect::Postgres => 10,
        }
    }
}

impl FromStr for Dialect {
    type Err = anyhow::Error;
    fn from_str(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Dialect::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Dialect::Postgres)
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite: or postgres:")
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    /// How long refunded task credits stay usable at least (billing setting).
    refund_grace_ms: i64,
    /// Signs media keys in tasks and events read for clients (unset: keys shown as stored).
    media_urls: Option<crate::media::MediaUrls>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.dialect)
            .finish()
    }
}

impl Store {
    /// Connects without migrating. For SQLite, turns on WAL, foreign keys and a busy timeout
    /// on every connection, and creates the file's folder.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect: Dialect = url.parse()?;
        if dialect == Dialect::Sqlite {
            if let Some(parent) = sqlite_path(url).and_then(|p| p.parent().map(|p| p.to_owned())) {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(&parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
            }
        }
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA busy_timeout = 10000",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .context("connecting to the database")?;
        Ok(Self {
            pool,
            dialect,
            refund_grace_ms: 7 * 24 * 3600 * 1000,
            media_urls: None,
        })
    }

    /// Applies this dialect's migrations (idempotent). There are two folders because the two
    /// dialects differ in DDL (`BIGSERIAL` vs `INTEGER PRIMARY KEY`, partial indexes, column
    /// types); each numbered file exists in both, and the store's conformance tests run every
    /// query against both schemas.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.dialect {
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator
            .run(&self.pool)
            .await
            .context("running migrations")?;
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn refund_grace_ms(&self) -> i64 {
        self.refund_grace_ms
    }

    pub fn set_refund_grace_ms(&mut self, ms: i64) {
        self.refund_grace_ms = ms.max(0);
    }

    /// From now on, tasks ([`Store::task_json`]) and events this store returns carry signed
    /// media URLs where the database holds media keys.
    pub fn set_media_urls(&mut self, urls: crate::media::MediaUrls) {
        self.media_urls = Some(urls);
    }

    /// What signs the media URLs of the tasks this store returns (`wire::TaskView`), if set.
    pub fn media_urls(&self) -> Option<&crate::media::MediaUrls> {
        self.media_urls.as_ref()
    }

    /// An event as clients see it: its payload's media URLs signed.
    pub(crate) fn client_event(&self, mut event: TaskEvent) -> TaskEvent {
        if let (Some(urls), Some(result)) = (&self.media_urls, event.payload.result_mut()) {
            urls.sign_task_result(result);
        }
        event
    }

    /// True when a trivial query answers within two seconds.
    pub async fn ping(&self) -> bool {
        let q = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(
            tokio::time::timeout(Duration::from_secs(2), q).await,
            Ok(Ok(_))
        )
    }

    /// One page of `table`'s rows owned by `user_id` (optionally where `column = value`),
    /// in `order`, and the total count. Table, columns and order are code, never input.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn user_page<T>(
        &self,
        cols: &str,
        table: &str,
        user_id: &str,
        filter: Option<(&str, &str)>,
        order: &str,
        page: i64,
        page_size: i64,
    ) -> StoreResult<(Vec<T>, i64)>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        let (clause, lim, off) = match filter {
            Some((column, _)) => (format!(" AND {column} = $2"), "$3", "$4"),
            None => (String::new(), "$2", "$3"),
        };
        let count_q = format!("SELECT COUNT(*) FROM {table} WHERE user_id = $1{clause}");
        let list_q = format!(
            "SELECT {cols} FROM {table} WHERE user_id = $1{clause} ORDER BY {order} LIMIT {lim} OFFSET {off}"
        );
        let mut count = sqlx::query_as::<_, (i64,)>(&count_q).bind(user_id);
        let mut list = sqlx::query_as::<_, T>(&list_q).bind(user_id);
        if let Some((_, value)) = filter {
            count = count.bind(value);
            list = list.bind(value);
        }
        let (total,) = count.fetch_one(&self.pool).await?;
        let items = list
            .bind(page_size)
            .bind((page - 1).saturating_mul(page_size))
            .fetch_all(&self.pool)
            .await?;
        Ok((items, total))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

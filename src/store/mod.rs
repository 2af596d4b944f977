//! The SQLite store: the query history ([`row`], written by [`write`], paged by [`paging`]),
//! its counts tables ([`tables`], read by [`stats`]), and the custom rules ([`rules`]). Schema
//! in `migrations/`, embedded at build time and applied at open. Writes go through one connection
//! (SQLite has one writer at a time; a single connection turns lock contention into ordinary
//! queueing), reads through a small pool that WAL mode lets run beside the writer.

mod breakdown;
mod labels;
mod paging;
mod report;
mod row;
mod rules;
mod stats;
mod tables;
pub mod time;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tracing::warn;

pub use breakdown::{ClientSlot, TypeCount, UpstreamCount};
pub use paging::{QueryFilter, QueryPage};
pub use report::{
    CategoryCount, ClientReport, ListCount, ListVendors, NameCount, UNCATEGORIZED, VendorCount,
};
pub use row::{QueryRow, StoredRow};
pub use rules::{CustomRule, RuleKind};
pub use stats::{Bucket, Summary, TopItem, TopKind};
pub use time::TimeRange;
pub use write::Interner;

/// The name stored when `querylog.log_names` is off: counts survive, names do not.
pub const HIDDEN_NAME: &str = "(hidden)";

/// How long a statement waits for a lock before failing (the writer then retries the batch).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const READ_CONNECTIONS: u32 = 4;
/// Page cache of the writer connection by default, in MiB (`querylog.cache_mb`). The indexes
/// it updates at random places (by domain, by client) stay in memory instead of being read
/// back for every batch; readers keep SQLite's default 2 MiB each. A third of hush's peak
/// memory under a flood of distinct names: small boxes may give less.
pub const DEFAULT_WRITER_CACHE_MB: u32 = 32;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("database {path}: applying migrations: {source}")]
    Migrate {
        path: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("a {kind} rule for {domain} already exists")]
    Duplicate { kind: RuleKind, domain: String },
}

impl StoreError {
    /// Whether the error says the file or its filesystem is at fault (read-only, I/O error,
    /// unopenable, damaged) rather than a busy lock or a full disk, which pass by themselves:
    /// then the connections are worth releasing and opening afresh.
    pub fn is_file_fault(&self) -> bool {
        const READONLY: i64 = 8;
        const IOERR: i64 = 10;
        const CORRUPT: i64 = 11;
        const CANTOPEN: i64 = 14;
        const NOTADB: i64 = 26;
        let sql = match self {
            Self::Open { source, .. } | Self::Sql(source) => source,
            Self::Migrate { .. } => return true,
            Self::Duplicate { .. } => return false,
        };
        match sql {
            sqlx::Error::Io(_) => true,
            sqlx::Error::Database(db) => db
                .code()
                .and_then(|code| code.parse::<i64>().ok())
                .is_some_and(|code| {
                    matches!(code & 0xff, READONLY | IOERR | CORRUPT | CANTOPEN | NOTADB)
                }),
            _ => false,
        }
    }
}

/// The connection pools of one database file.
pub(crate) struct Pools {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    /// Which file the pools opened (device and inode), to notice when the path names another.
    file: FileId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    device: u64,
    inode: u64,
}

impl FileId {
    fn of(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        Ok(Self {
            device: meta.dev(),
            inode: meta.ino(),
        })
    }
}

/// Cheap to clone; every clone sees the same pools, including after a reconnect.
#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    writer_cache_mb: u32,
    /// `None` after [`Store::release`] until the next successful reconnect.
    pools: Arc<ArcSwapOption<Pools>>,
    /// Bumped whenever new pools are opened: ids cached for the old connection are void.
    generation: Arc<AtomicU64>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(path, DEFAULT_WRITER_CACHE_MB).await
    }

    /// [`Store::open`] with a writer page cache of `writer_cache_mb` MiB.
    pub async fn open_with_cache(path: &Path, writer_cache_mb: u32) -> Result<Self, StoreError> {
        Ok(Self {
            path: path.to_path_buf(),
            writer_cache_mb,
            pools: Arc::new(ArcSwapOption::from_pointee(
                connect(path, writer_cache_mb).await?,
            )),
            generation: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Which connection ids were cached for: changes with every reconnect.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// The current pools (a cheap `Arc` clone, safe to hold across awaits), reconnecting first
    /// when the pools were released or the path now names another file: SQLite keeps writing
    /// into a deleted file (rows would vanish with it), and a filesystem mounted anew holds a
    /// new file at the same path. A new file gets the schema at once.
    pub(crate) async fn pools(&self) -> Result<Arc<Pools>, StoreError> {
        if let Some(pools) = self.pools.load_full() {
            match FileId::of(&self.path) {
                Ok(file) if file == pools.file => return Ok(pools),
                _ => {
                    warn!(path = %self.path.display(), "the database file was deleted or replaced; reopening")
                }
            }
        }
        self.release().await;
        let fresh = Arc::new(connect(&self.path, self.writer_cache_mb).await?);
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.pools.store(Some(Arc::clone(&fresh)));
        Ok(fresh)
    }

    /// Closes every connection; the next use reconnects. After an I/O error (a filesystem gone
    /// read-only, a disk unplugged) this lets go of the file, so it can be unmounted, repaired
    /// or replaced while hush runs.
    pub async fn release(&self) {
        if let Some(old) = self.pools.swap(None) {
            old.writer.close().await;
            old.reader.close().await;
        }
    }
}

async fn connect(path: &Path, writer_cache_mb: u32) -> Result<Pools, StoreError> {
    let shown = path.display().to_string();
    let open_error = |source| StoreError::Open {
        path: shown.clone(),
        source,
    };
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(false)
        // Checkpoint every ~32 MiB of WAL rather than SQLite's ~4 MiB: a page that several
        // batches change is copied into the database once, not once per batch.
        .pragma("wal_autocheckpoint", "8000")
        // Sorting and grouping for the statistics stay in memory (they are small); as temporary
        // files they made the top lists three times slower after a burst of writing.
        .pragma("temp_store", "memory");
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone().pragma(
            "cache_size",
            // Negative: KiB.
            format!("-{}", u64::from(writer_cache_mb) * 1024),
        ))
        .await
        .map_err(open_error)?;
    let mut migrator = sqlx::migrate!();
    // A database written by a newer hush stays readable by this one.
    migrator.set_ignore_missing(true);
    migrator
        .run(&writer)
        .await
        .map_err(|source| StoreError::Migrate {
            path: shown.clone(),
            source,
        })?;
    let reader = SqlitePoolOptions::new()
        .max_connections(READ_CONNECTIONS)
        .connect_with(options)
        .await
        .map_err(open_error)?;
    let file = FileId::of(path).map_err(|err| open_error(sqlx::Error::Io(err)))?;
    Ok(Pools {
        writer,
        reader,
        file,
    })
}

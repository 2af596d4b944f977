//! The SQLite engine, the embedded default: one file, written through a single connection
//! (SQLite has one writer at a time; a single connection turns lock contention into ordinary
//! queueing) and read through a small pool that WAL mode lets run beside the writer. The file
//! is watched: when the path names another file, or an I/O error says the file went bad, the
//! connections are dropped and opened afresh. Schema in `migrations/sqlite/`.

mod open_hours;
#[cfg(test)]
mod tests;
pub(super) mod write;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::Mutex;
use tracing::warn;

use super::StoreError;
use open_hours::OpenHours;

/// How long a statement waits for a lock before failing (the writer then retries the batch).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const READ_CONNECTIONS: u32 = 4;
/// The name of the writing connection's thread (at most 15 bytes, Linux's limit): the
/// query-log writer finds it by this name to set its priority (`querylog/priority.rs`).
pub const WRITER_THREAD: &str = "hush-log-db";
/// Rows a query may have waiting for the caller before the connection's thread pauses.
const ROW_BUFFER: usize = 1024;

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
pub struct SqliteStore {
    path: PathBuf,
    writer_cache_mb: u32,
    /// `None` after [`SqliteStore::release`] until the next successful reconnect.
    pools: Arc<ArcSwapOption<Pools>>,
    /// Bumped whenever new pools are opened: ids cached for the old connection are void.
    generation: Arc<AtomicU64>,
    /// The writer's sums of the hours still going on; held for a whole write transaction.
    open_hours: Arc<Mutex<OpenHours>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with a writer page cache of
    /// `writer_cache_mb` MiB, and applies pending migrations.
    pub async fn open(path: &Path, writer_cache_mb: u32) -> Result<Self, StoreError> {
        Ok(Self {
            path: path.to_path_buf(),
            writer_cache_mb,
            pools: Arc::new(ArcSwapOption::from_pointee(
                connect(path, writer_cache_mb).await?,
            )),
            generation: Arc::new(AtomicU64::new(0)),
            open_hours: Arc::new(Mutex::new(OpenHours::new(writer_cache_mb))),
        })
    }

    /// The first hour the hourly tables may lack or count in part (`i64::MAX` when every hour
    /// is counted as it is written): readers take it and later from the raw rows.
    pub(crate) async fn first_open_hour(&self) -> Result<i64, StoreError> {
        let pools = self.pools().await?;
        let stored = open_hours::stored_first_open_hour(&pools.reader).await?;
        Ok(stored.unwrap_or(i64::MAX))
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

/// Whether `error` says the file or its filesystem is at fault (read-only, I/O error,
/// unopenable, damaged) rather than a busy lock or a full disk, which pass by themselves.
pub(super) fn is_file_fault(error: &sqlx::Error) -> bool {
    const READONLY: i64 = 8;
    const IOERR: i64 = 10;
    const CORRUPT: i64 = 11;
    const CANTOPEN: i64 = 14;
    const NOTADB: i64 = 26;
    match error {
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
        .pragma("temp_store", "memory")
        // Room for a whole 500-row chunk read back (and most readers' results): with sqlx's
        // default of 50 the connection's thread blocks on every row past the 50th until the
        // caller takes one, a thread wake-up per row that cost more than the query itself.
        .row_buffer_size(ROW_BUFFER);
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            options
                .clone()
                .pragma(
                    "cache_size",
                    // Negative: KiB.
                    format!("-{}", u64::from(writer_cache_mb) * 1024),
                )
                .thread_name(|_| WRITER_THREAD.to_owned()),
        )
        .await
        .map_err(open_error)?;
    let mut migrator = sqlx::migrate!("migrations/sqlite");
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

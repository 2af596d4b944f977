//! The store: the query history ([`row`], written in batches by [`Store::insert_batch`], paged
//! by [`paging`]), its counts tables ([`tables`], read by [`stats`] and [`report`]), the custom
//! rules ([`rules`]), client labels ([`labels`]) and, shared between instances, the blocking
//! switch. One interface, two engines: SQLite ([`sqlite`], one file, the embedded default) and
//! PostgreSQL ([`postgres`], shared by several hush instances). Reads are written once as
//! portable [`Sql`] and run on either; each engine writes batches its own fastest way.

mod batch;
mod breakdown;
mod labels;
mod paging;
pub mod postgres;
mod report;
mod retention;
mod row;
mod rules;
mod sources;
mod sql;
mod sqlite;
mod stats;
mod tables;
pub mod time;

use std::path::Path;
use std::sync::Arc;

use sqlx::FromRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

pub use batch::Interner;
pub use breakdown::{ClientSlot, TypeCount, UpstreamCount};
pub use paging::{QueryFilter, QueryPage};
pub use postgres::{Change, ChangeFeed, PgStore};
pub use report::{
    CategoryCount, ClientReport, ListCount, ListVendors, NameCount, UNCATEGORIZED, VendorCount,
};
pub use row::{QueryRow, StoredRow};
pub use rules::{CustomRule, RuleKind};
pub use sqlite::WRITER_THREAD;
pub use stats::{Bucket, Summary, TopItem, TopKind, Window};
pub use time::TimeRange;

use crate::config::{DatabaseLocation, QueryLogConfig};
use sql::{Dialect, Sql};
use sqlite::SqliteStore;

/// The name stored when `querylog.log_names` is off: counts survive, names do not.
pub const HIDDEN_NAME: &str = "(hidden)";

/// Page cache of the SQLite writer connection by default, in MiB (`querylog.cache_mb`). The
/// indexes it updates at random places (by domain, by client) stay in memory instead of being
/// read back for every batch; readers keep SQLite's default 2 MiB each. A third of hush's peak
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
    /// Whether the error says the SQLite file or its filesystem is at fault (read-only, I/O
    /// error, unopenable, damaged) rather than a busy lock or a full disk, which pass by
    /// themselves: then the connections are worth releasing and opening afresh.
    pub fn is_file_fault(&self) -> bool {
        match self {
            Self::Open { source, .. } | Self::Sql(source) => sqlite::is_file_fault(source),
            Self::Migrate { .. } => true,
            Self::Duplicate { .. } => false,
        }
    }
}

/// Cheap to clone; every clone uses the same connections.
#[derive(Clone)]
pub struct Store {
    engine: Engine,
    /// The name this hush writes its rows under (`querylog.instance`).
    instance: Arc<str>,
}

#[derive(Clone)]
enum Engine {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Which rows a read covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every instance's.
    All,
    /// One instance's (its id in the shared database).
    Instance(i64),
    /// None: the named instance has written nothing here.
    Nothing,
}

impl Scope {
    /// The instance a read is limited to, if it is limited to one.
    pub(crate) fn instance_id(self) -> Option<i64> {
        match self {
            Self::Instance(id) => Some(id),
            Self::All | Self::Nothing => None,
        }
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and applies its migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(path, DEFAULT_WRITER_CACHE_MB).await
    }

    /// [`Store::open`] with a writer page cache of `writer_cache_mb` MiB.
    pub async fn open_with_cache(path: &Path, writer_cache_mb: u32) -> Result<Self, StoreError> {
        Ok(Self {
            engine: Engine::Sqlite(SqliteStore::open(path, writer_cache_mb).await?),
            instance: Arc::from(crate::config::default_instance().as_str()),
        })
    }

    /// The store `config` names. A PostgreSQL store opens even while the database is down:
    /// it connects (and applies its migrations) when the database comes up.
    pub async fn for_config(config: &QueryLogConfig) -> Result<Self, StoreError> {
        let engine = match &config.database {
            DatabaseLocation::File(path) => {
                Engine::Sqlite(SqliteStore::open(path, config.cache_mb).await?)
            }
            DatabaseLocation::Postgres(url) => {
                Engine::Postgres(PgStore::open(url, &config.state_dir()).await?)
            }
        };
        Ok(Self {
            engine,
            instance: Arc::from(config.instance_name().as_str()),
        })
    }

    /// The name this hush's rows are written under.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The shared database, when the store is PostgreSQL.
    pub fn shared(&self) -> Option<&PgStore> {
        match &self.engine {
            Engine::Sqlite(_) => None,
            Engine::Postgres(store) => Some(store),
        }
    }

    /// Whether the database answers: always for SQLite (its faults show as write errors), the
    /// last connection's fate for PostgreSQL.
    pub fn is_reachable(&self) -> bool {
        match &self.engine {
            Engine::Sqlite(_) => true,
            Engine::Postgres(store) => store.is_reachable(),
        }
    }

    /// After an I/O error (a filesystem gone read-only, a disk unplugged) lets go of the SQLite
    /// file, so it can be unmounted, repaired or replaced while hush runs; the next use
    /// reconnects. A PostgreSQL pool re-makes broken connections by itself: nothing to do.
    pub async fn release(&self) {
        if let Engine::Sqlite(store) = &self.engine {
            store.release().await;
        }
    }

    /// Closes every connection, for good with PostgreSQL (at shutdown).
    pub async fn close(&self) {
        match &self.engine {
            Engine::Sqlite(store) => store.release().await,
            Engine::Postgres(store) => store.close().await,
        }
    }

    /// Completes the counts of the hours and days that have ended (SQLite adds an hour to its
    /// hourly tables, and a day to its daily ones, once it is over; PostgreSQL adds every batch
    /// to them, so has nothing to do).
    pub async fn close_ended_periods(&self) -> Result<(), StoreError> {
        match &self.engine {
            Engine::Sqlite(store) => store.close_ended_periods(time::this_hour()).await,
            Engine::Postgres(_) => Ok(()),
        }
    }

    /// Writes `rows` in one transaction. On error nothing is written and `interner` is
    /// unchanged, so the same batch can be retried.
    pub async fn insert_batch(
        &self,
        rows: &[QueryRow],
        interner: &mut Interner,
    ) -> Result<(), StoreError> {
        match &self.engine {
            Engine::Sqlite(store) => store.insert_batch(rows, interner, time::this_hour()).await,
            Engine::Postgres(store) => store.insert_batch(rows, &self.instance, interner).await,
        }
    }

    fn dialect(&self) -> Dialect {
        match &self.engine {
            Engine::Sqlite(_) => Dialect::Sqlite,
            Engine::Postgres(_) => Dialect::Postgres,
        }
    }

    /// A statement for this store's engine, starting with `text`.
    pub(crate) fn sql(&self, text: impl std::fmt::Display) -> Sql {
        Sql::new(self.dialect(), text)
    }

    /// The first hour the hourly tables may not count completely yet (`i64::MAX`: none).
    pub(crate) async fn first_open_hour(&self) -> Result<i64, StoreError> {
        match &self.engine {
            Engine::Sqlite(store) => store.first_open_hour().await,
            Engine::Postgres(_) => Ok(i64::MAX),
        }
    }

    /// What a filter by instance name covers: a SQLite store holds its own instance's rows only.
    pub(crate) async fn scope(&self, instance: Option<&str>) -> Result<Scope, StoreError> {
        let Some(name) = instance else {
            return Ok(Scope::All);
        };
        match &self.engine {
            Engine::Sqlite(_) if name == &*self.instance => Ok(Scope::All),
            Engine::Sqlite(_) => Ok(Scope::Nothing),
            Engine::Postgres(store) => Ok(match store.instance_id(name).await? {
                Some(id) => Scope::Instance(id),
                None => Scope::Nothing,
            }),
        }
    }

    pub(crate) async fn fetch_all<O>(&self, sql: Sql) -> Result<Vec<O>, StoreError>
    where
        O: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>,
    {
        self.rows(sql, Connection::Reader).await
    }

    /// The rows of `sql`, on SQLite through the `connection` pool.
    async fn rows<O>(&self, sql: Sql, connection: Connection) -> Result<Vec<O>, StoreError>
    where
        O: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>,
    {
        match &self.engine {
            Engine::Sqlite(store) => {
                let (text, arguments) = sql.into_parts::<sqlx::Sqlite>()?;
                let query = sqlx::query_as_with(text, arguments);
                let pools = store.pools().await?;
                let pool = match connection {
                    Connection::Reader => &pools.reader,
                    Connection::Writer => &pools.writer,
                };
                Ok(query.fetch_all(pool).await?)
            }
            Engine::Postgres(store) => {
                let (text, arguments) = sql.into_parts::<sqlx::Postgres>()?;
                let query = sqlx::query_as_with(text, arguments);
                store.observe(query.fetch_all(store.pool().await?).await)
            }
        }
    }

    pub(crate) async fn fetch_one<O>(&self, sql: Sql) -> Result<O, StoreError>
    where
        O: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>,
    {
        self.fetch_all(sql)
            .await?
            .into_iter()
            .next()
            .ok_or(StoreError::Sql(sqlx::Error::RowNotFound))
    }

    /// Runs a statement that changes the database (on SQLite's writer connection); returns
    /// the rows it changed.
    pub(crate) async fn execute(&self, sql: Sql) -> Result<u64, StoreError> {
        match &self.engine {
            Engine::Sqlite(store) => {
                let (text, arguments) = sql.into_parts::<sqlx::Sqlite>()?;
                let query = sqlx::query_with(text, arguments);
                Ok(query
                    .execute(&store.pools().await?.writer)
                    .await?
                    .rows_affected())
            }
            Engine::Postgres(store) => {
                let (text, arguments) = sql.into_parts::<sqlx::Postgres>()?;
                let query = sqlx::query_with(text, arguments);
                let done = store.observe(query.execute(store.pool().await?).await)?;
                Ok(done.rows_affected())
            }
        }
    }

    /// Runs a changing statement that returns rows (`… RETURNING`).
    pub(crate) async fn execute_returning<O>(&self, sql: Sql) -> Result<Vec<O>, StoreError>
    where
        O: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>,
    {
        self.rows(sql, Connection::Writer).await
    }
}

/// Which SQLite pool a statement runs on (SQLite has one writer connection).
#[derive(Clone, Copy)]
enum Connection {
    Reader,
    Writer,
}

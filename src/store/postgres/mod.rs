//! The PostgreSQL engine: one database shared by several hush instances. The pool connects
//! lazily, so hush starts (and answers DNS) while the database is down; the schema
//! (`migrations/postgres/`) is applied on first contact, under the migrator's advisory lock, so
//! instances may start together. Every statement's fate updates [`PgStore::is_reachable`] (the
//! health endpoint's `degraded`). The custom rules last read are kept in a file beside the
//! list cache, so a restart while the database is down keeps applying them.

mod switch;
mod sync;
mod write;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::OnceCell;
use tracing::{info, warn};

pub use sync::{Change, ChangeFeed};

use super::StoreError;
use super::rules::CustomRule;
use crate::dns::policy::SwitchState;

/// Connections: the writer, the change listener and readers for the API (a busy API must not
/// leave the writer waiting long enough to count the database as unreachable).
const CONNECTIONS: u32 = 10;
/// How long a statement waits for a connection: short, so that an unreachable database fails
/// an API call quickly instead of holding it.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// The custom rules last read from the database, in the state folder.
const RULES_CACHE: &str = "custom-rules.json";

/// Cheap to clone; every clone uses the same pool.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// The database as shown in messages: host, port and name, never the password.
    shown: String,
    migrated: OnceCell<()>,
    reachable: AtomicBool,
    /// Ids of instance names seen (they never change once made).
    instances: Mutex<Vec<(String, i64)>>,
    rules_cache: PathBuf,
    /// Serialises writes of `rules_cache` (the API and the change feed both read the rules).
    rules_cache_lock: Mutex<()>,
    /// A switch position set here that has not reached the database yet.
    pending_switch: Mutex<Option<SwitchState>>,
}

impl PgStore {
    /// A store for the database at `url`. Tries to connect once; a database that is down is
    /// not an error (it is connected to when it comes up).
    pub async fn open(url: &str, state_dir: &Path) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|source| StoreError::Open {
                path: "postgres".to_owned(),
                source,
            })?
            .application_name("hush")
            // The API's reads are short and repeated: compiling them (PostgreSQL's JIT starts
            // above a planner cost that a month of counts reaches) took longer than running them,
            // and parallel workers only took the cores DNS answers on (the month's top list ran
            // in 210-250 ms without them, 300-330 ms with two, on the 2-core bench box).
            .options([("jit", "off"), ("max_parallel_workers_per_gather", "0")]);
        let shown = format!(
            "postgres://{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        );
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                shown,
                migrated: OnceCell::new(),
                reachable: AtomicBool::new(false),
                instances: Mutex::new(Vec::new()),
                rules_cache: state_dir.join(RULES_CACHE),
                rules_cache_lock: Mutex::new(()),
                pending_switch: Mutex::new(None),
            }),
        };
        match store.pool().await {
            Ok(_) => info!(database = %store.inner.shown, "connected to the shared database"),
            Err(err) => {
                warn!(database = %store.inner.shown, %err, "the shared database is unreachable; serving DNS with the rules last synchronised, connecting when it is back")
            }
        }
        Ok(store)
    }

    /// The pool, once the schema is in place (applied on first contact).
    pub(crate) async fn pool(&self) -> Result<&PgPool, StoreError> {
        let pool = &self.inner.pool;
        if self.inner.migrated.initialized() {
            return Ok(pool);
        }
        let migrated = self
            .inner
            .migrated
            .get_or_try_init(|| async {
                let mut migrator = sqlx::migrate!("migrations/postgres");
                // A database written by a newer hush stays usable by this one.
                migrator.set_ignore_missing(true);
                migrator
                    .run(pool)
                    .await
                    .map_err(|source| StoreError::Migrate {
                        path: self.inner.shown.clone(),
                        source,
                    })
            })
            .await;
        self.inner
            .reachable
            .store(migrated.is_ok(), Ordering::Relaxed);
        migrated.map(|()| pool)
    }

    /// Notes whether a statement reached the database.
    pub(crate) fn observe<T>(&self, result: Result<T, sqlx::Error>) -> Result<T, StoreError> {
        let unreachable = result.as_ref().is_err_and(is_connection_error);
        self.inner.reachable.store(!unreachable, Ordering::Relaxed);
        result.map_err(StoreError::Sql)
    }

    pub(crate) fn set_reachable(&self, reachable: bool) {
        self.inner.reachable.store(reachable, Ordering::Relaxed);
    }

    /// Whether the last contact with the database succeeded.
    pub fn is_reachable(&self) -> bool {
        self.inner.reachable.load(Ordering::Relaxed)
    }

    /// The database as shown in messages (no password).
    pub fn shown(&self) -> &str {
        &self.inner.shown
    }

    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    /// The id of the instance named `name`, if it ever wrote a row.
    pub(crate) async fn instance_id(&self, name: &str) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.known_instance(name) {
            return Ok(Some(id));
        }
        let found: Option<(i64,)> = self.observe(
            sqlx::query_as("SELECT id FROM instances WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool().await?)
                .await,
        )?;
        if let Some((id,)) = found {
            self.remember_instance(name, id);
        }
        Ok(found.map(|(id,)| id))
    }

    fn known_instance(&self, name: &str) -> Option<i64> {
        let known = self.inner.instances.lock().ok()?;
        known.iter().find(|(n, _)| n == name).map(|(_, id)| *id)
    }

    fn remember_instance(&self, name: &str, id: i64) {
        if let Ok(mut known) = self.inner.instances.lock() {
            known.push((name.to_owned(), id));
        }
    }

    /// Keeps `rules` (just read from the database) for a start while it is down.
    pub(crate) fn keep_rules(&self, rules: &[CustomRule]) {
        let Ok(_one_writer) = self.inner.rules_cache_lock.lock() else {
            return;
        };
        let path = &self.inner.rules_cache;
        let Ok(text) = serde_json::to_string_pretty(rules) else {
            return;
        };
        if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
            return;
        }
        let partial = path.with_extension("json.partial");
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&partial, text))
            .and_then(|()| std::fs::rename(&partial, path));
        if let Err(err) = written {
            warn!(path = %path.display(), %err, "could not keep the custom rules for a start without the database");
        }
    }

    /// Remembers a switch position the database did not take, to write it on reconnect.
    pub fn keep_pending_switch(&self, state: SwitchState) {
        if let Ok(mut pending) = self.inner.pending_switch.lock() {
            *pending = Some(state);
        }
    }

    /// The switch position waiting to be written, if any (taken: the caller writes it).
    pub fn take_pending_switch(&self) -> Option<SwitchState> {
        self.inner.pending_switch.lock().ok()?.take()
    }

    /// The custom rules last kept by [`PgStore::keep_rules`].
    pub(crate) fn kept_rules(&self) -> Option<Vec<CustomRule>> {
        let path = &self.inner.rules_cache;
        let text = std::fs::read_to_string(path).ok()?;
        match serde_json::from_str(&text) {
            Ok(rules) => Some(rules),
            Err(err) => {
                warn!(path = %path.display(), %err, "the kept custom rules are unreadable; starting without them");
                None
            }
        }
    }
}

/// Whether `error` says the database could not be reached (rather than refusing a statement).
pub(crate) fn is_connection_error(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_)
    ) || matches!(error, sqlx::Error::Database(db) if db.code().is_some_and(|code| code.starts_with("57P") || code.starts_with("08")))
}

impl StoreError {
    /// Whether the database could not be reached (PostgreSQL down, network gone).
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Open { source, .. } | Self::Sql(source) => is_connection_error(source),
            Self::Migrate { source, .. } => matches!(
                source,
                sqlx::migrate::MigrateError::Execute(error) if is_connection_error(error)
            ),
            Self::Duplicate { .. } => false,
        }
    }
}

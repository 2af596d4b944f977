//! The running server's shared state and the operations that change it: reloading lists,
//! applying custom rules, pausing blocking. The HTTP API, the signal handler and the list tasks
//! act through here; the DNS side only reads the snapshots it publishes ([`SharedHandles`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::Mutex;
use tokio::task::JoinError;
use tracing::{info, warn};

use crate::config::{Config, ConfigError};
use crate::dns::local::LocalRecords;
use crate::dns::metrics::DnsMetrics;
use crate::dns::outcome::EventSink;
use crate::dns::policy::{BlockingSwitch, Policy};
use crate::dns::server::SharedHandles;
use crate::lists::Rebuild;
use crate::lists::download::Downloader;
use crate::lists::source::{Compiled, ListError, ListSpec, compile_off_thread, url_lists};
use crate::querylog::WriterStats;
use crate::rules::{RuleSet, SourceReport, compile_custom};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("config not reloaded: {0}")]
    Config(#[from] ConfigError),
    #[error("rules not reloaded, the previous ones stay in force: {0}")]
    List(#[from] ListError),
    /// The blocking task that read the config or lists failed (it panicked or was cancelled).
    #[error("rules not reloaded: the rebuild task failed: {0}")]
    Task(#[from] JoinError),
}

/// What a successful reload put in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadSummary {
    pub rules: usize,
    pub lists: usize,
}

/// The lists behind the current rules.
#[derive(Debug)]
pub struct ListsState {
    pub reports: Vec<SourceReport>,
    pub loaded: SystemTime,
}

pub struct Control {
    dns: SharedHandles,
    store: Store,
    /// Present when the query log is enabled.
    writer: Option<Arc<WriterStats>>,
    downloader: Arc<Downloader>,
    started: Instant,
    config: ArcSwap<Config>,
    config_path: Option<PathBuf>,
    lists: ArcSwap<ListsState>,
    /// Reloads and custom-rule changes both replace the policy: one at a time, so neither
    /// undoes the other.
    changing: Mutex<()>,
}

/// Everything [`Control::new`] needs.
pub struct ControlParts {
    pub config: Config,
    pub config_path: Option<PathBuf>,
    pub compiled: Compiled,
    pub store: Store,
    pub events: Arc<EventSink>,
    pub writer: Option<Arc<WriterStats>>,
    pub downloader: Arc<Downloader>,
}

impl Control {
    pub async fn new(parts: ControlParts) -> Result<Self, StoreError> {
        let custom = custom_rule_set(&parts.store).await?;
        let policy = Policy::new(
            Arc::new(parts.compiled.rules),
            Arc::new(custom),
            &parts.config,
        );
        let dns = SharedHandles {
            policy: Arc::new(ArcSwap::from_pointee(policy)),
            local: Arc::new(ArcSwap::from_pointee(LocalRecords::new(
                &parts.config.local,
            ))),
            switch: Arc::new(BlockingSwitch::new(parts.config.blocking.enabled)),
            events: parts.events,
            metrics: Arc::new(DnsMetrics::default()),
        };
        Ok(Self {
            dns,
            store: parts.store,
            writer: parts.writer,
            downloader: parts.downloader,
            started: Instant::now(),
            config: ArcSwap::from_pointee(parts.config),
            config_path: parts.config_path,
            lists: ArcSwap::from_pointee(ListsState {
                reports: parts.compiled.reports,
                loaded: SystemTime::now(),
            }),
            changing: Mutex::new(()),
        })
    }

    /// The handles DNS serving reads and writes.
    pub fn dns_handles(&self) -> SharedHandles {
        self.dns.clone()
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    pub fn lists(&self) -> Arc<ListsState> {
        self.lists.load_full()
    }

    /// The policy in force now.
    pub fn policy(&self) -> Arc<Policy> {
        self.dns.policy.load_full()
    }

    pub fn switch(&self) -> &BlockingSwitch {
        &self.dns.switch
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn metrics(&self) -> &DnsMetrics {
        &self.dns.metrics
    }

    pub fn events(&self) -> &EventSink {
        &self.dns.events
    }

    /// The query-log writer's counters, when the query log is enabled.
    pub fn writer(&self) -> Option<&WriterStats> {
        self.writer.as_deref()
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The list download and refresh machinery.
    pub fn downloader(&self) -> &Arc<Downloader> {
        &self.downloader
    }

    /// Rebuilds the rules (re-reading the config file if there is one) off the hot path and
    /// swaps them in. On any error the running rules stay in force.
    pub async fn reload(&self) -> Result<ReloadSummary, ReloadError> {
        let _one_at_a_time = self.changing.lock().await;
        let config = match &self.config_path {
            Some(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || Config::load(&path)).await??
            }
            None => Config::clone(&self.config.load()),
        };
        let compiled = compile_off_thread(ListSpec::from_config(&config)).await?;
        if let Some(error) = compiled.first_error() {
            return Err(ReloadError::List(error));
        }
        let summary = ReloadSummary {
            rules: compiled.rules.len(),
            lists: compiled.reports.len(),
        };
        let custom = Arc::clone(&self.dns.policy.load().custom);
        self.dns.policy.store(Arc::new(Policy::new(
            Arc::new(compiled.rules),
            custom,
            &config,
        )));
        self.lists.store(Arc::new(ListsState {
            reports: compiled.reports,
            loaded: SystemTime::now(),
        }));
        self.dns
            .local
            .store(Arc::new(LocalRecords::new(&config.local)));
        let running = self.config.load_full();
        if running.blocking.enabled != config.blocking.enabled {
            self.set_blocking(config.blocking.enabled, None).await;
        }
        // Lists, [blocking] and [local] apply at once; the rest needs a restart.
        if running.dns != config.dns
            || running.api != config.api
            || running.querylog != config.querylog
        {
            warn!("changes outside [blocking] and [local] take effect after a restart");
        }
        self.config.store(Arc::new(config));
        info!(
            rules = summary.rules,
            lists = summary.lists,
            "rules reloaded"
        );
        Ok(summary)
    }

    /// Downloads the URL lists now, then rebuilds the rules from every list.
    pub async fn refresh_lists(&self) -> Result<ReloadSummary, ReloadError> {
        self.downloader.fetch_all(&url_lists(&self.config())).await;
        self.reload().await
    }

    /// When a list's current content was obtained and what went wrong last, for `/api/lists`:
    /// a download's fetch time and last error for URL lists, the build time for local ones.
    pub fn list_status(&self, report: &SourceReport) -> (Option<SystemTime>, Option<String>) {
        if report.source.is_remote() {
            let url = &report.source.location;
            let fetched = self.downloader.cache().meta(url).fetched;
            let error = self.downloader.error(url).or_else(|| report.error.clone());
            (fetched, error)
        } else {
            let loaded = report.error.is_none().then(|| self.lists.load().loaded);
            (loaded, report.error.clone())
        }
    }

    /// Turns blocking on, or off (for `pause` if given); with a shared database, on every
    /// instance. A database that cannot be reached leaves the change to this instance.
    pub async fn set_blocking(&self, enabled: bool, pause: Option<Duration>) {
        if enabled {
            self.dns.switch.turn_on();
        } else {
            self.dns.switch.turn_off(pause);
        }
        if let Some(shared) = self.store.shared() {
            let state = self.dns.switch.state();
            // This flip supersedes any still waiting for the database.
            shared.take_pending_switch();
            if let Err(err) = shared.set_blocking(state).await {
                warn!(%err, "the blocking switch changed on this instance only until the shared database is back");
                shared.keep_pending_switch(state);
            }
        }
    }

    /// Re-reads the custom rules from the store and applies them to DNS at once.
    pub async fn apply_custom_rules(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.changing.lock().await;
        let custom = custom_rule_set(&self.store).await?;
        let policy = self.dns.policy.load().with_custom(Arc::new(custom));
        self.dns.policy.store(Arc::new(policy));
        Ok(())
    }
}

impl Rebuild for Control {
    type Error = ReloadError;

    fn config(&self) -> Arc<Config> {
        Control::config(self)
    }

    fn config_path(&self) -> Option<PathBuf> {
        self.config_path.clone()
    }

    async fn rebuild(&self) -> Result<(), ReloadError> {
        self.reload().await.map(|_| ())
    }
}

/// The custom rules kept in `store`, compiled.
pub async fn custom_rule_set(store: &Store) -> Result<RuleSet, StoreError> {
    let rules = store.custom_rules().await?;
    Ok(compile_custom(
        rules
            .iter()
            .map(|rule| (rule.kind.polarity(), rule.domain.as_str())),
    ))
}

//! The running server's shared state and the operations that change it: reloading lists,
//! applying custom rules, pausing blocking, answering "would this be blocked?". The HTTP API and
//! the signal handler act through here; the DNS side only reads the snapshots it publishes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::config::{Config, ConfigError, ListLocation};
use crate::dns::metrics::DnsMetrics;
use crate::dns::outcome::EventSink;
use crate::dns::policy::{BlockingSwitch, Decision, Policy, SharedPolicy};
use crate::lists::download::Downloader;
use crate::querylog::WriterStats;
use crate::rules::{
    CompileError, Compiled, ListSpec, QueryName, RuleSet, SourceReport, compile, compile_custom,
};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("config not reloaded: {0}")]
    Config(#[from] ConfigError),
    #[error("rules not reloaded, the previous ones stay in force: {0}")]
    List(#[from] CompileError),
    #[error("rules not reloaded: {0}")]
    Internal(String),
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

/// The answer to "would this name be blocked?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub domain: String,
    pub blocked: bool,
    pub rule: Option<String>,
    pub list: Option<String>,
    /// The allow rule that lets the name through, if one matches.
    pub allowed_by: Option<String>,
}

pub struct Control {
    pub policy: SharedPolicy,
    pub switch: Arc<BlockingSwitch>,
    pub store: Store,
    pub metrics: Arc<DnsMetrics>,
    pub events: Arc<EventSink>,
    /// Present when the query log is enabled.
    pub writer: Option<Arc<WriterStats>>,
    pub downloader: Arc<Downloader>,
    pub started: Instant,
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
            &parts.config.blocking,
        );
        Ok(Self {
            policy: Arc::new(ArcSwap::from_pointee(policy)),
            switch: Arc::new(BlockingSwitch::new(parts.config.blocking.enabled)),
            store: parts.store,
            metrics: Arc::new(DnsMetrics::default()),
            events: parts.events,
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

    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    pub fn lists(&self) -> Arc<ListsState> {
        self.lists.load_full()
    }

    /// Rebuilds the rules (re-reading the config file if there is one) off the hot path and
    /// swaps them in. On any error the running rules stay in force.
    pub async fn reload(&self) -> Result<ReloadSummary, ReloadError> {
        let _one_at_a_time = self.changing.lock().await;
        let config = match &self.config_path {
            Some(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || Config::load(&path))
                    .await
                    .map_err(|err| ReloadError::Internal(err.to_string()))??
            }
            None => Config::clone(&self.config.load()),
        };
        let compiled = compile_off_thread(ListSpec::from_config(&config))
            .await
            .map_err(ReloadError::Internal)?;
        if let Some(error) = compiled.first_error() {
            return Err(ReloadError::List(error));
        }
        let summary = ReloadSummary {
            rules: compiled.rules.len(),
            lists: compiled.reports.len(),
        };
        let custom = Arc::clone(&self.policy.load().custom);
        self.policy.store(Arc::new(Policy::new(
            Arc::new(compiled.rules),
            custom,
            &config.blocking,
        )));
        self.lists.store(Arc::new(ListsState {
            reports: compiled.reports,
            loaded: SystemTime::now(),
        }));
        let running = self.config.load();
        if running.blocking.enabled != config.blocking.enabled {
            if config.blocking.enabled {
                self.switch.turn_on();
            } else {
                self.switch.turn_off(None);
            }
        }
        if running.dns != config.dns
            || running.api != config.api
            || running.querylog != config.querylog
        {
            warn!("changes outside [blocking] take effect after a restart");
        }
        self.config.store(Arc::new(config));
        info!(
            rules = summary.rules,
            lists = summary.lists,
            "rules reloaded"
        );
        Ok(summary)
    }

    /// The URL lists of the running config.
    pub fn list_urls(&self) -> Vec<String> {
        let config = self.config();
        let blocking = &config.blocking;
        blocking
            .lists
            .iter()
            .chain(&blocking.allowlists)
            .filter_map(|entry| match &entry.location {
                ListLocation::Url(url) => Some(url.clone()),
                ListLocation::Path(_) => None,
            })
            .collect()
    }

    /// Downloads the URL lists now, then rebuilds the rules from every list.
    pub async fn refresh_lists(&self) -> Result<ReloadSummary, ReloadError> {
        self.downloader.fetch_all(&self.list_urls()).await;
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

    /// Re-reads the custom rules from the store and applies them to DNS at once.
    pub async fn apply_custom_rules(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.changing.lock().await;
        let custom = custom_rule_set(&self.store).await?;
        let policy = self.policy.load().with_custom(Arc::new(custom));
        self.policy.store(Arc::new(policy));
        Ok(())
    }

    pub fn check(&self, name: &QueryName) -> CheckResult {
        let mut result = CheckResult {
            domain: name.as_str().to_owned(),
            blocked: false,
            rule: None,
            list: None,
            allowed_by: None,
        };
        match self.policy.load().decide_name(name) {
            Decision::Block(blocked) => {
                result.blocked = true;
                result.rule = Some(blocked.rule());
                result.list = Some(blocked.list().to_owned());
            }
            Decision::Allow { rules, matched } => {
                let source = rules.source(matched.source);
                result.allowed_by =
                    Some(format!("{} ({})", rules.rule_text(&matched), source.name));
            }
            Decision::Pass => {}
        }
        result
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

pub async fn compile_off_thread(specs: Vec<ListSpec>) -> Result<Compiled, String> {
    tokio::task::spawn_blocking(move || compile(&specs))
        .await
        .map_err(|err| err.to_string())
}

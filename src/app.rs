//! Wiring: builds the rules, policy, cache, upstreams and listeners from a [`Config`], runs the
//! DNS server, reloads the rules on SIGHUP, and shuts down on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_server::server::Server;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Mutex;
use tracing::{error, info, warn};

use crate::config::{Config, ConfigError};
use crate::dns::admission::Admission;
use crate::dns::cache::AnswerCache;
use crate::dns::handler::DnsHandler;
use crate::dns::listener::{BindError, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER, bind_pair};
use crate::dns::outcome::EventSink;
use crate::dns::pipeline::Pipeline;
use crate::dns::policy::{Policy, SharedPolicy};
use crate::dns::upstream::{UpstreamSetupError, Upstreams};
use crate::rules::{CompileError, Compiled, ListSpec, compile};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(transparent)]
    Upstream(#[from] UpstreamSetupError),
    #[error("building the rules failed: {0}")]
    Rules(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("config not reloaded: {0}")]
    Config(#[from] ConfigError),
    #[error("rules not reloaded, the previous ones stay in force: {0}")]
    List(#[from] CompileError),
    #[error("rules not reloaded: {0}")]
    Rules(String),
}

/// What a successful reload put in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadSummary {
    pub rules: usize,
    pub lists: usize,
}

/// A running hush: the DNS server and the state that reloads change.
pub struct Hush {
    dns_addrs: Vec<SocketAddr>,
    server: Server<DnsHandler>,
    policy: SharedPolicy,
    config: ArcSwap<Config>,
    config_path: Option<PathBuf>,
    reloading: Mutex<()>,
}

impl Hush {
    /// Starts serving `config`. `config_path` is re-read on reload when given. Query events go
    /// to `events`.
    pub async fn start(
        config: Config,
        config_path: Option<PathBuf>,
        events: EventSink,
    ) -> Result<Self, StartError> {
        let compiled = compile_off_thread(ListSpec::from_config(&config.blocking))
            .await
            .map_err(StartError::Rules)?;
        if let Some(error) = compiled.first_error() {
            // Serve with what could be read: a missing list must not take DNS down.
            warn!(%error, "starting without this list");
        }
        info!(
            rules = compiled.rules.len(),
            lists = compiled.reports.len(),
            "rules ready"
        );
        let policy: SharedPolicy = Arc::new(ArcSwap::from_pointee(Policy::new(
            Arc::new(compiled.rules),
            &config.blocking,
        )));
        let pipeline = Pipeline {
            admission: Admission::new(&config.dns.allowed_clients, config.dns.rate_limit),
            policy: Arc::clone(&policy),
            cache: AnswerCache::new(config.dns.cache_size),
            upstreams: Upstreams::new(&config.dns.upstreams, config.dns.upstream_timeout.0)?,
        };
        let mut server = Server::new(DnsHandler {
            pipeline: Arc::new(pipeline),
            events: Arc::new(events),
        });
        let dns_addrs = bind_all(&config, &mut server)?;
        Ok(Self {
            dns_addrs,
            server,
            policy,
            config: ArcSwap::from_pointee(config),
            config_path,
            reloading: Mutex::new(()),
        })
    }

    /// The bound DNS addresses (with real ports when the config asked for port 0).
    pub fn dns_addrs(&self) -> &[SocketAddr] {
        &self.dns_addrs
    }

    /// Rebuilds the rules (re-reading the config file if there is one) off the hot path and
    /// swaps them in. On any error the running rules stay in force.
    pub async fn reload(&self) -> Result<ReloadSummary, ReloadError> {
        let _one_at_a_time = self.reloading.lock().await;
        let config = match &self.config_path {
            Some(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || Config::load(&path))
                    .await
                    .map_err(|err| ReloadError::Rules(err.to_string()))??
            }
            None => Config::clone(&self.config.load()),
        };
        let compiled = compile_off_thread(ListSpec::from_config(&config.blocking))
            .await
            .map_err(ReloadError::Rules)?;
        if let Some(error) = compiled.first_error() {
            return Err(ReloadError::List(error));
        }
        let summary = ReloadSummary {
            rules: compiled.rules.len(),
            lists: compiled.reports.len(),
        };
        self.policy.store(Arc::new(Policy::new(
            Arc::new(compiled.rules),
            &config.blocking,
        )));
        let running = self.config.load();
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

    /// Stops the listeners and waits for in-flight queries.
    pub async fn shutdown(mut self) {
        if let Err(error) = self.server.shutdown_gracefully().await {
            warn!(%error, "DNS server stopped with an error");
        }
    }

    /// Serves until SIGTERM or SIGINT; SIGHUP reloads.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        let mut hangup = signal(SignalKind::hangup())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        info!(addrs = ?self.dns_addrs, "hush is serving DNS");
        loop {
            tokio::select! {
                _ = hangup.recv() => {
                    info!("SIGHUP: reloading");
                    if let Err(err) = self.reload().await {
                        error!(%err, "reload failed");
                    }
                }
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
            }
        }
        info!("shutting down");
        self.shutdown().await;
        Ok(())
    }
}

async fn compile_off_thread(specs: Vec<ListSpec>) -> Result<Compiled, String> {
    tokio::task::spawn_blocking(move || compile(&specs))
        .await
        .map_err(|err| err.to_string())
}

/// Binds every `dns.listen` address. An address family the host lacks (no IPv6) is skipped with
/// a warning as long as another listener is up; any other failure stops the start.
fn bind_all(
    config: &Config,
    server: &mut Server<DnsHandler>,
) -> Result<Vec<SocketAddr>, BindError> {
    let mut bound = Vec::new();
    let mut unavailable = None;
    for addr in &config.dns.listen {
        match bind_pair(*addr) {
            Ok(pair) => {
                server.register_socket(pair.udp);
                server.register_listener(pair.tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
                bound.push(pair.addr);
            }
            Err(err) if err.is_address_unavailable() => {
                warn!(%err, "skipping this listen address");
                unavailable = Some(err);
            }
            Err(err) => return Err(err),
        }
    }
    match (bound.is_empty(), unavailable) {
        (true, Some(err)) => Err(err),
        _ => Ok(bound),
    }
}

//! Wiring: builds the rules, store, query-log writer, pipeline, DNS listeners and HTTP API from
//! a [`Config`]; reloads on SIGHUP; on SIGTERM/SIGINT stops the listeners first, then flushes the
//! query log, so nothing already queued is lost.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::control::{Control, ControlParts, compile_off_thread};
use crate::dns::admission::Admission;
use crate::dns::cache::AnswerCache;
use crate::dns::handler::DnsHandler;
use crate::dns::listener::{BindError, bind_pair};
use crate::dns::outcome::EventSink;
use crate::dns::pipeline::Pipeline;
use crate::dns::tcp;
use crate::dns::udp::UdpServer;
use crate::dns::upstream::{UpstreamSetupError, Upstreams, own_resolver};
use crate::lists::cache::ListCache;
use crate::lists::download::{Downloader, MAX_LIST_BYTES};
use crate::lists::watch;
use crate::querylog::{Privacy, QueryLogWriter};
use crate::rules::ListSpec;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(transparent)]
    Upstream(#[from] UpstreamSetupError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "cannot serve the API on {addr}: {source}. Pick another api.listen address (port 0 lets the OS choose)"
    )]
    Api {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("building the rules failed: {0}")]
    Rules(String),
    #[error("setting up list downloads failed: {0}")]
    Downloads(String),
}

/// Where query events go.
pub enum EventTarget {
    /// The query log, as `querylog.enabled` says.
    QueryLog,
    /// A caller-supplied sink (tests watch outcomes through it); no query-log writer runs.
    Sink(EventSink),
}

/// A running hush.
pub struct Hush {
    control: Arc<Control>,
    dns_addrs: Vec<SocketAddr>,
    api_addr: SocketAddr,
    udp: UdpServer,
    api: (oneshot::Sender<()>, JoinHandle<()>),
    writer: Option<QueryLogWriter>,
    /// List downloads and the list-file watch.
    background: Vec<JoinHandle<()>>,
}

impl Hush {
    /// Starts serving `config`; `config_path` is re-read on reload when given.
    pub async fn start(
        config: Config,
        config_path: Option<PathBuf>,
        events: EventTarget,
    ) -> Result<Self, StartError> {
        let compiled = compile_off_thread(ListSpec::from_config(&config))
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
        let store = Store::open(&config.querylog.database).await?;
        let (sink, writer) = match events {
            EventTarget::Sink(sink) => (sink, None),
            EventTarget::QueryLog if config.querylog.enabled => {
                let privacy = Privacy {
                    anonymize_clients: config.querylog.anonymize_clients,
                    log_names: config.querylog.log_names,
                };
                let (sink, writer) =
                    QueryLogWriter::spawn(store.clone(), config.querylog.retention.0, privacy);
                (sink, Some(writer))
            }
            EventTarget::QueryLog => (EventSink::disabled(), None),
        };
        let upstreams = Upstreams::new(
            &config.dns.upstreams,
            config.dns.upstream_timeout.0,
            config.dns.max_inflight,
        )?;
        let resolver = own_resolver(&config.dns.upstreams, config.dns.upstream_timeout.0)
            .map_err(|err| StartError::Downloads(err.to_string()))?;
        let downloader = Downloader::new(
            ListCache::beside(&config.querylog.database),
            resolver,
            MAX_LIST_BYTES,
        )
        .map_err(|err| StartError::Downloads(err.to_string()))?;
        let admission = Admission::new(&config.dns.allowed_clients, config.dns.rate_limit);
        let cache = AnswerCache::new(config.dns.cache_size, config.dns.serve_stale.0);
        let api_listen = config.api.listen;
        let control = Arc::new(
            Control::new(ControlParts {
                config,
                config_path,
                compiled,
                store,
                events: Arc::new(sink),
                writer: writer.as_ref().map(|writer| Arc::clone(&writer.stats)),
                downloader: Arc::new(downloader),
            })
            .await?,
        );
        let pipeline = Pipeline {
            admission,
            policy: Arc::clone(&control.policy),
            switch: Arc::clone(&control.switch),
            cache,
            upstreams,
        };
        let handler = DnsHandler {
            pipeline: Arc::new(pipeline),
            events: Arc::clone(&control.events),
            metrics: Arc::clone(&control.metrics),
        };
        let (dns_addrs, udp_sockets, tcp_listeners) = bind_all(&control.config().dns.listen)?;
        let (api_addr, api) = serve_api(api_listen, Arc::clone(&control)).await?;
        let config = control.config();
        let handler = Arc::new(handler);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let udp = UdpServer::start(udp_sockets, Arc::clone(&handler), cores);
        let mut background = vec![
            refresh_url_lists(Arc::clone(&control)),
            watch::spawn(Arc::clone(&control), watch::POLL_INTERVAL),
        ];
        background.extend(tcp_listeners.into_iter().map(|listener| {
            tcp::serve(
                listener,
                Arc::clone(&handler),
                config.dns.max_tcp_connections,
                config.dns.tcp_idle_timeout.0,
            )
        }));
        info!(dns = ?dns_addrs, api = %api_addr, "hush is serving");
        Ok(Self {
            control,
            dns_addrs,
            api_addr,
            udp,
            api,
            writer,
            background,
        })
    }

    /// The bound DNS addresses (with real ports when the config asked for port 0).
    pub fn dns_addrs(&self) -> &[SocketAddr] {
        &self.dns_addrs
    }

    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// Stops the DNS listeners and the API, then writes every queued query-log row.
    pub async fn shutdown(self) {
        for task in &self.background {
            task.abort();
        }
        self.udp.shutdown().await;
        let (stop_api, api_task) = self.api;
        let _ = stop_api.send(());
        let _ = api_task.await;
        if let Some(writer) = self.writer {
            writer.shutdown().await;
        }
        self.control.store.release().await;
    }

    /// Serves until SIGTERM or SIGINT; SIGHUP reloads.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        let mut hangup = signal(SignalKind::hangup())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        loop {
            tokio::select! {
                _ = hangup.recv() => {
                    info!("SIGHUP: reloading");
                    if let Err(err) = self.control.reload().await {
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

/// Downloads the URL lists now and then every `blocking.refresh`, swapping in new rules when a
/// list changed. Startup does not wait for this: hush serves with the cached copies meanwhile.
fn refresh_url_lists(control: Arc<Control>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let urls = control.list_urls();
            if control.downloader.fetch_all(&urls).await
                && let Err(err) = control.reload().await
            {
                warn!(%err, "new list downloads could not be applied");
            }
            tokio::time::sleep(control.config().blocking.refresh.0).await;
        }
    })
}

async fn serve_api(
    addr: SocketAddr,
    control: Arc<Control>,
) -> Result<(SocketAddr, (oneshot::Sender<()>, JoinHandle<()>)), StartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Api { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| StartError::Api { addr, source })?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = crate::api::router(control);
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        if let Err(err) = served {
            error!(%err, "the API server stopped");
        }
    });
    Ok((bound, (stop, task)))
}

/// Binds every `dns.listen` address: UDP goes to hickory-server, the TCP listeners are returned
/// for [`tcp::serve`]. An address family the host lacks (no IPv6) is skipped with a warning as
/// long as another listener is up; any other failure stops the start.
/// The bound addresses, UDP sockets and TCP listeners of every `dns.listen` address.
type Bound = (Vec<SocketAddr>, Vec<UdpSocket>, Vec<TcpListener>);

fn bind_all(listen: &[SocketAddr]) -> Result<Bound, BindError> {
    let mut bound = Vec::new();
    let mut udp = Vec::new();
    let mut tcp = Vec::new();
    let mut unavailable = None;
    for addr in listen {
        match bind_pair(*addr) {
            Ok(pair) => {
                udp.push(pair.udp);
                tcp.push(pair.tcp);
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
        _ => Ok((bound, udp, tcp)),
    }
}

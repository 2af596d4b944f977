//! The order of start and stop. Start: rules, store, query-log writer, shared state, DNS
//! listeners, HTTP API, list tasks. Stop (SIGTERM/SIGINT): list tasks, DNS listeners (every
//! query already received is answered), API, then the query log is flushed, so nothing already
//! queued is lost. SIGHUP reloads.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};
use tokio::task::{JoinError, JoinHandle};
use tracing::{error, info};

use crate::api::{ApiBindError, ApiServer};
use crate::config::Config;
use crate::control::{Control, ControlParts};
use crate::dns::handler::DnsHandler;
use crate::dns::server::{ServeError, Server, certificates_for};
use crate::dns::upstream::UpstreamSetupError;
use crate::lists::download::{DownloadSetupError, Downloader};
use crate::lists::source::compile_for_start;
use crate::lists::{refresh, watch};
use crate::querylog::{EventTarget, QueryLogWriter};
use crate::store::{Store, StoreError};
use crate::{groups, naming, pihole, sync};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Upstream(#[from] UpstreamSetupError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Api(#[from] ApiBindError),
    #[error("building the rules failed: {0}")]
    Rules(#[from] JoinError),
    #[error(transparent)]
    Downloads(#[from] DownloadSetupError),
}

/// A running hush.
pub struct Hush {
    control: Arc<Control>,
    dns: Server,
    api: ApiServer,
    /// The Pi-hole compatible API, when `pihole.listen` is set.
    pihole: Option<ApiServer>,
    writer: Option<QueryLogWriter>,
    /// List downloads, the list-file watch, the certificate watch, client naming, the shared
    /// database's change feed and the schedule clock.
    background: Vec<JoinHandle<()>>,
}

impl Hush {
    /// Starts serving `config`; `config_path` is re-read on reload when given.
    pub async fn start(
        config: Config,
        config_path: Option<PathBuf>,
        events: EventTarget,
    ) -> Result<Self, StartError> {
        let compiled = compile_for_start(&config).await?;
        let store = Store::for_config(&config.querylog).await?;
        let (sink, writer) = events.open(&config.querylog, &store);
        let downloader = Arc::new(Downloader::for_config(&config)?);
        let control = Arc::new(
            Control::new(ControlParts {
                config,
                config_path,
                compiled,
                store,
                events: Arc::new(sink),
                writer: writer.as_ref().map(|writer| Arc::clone(&writer.stats)),
                downloader: Arc::clone(&downloader),
            })
            .await?,
        );
        let config = control.config();
        let certificates = certificates_for(&config).map_err(ServeError::from)?;
        let handler = DnsHandler::new(&config.dns, control.dns_handles())?;
        let dns = Server::start(&config.dns, handler, certificates.as_ref())?;
        let api = ApiServer::start(config.api.listen, Arc::clone(&control)).await?;
        let pihole = pihole::serve(&control).await?;
        let background = [
            Some(refresh::spawn(Arc::clone(&control), downloader)),
            Some(watch::spawn(Arc::clone(&control), watch::POLL_INTERVAL)),
            certificates
                .as_ref()
                .and_then(|certificates| certificates.watch()),
            naming::spawn(
                &config,
                control.dns_handles().local,
                control.store().clone(),
            )?,
            sync::spawn(Arc::clone(&control)),
            Some(groups::spawn_clock({
                let policy = control.dns_handles().policy;
                move || Arc::clone(&policy.load().groups)
            })),
        ];
        info!(dns = ?dns.addrs(), tls = ?dns.tls_addrs(), https = ?dns.https_addrs(), api = %api.addr(), "hush is serving");
        Ok(Self {
            control,
            dns,
            api,
            pihole,
            writer,
            background: background.into_iter().flatten().collect(),
        })
    }

    /// The DNS listeners, with their bound addresses.
    pub fn dns(&self) -> &Server {
        &self.dns
    }

    pub fn api_addr(&self) -> SocketAddr {
        self.api.addr()
    }

    pub fn pihole_addr(&self) -> Option<SocketAddr> {
        self.pihole.as_ref().map(ApiServer::addr)
    }

    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// Stops the DNS listeners and the API, then writes every queued query-log row.
    pub async fn shutdown(self) {
        for task in &self.background {
            task.abort();
        }
        self.dns.shutdown().await;
        self.api.shutdown().await;
        if let Some(pihole) = self.pihole {
            pihole.shutdown().await;
        }
        if let Some(writer) = self.writer {
            writer.shutdown().await;
        }
        self.control.store().close().await;
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

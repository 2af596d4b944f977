//! The one front door for DNS serving: builds the pipeline and handler from the `[dns]` config
//! and the handles the rest of hush shares with DNS, binds every listen address (UDP and TCP
//! on `dns.listen`, DNS over TLS on `dns.tls_listen`, DNS over HTTPS on `dns.https_listen`),
//! starts their loops, and stops them so that every query already received is answered (and
//! logged) before [`Server::shutdown`] returns.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use super::accept::Acceptor;
use super::admission::Admission;
use super::cache::AnswerCache;
use super::handler::DnsHandler;
use super::https;
use super::listener::{BindError, bind_pair, bind_stream};
use super::local::SharedLocal;
use super::metrics::DnsMetrics;
use super::outcome::EventSink;
use super::pipeline::Pipeline;
use super::policy::{BlockingSwitch, SharedPolicy};
use super::stream::{self, Limits, Security};
use super::udp::UdpServer;
use super::upstream::{Forwarders, UpstreamSetupError};
use crate::config::{Config, DnsConfig};
use crate::tls::{Certificates, TlsError};

/// What DNS shares with the rest of hush: the rules and switch it reads, the query-log sink and
/// counters it writes.
#[derive(Clone)]
pub struct SharedHandles {
    pub policy: SharedPolicy,
    pub local: SharedLocal,
    pub switch: Arc<BlockingSwitch>,
    pub events: Arc<EventSink>,
    pub metrics: Arc<DnsMetrics>,
}

impl DnsHandler {
    /// The pipeline of `config` around `shared`: the one place its stages are assembled.
    pub fn new(config: &DnsConfig, shared: SharedHandles) -> Result<Self, UpstreamSetupError> {
        let pipeline = Pipeline {
            admission: Admission::new(&config.allowed_clients, config.rate_limit),
            policy: shared.policy,
            switch: shared.switch,
            local: shared.local,
            cache: AnswerCache::new(config.cache_size, config.serve_stale.0),
            forwarders: Forwarders::new(config)?,
        };
        Ok(Self {
            pipeline: Arc::new(pipeline),
            events: shared.events,
            metrics: shared.metrics,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("dns.tls_listen / dns.https_listen need a certificate: {0}")]
    Certificate(#[from] TlsError),
    #[error("dns.tls_listen / dns.https_listen are set but no certificate was loaded")]
    NoCertificate,
}

/// The certificate for the encrypted listeners of `config`, when it has any: `tls.cert` and
/// `tls.key`, or a self-signed one kept in the database's folder.
pub fn certificates_for(config: &Config) -> Result<Option<Arc<Certificates>>, TlsError> {
    if config.dns.tls_listen.is_empty() && config.dns.https_listen.is_empty() {
        return Ok(None);
    }
    let folder = config.querylog.state_dir();
    let certificates = Certificates::load(config.tls.files(), &config.tls.names, &folder)?;
    Ok(Some(Arc::new(certificates)))
}

/// Every DNS listener of a running hush.
pub struct Server {
    addrs: Vec<SocketAddr>,
    tls_addrs: Vec<SocketAddr>,
    https_addrs: Vec<SocketAddr>,
    udp: UdpServer,
    /// TCP, DNS-over-TLS and DNS-over-HTTPS listeners.
    streams: Vec<Acceptor>,
}

/// ALPN of DNS over TLS (RFC 7858 §3.2 leaves it open; "dot" is the IANA registration). A
/// client that offers none is served too.
const DOT_ALPN: &[&[u8]] = &[b"dot"];
/// ALPN of DNS over HTTPS, HTTP/2 preferred.
const DOH_ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];

impl Server {
    /// Binds every listen address and starts serving `handler` on it; `certificates` serve
    /// the TLS and HTTPS listeners (required when there are any).
    pub fn start(
        config: &DnsConfig,
        handler: DnsHandler,
        certificates: Option<&Arc<Certificates>>,
    ) -> Result<Self, ServeError> {
        let (addrs, udp_sockets, tcp_listeners) = bind_all(&config.listen)?;
        let tls_listeners = bind_each(&config.tls_listen)?;
        let https_listeners = bind_each(&config.https_listen)?;
        let handler = Arc::new(handler);
        let limits = Limits {
            max_connections: config.max_tcp_connections,
            idle: config.tcp_idle_timeout.0,
        };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let udp = UdpServer::start(udp_sockets, Arc::clone(&handler), cores);
        let mut streams: Vec<Acceptor> = tcp_listeners
            .into_iter()
            .map(|listener| stream::serve(listener, Arc::clone(&handler), limits, Security::Plain))
            .collect();
        let (mut tls_addrs, mut https_addrs) = (Vec::new(), Vec::new());
        let encrypted = !tls_listeners.is_empty() || !https_listeners.is_empty();
        if encrypted && certificates.is_none() {
            return Err(ServeError::NoCertificate);
        }
        if let Some(certificates) = certificates {
            let dot = TlsAcceptor::from(certificates.server_config(DOT_ALPN)?);
            let names: Arc<[String]> = Arc::from(certificates.names());
            for (addr, listener) in tls_listeners {
                tls_addrs.push(addr);
                let security = Security::Tls {
                    acceptor: dot.clone(),
                    names: Arc::clone(&names),
                };
                streams.push(stream::serve(
                    listener,
                    Arc::clone(&handler),
                    limits,
                    security,
                ));
            }
            let doh = TlsAcceptor::from(certificates.server_config(DOH_ALPN)?);
            for (addr, listener) in https_listeners {
                https_addrs.push(addr);
                streams.push(https::serve(
                    listener,
                    Arc::clone(&handler),
                    limits,
                    doh.clone(),
                ));
            }
        }
        Ok(Self {
            addrs,
            tls_addrs,
            https_addrs,
            udp,
            streams,
        })
    }

    /// The bound UDP/TCP addresses (with real ports when the config asked for port 0).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The bound DNS-over-TLS addresses.
    pub fn tls_addrs(&self) -> &[SocketAddr] {
        &self.tls_addrs
    }

    /// The bound DNS-over-HTTPS addresses.
    pub fn https_addrs(&self) -> &[SocketAddr] {
        &self.https_addrs
    }

    /// Stops accepting queries, then waits until every query already received is answered.
    pub async fn shutdown(self) {
        let draining: Vec<_> = self.streams.into_iter().map(Acceptor::stop).collect();
        self.udp.shutdown().await;
        for accept_loop in draining {
            if let Err(error) = accept_loop.await {
                debug!(%error, "a stream accept loop ended abnormally");
            }
        }
    }
}

/// Binds a TCP listener on each address.
fn bind_each(addrs: &[SocketAddr]) -> Result<Vec<(SocketAddr, TcpListener)>, BindError> {
    addrs
        .iter()
        .map(|addr| {
            let listener = bind_stream(*addr)?;
            let bound = listener.local_addr().unwrap_or(*addr);
            Ok((bound, listener))
        })
        .collect()
}

/// The bound addresses, UDP sockets and TCP listeners of every `dns.listen` address.
type Bound = (Vec<SocketAddr>, Vec<UdpSocket>, Vec<TcpListener>);

/// Binds UDP and TCP on every address. An address family the host lacks (no IPv6) is skipped
/// with a warning as long as another listener is up; any other failure stops the start.
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

//! The one front door for DNS serving: builds the pipeline and handler from the `[dns]` config
//! and the handles the rest of hush shares with DNS, binds every `dns.listen` address, starts
//! the UDP receive loops and TCP accept loops on them, and stops them so that every query
//! already received is answered (and logged) before [`Server::shutdown`] returns. New
//! transports plug in here, next to UDP and TCP.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tracing::{debug, warn};

use super::admission::Admission;
use super::cache::AnswerCache;
use super::handler::DnsHandler;
use super::listener::{BindError, bind_pair};
use super::metrics::DnsMetrics;
use super::outcome::EventSink;
use super::pipeline::Pipeline;
use super::policy::{BlockingSwitch, SharedPolicy};
use super::tcp::TcpServer;
use super::udp::UdpServer;
use super::upstream::{UpstreamSetupError, Upstreams};
use crate::config::DnsConfig;

/// What DNS shares with the rest of hush: the rules and switch it reads, the query-log sink and
/// counters it writes.
#[derive(Clone)]
pub struct SharedHandles {
    pub policy: SharedPolicy,
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
            cache: AnswerCache::new(config.cache_size, config.serve_stale.0),
            upstreams: Upstreams::new(
                &config.upstreams,
                config.upstream_timeout.0,
                config.max_inflight,
            )?,
        };
        Ok(Self {
            pipeline: Arc::new(pipeline),
            events: shared.events,
            metrics: shared.metrics,
        })
    }
}

/// Every DNS listener of a running hush.
pub struct Server {
    addrs: Vec<SocketAddr>,
    udp: UdpServer,
    tcp: Vec<TcpServer>,
}

impl Server {
    /// Binds every `dns.listen` address and starts serving `handler` on it.
    pub fn start(config: &DnsConfig, handler: DnsHandler) -> Result<Self, BindError> {
        let (addrs, udp_sockets, tcp_listeners) = bind_all(&config.listen)?;
        let handler = Arc::new(handler);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let udp = UdpServer::start(udp_sockets, Arc::clone(&handler), cores);
        let tcp = tcp_listeners
            .into_iter()
            .map(|listener| {
                TcpServer::start(
                    listener,
                    Arc::clone(&handler),
                    config.max_tcp_connections,
                    config.tcp_idle_timeout.0,
                )
            })
            .collect();
        Ok(Self { addrs, udp, tcp })
    }

    /// The bound addresses (with real ports when the config asked for port 0).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Stops accepting queries, then waits until every query already received is answered.
    pub async fn shutdown(self) {
        let draining: Vec<_> = self.tcp.into_iter().map(TcpServer::stop).collect();
        self.udp.shutdown().await;
        for accept_loop in draining {
            if let Err(error) = accept_loop.await {
                debug!(%error, "a TCP accept loop ended abnormally");
            }
        }
    }
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

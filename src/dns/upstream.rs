//! Forwarding to the configured upstreams through hickory-resolver. Each upstream gets its own
//! resolver (cache off: hush caches answers itself, after policy), so hush knows which server
//! answered and controls failover: servers are tried fastest-first by a smoothed round-trip
//! time, a failing one is penalised, and the whole query shares one `upstream_timeout` budget.
//! The upstream's rcode is kept: NXDOMAIN stays NXDOMAIN, NODATA stays NODATA. Identical
//! questions asked at the same time share one upstream query, and the number of questions in
//! flight is bounded, so a burst (or a flood of random names) cannot pile up without limit.
//! With `dns.dnssec`, the general upstreams' resolvers validate (see [`super::dnssec`]); the
//! `[[dns.forward]]` zones are private and unsigned, so theirs do not.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::dnssec::TrustAnchors;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{LowerName, Name, Record, RecordType};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ProtocolConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use tokio::sync::{OnceCell, Semaphore};
use tracing::debug;

use super::dnssec::{all_secure, negative_ttl, trust_anchors, without_proofs};
use super::outcome::FailureReason;
use super::reply::Reply;
use crate::config::{DnsConfig, Transport, Upstream};
use crate::rules::QueryName;

/// Round-trip estimate a server starts with and the penalty for a failure, in microseconds.
const INITIAL_RTT_US: u32 = 1_000;
const FAILURE_PENALTY_US: u32 = 500_000;
/// The shortest slice of the budget an attempt gets when several servers remain.
const MIN_ATTEMPT: Duration = Duration::from_millis(300);

/// An upstream's answer and how long it may be cached.
#[derive(Debug, Clone)]
pub struct UpstreamAnswer {
    pub reply: Reply,
    /// Seconds the answer may be reused: the smallest record TTL, or the negative TTL.
    pub ttl: u32,
    /// Which upstream answered, in `Upstream` display form.
    pub upstream: Arc<str>,
}

struct Server {
    label: Arc<str>,
    resolver: TokioResolver,
    /// The resolver validates DNSSEC.
    validating: bool,
    /// Smoothed round-trip time in microseconds (EWMA, 1/4 weight for the newest sample).
    rtt_us: AtomicU32,
}

impl Server {
    fn record(&self, sample_us: u32) {
        let old = self.rtt_us.load(Ordering::Relaxed);
        let new = (u64::from(old) * 3 + u64::from(sample_us)) / 4;
        self.rtt_us.store(new as u32, Ordering::Relaxed);
    }
}

/// The result every asker of one in-flight question receives.
type Shared = Arc<OnceCell<Result<UpstreamAnswer, FailureReason>>>;

pub struct Upstreams {
    servers: Vec<Server>,
    timeout: Duration,
    /// Questions being asked upstream right now, each shared by everyone asking it.
    inflight: Mutex<HashMap<(LowerName, RecordType), Shared>>,
    permits: Semaphore,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamSetupError {
    #[error("upstream {upstream}: {source}")]
    Resolver { upstream: String, source: NetError },
    #[error("dns.upstream_ca: {0}")]
    Roots(String),
    #[error("{0}")]
    Anchors(String),
}

/// Where a name goes upstream: the upstreams of the longest `[[dns.forward]]` zone that holds
/// it, else the general ones. The general upstreams never see a forwarded name.
pub struct Forwarders {
    /// Zones with their upstreams, most labels first, so the first zone that holds a name is
    /// the longest.
    zones: Vec<ForwardZone>,
    general: Upstreams,
}

struct ForwardZone {
    name: LowerName,
    /// The zone in the rules' form ([`QueryName`]), when it has one: what a query's text is
    /// tested against, so that the names of every query cost a suffix test instead of a walk
    /// over their labels.
    text: Option<Box<[u8]>>,
    upstreams: Arc<Upstreams>,
}

impl ForwardZone {
    fn holds(&self, name: &LowerName, text: Option<&QueryName>) -> bool {
        match text {
            Some(text) => self
                .text
                .as_deref()
                .is_some_and(|zone| text.is_within(zone)),
            // A label holding a dot or a non-ASCII byte: no house name has one, but such a
            // name under a house zone still goes to the house's server, never the general one.
            None => self.name.zone_of(name),
        }
    }
}

impl Forwarders {
    pub fn new(config: &DnsConfig) -> Result<Self, UpstreamSetupError> {
        let timeout = config.upstream_timeout.0;
        let tls = upstream_tls(config)?;
        let anchors = trust_anchors(config).map_err(UpstreamSetupError::Anchors)?;
        let build = |upstreams: &[Upstream], anchors: Option<&Arc<TrustAnchors>>| {
            Upstreams::new(
                upstreams,
                timeout,
                config.max_inflight,
                tls.as_ref(),
                anchors,
            )
        };
        let mut zones = Vec::new();
        for forward in &config.forward {
            let upstreams = Arc::new(build(&forward.upstreams, None)?);
            for zone in &forward.zones {
                if let Ok(mut name) = Name::from_ascii(zone) {
                    name.set_fqdn(true);
                    let name = LowerName::from(&name);
                    zones.push(ForwardZone {
                        text: QueryName::from_lower(&name).map(|text| text.as_bytes().into()),
                        name,
                        upstreams: Arc::clone(&upstreams),
                    });
                }
            }
        }
        zones.sort_by_key(|zone| std::cmp::Reverse(zone.name.num_labels()));
        Ok(Self {
            zones,
            general: build(&config.upstreams, anchors.as_ref())?,
        })
    }

    /// The upstreams of the forwarded zone holding `name`, if one does.
    pub fn zone_of(&self, name: &LowerName) -> Option<&Upstreams> {
        self.zone_holding(name, QueryName::from_lower(name).as_ref())
    }

    /// [`Forwarders::zone_of`] for a name whose text the caller has made already (`None`
    /// when it has none).
    pub fn zone_holding(&self, name: &LowerName, text: Option<&QueryName>) -> Option<&Upstreams> {
        self.zones
            .iter()
            .find(|zone| zone.holds(name, text))
            .map(|zone| zone.upstreams.as_ref())
    }

    /// Where `name` (whose text, if it has one, is `text`) is asked.
    pub fn for_name(&self, name: &LowerName, text: Option<&QueryName>) -> &Upstreams {
        self.zone_holding(name, text).unwrap_or(&self.general)
    }
}

/// Why one attempt failed, and whether trying another server could help.
enum AttemptError {
    Timeout,
    Failed(String),
    /// The answer failed DNSSEC validation.
    Bogus,
}

impl Upstreams {
    /// The upstreams `upstreams`, with `tls` as the client config of encrypted ones when given
    /// (else hickory's, over the public roots), validating DNSSEC from `anchors` when given.
    pub fn new(
        upstreams: &[Upstream],
        timeout: Duration,
        max_inflight: usize,
        tls: Option<&rustls::ClientConfig>,
        anchors: Option<&Arc<TrustAnchors>>,
    ) -> Result<Self, UpstreamSetupError> {
        let servers = upstreams
            .iter()
            .map(|upstream| {
                let resolver =
                    build_resolver(upstream, timeout, tls, anchors).map_err(|source| {
                        UpstreamSetupError::Resolver {
                            upstream: upstream.to_string(),
                            source,
                        }
                    })?;
                Ok(Server {
                    label: Arc::from(upstream.to_string()),
                    resolver,
                    validating: anchors.is_some(),
                    rtt_us: AtomicU32::new(INITIAL_RTT_US),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            servers,
            timeout,
            inflight: Mutex::new(HashMap::new()),
            permits: Semaphore::new(max_inflight),
        })
    }

    /// Answers a question upstream. If the same question is already in flight, waits for that
    /// answer instead of asking again; if `max_inflight` questions are, fails at once.
    pub async fn resolve(
        &self,
        name: &Name,
        query_type: RecordType,
    ) -> Result<UpstreamAnswer, FailureReason> {
        let key = (LowerName::from(name), query_type);
        let shared = {
            let mut inflight = self
                .inflight
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            Arc::clone(inflight.entry(key.clone()).or_default())
        };
        let result = shared
            .get_or_init(|| async {
                let Ok(_permit) = self.permits.try_acquire() else {
                    return Err(FailureReason::Overloaded);
                };
                self.ask(name, query_type).await
            })
            .await
            .clone();
        let mut inflight = self
            .inflight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if inflight
            .get(&key)
            .is_some_and(|current| Arc::ptr_eq(current, &shared))
        {
            inflight.remove(&key);
        }
        result
    }

    /// Asks the upstreams, fastest first, until one gives a usable answer or the budget ends.
    async fn ask(
        &self,
        name: &Name,
        query_type: RecordType,
    ) -> Result<UpstreamAnswer, FailureReason> {
        let deadline = Instant::now() + self.timeout;
        let mut order: Vec<&Server> = self.servers.iter().collect();
        order.sort_by_key(|server| server.rtt_us.load(Ordering::Relaxed));
        let mut failure = FailureReason::UpstreamTimeout;
        for (tried, server) in order.iter().enumerate() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            let servers_left = (order.len() - tried) as u32;
            let slice = (remaining / servers_left).max(MIN_ATTEMPT).min(remaining);
            let started = Instant::now();
            match tokio::time::timeout(slice, attempt(server, name, query_type)).await {
                Ok(Ok(answer)) => {
                    let rtt = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                    server.record(rtt);
                    return Ok(answer);
                }
                Ok(Err(AttemptError::Failed(why))) => {
                    debug!(upstream = %server.label, %name, %why, "upstream failed");
                    // A forged answer seen from one upstream stays the reason: a stale answer
                    // must not paper over it because another upstream merely failed.
                    if failure != FailureReason::DnssecBogus {
                        failure = FailureReason::UpstreamError;
                    }
                }
                // Another upstream may reach an untampered answer; the server is not slow.
                Ok(Err(AttemptError::Bogus)) => {
                    debug!(upstream = %server.label, %name, "DNSSEC bogus answer");
                    failure = FailureReason::DnssecBogus;
                    continue;
                }
                Ok(Err(AttemptError::Timeout)) | Err(_) => {
                    debug!(upstream = %server.label, %name, "upstream timed out");
                }
            }
            server.record(FAILURE_PENALTY_US);
        }
        Err(failure)
    }
}

async fn attempt(
    server: &Server,
    name: &Name,
    query_type: RecordType,
) -> Result<UpstreamAnswer, AttemptError> {
    let upstream = Arc::clone(&server.label);
    let negative = |rcode: ResponseCode, authorities: &[Record], ttl: Option<u32>| {
        let secure = server.validating && all_secure(authorities);
        let authorities = without_proofs(authorities, query_type);
        UpstreamAnswer {
            ttl: ttl.or_else(|| negative_ttl(&authorities)).unwrap_or(0),
            reply: Reply {
                secure,
                ..Reply::with_records(rcode, Vec::new(), authorities)
            },
            upstream: Arc::clone(&upstream),
        }
    };
    match server.resolver.lookup(name.clone(), query_type).await {
        Ok(lookup) => {
            let secure = server.validating && all_secure(lookup.answers());
            let answers = without_proofs(lookup.answers(), query_type);
            let ttl = answers.iter().map(|record| record.ttl).min().unwrap_or(0);
            let authorities = without_proofs(lookup.authorities(), query_type);
            Ok(UpstreamAnswer {
                reply: Reply {
                    secure,
                    ..Reply::with_records(ResponseCode::NoError, answers, authorities)
                },
                ttl,
                upstream,
            })
        }
        Err(NetError::Dns(DnsError::NoRecordsFound(no_records))) => {
            let authorities: Vec<Record> = match (&no_records.authorities, no_records.soa) {
                (Some(records), _) => records.to_vec(),
                (None, Some(soa)) => vec![soa.into_record_of_rdata()],
                (None, None) => Vec::new(),
            };
            Ok(negative(
                no_records.response_code,
                &authorities,
                no_records.negative_ttl,
            ))
        }
        // A denial the validator could neither prove nor refute (e.g. NSEC3 opt-out): insecure,
        // however well its records are signed one by one.
        Err(NetError::Dns(DnsError::Nsec {
            response, proof, ..
        })) if !proof.is_bogus() => {
            let mut answer = negative(response.metadata.response_code, &response.authorities, None);
            answer.reply.secure = false;
            Ok(answer)
        }
        Err(NetError::Dns(DnsError::DnssecBogus | DnsError::Nsec { .. })) => {
            Err(AttemptError::Bogus)
        }
        Err(NetError::Timeout) => Err(AttemptError::Timeout),
        Err(err) => Err(AttemptError::Failed(err.to_string())),
    }
}

/// hickory's description of one upstream server.
fn name_server(upstream: &Upstream) -> NameServerConfig {
    let connection = |protocol: ProtocolConfig| {
        let mut connection = ConnectionConfig::new(protocol);
        connection.port = upstream.addr.port();
        connection
    };
    let connections = match &upstream.transport {
        // UDP first; hickory retries a truncated answer over TCP on the second connection.
        Transport::Udp => vec![
            connection(ProtocolConfig::Udp),
            connection(ProtocolConfig::Tcp),
        ],
        Transport::Tcp => vec![connection(ProtocolConfig::Tcp)],
        Transport::Tls { tls_name } => vec![connection(ProtocolConfig::Tls {
            server_name: Arc::clone(tls_name),
        })],
        Transport::Https { tls_name, path } => vec![connection(ProtocolConfig::Https {
            server_name: Arc::clone(tls_name),
            path: Arc::clone(path),
        })],
    };
    NameServerConfig::new(upstream.addr.ip(), true, connections)
}

/// The resolver of one upstream for forwarding: no cache (hush caches after policy), one
/// attempt (failover is ours), names taken as given.
fn build_resolver(
    upstream: &Upstream,
    timeout: Duration,
    tls: Option<&rustls::ClientConfig>,
    anchors: Option<&Arc<TrustAnchors>>,
) -> Result<TokioResolver, NetError> {
    let config = ResolverConfig::from_parts(None, Vec::new(), vec![name_server(upstream)]);
    let mut options = ResolverOpts::default();
    options.timeout = timeout;
    options.attempts = 1;
    options.cache_size = 0;
    options.use_hosts_file = ResolveHosts::Never;
    options.preserve_intermediates = true;
    options.num_concurrent_reqs = 1;
    options.max_active_requests = 1024;
    options.ndots = 0;
    let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(options);
    if let Some(tls) = tls {
        builder = builder.with_tls_config(tls.clone());
    }
    if let Some(anchors) = anchors {
        builder = builder.with_trust_anchor(Arc::clone(anchors));
    }
    builder.build()
}

/// A resolver over all upstreams for hush's own lookups (list hosts): the box's system
/// resolver often points back at hush itself, which may not be serving yet.
pub fn own_resolver(config: &DnsConfig) -> Result<TokioResolver, UpstreamSetupError> {
    let servers = config.upstreams.iter().map(name_server).collect();
    let resolver_config = ResolverConfig::from_parts(None, Vec::new(), servers);
    let mut options = ResolverOpts::default();
    options.timeout = config.upstream_timeout.0;
    options.use_hosts_file = ResolveHosts::Never;
    let mut builder =
        TokioResolver::builder_with_config(resolver_config, TokioRuntimeProvider::default())
            .with_options(options);
    if let Some(tls) = upstream_tls(config)? {
        builder = builder.with_tls_config(tls);
    }
    builder
        .build()
        .map_err(|source| UpstreamSetupError::Resolver {
            upstream: "(all, for hush's own lookups)".to_owned(),
            source,
        })
}

/// The TLS client config of encrypted upstreams when `dns.upstream_ca` adds roots.
fn upstream_tls(config: &DnsConfig) -> Result<Option<rustls::ClientConfig>, UpstreamSetupError> {
    if config.upstream_ca.as_os_str().is_empty() {
        return Ok(None);
    }
    crate::tls::upstream_client_config(&config.upstream_ca)
        .map(Some)
        .map_err(|err| UpstreamSetupError::Roots(err.to_string()))
}

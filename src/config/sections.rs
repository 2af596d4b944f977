//! The config's sections (`[dns]`, `[blocking]`, `[querylog]`, `[api]`): every key with its
//! unit and its default, which `config/hush.toml` documents for users.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{
    BlockAnswer, ClientNames, ClientNet, DatabaseLocation, ForwardZone, HumanDuration, ListEntry,
    ListLocation, Upstream, default_instance,
};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsConfig {
    /// Addresses to serve on; each one serves UDP and TCP.
    pub listen: Vec<SocketAddr>,
    /// Where allowed queries are forwarded, tried in order of health and speed.
    pub upstreams: Vec<Upstream>,
    /// The whole time budget of one query upstream, failover included.
    pub upstream_timeout: HumanDuration,
    /// Answers kept in the cache; 0 disables it.
    pub cache_size: usize,
    /// How long past its TTL a cached answer may still be served when every upstream fails
    /// (RFC 8767 "serve-stale"); "0s" turns it off.
    pub serve_stale: HumanDuration,
    /// Upstream queries in flight at once; beyond it new questions get SERVFAIL at once instead
    /// of queueing without bound. Identical concurrent questions share one upstream query.
    pub max_inflight: usize,
    /// Clients allowed to query; everyone else gets REFUSED.
    pub allowed_clients: Vec<ClientNet>,
    /// Queries per second per client IP; 0 turns the limit off.
    pub rate_limit: u32,
    /// A TCP connection that sends no query for this long is closed.
    pub tcp_idle_timeout: HumanDuration,
    /// TCP connections open at once (for each of plain TCP, TLS and HTTPS); past it new ones
    /// are closed at once.
    pub max_tcp_connections: usize,
    /// Addresses to serve DNS over TLS on (RFC 7858), e.g. `0.0.0.0:853`.
    pub tls_listen: Vec<SocketAddr>,
    /// Addresses to serve DNS over HTTPS on (RFC 8484, at `/dns-query`), e.g. `0.0.0.0:443`.
    pub https_listen: Vec<SocketAddr>,
    /// Conditional forwarding: names under a zone go to that zone's upstreams (longest zone
    /// wins); the general upstreams never see them.
    pub forward: Vec<ForwardZone>,
    /// How clients are named in the history.
    pub client_names: ClientNames,
    /// A PEM file of extra root certificates trusted for `tls://` and `https://` upstreams
    /// (a private resolver's CA), besides the public roots. Empty: the public roots only.
    pub upstream_ca: PathBuf,
    /// Validate upstream answers with DNSSEC: AD on secure answers, SERVFAIL on bogus ones.
    pub dnssec: bool,
    /// A file of DNSKEY records replacing the built-in root anchor. Empty: the root's keys.
    pub trust_anchors: PathBuf,
}

impl Default for DnsConfig {
    fn default() -> Self {
        let nets = [
            "127.0.0.0/8",
            "::1/128",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "fc00::/7",
            "fe80::/10",
        ];
        Self {
            listen: vec![
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, 53)),
                SocketAddr::from((Ipv6Addr::UNSPECIFIED, 53)),
            ],
            upstreams: vec![
                Upstream::plain(IpAddr::from([9, 9, 9, 9])),
                Upstream::plain(IpAddr::from([1, 1, 1, 1])),
            ],
            upstream_timeout: HumanDuration(Duration::from_secs(2)),
            cache_size: 10_000,
            serve_stale: HumanDuration(Duration::from_secs(86_400)),
            max_inflight: 1_024,
            allowed_clients: nets
                .iter()
                .filter_map(|net| net.parse().ok())
                .map(ClientNet)
                .collect(),
            rate_limit: 0,
            tcp_idle_timeout: HumanDuration(Duration::from_secs(10)),
            max_tcp_connections: 256,
            tls_listen: Vec::new(),
            https_listen: Vec::new(),
            forward: Vec::new(),
            client_names: ClientNames::default(),
            upstream_ca: PathBuf::new(),
            dnssec: false,
            trust_anchors: PathBuf::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlockingConfig {
    /// `false` forwards everything.
    pub enabled: bool,
    /// What a blocked query is answered with.
    pub answer: BlockAnswer,
    /// TTL of block answers.
    pub ttl: HumanDuration,
    /// Block lists: files, folders (every `*.txt` inside) or http(s) URLs, each optionally
    /// with a display name and category.
    pub lists: Vec<ListEntry>,
    /// Allow lists, same forms; an allow match always wins.
    pub allowlists: Vec<ListEntry>,
    /// How often URL lists are downloaded again.
    pub refresh: HumanDuration,
    /// Answer `use-application-dns.net` with NXDOMAIN, so browsers (Firefox) keep their lookups
    /// on hush instead of switching to their own DNS-over-HTTPS.
    pub doh_canary: bool,
    /// Answer iCloud Private Relay's names with NXDOMAIN, so Apple devices use hush too.
    pub block_private_relay: bool,
    /// Block answers in which a public name resolves to a private, loopback or link-local
    /// address (DNS rebinding protection).
    pub rebinding_protection: bool,
}

impl Default for BlockingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            answer: BlockAnswer::Null,
            ttl: HumanDuration(Duration::from_secs(10)),
            lists: vec![ListEntry::from(ListLocation::Path(PathBuf::from(
                "blocklists",
            )))],
            allowlists: Vec::new(),
            refresh: HumanDuration(Duration::from_secs(24 * 3600)),
            doh_canary: true,
            block_private_relay: false,
            rebinding_protection: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryLogConfig {
    /// A SQLite file, created with its migrations at start, or a `postgres://` URL shared by
    /// several instances.
    pub database: DatabaseLocation,
    /// The name this hush writes its rows under; unset: the host name ([`Self::instance_name`]).
    pub instance: Option<String>,
    /// Where files beside the store live (list cache, self-signed certificate, kept rules):
    /// the SQLite file's folder, or the config file's folder with PostgreSQL.
    #[serde(skip)]
    pub config_dir: PathBuf,
    /// Rows older than this are deleted.
    pub retention: HumanDuration,
    pub enabled: bool,
    /// Store clients as their network (IPv4 /24, IPv6 /56) instead of their address.
    pub anonymize_clients: bool,
    /// `false` keeps counts but stores no query names (nor the rules, which name them).
    pub log_names: bool,
    /// Query events that may wait for the disk; past it they are dropped (and counted).
    pub queue: usize,
    /// Page cache of the writer's database connection, in MiB.
    pub cache_mb: u32,
}

impl Default for QueryLogConfig {
    fn default() -> Self {
        Self {
            database: DatabaseLocation::File(PathBuf::from("hush.db")),
            instance: None,
            config_dir: PathBuf::from("."),
            retention: HumanDuration(Duration::from_secs(30 * 24 * 3600)),
            enabled: true,
            anonymize_clients: false,
            log_names: true,
            queue: 65_536,
            cache_mb: 32,
        }
    }
}

impl QueryLogConfig {
    /// `instance`, or the host name when it is not set.
    pub fn instance_name(&self) -> String {
        self.instance.clone().unwrap_or_else(default_instance)
    }

    /// The folder of the files kept beside the store (list cache, certificate, kept rules).
    pub fn state_dir(&self) -> PathBuf {
        match &self.database {
            DatabaseLocation::File(path) => path
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            DatabaseLocation::Postgres(_) => self.config_dir.clone(),
        }
    }
}

/// `[pihole]`: the Pi-hole v6 compatible API, for Home Assistant and the Pi-hole apps.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PiholeConfig {
    /// Where to serve it, e.g. "127.0.0.1:8081"; empty: off.
    pub listen: String,
}

impl PiholeConfig {
    /// The address to serve on, when it is on and valid (validation reports a bad one).
    pub fn address(&self) -> Option<SocketAddr> {
        self.listen.trim().parse().ok()
    }
}

/// The certificate of DNS over TLS and HTTPS.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain; reloaded when the file changes. Empty: self-signed.
    pub cert: PathBuf,
    /// PEM private key of `cert`.
    pub key: PathBuf,
    /// The server's names; a client's server name `<device>.<name>` names the device.
    pub names: Vec<String>,
}

impl TlsConfig {
    /// The configured certificate and key files, when both are set.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        let set = |path: &PathBuf| !path.as_os_str().is_empty();
        (set(&self.cert) && set(&self.key)).then_some((self.cert.as_path(), self.key.as_path()))
    }
}

#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Where the API and the dashboard are served.
    pub listen: SocketAddr,
    /// Bearer token for `/api/*` (except `/api/health`); also accepted as the dashboard's
    /// password. Empty means none.
    pub token: String,
    /// The dashboard's password as an argon2id PHC string (`hush hash-password` makes one),
    /// never the password itself. Empty means none.
    pub password: String,
    /// A dashboard session ends after this long without use.
    pub session_timeout: HumanDuration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            token: String::new(),
            password: String::new(),
            session_timeout: HumanDuration(Duration::from_secs(7 * 24 * 3600)),
        }
    }
}

/// Written by hand so that logging a config never prints the secret.
impl fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |secret: &str| if secret.is_empty() { "" } else { "(set)" };
        f.debug_struct("ApiConfig")
            .field("listen", &self.listen)
            .field("token", &shown(&self.token))
            .field("password", &shown(&self.password))
            .field("session_timeout", &self.session_timeout)
            .finish()
    }
}

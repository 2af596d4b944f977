//! The configuration: one typed struct read from TOML, with every value parsed into a type that
//! cannot hold an invalid state (durations, networks, upstreams, block answers, list sources).
//! Loading reports the file and the dotted key of the first bad value; `hush check-config` and
//! `hush run` go through the same [`Config::load`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

/// The config file `hush` uses when no `--config` is given and it exists.
pub const DEFAULT_CONFIG_PATH: &str = "config/hush.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the config file: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {key}: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub dns: DnsConfig,
    pub blocking: BlockingConfig,
    pub querylog: QueryLogConfig,
    pub api: ApiConfig,
}

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
    /// TCP connections open at once; past it new ones are closed at once.
    pub max_tcp_connections: usize,
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
    /// SQLite file, created with its migrations at start.
    pub database: PathBuf,
    /// Rows older than this are deleted.
    pub retention: HumanDuration,
    pub enabled: bool,
    /// Store clients as their network (IPv4 /24, IPv6 /56) instead of their address.
    pub anonymize_clients: bool,
    /// `false` keeps counts but stores no query names (nor the rules, which name them).
    pub log_names: bool,
}

impl Default for QueryLogConfig {
    fn default() -> Self {
        Self {
            database: PathBuf::from("hush.db"),
            retention: HumanDuration(Duration::from_secs(30 * 24 * 3600)),
            enabled: true,
            anonymize_clients: false,
            log_names: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// Bearer token for `/api/*` (except `/api/health`); empty means none.
    pub token: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            token: String::new(),
        }
    }
}

impl Config {
    /// Reads, parses and validates a config file; relative paths in it become relative to the
    /// file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, &file, base)
    }

    /// `hush run` without `--config`: the default file when present, else built-in defaults
    /// with paths relative to the working directory.
    pub fn load_default() -> Result<(Self, Option<PathBuf>), ConfigError> {
        let path = PathBuf::from(DEFAULT_CONFIG_PATH);
        if path.exists() {
            Ok((Self::load(&path)?, Some(path)))
        } else {
            let config = Self::default().resolved(Path::new("."));
            config.validate("<built-in defaults>")?;
            Ok((config, None))
        }
    }

    /// Parses TOML text; `file` names the source in errors, `base` anchors relative paths.
    pub fn from_toml(text: &str, file: &str, base: &Path) -> Result<Self, ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            file: file.to_owned(),
            key,
            message,
        };
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|err| invalid("(syntax)".into(), toml_message(&err, text)))?;
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let key = match err.path().to_string() {
                path if path == "." => "(top level)".to_owned(),
                path => path,
            };
            invalid(key, toml_message(err.inner(), text))
        })?;
        let config = config.resolved(base);
        config.validate(file)?;
        Ok(config)
    }

    fn resolved(mut self, base: &Path) -> Self {
        let anchor = |entry: &mut ListEntry| {
            if let ListLocation::Path(path) = &mut entry.location
                && path.is_relative()
            {
                *path = base.join(&*path);
            }
        };
        self.blocking.lists.iter_mut().for_each(anchor);
        self.blocking.allowlists.iter_mut().for_each(anchor);
        if self.querylog.database.is_relative() {
            self.querylog.database = base.join(&self.querylog.database);
        }
        self
    }

    /// Checks what the types alone cannot: ranges and combinations of values.
    fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let fail = |key: &str, message: String| {
            Err(ConfigError::Invalid {
                file: file.to_owned(),
                key: key.to_owned(),
                message,
            })
        };
        if self.dns.listen.is_empty() {
            return fail("dns.listen", "at least one address is needed".into());
        }
        for (i, addr) in self.dns.listen.iter().enumerate() {
            if self.dns.listen[..i].contains(addr) {
                return fail("dns.listen", format!("{addr} is listed twice"));
            }
        }
        if self.dns.upstreams.is_empty() {
            return fail("dns.upstreams", "at least one upstream is needed".into());
        }
        let timeout = self.dns.upstream_timeout.0;
        if timeout < Duration::from_millis(50) || timeout > Duration::from_secs(30) {
            return fail(
                "dns.upstream_timeout",
                format!("{} is outside 50ms..30s", self.dns.upstream_timeout),
            );
        }
        if self.dns.cache_size > 10_000_000 {
            return fail(
                "dns.cache_size",
                format!("{} is above the limit of 10000000", self.dns.cache_size),
            );
        }
        let idle = self.dns.tcp_idle_timeout.0;
        if idle < Duration::from_millis(100) || idle > Duration::from_secs(300) {
            return fail(
                "dns.tcp_idle_timeout",
                format!("{} is outside 100ms..5m", self.dns.tcp_idle_timeout),
            );
        }
        if self.dns.max_tcp_connections == 0 || self.dns.max_tcp_connections > 65_535 {
            return fail(
                "dns.max_tcp_connections",
                format!("{} is outside 1..65535", self.dns.max_tcp_connections),
            );
        }
        if self.dns.serve_stale.0 > Duration::from_secs(7 * 24 * 3600) {
            return fail("dns.serve_stale", "must be at most 7d".into());
        }
        if self.dns.max_inflight == 0 || self.dns.max_inflight > 100_000 {
            return fail(
                "dns.max_inflight",
                format!("{} is outside 1..100000", self.dns.max_inflight),
            );
        }
        if self.blocking.ttl.0 > Duration::from_secs(7 * 24 * 3600) {
            return fail("blocking.ttl", "must be at most 7d".into());
        }
        if self.blocking.refresh.0 < Duration::from_secs(60) {
            return fail("blocking.refresh", "must be at least 1m".into());
        }
        if self.querylog.retention.0 < Duration::from_secs(3600) {
            return fail("querylog.retention", "must be at least 1h".into());
        }
        if self.api.token.is_empty() && !self.api.listen.ip().is_loopback() {
            return fail(
                "api.token",
                format!(
                    "api.listen {} is reachable from other machines, so a token is required",
                    self.api.listen
                ),
            );
        }
        Ok(())
    }
}

/// toml's messages carry a span; turn it into a line number the user can find.
fn toml_message(err: &toml::de::Error, text: &str) -> String {
    let message = err.message().trim_end().to_owned();
    match err.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("{message} (line {line})")
        }
        None => message,
    }
}

/// Parses a value through `FromStr`, so every config type shares one error path.
fn from_str_value<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}

macro_rules! deserialize_via_from_str {
    ($($ty:ty),*) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                from_str_value(deserializer)
            }
        }
    )*};
}
deserialize_via_from_str!(
    HumanDuration,
    ClientNet,
    Upstream,
    BlockAnswer,
    ListLocation
);

/// A duration written as `"500ms"`, `"10s"`, `"5m"`, `"24h"` or `"30d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid duration {text:?} (expected e.g. \"500ms\", \"10s\", \"5m\", \"24h\", \"30d\")"
            )
        };
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (digits, unit) = text.split_at(split);
        let value: u64 = digits.parse().map_err(|_| bad())?;
        let millis_per_unit = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        let millis = value.checked_mul(millis_per_unit).ok_or_else(bad)?;
        Ok(Self(Duration::from_millis(millis)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        let units = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ];
        for (size, unit) in units {
            if millis >= size && millis.is_multiple_of(size) {
                return write!(f, "{}{unit}", millis / size);
            }
        }
        write!(f, "{millis}ms")
    }
}

/// A client network: a CIDR (`192.168.0.0/16`) or a single address (`192.168.1.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientNet(pub IpNet);

impl FromStr for ClientNet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(Self(net.trunc()));
        }
        text.parse::<IpAddr>()
            .map(|ip| Self(IpNet::from(ip)))
            .map_err(|_| format!("invalid network {text:?} (expected a CIDR such as \"192.168.0.0/16\" or an address)"))
    }
}

/// How hush talks to one upstream server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// UDP, retried over TCP when the answer is truncated.
    Udp,
    Tcp,
    /// DNS over TLS; the TLS name is checked against the certificate.
    Tls {
        tls_name: Arc<str>,
    },
    /// DNS over HTTPS.
    Https {
        tls_name: Arc<str>,
        path: Arc<str>,
    },
}

/// One upstream from `dns.upstreams`, e.g. `9.9.9.9`, `tcp://9.9.9.9:53`,
/// `tls://1.1.1.1:853#cloudflare-dns.com`, `https://1.1.1.1/dns-query#cloudflare-dns.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub transport: Transport,
    pub addr: SocketAddr,
}

impl Upstream {
    pub fn plain(ip: IpAddr) -> Self {
        Self {
            transport: Transport::Udp,
            addr: SocketAddr::new(ip, 53),
        }
    }
}

impl FromStr for Upstream {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (scheme, rest) = text.split_once("://").unwrap_or(("udp", text));
        let (target, fragment) = match rest.split_once('#') {
            Some((target, name)) => (target, Some(name)),
            None => (rest, None),
        };
        let tls_name = |scheme: &str| -> Result<Arc<str>, String> {
            match fragment {
                Some(name) if !name.is_empty() => Ok(Arc::from(name)),
                _ => Err(format!(
                    "upstream {text:?}: {scheme}:// needs the server's TLS name after '#', e.g. \"{scheme}://1.1.1.1#cloudflare-dns.com\""
                )),
            }
        };
        let (transport, default_port, host_port) = match scheme {
            "udp" | "tcp" => {
                if fragment.is_some() {
                    return Err(format!(
                        "upstream {text:?}: '#name' only applies to tls:// and https://"
                    ));
                }
                let transport = if scheme == "udp" {
                    Transport::Udp
                } else {
                    Transport::Tcp
                };
                (transport, 53, target)
            }
            "tls" => (
                Transport::Tls {
                    tls_name: tls_name("tls")?,
                },
                853,
                target,
            ),
            "https" => {
                let (host_port, path) = match target.find('/') {
                    Some(at) => (&target[..at], &target[at..]),
                    None => (target, "/dns-query"),
                };
                let tls_name = tls_name("https")?;
                (
                    Transport::Https {
                        tls_name,
                        path: Arc::from(path),
                    },
                    443,
                    host_port,
                )
            }
            other => {
                return Err(format!(
                    "upstream {text:?}: unknown scheme {other:?} (use udp://, tcp://, tls:// or https://)"
                ));
            }
        };
        let addr = parse_host_port(host_port, default_port).ok_or_else(|| {
            format!("upstream {text:?}: expected an IP address with an optional port, e.g. \"9.9.9.9\", \"9.9.9.9:53\" or \"[2620:fe::fe]:53\"")
        })?;
        Ok(Self { transport, addr })
    }
}

fn parse_host_port(text: &str, default_port: u16) -> Option<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, default_port))
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.transport {
            Transport::Udp => write!(f, "udp://{}", self.addr),
            Transport::Tcp => write!(f, "tcp://{}", self.addr),
            Transport::Tls { tls_name } => write!(f, "tls://{}#{tls_name}", self.addr),
            Transport::Https { tls_name, path } => {
                write!(f, "https://{}{path}#{tls_name}", self.addr)
            }
        }
    }
}

/// What a blocked query is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockAnswer {
    /// `0.0.0.0` for A, `::` for AAAA, an empty NOERROR answer otherwise.
    Null,
    Nxdomain,
    Refused,
    /// These addresses for A / AAAA (an empty answer for a family without one).
    Addresses {
        v4: Option<Ipv4Addr>,
        v6: Option<Ipv6Addr>,
    },
}

impl FromStr for BlockAnswer {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "null" => return Ok(Self::Null),
            "nxdomain" => return Ok(Self::Nxdomain),
            "refused" => return Ok(Self::Refused),
            _ => {}
        }
        let bad = || {
            format!(
                "invalid block answer {text:?} (use \"null\", \"nxdomain\", \"refused\", or one or two IPs such as \"192.168.1.2, fd00::2\")"
            )
        };
        let (mut v4, mut v6) = (None, None);
        for part in text.split(',').map(str::trim) {
            match part.parse::<IpAddr>().map_err(|_| bad())? {
                IpAddr::V4(ip) if v4.is_none() => v4 = Some(ip),
                IpAddr::V6(ip) if v6.is_none() => v6 = Some(ip),
                _ => return Err(bad()),
            }
        }
        Ok(Self::Addresses { v4, v6 })
    }
}

impl fmt::Display for BlockAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Nxdomain => f.write_str("nxdomain"),
            Self::Refused => f.write_str("refused"),
            Self::Addresses { v4, v6 } => {
                let parts: Vec<String> = v4
                    .map(|ip| ip.to_string())
                    .into_iter()
                    .chain(v6.map(|ip| ip.to_string()))
                    .collect();
                f.write_str(&parts.join(", "))
            }
        }
    }
}

/// One configured list: where it comes from, and optionally what to call it. Written either as
/// a string (`"blocklists"`, `"https://…"`) or as a table
/// (`{ url = "https://…", name = "StevenBlack", category = "ads" }`, or `path = …`). A name or
/// category missing here is taken from the list's header (`# Title:`, `# Category:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub location: ListLocation,
    pub name: Option<String>,
    pub category: Option<String>,
}

impl From<ListLocation> for ListEntry {
    fn from(location: ListLocation) -> Self {
        Self {
            location,
            name: None,
            category: None,
        }
    }
}

/// A category: lower-case letters, digits, `-` and `_`, so it can key statistics and URLs.
pub fn validate_category(text: &str) -> Result<(), String> {
    let valid = !text.is_empty()
        && text.len() <= 32
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid category {text:?} (use up to 32 lower-case letters, digits, '-' or '_', e.g. \"telemetry\")"
        ))
    }
}

impl<'de> Deserialize<'de> for ListEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            Table(Table),
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            path: Option<String>,
            url: Option<String>,
            name: Option<String>,
            category: Option<String>,
        }
        use serde::de::Error;
        let table = match Form::deserialize(deserializer).map_err(|_| {
            D::Error::custom(
                "expected a path or URL string, or a table with `path` or `url` and optional `name` and `category`",
            )
        })? {
            Form::Text(text) => {
                return text.parse::<ListLocation>().map(ListEntry::from).map_err(D::Error::custom);
            }
            Form::Table(table) => table,
        };
        let location = match (table.path, table.url) {
            (Some(path), None) => ListLocation::Path(PathBuf::from(path)),
            (None, Some(url)) => match url.parse().map_err(D::Error::custom)? {
                location @ ListLocation::Url(_) => location,
                ListLocation::Path(_) => {
                    return Err(D::Error::custom(format!(
                        "`url` {url:?} is not an http(s) URL"
                    )));
                }
            },
            _ => {
                return Err(D::Error::custom(
                    "a list table needs exactly one of `path` and `url`",
                ));
            }
        };
        if let Some(category) = &table.category {
            validate_category(category).map_err(D::Error::custom)?;
        }
        let name = table
            .name
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty());
        Ok(Self {
            location,
            name,
            category: table.category,
        })
    }
}

/// Where a list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListLocation {
    /// A file, or a folder whose `*.txt` files are all read.
    Path(PathBuf),
    /// An http(s) URL, downloaded and refreshed.
    Url(String),
}

impl FromStr for ListLocation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("a list location cannot be empty".into());
        }
        if let Some(rest) = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
        {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            if host.is_empty() || host.contains(char::is_whitespace) {
                return Err(format!("invalid list URL {text:?}"));
            }
            return Ok(Self::Url(text.to_owned()));
        }
        if text.contains("://") {
            return Err(format!(
                "list URL {text:?}: only http:// and https:// are supported"
            ));
        }
        Ok(Self::Path(PathBuf::from(text)))
    }
}

impl fmt::Display for ListLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(path) => write!(f, "{}", path.display()),
            Self::Url(url) => f.write_str(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, "test.toml", Path::new("/etc/hush"))
    }

    fn error_of(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("config should be rejected: {text}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn empty_file_gives_the_documented_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.dns.listen.len(), 2);
        assert_eq!(config.dns.upstreams[0].to_string(), "udp://9.9.9.9:53");
        assert_eq!(config.dns.upstream_timeout.0, Duration::from_secs(2));
        assert_eq!(config.dns.cache_size, 10_000);
        assert_eq!(config.dns.allowed_clients.len(), 8);
        assert_eq!(config.blocking.answer, BlockAnswer::Null);
        assert_eq!(config.blocking.ttl.0, Duration::from_secs(10));
        assert_eq!(
            config.blocking.lists,
            vec![ListEntry::from(ListLocation::Path(PathBuf::from(
                "/etc/hush/blocklists"
            )))]
        );
        assert_eq!(config.querylog.database, PathBuf::from("/etc/hush/hush.db"));
        assert_eq!(
            config.querylog.retention.0,
            Duration::from_secs(30 * 86_400)
        );
    }

    #[test]
    fn durations_parse_in_every_unit() {
        let cases = [
            ("500ms", 500),
            ("10s", 10_000),
            ("5m", 300_000),
            ("24h", 86_400_000),
            ("30d", 2_592_000_000),
        ];
        for (text, millis) in cases {
            let parsed: HumanDuration = text.parse().unwrap();
            assert_eq!(parsed.0, Duration::from_millis(millis), "{text}");
            assert_eq!(parsed.to_string().parse::<HumanDuration>(), Ok(parsed));
        }
        for bad in [
            "",
            "10",
            "s",
            "1.5s",
            "-1s",
            "10 parsecs",
            "99999999999999999999d",
        ] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn upstream_syntax() {
        let cases = [
            ("9.9.9.9", "udp://9.9.9.9:53"),
            ("udp://9.9.9.9:5353", "udp://9.9.9.9:5353"),
            ("tcp://9.9.9.9", "tcp://9.9.9.9:53"),
            ("[2620:fe::fe]", "udp://[2620:fe::fe]:53"),
            ("2620:fe::fe", "udp://[2620:fe::fe]:53"),
            (
                "tls://1.1.1.1#cloudflare-dns.com",
                "tls://1.1.1.1:853#cloudflare-dns.com",
            ),
            (
                "https://1.1.1.1/dns-query#cloudflare-dns.com",
                "https://1.1.1.1:443/dns-query#cloudflare-dns.com",
            ),
            (
                "https://1.1.1.1:8443#cloudflare-dns.com",
                "https://1.1.1.1:8443/dns-query#cloudflare-dns.com",
            ),
        ];
        for (text, canonical) in cases {
            let upstream: Upstream = text.parse().unwrap();
            assert_eq!(upstream.to_string(), canonical);
        }
        for bad in [
            "dns.quad9.net",
            "tls://1.1.1.1",
            "https://1.1.1.1/dns-query",
            "udp://9.9.9.9#name",
            "quic://1.1.1.1#x",
            "9.9.9.9:99999",
        ] {
            assert!(bad.parse::<Upstream>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn block_answers() {
        assert_eq!("nxdomain".parse::<BlockAnswer>(), Ok(BlockAnswer::Nxdomain));
        assert_eq!(
            "192.168.1.2, fd00::2".parse::<BlockAnswer>(),
            Ok(BlockAnswer::Addresses {
                v4: Some(Ipv4Addr::new(192, 168, 1, 2)),
                v6: Some("fd00::2".parse().unwrap()),
            })
        );
        for text in [
            "null",
            "nxdomain",
            "refused",
            "192.168.1.2",
            "fd00::2",
            "192.168.1.2, fd00::2",
        ] {
            let parsed: BlockAnswer = text.parse().unwrap();
            assert_eq!(parsed.to_string(), text);
        }
        for bad in ["", "zero", "1.2.3.4, 5.6.7.8", "1.2.3.4,", "NULL"] {
            assert!(bad.parse::<BlockAnswer>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let cases = [
            (
                "[dns]\nupstream_timeout = \"2x\"",
                "test.toml: dns.upstream_timeout: invalid duration",
            ),
            (
                "[dns]\nlisten = [\"127.0.0.1\"]",
                "test.toml: dns.listen[0]: invalid socket address",
            ),
            (
                "[dns]\nallowed_clients = [\"10.0.0.0/33\"]",
                "test.toml: dns.allowed_clients[0]: invalid network",
            ),
            (
                "[dns]\nupstreams = [\"tls://1.1.1.1\"]",
                "test.toml: dns.upstreams[0]: upstream",
            ),
            ("[dns]\nfoo = 1", "test.toml: dns.foo: unknown field `foo`"),
            ("[dnss]\n", "test.toml: dnss: unknown field `dnss`"),
            (
                "[blocking]\nanswer = \"zero\"",
                "test.toml: blocking.answer: invalid block answer",
            ),
            (
                "[blocking]\nlists = [\"ftp://x/y\"]",
                "test.toml: blocking.lists[0]: list URL",
            ),
            ("[dns]\ncache_size = -1", "test.toml: dns.cache_size:"),
            ("[dns]\nlisten = []", "test.toml: dns.listen: at least one"),
            (
                "[dns]\nupstreams = []",
                "test.toml: dns.upstreams: at least one",
            ),
            (
                "[dns]\nupstream_timeout = \"0s\"",
                "test.toml: dns.upstream_timeout: 0ms is outside",
            ),
            (
                "[api]\nlisten = \"0.0.0.0:8080\"",
                "test.toml: api.token: api.listen 0.0.0.0:8080",
            ),
            ("[dns\n", "test.toml: (syntax):"),
        ];
        for (text, expected) in cases {
            let message = error_of(text);
            assert!(message.starts_with(expected), "{text:?} gave {message:?}");
        }
    }

    #[test]
    fn error_messages_point_at_the_line() {
        let message = error_of("[dns]\ncache_size = 10\nupstream_timeout = \"fast\"\n");
        assert!(message.contains("(line 3)"), "{message}");
    }

    #[test]
    fn lists_take_strings_or_tables_with_name_and_category() {
        let config = parse(
            "[blocking]\nlists = [\"local.txt\", { url = \"https://example.com/l.txt\", name = \"Example\", category = \"ads\" }, { path = \"t.txt\", category = \"telemetry\" }]",
        )
        .unwrap();
        let lists = &config.blocking.lists;
        assert_eq!(
            lists[0].location,
            ListLocation::Path(PathBuf::from("/etc/hush/local.txt"))
        );
        assert_eq!(
            lists[1].location,
            ListLocation::Url("https://example.com/l.txt".into())
        );
        assert_eq!(
            (lists[1].name.as_deref(), lists[1].category.as_deref()),
            (Some("Example"), Some("ads"))
        );
        assert_eq!(
            lists[2].location,
            ListLocation::Path(PathBuf::from("/etc/hush/t.txt"))
        );
        let bad = [
            (
                "lists = [{ name = \"x\" }]",
                "exactly one of `path` and `url`",
            ),
            (
                "lists = [{ path = \"a\", url = \"https://b/c\" }]",
                "exactly one of",
            ),
            ("lists = [{ url = \"notaurl\" }]", "not an http(s) URL"),
            (
                "lists = [{ path = \"a\", category = \"Tele Metry\" }]",
                "invalid category",
            ),
            (
                "lists = [{ path = \"a\", colour = \"red\" }]",
                "expected a path or URL string",
            ),
            ("lists = [42]", "expected a path or URL string"),
        ];
        for (line, expected) in bad {
            let message = error_of(&format!("[blocking]\n{line}"));
            assert!(message.contains("blocking.lists[0]"), "{line}: {message}");
            assert!(message.contains(expected), "{line}: {message}");
        }
    }

    #[test]
    fn a_remote_api_with_a_token_is_accepted() {
        let config = parse("[api]\nlisten = \"0.0.0.0:8080\"\ntoken = \"s3cret\"").unwrap();
        assert_eq!(config.api.token, "s3cret");
    }

    #[test]
    fn single_addresses_are_client_networks() {
        let config = parse("[dns]\nallowed_clients = [\"192.168.1.5\", \"10.1.2.3/8\"]").unwrap();
        let nets: Vec<String> = config
            .dns
            .allowed_clients
            .iter()
            .map(|net| net.0.to_string())
            .collect();
        assert_eq!(nets, ["192.168.1.5/32", "10.0.0.0/8"]);
    }
}

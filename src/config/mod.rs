//! The configuration: one typed struct read from TOML ([`sections`]), with every value parsed
//! into a type that cannot hold an invalid state (one module per value type), then checked as a
//! whole ([`validate`]). Loading reports the file and the dotted key of the first bad value;
//! `hush check-config` and `hush run` go through the same [`Config::load`].

mod anchors;
mod block_answer;
mod database;
mod duration;
mod groups;
mod list_entry;
mod local;
mod network;
mod sections;
mod upstream;
mod validate;

pub use anchors::load_trust_anchors;
pub use block_answer::BlockAnswer;
pub use database::{DatabaseLocation, default_instance};
pub use duration::HumanDuration;
pub use groups::{
    ClientEntry, ClientMatch, ClockTime, DEFAULT_GROUP, GroupConfig, MAX_GROUPS, ScheduleConfig,
    Weekday,
};
pub use list_entry::{ListEntry, ListLocation, validate_category, validate_vendor};
pub use local::{ClientNames, ForwardZone, LocalConfig, LocalValue};
pub use network::ClientNet;
pub use sections::{ApiConfig, BlockingConfig, DnsConfig, PiholeConfig, QueryLogConfig, TlsConfig};
pub use upstream::{Transport, Upstream};

use std::path::{Path, PathBuf};
use std::str::FromStr;

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
    pub tls: TlsConfig,
    pub local: LocalConfig,
    pub pihole: PiholeConfig,
    /// `[[clients]]`: devices and the groups they belong to.
    pub clients: Vec<ClientEntry>,
    /// `[[groups]]`: lists that apply to some devices, optionally on a schedule.
    pub groups: Vec<GroupConfig>,
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
        for group in &mut self.groups {
            group.lists.iter_mut().for_each(anchor);
            group.allowlists.iter_mut().for_each(anchor);
        }
        if let DatabaseLocation::File(path) = &mut self.querylog.database
            && !path.as_os_str().is_empty()
            && path.is_relative()
        {
            *path = base.join(&*path);
        }
        self.querylog.config_dir = base.to_path_buf();
        for path in [
            &mut self.tls.cert,
            &mut self.tls.key,
            &mut self.dns.upstream_ca,
            &mut self.dns.trust_anchors,
        ] {
            if !path.as_os_str().is_empty() && path.is_relative() {
                *path = base.join(&*path);
            }
        }
        self
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
        assert_eq!(
            config.querylog.database,
            DatabaseLocation::File(PathBuf::from("/etc/hush/hush.db"))
        );
        assert_eq!(
            config.querylog.retention.0,
            Duration::from_secs(30 * 86_400)
        );
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
            "[blocking]\nlists = [\"local.txt\", { url = \"https://example.com/l.txt\", name = \"Example\", category = \"ads\" }, { path = \"t.txt\", category = \"telemetry\", vendor = \" Xiaomi \" }]",
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
        assert_eq!(lists[2].vendor.as_deref(), Some("Xiaomi"));
        assert_eq!(lists[1].vendor, None);
        let bad = [
            (
                "lists = [{ path = \"a\", vendor = \"\" }]",
                "invalid vendor",
            ),
            (
                "lists = [{ path = \"a\", vendor = \"X\\nY\" }]",
                "invalid vendor",
            ),
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
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("s3cret"),
            "the token leaks into logs: {shown}"
        );
        assert!(shown.contains("token: \"(set)\""), "{shown}");
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

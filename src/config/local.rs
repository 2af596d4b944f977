//! The house's own names: `[local]` records (answered by hush itself) and `[[dns.forward]]`
//! zones (passed to the router or another server), and how clients get names.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::{HumanDuration, Upstream};

/// `[local]`: names hush answers itself, authoritatively.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalConfig {
    /// TTL of local answers.
    pub ttl: HumanDuration,
    /// Name → value: an address, a list of addresses, or another name (a CNAME).
    pub records: BTreeMap<String, LocalValue>,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            ttl: HumanDuration(Duration::from_secs(300)),
            records: BTreeMap::new(),
        }
    }
}

/// What one local name stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalValue {
    /// Its A and AAAA records.
    Addresses(Vec<IpAddr>),
    /// A CNAME to this name.
    Alias(String),
}

impl<'de> Deserialize<'de> for LocalValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(String),
            Many(Vec<String>),
        }
        let form = Form::deserialize(deserializer).map_err(|_| {
            D::Error::custom("expected an address, a list of addresses, or a name (a CNAME)")
        })?;
        match form {
            Form::One(text) => Ok(match text.trim().parse::<IpAddr>() {
                Ok(address) => Self::Addresses(vec![address]),
                Err(_) => Self::Alias(text.trim().trim_end_matches('.').to_ascii_lowercase()),
            }),
            Form::Many(texts) if texts.is_empty() => {
                Err(D::Error::custom("an empty list: give at least one address"))
            }
            Form::Many(texts) => texts
                .iter()
                .map(|text| {
                    text.trim().parse::<IpAddr>().map_err(|_| {
                        D::Error::custom(format!(
                            "{text:?} is not an address (a list holds addresses only)"
                        ))
                    })
                })
                .collect::<Result<_, _>>()
                .map(Self::Addresses),
        }
    }
}

/// One `[[dns.forward]]` entry: names under these zones go to these upstreams.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardZone {
    pub zones: Vec<String>,
    pub upstreams: Vec<Upstream>,
}

/// How clients get names in the history (`dns.client_names`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientNames {
    /// Reverse lookups of client addresses through local records and forwarded zones only.
    #[default]
    Ptr,
    Off,
}

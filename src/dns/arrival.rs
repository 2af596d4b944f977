//! How a query reached hush: over which protocol, and from which named device. A device names
//! itself in its DNS-over-TLS server name (`<device>.<one of tls.names>`) or its DNS-over-HTTPS
//! path (`/dns-query/<device>`), so two phones behind one address can be told apart.

use std::fmt;
use std::sync::Arc;

/// The protocol a query came over; its code is what the query log stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Udp = 0,
    Tcp = 1,
    /// DNS over TLS (RFC 7858).
    Tls = 2,
    /// DNS over HTTPS (RFC 8484).
    Https = 3,
}

impl Protocol {
    pub const ALL: [Protocol; 4] = [Self::Udp, Self::Tcp, Self::Tls, Self::Https];

    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|protocol| protocol.code() == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Https => "https",
        }
    }

    pub fn from_name(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|protocol| protocol.name() == text)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A device's own name: one DNS label of `a-z`, `0-9` and `-`, 1 to 63 long.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceName(Arc<str>);

impl DeviceName {
    /// The device name in `text`, lower-cased, when it is one; anything else is no name.
    pub fn parse(text: &str) -> Option<Self> {
        let valid = (1..=63).contains(&text.len())
            && text
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
        valid.then(|| Self(Arc::from(text.to_ascii_lowercase())))
    }

    /// The device a TLS server name picks: `<device>.<name>` for one of `names` (compared
    /// without letter case).
    pub fn from_server_name(server_name: &str, names: &[String]) -> Option<Self> {
        let (device, rest) = server_name.split_once('.')?;
        let rest = rest.trim_end_matches('.');
        names
            .iter()
            .any(|name| name.trim_end_matches('.').eq_ignore_ascii_case(rest))
            .then(|| Self::parse(device))
            .flatten()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where one request came from, beyond its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub protocol: Protocol,
    pub device: Option<DeviceName>,
}

impl Arrival {
    pub const UDP: Self = Self {
        protocol: Protocol::Udp,
        device: None,
    };

    pub const TCP: Self = Self {
        protocol: Protocol::Tcp,
        device: None,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_are_one_plain_label() {
        assert_eq!(DeviceName::parse("Phone-2").unwrap().as_str(), "phone-2");
        for bad in ["", "a.b", "ph one", "dévice", &"x".repeat(64), "a_b"] {
            assert_eq!(DeviceName::parse(bad), None, "{bad:?}");
        }
        let names = vec!["dns.example.org".to_owned()];
        let from = |sni| DeviceName::from_server_name(sni, &names).map(|d| d.to_string());
        assert_eq!(from("mia.dns.example.org"), Some("mia".into()));
        assert_eq!(from("MIA.DNS.Example.org"), Some("mia".into()));
        assert_eq!(from("dns.example.org"), None, "the bare name is no device");
        assert_eq!(from("a.b.dns.example.org"), None, "one label only");
        assert_eq!(from("mia.other.example"), None);
    }

    #[test]
    fn protocol_codes_and_names_agree() {
        for (i, protocol) in Protocol::ALL.into_iter().enumerate() {
            assert_eq!(protocol.index(), i);
            assert_eq!(Protocol::from_code(protocol.code()), Some(protocol));
            assert_eq!(Protocol::from_name(protocol.name()), Some(protocol));
        }
    }
}

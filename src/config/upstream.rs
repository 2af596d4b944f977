//! The upstream syntax of `dns.upstreams`: `9.9.9.9`, `udp://…`, `tcp://…`, `tls://…#name`,
//! `https://…/path#name`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! `blocking.answer`: what a blocked query is answered with.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}

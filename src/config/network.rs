//! Client networks in the config (`dns.allowed_clients`): a CIDR or a single address.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

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

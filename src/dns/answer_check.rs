//! The answer check, on what the upstream said rather than what was asked. CNAME cloaking:
//! trackers hide behind first-party names that CNAME to them (`metrics.shop.example CNAME
//! shop.tracker.example`); when any name in the chain is blocked, the whole answer is blocked as
//! if the query name were. DNS rebinding (optional): a public name answering with a private
//! address lets a web page reach devices inside the house, so such answers are blocked.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::rr::{LowerName, RData};

use super::outcome::{BlockCause, Blocked};
use super::policy::{Decision, Policy};
use super::reply::Reply;
use crate::rules::{GroupMask, QueryName};

/// The block that applies to `reply` because of its CNAME chain, for a client in `groups`.
pub fn cloaked_by(policy: &Policy, groups: GroupMask, reply: &Reply) -> Option<Blocked> {
    reply.answers.iter().find_map(|record| {
        let RData::CNAME(target) = &record.data else {
            return None;
        };
        let target = LowerName::from(&target.0);
        match policy.decide(&target, groups) {
            Decision::Block(blocked) => Some(Blocked {
                via_cname: Some(Box::new(target)),
                ..blocked
            }),
            Decision::Allow { .. } | Decision::Pass => None,
        }
    })
}

/// The block that applies to `reply` under rebinding protection, if any.
pub fn rebinding(policy: &Policy, name: &LowerName, reply: &Reply) -> Option<Blocked> {
    if !policy.rebinding_protection || is_local_name(name) {
        return None;
    }
    reply.answers.iter().find_map(|record| {
        let address = match &record.data {
            RData::A(a) => IpAddr::V4(a.0),
            RData::AAAA(aaaa) => IpAddr::V6(aaaa.0),
            _ => return None,
        };
        is_private(address).then(|| Blocked {
            cause: BlockCause::Rebinding { address },
            via_cname: None,
            group: None,
        })
    })
}

/// Names that belong inside a home network and may answer with private addresses.
fn is_local_name(name: &LowerName) -> bool {
    const LOCAL_SUFFIXES: [&str; 10] = [
        "local",
        "lan",
        "home",
        "home.arpa",
        "internal",
        "localdomain",
        "localhost",
        "corp",
        "in-addr.arpa",
        "ip6.arpa",
    ];
    let Some(name) = QueryName::from_lower(name) else {
        return false;
    };
    let mut suffixes = name.suffixes();
    // A single label ("nas", "printer") is a local host name.
    let single_label = suffixes.nth(1).is_none();
    single_label
        || name.suffixes().any(|suffix| {
            LOCAL_SUFFIXES
                .iter()
                .any(|local| local.as_bytes() == suffix)
        })
}

/// Private, loopback, link-local and unspecified addresses. Shared address space
/// (100.64.0.0/10) is left out: overlay networks such as Tailscale give public names such
/// addresses on purpose.
fn is_private(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private_v4(v4),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    || v6.is_unspecified()
                    || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
                    || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
            }
        },
    }
}

fn is_private_v4(v4: Ipv4Addr) -> bool {
    v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::Name;

    #[test]
    fn private_addresses() {
        let private = [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.1.1",
        ];
        let public = [
            "8.8.8.8",
            "100.64.0.1",
            "2001:db8::1",
            "172.32.0.1",
            "::ffff:8.8.8.8",
        ];
        for address in private {
            assert!(is_private(address.parse().unwrap()), "{address}");
        }
        for address in public {
            assert!(!is_private(address.parse().unwrap()), "{address}");
        }
    }

    #[test]
    fn local_names() {
        let name = |text: &str| LowerName::from(Name::from_ascii(text).unwrap());
        for local in [
            "printer.local.",
            "router.lan.",
            "nas.home.arpa.",
            "1.1.168.192.in-addr.arpa.",
            "box.",
        ] {
            assert!(is_local_name(&name(local)), "{local}");
        }
        for public in ["example.com.", "local.example.com.", "lan.example.com."] {
            assert!(!is_local_name(&name(public)), "{public}");
        }
    }
}

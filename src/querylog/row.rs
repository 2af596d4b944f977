//! What the query log keeps of a query event: the owner's privacy choices, and the event turned
//! into the row the store writes ([`RowMaker`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::LowerName;
use ipnet::IpNet;

use crate::config::QueryLogConfig;
use crate::dns::outcome::{Outcome, QueryEvent};
use crate::store::time::unix_micros;
use crate::store::{HIDDEN_NAME, QueryRow};

/// What the query log keeps of each query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Privacy {
    /// Store the client's network (IPv4 /24, IPv6 /56), not its address.
    pub anonymize_clients: bool,
    /// Store query names (and the rules that name them).
    pub log_names: bool,
}

impl Privacy {
    pub fn of(config: &QueryLogConfig) -> Self {
        Self {
            anonymize_clients: config.anonymize_clients,
            log_names: config.log_names,
        }
    }
}

/// Client addresses whose text a [`RowMaker`] remembers before it starts afresh: far more devices
/// than a household has, and a bound against a flood from many addresses.
const REMEMBERED_ADDRESSES: usize = 1_024;

/// Turns query events into rows. It remembers the text of the client addresses it has seen: a
/// batch holds many queries from a few devices, and formatting each address anew was 8% of the
/// writer's thread at saturation (benches/README, round six).
pub(super) struct RowMaker {
    privacy: Privacy,
    addresses: HashMap<IpAddr, String, foldhash::fast::RandomState>,
}

impl RowMaker {
    pub(super) fn new(privacy: Privacy) -> Self {
        Self {
            privacy,
            addresses: HashMap::default(),
        }
    }

    /// The row `event` becomes, keeping what the privacy settings allow.
    pub(super) fn row_of(&mut self, event: QueryEvent) -> QueryRow {
        let (rule, list, category, group, upstream) = match &event.outcome {
            Outcome::Blocked(blocked) => {
                let (list, category) = blocked.shared_list_and_category();
                (
                    Some(blocked.shared_rule()),
                    Some(list),
                    category,
                    blocked.group.clone(),
                    None,
                )
            }
            Outcome::Forwarded { upstream } => (None, None, None, None, Some(Arc::clone(upstream))),
            _ => (None, None, None, None, None),
        };
        let (domain, rule) = if self.privacy.log_names {
            (name_text(&event.name), rule)
        } else {
            (HIDDEN_NAME.to_owned(), None)
        };
        // A device name tells devices apart, which is what anonymising clients is to prevent.
        let (client, client_name) = if self.privacy.anonymize_clients {
            (network_of(event.client), None)
        } else {
            (event.client, event.device.map(|device| device.to_string()))
        };
        QueryRow {
            time_us: unix_micros(event.time),
            client: self.address_text(client),
            client_name,
            protocol: event.protocol,
            domain,
            qtype: u16::from(event.query_type),
            status: event.outcome.status(),
            rcode: u16::from(event.rcode),
            rule,
            list,
            category,
            group,
            upstream,
            duration_us: i64::try_from(event.duration.as_micros()).unwrap_or(i64::MAX),
        }
    }

    fn address_text(&mut self, address: IpAddr) -> String {
        if let Some(text) = self.addresses.get(&address) {
            return text.clone();
        }
        if self.addresses.len() >= REMEMBERED_ADDRESSES {
            self.addresses.clear();
        }
        let text = address.to_string();
        self.addresses.insert(address, text.clone());
        text
    }
}

/// A query name as the history shows it: hickory's presentation form (escapes, IDNs in Unicode)
/// without the trailing dot. Names whose labels need neither escaping nor IDN decoding, nearly
/// all of them, are copied label by label; formatting every name was the writer thread's
/// largest single cost (18% of its samples at saturation).
fn name_text(name: &LowerName) -> String {
    let plain = |label: &[u8]| {
        !label.starts_with(b"xn--")
            && label.iter().enumerate().all(|(i, &byte)| {
                byte.is_ascii_alphanumeric() || byte == b'_' || (byte == b'-' && i > 0)
            })
    };
    if name.is_root() || !name.iter().all(plain) {
        let mut text = name.to_string();
        if text.len() > 1 && text.ends_with('.') {
            text.pop();
        }
        return text;
    }
    let mut text = String::with_capacity(name.len());
    for label in name.iter() {
        if !text.is_empty() {
            text.push('.');
        }
        // `plain` admitted ASCII letters, digits, '-' and '_' only.
        text.extend(label.iter().map(|&byte| char::from(byte)));
    }
    text
}

/// The client's network: the address with its host part zeroed (IPv4 /24, IPv6 /56), enough to
/// tell households and subnets apart but not devices.
fn network_of(client: IpAddr) -> IpAddr {
    let prefix = match client {
        IpAddr::V4(_) => 24,
        IpAddr::V6(_) => 56,
    };
    IpNet::new(client, prefix).map_or(client, |net| net.network())
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::Name;

    use super::*;

    #[test]
    fn names_read_as_hickory_presents_them() {
        // Raw labels, as a query packet may carry them.
        let names: [&[&[u8]]; 10] = [
            &[b"tracker", b"example"],
            &[b"a_b", b"c-d", b"example"],
            &[b"-lead", b"example"],
            &[b"*", b"wild", b"example"],
            &[b"xn--bcher-kva", b"example"],
            &[b"UPPER", b"Example"],
            &[b"sp ace", b"example"],
            &[b"dot.inside", b"example"],
            &[b"nul\0", b"\xff\x7f", b"example"],
            &[],
        ];
        for labels in names {
            let mut name = Name::from_labels(labels.iter().copied()).unwrap();
            name.set_fqdn(true);
            let name = LowerName::from(name);
            let mut expected = name.to_string();
            if expected.len() > 1 {
                expected.pop();
            }
            assert_eq!(name_text(&name), expected, "{labels:?}");
        }
        let idn = LowerName::from(Name::from_ascii("xn--bcher-kva.example.").unwrap());
        assert_eq!(name_text(&idn), "bücher.example");
        let plain = LowerName::from(Name::from_ascii("Ads.Tracker.example.").unwrap());
        assert_eq!(name_text(&plain), "ads.tracker.example");
    }

    #[test]
    fn remembered_addresses_read_as_new_ones_and_stay_bounded() {
        let mut rows = RowMaker::new(Privacy {
            anonymize_clients: false,
            log_names: true,
        });
        for round in 0..2 {
            for i in 0..=u16::try_from(REMEMBERED_ADDRESSES).unwrap() {
                let address = IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, round, i]);
                assert_eq!(rows.address_text(address), address.to_string());
                assert!(rows.addresses.len() <= REMEMBERED_ADDRESSES);
            }
        }
        let v4 = IpAddr::from([192, 168, 1, 23]);
        assert_eq!(rows.address_text(v4), "192.168.1.23");
        assert_eq!(rows.address_text(v4), "192.168.1.23");
    }

    #[test]
    fn anonymized_clients_keep_only_their_network() {
        let cases = [
            ("192.168.1.23", "192.168.1.0"),
            ("10.1.2.3", "10.1.2.0"),
            ("2001:db8:1234:5678:9abc::1", "2001:db8:1234:5600::"),
        ];
        for (client, network) in cases {
            assert_eq!(network_of(client.parse().unwrap()).to_string(), network);
        }
    }
}

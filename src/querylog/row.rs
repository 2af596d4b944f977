//! What the query log keeps of a query event: the owner's privacy choices, and the event turned
//! into the row the store writes.

use std::net::IpAddr;
use std::sync::Arc;

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

/// The row `event` becomes, keeping what `privacy` allows.
pub(super) fn row_of(event: QueryEvent, privacy: Privacy) -> QueryRow {
    let (rule, list, category, group, upstream) = match &event.outcome {
        Outcome::Blocked(blocked) => {
            let (list, category) = blocked.shared_list_and_category();
            (
                Some(Arc::from(blocked.rule())),
                Some(list),
                category,
                blocked.group.clone(),
                None,
            )
        }
        Outcome::Forwarded { upstream } => (None, None, None, None, Some(Arc::clone(upstream))),
        _ => (None, None, None, None, None),
    };
    let (domain, rule) = if privacy.log_names {
        let mut domain = event.name.to_string();
        if domain.len() > 1 && domain.ends_with('.') {
            domain.pop();
        }
        (domain, rule)
    } else {
        (HIDDEN_NAME.to_owned(), None)
    };
    // A device name tells devices apart, which is what anonymising clients is to prevent.
    let (client, client_name) = if privacy.anonymize_clients {
        (network_of(event.client), None)
    } else {
        (event.client, event.device.map(|device| device.to_string()))
    };
    QueryRow {
        time_us: unix_micros(event.time),
        client: client.to_string(),
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
    use super::*;

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

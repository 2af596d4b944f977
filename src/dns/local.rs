//! The local-records stage: the house's own names from `[local] records`, answered by hush
//! itself and authoritatively (AA), never forwarded. A name stands for addresses (A/AAAA) or for
//! another name (a CNAME, followed when its target is local too); every address also answers its
//! reverse lookup (PTR). A listed name with no record of the asked type is NODATA; a name that is
//! not listed goes on through the pipeline, even when a sibling is listed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use super::reply::Reply;
use crate::config::{LocalConfig, LocalValue};
use crate::rules::QueryName;

/// The shared, swappable local records (a reload replaces them whole).
pub type SharedLocal = Arc<ArcSwap<LocalRecords>>;

/// How far CNAMEs between local names are followed (a loop stops here).
const MAX_CHAIN: usize = 8;

#[derive(Debug, Default)]
pub struct LocalRecords {
    /// By the name's text in the rules' form ([`QueryName`]): the pipeline has it already, so
    /// a query (nearly always for a name that is not local) costs one short hash, not a walk
    /// over the labels of a `LowerName`.
    names: HashMap<Box<[u8]>, Entry, foldhash::fast::RandomState>,
    /// Address → the name it belongs to (the first in name order, when several share it).
    reverse: HashMap<IpAddr, Name>,
    ttl: u32,
}

#[derive(Debug)]
enum Entry {
    Addresses(Vec<IpAddr>),
    Alias(Name),
}

impl LocalRecords {
    pub fn new(config: &LocalConfig) -> Self {
        let mut records = Self {
            ttl: u32::try_from(config.ttl.0.as_secs()).unwrap_or(u32::MAX),
            ..Self::default()
        };
        // `records` is a BTreeMap: name order, so "the first name" of an address is stable.
        for (name, value) in &config.records {
            let Some(owner) = fqdn(name) else {
                continue;
            };
            let entry = match value {
                LocalValue::Addresses(addresses) => {
                    for address in addresses {
                        records
                            .reverse
                            .entry(address.to_canonical())
                            .or_insert_with(|| owner.clone());
                    }
                    Entry::Addresses(addresses.clone())
                }
                LocalValue::Alias(target) => match fqdn(target) {
                    Some(target) => Entry::Alias(target),
                    None => continue,
                },
            };
            if let Some(key) = QueryName::from_lower(&LowerName::from(&owner)) {
                records.names.insert(key.as_bytes().into(), entry);
            }
        }
        records
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name a client address has, if a local record gives it one.
    pub fn name_of(&self, address: IpAddr) -> Option<&Name> {
        self.reverse.get(&address.to_canonical())
    }

    /// The authoritative answer for `query_name`/`query_type` if the name is local (or the
    /// reverse name of a local address); `None` sends the query on. `name` is the query name
    /// in the rules' form, absent when it has none (and then no local name matches it).
    pub fn answer(
        &self,
        name: Option<&QueryName>,
        query_name: &Name,
        query_type: RecordType,
    ) -> Option<Reply> {
        if query_type == RecordType::PTR
            && let Some(address) = reverse_address(query_name)
        {
            let owner = self.reverse.get(&address)?;
            return Some(self.reply(vec![Record::from_rdata(
                query_name.clone(),
                self.ttl,
                RData::PTR(PTR(owner.clone())),
            )]));
        }
        let mut entry = self.names.get(name?.as_bytes())?;
        let mut owner = query_name.clone();
        let mut answers = Vec::new();
        for _ in 0..MAX_CHAIN {
            match entry {
                Entry::Alias(target) => {
                    answers.push(Record::from_rdata(
                        owner.clone(),
                        self.ttl,
                        RData::CNAME(CNAME(target.clone())),
                    ));
                    if query_type == RecordType::CNAME {
                        break;
                    }
                    // A target that is not local is the client's to resolve.
                    let target_key = QueryName::from_lower(&LowerName::from(target));
                    let Some(next) = target_key.and_then(|key| self.names.get(key.as_bytes()))
                    else {
                        break;
                    };
                    owner = target.clone();
                    entry = next;
                }
                Entry::Addresses(addresses) => {
                    answers.extend(addresses.iter().filter_map(|address| {
                        let rdata = match (address, query_type) {
                            (IpAddr::V4(v4), RecordType::A | RecordType::ANY) => RData::A(A(*v4)),
                            (IpAddr::V6(v6), RecordType::AAAA | RecordType::ANY) => {
                                RData::AAAA(AAAA(*v6))
                            }
                            _ => return None,
                        };
                        Some(Record::from_rdata(owner.clone(), self.ttl, rdata))
                    }));
                    break;
                }
            }
        }
        Some(self.reply(answers))
    }

    fn reply(&self, answers: Vec<Record>) -> Reply {
        Reply {
            authoritative: true,
            ..Reply::with_records(ResponseCode::NoError, answers, Vec::new())
        }
    }
}

fn fqdn(text: &str) -> Option<Name> {
    let mut name = Name::from_ascii(text.trim_end_matches('.')).ok()?;
    name.set_fqdn(true);
    Some(name.to_lowercase())
}

/// The address a reverse name (`4.3.2.1.in-addr.arpa.`, nibbles under `ip6.arpa.`) stands for.
fn reverse_address(name: &Name) -> Option<IpAddr> {
    let text = name.to_lowercase().to_ascii();
    let text = text.trim_end_matches('.');
    if let Some(labels) = text.strip_suffix(".in-addr.arpa") {
        let mut octets: Vec<u8> = labels
            .split('.')
            .map(|label| label.parse().ok())
            .collect::<Option<_>>()?;
        if octets.len() != 4 {
            return None;
        }
        octets.reverse();
        return Some(IpAddr::from([octets[0], octets[1], octets[2], octets[3]]));
    }
    let nibbles = text.strip_suffix(".ip6.arpa")?;
    let digits: Vec<u8> = nibbles
        .split('.')
        .map(|label| {
            u8::from_str_radix(label, 16)
                .ok()
                .filter(|_| label.len() == 1)
        })
        .collect::<Option<_>>()?;
    if digits.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, pair) in digits.rchunks(2).enumerate() {
        bytes[i] = (pair[1] << 4) | pair[0];
    }
    Some(IpAddr::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names_read_back_as_addresses() {
        let name = |text| Name::from_ascii(text).unwrap();
        assert_eq!(
            reverse_address(&name("10.1.168.192.in-addr.arpa.")),
            Some("192.168.1.10".parse().unwrap())
        );
        let v6: IpAddr = "fd00::20".parse().unwrap();
        let IpAddr::V6(address) = v6 else {
            unreachable!()
        };
        let nibbles: Vec<String> = address
            .octets()
            .iter()
            .rev()
            .flat_map(|byte| [format!("{:x}", byte & 0xf), format!("{:x}", byte >> 4)])
            .collect();
        let reverse = format!("{}.ip6.arpa.", nibbles.join("."));
        assert_eq!(reverse_address(&name(&reverse)), Some(v6));
        for bad in [
            "1.168.192.in-addr.arpa.",
            "x.1.168.192.in-addr.arpa.",
            "example.com.",
        ] {
            assert_eq!(reverse_address(&name(bad)), None, "{bad}");
        }
    }
}

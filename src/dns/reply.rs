//! What hush answers, before it is encoded: an rcode and the records of each section. Block
//! answers for every `blocking.answer` mode are built here.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, HINFO};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::config::BlockAnswer;

/// TTL of the RFC 8482 answer: it never changes, so clients may keep it (the RFC suggests a
/// long TTL; a day keeps a misbehaving client from asking every second).
const ANY_ANSWER_TTL: u32 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    /// hush is the authority for the answer (local records): the AA bit is set.
    pub authoritative: bool,
    /// DNSSEC proved every record (`dns.dnssec`): the AD bit is set for clients that ask.
    pub secure: bool,
    /// Why the answer is an error, sent as an extended DNS error (RFC 8914).
    pub extended_error: Option<ExtendedError>,
}

/// The extended DNS errors hush sends (RFC 8914 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtendedError {
    /// Validation found the answer forged or broken (INFO-CODE 6).
    DnssecBogus,
}

impl ExtendedError {
    pub fn info_code(self) -> u16 {
        match self {
            Self::DnssecBogus => 6,
        }
    }

    pub fn extra_text(self) -> &'static str {
        match self {
            Self::DnssecBogus => "the upstream answer failed DNSSEC validation",
        }
    }
}

impl Reply {
    /// A reply with these records, neither authoritative nor validated.
    pub fn with_records(
        rcode: ResponseCode,
        answers: Vec<Record>,
        authorities: Vec<Record>,
    ) -> Self {
        Self {
            rcode,
            answers,
            authorities,
            authoritative: false,
            secure: false,
            extended_error: None,
        }
    }

    /// A reply with no records.
    pub fn empty(rcode: ResponseCode) -> Self {
        Self::with_records(rcode, Vec::new(), Vec::new())
    }

    /// SERVFAIL for an answer that failed DNSSEC validation, saying so (RFC 8914).
    pub fn bogus() -> Self {
        Self {
            extended_error: Some(ExtendedError::DnssecBogus),
            ..Self::empty(ResponseCode::ServFail)
        }
    }

    /// The minimal answer to an ANY query (RFC 8482 §4.2): one synthesized HINFO record.
    pub fn minimal_any(name: &Name) -> Self {
        let hinfo = HINFO::new("RFC8482".to_owned(), String::new());
        let record = Record::from_rdata(name.clone(), ANY_ANSWER_TTL, RData::HINFO(hinfo));
        Self::with_records(ResponseCode::NoError, vec![record], Vec::new())
    }

    /// The local answer for a blocked `name`/`query_type`.
    pub fn blocked(answer: BlockAnswer, ttl: u32, name: &Name, query_type: RecordType) -> Self {
        let address = |rdata: RData| {
            let record = Record::from_rdata(name.clone(), ttl, rdata);
            Self::with_records(ResponseCode::NoError, vec![record], Vec::new())
        };
        match (answer, query_type) {
            (BlockAnswer::Nxdomain, _) => Self::empty(ResponseCode::NXDomain),
            (BlockAnswer::Refused, _) => Self::empty(ResponseCode::Refused),
            (BlockAnswer::Null, RecordType::A) => address(RData::A(A(Ipv4Addr::UNSPECIFIED))),
            (BlockAnswer::Null, RecordType::AAAA) => {
                address(RData::AAAA(AAAA(Ipv6Addr::UNSPECIFIED)))
            }
            (BlockAnswer::Addresses { v4: Some(ip), .. }, RecordType::A) => {
                address(RData::A(A(ip)))
            }
            (BlockAnswer::Addresses { v6: Some(ip), .. }, RecordType::AAAA) => {
                address(RData::AAAA(AAAA(ip)))
            }
            // Other types, or a family without a configured address: "no such data" (NODATA).
            _ => Self::empty(ResponseCode::NoError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_text(reply: &Reply) -> Vec<String> {
        reply
            .answers
            .iter()
            .map(|r| format!("{} {} {}", r.name, r.ttl, r.data))
            .collect()
    }

    #[test]
    fn every_block_mode() {
        let name = Name::from_ascii("ads.example.com.").unwrap();
        let custom = BlockAnswer::Addresses {
            v4: Some(Ipv4Addr::new(192, 168, 1, 2)),
            v6: None,
        };
        let cases: &[(BlockAnswer, RecordType, ResponseCode, &[&str])] = &[
            (
                BlockAnswer::Null,
                RecordType::A,
                ResponseCode::NoError,
                &["ads.example.com. 10 0.0.0.0"],
            ),
            (
                BlockAnswer::Null,
                RecordType::AAAA,
                ResponseCode::NoError,
                &["ads.example.com. 10 ::"],
            ),
            (
                BlockAnswer::Null,
                RecordType::TXT,
                ResponseCode::NoError,
                &[],
            ),
            (
                BlockAnswer::Nxdomain,
                RecordType::A,
                ResponseCode::NXDomain,
                &[],
            ),
            (
                BlockAnswer::Refused,
                RecordType::MX,
                ResponseCode::Refused,
                &[],
            ),
            (
                custom,
                RecordType::A,
                ResponseCode::NoError,
                &["ads.example.com. 10 192.168.1.2"],
            ),
            (custom, RecordType::AAAA, ResponseCode::NoError, &[]),
        ];
        for (mode, query_type, rcode, answers) in cases {
            let reply = Reply::blocked(*mode, 10, &name, *query_type);
            assert_eq!(reply.rcode, *rcode, "{mode:?} {query_type}");
            assert_eq!(answer_text(&reply), *answers, "{mode:?} {query_type}");
        }
    }
}

//! Cached answers kept as bytes. Encoding a reply record by record (names, compression, RDATA)
//! was a tenth of a cache hit's cost, yet a cached answer's records come out the same for every
//! client but for their TTLs. So they are encoded once, when the answer is stored, together
//! with where each TTL sits; a hit writes the client's header and its own question, copies the
//! records behind them and counts the TTLs down in place.
//!
//! The records are encoded behind the question they answer, compressed against it. A response
//! repeats its request's question byte for byte (the client's letter case included), and a
//! question for the same name and type has the same length whatever its case, so every
//! compression pointer still lands on the same labels (an owner name compressed to the
//! question reads in the client's case, as it would from a server that compresses to it).

use std::iter;

use hickory_proto::op::{
    Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, Query, emit_message_parts,
};
use hickory_proto::rr::{LowerName, Name, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use super::reply::Reply;

/// A reply's answer and authority records, encoded as they follow their question.
#[derive(Debug)]
pub struct EncodedRecords {
    bytes: Box<[u8]>,
    /// Where each record's TTL starts in `bytes`.
    ttl_offsets: Box<[u16]>,
    /// The length of the question the records were encoded behind.
    question_len: usize,
    answers: u16,
    authorities: u16,
}

/// The size of a DNS header.
const HEADER_LEN: usize = 12;

impl EncodedRecords {
    /// `reply`'s records as they follow the question `name`/`query_type`; `None` if they cannot
    /// be encoded (a reply hush could not encode is not answered from bytes either).
    pub fn encode(name: &LowerName, query_type: RecordType, reply: &Reply) -> Option<Self> {
        let query = Query::query(Name::from(name), query_type);
        let mut message = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut message);
        let header = emit_message_parts(
            &Metadata::new(0, MessageType::Response, OpCode::Query),
            &mut iter::once(&query),
            &mut reply.answers.iter(),
            &mut reply.authorities.iter(),
            &mut iter::empty::<&Record>(),
            None,
            None,
            &mut encoder,
        )
        .ok()?;
        // Records that did not all fit one message are left to the encoder, which sets TC.
        if header.metadata.truncation {
            return None;
        }
        let question_len = name_len(&message, HEADER_LEN)? + 4;
        let records = message.get(HEADER_LEN + question_len..)?;
        let count = usize::from(header.counts.answers) + usize::from(header.counts.authorities);
        let ttl_offsets = ttl_offsets(records, count)?;
        Some(Self {
            bytes: records.into(),
            ttl_offsets,
            question_len,
            answers: header.counts.answers,
            authorities: header.counts.authorities,
        })
    }

    /// The response to a request with this `question` (its bytes as the client sent them):
    /// `metadata` in the header, the records with each TTL changed by `ttl`, and `edns` as the
    /// OPT record. `None` when the question is not the one the records were encoded behind or
    /// the response would be longer than `max_len` (the caller then truncates the usual way).
    pub fn respond(
        &self,
        metadata: Metadata,
        question: &[u8],
        ttl: impl Fn(u32) -> u32,
        edns: Option<&Edns>,
        max_len: usize,
    ) -> Option<Vec<u8>> {
        if question.len() != self.question_len {
            return None;
        }
        let counts = HeaderCounts {
            queries: 1,
            answers: self.answers,
            authorities: self.authorities,
            additionals: u16::from(edns.is_some()),
        };
        let mut response = Vec::with_capacity(HEADER_LEN + question.len() + self.bytes.len() + 11);
        let mut encoder = BinEncoder::new(&mut response);
        Header { metadata, counts }.emit(&mut encoder).ok()?;
        encoder.emit_vec(question).ok()?;
        let records_start = encoder.offset();
        encoder.emit_vec(&self.bytes).ok()?;
        if let Some(edns) = edns {
            let mut edns = edns.clone();
            edns.set_rcode_high(metadata.response_code.high());
            Record::from(&edns).emit(&mut encoder).ok()?;
        }
        for &offset in &self.ttl_offsets {
            let at = records_start + usize::from(offset);
            let field: &mut [u8; 4] = response.get_mut(at..at + 4)?.try_into().ok()?;
            *field = ttl(u32::from_be_bytes(*field)).to_be_bytes();
        }
        (response.len() <= max_len).then_some(response)
    }
}

/// The length of the (possibly compressed) name at `start` in `message`.
fn name_len(message: &[u8], start: usize) -> Option<usize> {
    let mut at = start;
    loop {
        let length = *message.get(at)?;
        match length {
            0 => return Some(at + 1 - start),
            // A compression pointer ends the name.
            _ if length & 0xC0 == 0xC0 => return Some(at + 2 - start),
            _ => at += 1 + usize::from(length),
        }
    }
}

/// Where the TTL of each of the `count` records in `records` starts.
fn ttl_offsets(records: &[u8], count: usize) -> Option<Box<[u16]>> {
    let mut offsets = Vec::with_capacity(count);
    let mut at = 0;
    for _ in 0..count {
        // NAME, then TYPE and CLASS (2 bytes each), TTL (4), RDLENGTH (2), RDATA.
        let ttl_at = at + name_len(records, at)? + 4;
        let rdata_len = records.get(ttl_at + 4..ttl_at + 6)?;
        let rdata_len = usize::from(u16::from_be_bytes([rdata_len[0], rdata_len[1]]));
        offsets.push(u16::try_from(ttl_at).ok()?);
        at = ttl_at + 6 + rdata_len;
    }
    (at == records.len()).then(|| offsets.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, ResponseCode};
    use hickory_proto::rr::RData;
    use hickory_proto::rr::rdata::{A, CNAME, SOA, TXT};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn cname_chain() -> Reply {
        let answers = vec![
            Record::from_rdata(
                name("www.example.com."),
                300,
                RData::CNAME(CNAME(name("edge.cdn.example.net."))),
            ),
            Record::from_rdata(
                name("edge.cdn.example.net."),
                60,
                RData::A(A::new(192, 0, 2, 7)),
            ),
            Record::from_rdata(
                name("edge.cdn.example.net."),
                60,
                RData::A(A::new(192, 0, 2, 8)),
            ),
        ];
        Reply::with_records(ResponseCode::NoError, answers, Vec::new())
    }

    fn negative() -> Reply {
        let soa = SOA::new(
            name("ns1.example.com."),
            name("hostmaster.example.com."),
            2026120201,
            7200,
            900,
            1_209_600,
            3600,
        );
        let authority = Record::from_rdata(name("example.com."), 3600, RData::SOA(soa));
        Reply::with_records(ResponseCode::NXDomain, Vec::new(), vec![authority])
    }

    fn question(text: &str, query_type: RecordType) -> Vec<u8> {
        let mut bytes = Vec::new();
        Query::query(name(text), query_type)
            .emit(&mut BinEncoder::new(&mut bytes))
            .unwrap();
        bytes
    }

    #[test]
    fn ttls_are_found_behind_compressed_names() {
        let reply = cname_chain();
        let lower = LowerName::from(name("www.example.com."));
        let encoded = EncodedRecords::encode(&lower, RecordType::A, &reply).unwrap();
        assert_eq!((encoded.answers, encoded.authorities), (3, 0));
        let ttls: Vec<u32> = encoded
            .ttl_offsets
            .iter()
            .map(|&at| {
                let at = usize::from(at);
                u32::from_be_bytes(encoded.bytes[at..at + 4].try_into().unwrap())
            })
            .collect();
        assert_eq!(ttls, [300, 60, 60]);
    }

    #[test]
    fn a_response_from_bytes_says_what_the_records_say() {
        for (text, query_type, reply) in [
            ("www.example.com.", RecordType::A, cname_chain()),
            ("WwW.ExAmple.CoM.", RecordType::A, cname_chain()),
            ("gone.example.com.", RecordType::AAAA, negative()),
        ] {
            let lower = LowerName::from(name(text));
            let encoded = EncodedRecords::encode(&lower, query_type, &reply).unwrap();
            let mut metadata = Metadata::new(0xbeef, MessageType::Response, OpCode::Query);
            metadata.response_code = reply.rcode;
            metadata.recursion_available = true;
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            let question = question(text, query_type);
            let bytes = encoded
                .respond(metadata, &question, |ttl| ttl - 10, Some(&edns), 4096)
                .unwrap();
            let message = Message::from_vec(&bytes).unwrap();
            assert_eq!(message.metadata.id, 0xbeef);
            assert_eq!(message.metadata.response_code, reply.rcode);
            // The question is the client's, letter case included.
            assert_eq!(message.queries[0].name().to_string(), text);
            let aged = |records: &[Record]| -> Vec<(String, u32, String)> {
                records
                    .iter()
                    .map(|r| (r.name.to_ascii().to_lowercase(), r.ttl, r.data.to_string()))
                    .collect()
            };
            let expected_answers: Vec<_> = aged(&reply.answers)
                .into_iter()
                .map(|(n, ttl, data)| (n, ttl - 10, data))
                .collect();
            let expected_authorities: Vec<_> = aged(&reply.authorities)
                .into_iter()
                .map(|(n, ttl, data)| (n, ttl - 10, data))
                .collect();
            assert_eq!(aged(&message.answers), expected_answers, "{text}");
            assert_eq!(aged(&message.authorities), expected_authorities, "{text}");
            assert_eq!(message.edns.as_ref().map(Edns::max_payload), Some(1232));
        }
    }

    #[test]
    fn records_too_many_for_one_message_are_not_kept_as_bytes() {
        // A first record that fills the message to the last byte (12 header, 21 question,
        // 12 + 65,490 record), then one that cannot fit: the encoder drops the second whole,
        // so only its truncation flag tells the records apart from a complete answer.
        let mut strings = vec!["x".repeat(255); 255];
        strings.push("y".repeat(209));
        let owner = name("big.example.com.");
        let answers = vec![
            Record::from_rdata(owner.clone(), 300, RData::TXT(TXT::new(strings))),
            Record::from_rdata(owner.clone(), 300, RData::TXT(TXT::new(vec!["z".into()]))),
        ];
        let reply = Reply::with_records(ResponseCode::NoError, answers, Vec::new());
        let lower = LowerName::from(owner);
        assert!(EncodedRecords::encode(&lower, RecordType::TXT, &reply).is_none());
    }

    #[test]
    fn another_question_or_too_little_room_is_declined() {
        let reply = cname_chain();
        let lower = LowerName::from(name("www.example.com."));
        let encoded = EncodedRecords::encode(&lower, RecordType::A, &reply).unwrap();
        let metadata = Metadata::new(1, MessageType::Response, OpCode::Query);
        let longer = question("www2.example.com.", RecordType::A);
        assert!(
            encoded
                .respond(metadata, &longer, |ttl| ttl, None, 4096)
                .is_none()
        );
        let same = question("www.example.com.", RecordType::A);
        let full = encoded
            .respond(metadata, &same, |ttl| ttl, None, 4096)
            .unwrap();
        assert!(
            encoded
                .respond(metadata, &same, |ttl| ttl, None, full.len() - 1)
                .is_none()
        );
    }
}

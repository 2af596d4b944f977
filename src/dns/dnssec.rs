//! DNSSEC for forwarded answers (`dns.dnssec`): hickory-resolver validates (its chain of
//! DNSKEY/DS lookups, from the root anchor or `dns.trust_anchors`); this module turns what it
//! says into what hush answers. A validated answer is secure when every record it holds was
//! proven; the signatures and denial records that proved it are dropped (hush answers from its
//! own cache, which does not keep them, so a client is never shown half a proof); the negative
//! TTL comes from the SOA, which the validating resolver does not report. Bogus answers become
//! SERVFAIL with the extended DNS error "DNSSEC Bogus" (RFC 8914) in the pipeline.

use std::sync::Arc;

use hickory_proto::dnssec::TrustAnchors;
use hickory_proto::rr::{RData, Record, RecordType};

use crate::config::{DnsConfig, load_trust_anchors};

/// The anchors validation starts from: the file's, or hickory's built-in root keys.
/// `None` when validation is off.
pub fn trust_anchors(config: &DnsConfig) -> Result<Option<Arc<TrustAnchors>>, String> {
    if !config.dnssec {
        return Ok(None);
    }
    if config.trust_anchors.as_os_str().is_empty() {
        return Ok(Some(Arc::new(TrustAnchors::default())));
    }
    load_trust_anchors(&config.trust_anchors)
        .map(|anchors| Some(Arc::new(anchors)))
        .map_err(|message| format!("dns.trust_anchors: {message}"))
}

/// True when there is something and all of it was proven by the validator.
pub fn all_secure(records: &[Record]) -> bool {
    !records.is_empty() && records.iter().all(|record| record.proof.is_secure())
}

/// `records` without DNSSEC proof material (RRSIG, NSEC, NSEC3), unless it is what was asked.
pub fn without_proofs(records: &[Record], query_type: RecordType) -> Vec<Record> {
    records
        .iter()
        .filter(|record| {
            let kind = record.record_type();
            kind == query_type
                || !matches!(
                    kind,
                    RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3
                )
        })
        .cloned()
        .collect()
}

/// The negative-caching TTL of RFC 2308 §5: the smaller of the SOA record's TTL and its MINIMUM.
pub fn negative_ttl(authorities: &[Record]) -> Option<u32> {
    authorities.iter().find_map(|record| match &record.data {
        RData::SOA(soa) => Some(record.ttl.min(soa.minimum)),
        _ => None,
    })
}

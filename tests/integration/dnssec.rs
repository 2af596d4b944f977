//! DNSSEC validation (`dns.dnssec`) against a zone signed in the test and anchored with
//! `dns.trust_anchors`: secure answers get AD when the client asks with DO or AD (also from the
//! cache), bogus ones SERVFAIL with extended DNS error 6, insecure ones pass unchanged, and
//! block and local answers are never marked secure.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};

use hush::dns::outcome::Outcome;

use crate::support::*;

/// A query with EDNS and the DO bit.
fn with_do(name: &str, query_type: RecordType) -> Message {
    let mut message = with_edns(query_message(name, query_type), 1232);
    if let Some(edns) = message.edns.as_mut() {
        edns.set_dnssec_ok(true);
    }
    message
}

fn record_types(records: &[hickory_proto::rr::Record]) -> Vec<RecordType> {
    records.iter().map(|record| record.record_type()).collect()
}

async fn validating_hush(upstream: &SignedUpstream, extra: &str) -> TestHush {
    let anchors = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(anchors.path(), &upstream.anchor).unwrap();
    let text = format!(
        "dnssec = true\ntrust_anchors = \"{}\"\n{extra}",
        anchors.path().display()
    );
    // The anchors are read at start; the file may go afterwards.
    start_hush(upstream.addr, "blocked.signed.test\n", "", &text).await
}

#[tokio::test]
async fn secure_answers_get_ad_bogus_ones_servfail_with_the_reason() {
    let upstream = SignedUpstream::start().await;
    let mut hush = validating_hush(
        &upstream,
        "\n[local]\nrecords = { \"nas.signed.test\" = \"192.168.1.10\" }\n",
    )
    .await;

    let secure = udp_exchange(hush.addr, &with_do("www.signed.test.", RecordType::A)).await;
    assert_eq!(secure.metadata.response_code, ResponseCode::NoError);
    assert!(secure.metadata.authentic_data, "AD on a secure answer");
    assert_eq!(
        answers(&secure),
        [format!("www.signed.test. A {SECURE_ADDRESS}")]
    );
    assert!(
        secure.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
        "DO copied into the response"
    );
    assert!(matches!(
        hush.next_event().await.outcome,
        Outcome::Forwarded { .. }
    ));

    // From the cache: still secure. Asked with AD instead of DO: AD too (RFC 6840 §5.7).
    let mut with_ad = query_message("www.signed.test.", RecordType::A);
    with_ad.metadata.authentic_data = true;
    let cached = udp_exchange(hush.addr, &with_ad).await;
    assert!(cached.metadata.authentic_data, "AD kept by the cache");
    assert!(matches!(hush.next_event().await.outcome, Outcome::Cached));
    // A client that showed no DNSSEC awareness gets the same answer without AD.
    let plain = udp_query(hush.addr, "www.signed.test.", RecordType::A).await;
    assert!(!plain.metadata.authentic_data);
    assert_eq!(answers(&plain), answers(&secure));
    hush.next_event().await;

    // Secure NODATA: AD, the SOA for negative caching, no NSEC or RRSIG passed on.
    let nodata = udp_exchange(hush.addr, &with_do("www.signed.test.", RecordType::AAAA)).await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert!(nodata.metadata.authentic_data, "secure denial");
    assert_eq!(record_types(&nodata.authorities), [RecordType::SOA]);
    hush.next_event().await;

    let bogus = udp_exchange(hush.addr, &with_do("bad.signed.test.", RecordType::A)).await;
    assert_eq!(bogus.metadata.response_code, ResponseCode::ServFail);
    assert!(
        bogus.answers.is_empty(),
        "nothing of a forged answer reaches the client"
    );
    let reason = bogus
        .edns
        .as_ref()
        .and_then(|edns| edns.option(EdnsCode::Unknown(15)).cloned());
    match reason {
        Some(EdnsOption::Unknown(15, data)) => {
            assert_eq!(u16::from_be_bytes([data[0], data[1]]), 6, "DNSSEC Bogus");
            assert!(String::from_utf8_lossy(&data[2..]).contains("DNSSEC"));
        }
        other => panic!("no extended DNS error: {other:?}"),
    }
    assert!(matches!(
        hush.next_event().await.outcome,
        Outcome::Failed(_)
    ));

    // An unsigned zone with a proven insecure delegation: answered as is, without AD.
    let insecure = udp_exchange(hush.addr, &with_do("www.plain.test.", RecordType::A)).await;
    assert_eq!(insecure.metadata.response_code, ResponseCode::NoError);
    assert!(!insecure.metadata.authentic_data);
    assert_eq!(
        answers(&insecure),
        [format!("www.plain.test. A {INSECURE_ADDRESS}")]
    );
    hush.next_event().await;

    // hush's own answers are not validated data: never AD.
    let blocked = udp_exchange(hush.addr, &with_do("blocked.signed.test.", RecordType::A)).await;
    assert_eq!(answers(&blocked), ["blocked.signed.test. A 0.0.0.0"]);
    assert!(!blocked.metadata.authentic_data);
    let local = udp_exchange(hush.addr, &with_do("nas.signed.test.", RecordType::A)).await;
    assert_eq!(answers(&local), ["nas.signed.test. A 192.168.1.10"]);
    assert!(local.metadata.authoritative && !local.metadata.authentic_data);
}

#[tokio::test]
async fn without_dnssec_nothing_is_validated() {
    let upstream = SignedUpstream::start().await;
    let hush = start_hush(upstream.addr, "", "", "").await;
    let forged = udp_exchange(hush.addr, &with_do("bad.signed.test.", RecordType::A)).await;
    assert_eq!(forged.metadata.response_code, ResponseCode::NoError);
    assert!(!forged.metadata.authentic_data);
    assert_eq!(
        answers(&forged),
        [format!("bad.signed.test. A {BOGUS_ADDRESS}")]
    );
}

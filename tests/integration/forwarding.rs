//! Allowed names are forwarded with the upstream's records and rcode, cached with TTLs counting
//! down, and a dead upstream gives SERVFAIL in time.

use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use hush::dns::outcome::Status;

use crate::support::*;

#[tokio::test]
async fn allowed_queries_get_the_upstreams_records() {
    let upstream = Upstream::start().await;
    let mut hush = start_hush(upstream.addr, "", "", "").await;
    let cases = [
        (
            "www.example.com.",
            RecordType::A,
            vec!["www.example.com. A 192.0.2.1"],
        ),
        (
            "www.example.com.",
            RecordType::AAAA,
            vec!["www.example.com. AAAA 2001:db8::1"],
        ),
        (
            "example.com.",
            RecordType::MX,
            vec!["example.com. MX 10 mail.example.com."],
        ),
        (
            "example.com.",
            RecordType::TXT,
            vec!["example.com. TXT v=spf1 -all"],
        ),
    ];
    for (name, query_type, expected) in cases {
        let reply = udp_query(hush.addr, name, query_type).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "{name} {query_type}"
        );
        assert_eq!(answers(&reply), expected, "{name} {query_type}");
        let event = hush.expect_event(Status::Forwarded).await;
        assert_eq!(event.name, lower(name));
        assert_eq!(event.query_type, query_type);
        assert_eq!(
            event.client,
            "127.0.0.1".parse::<std::net::IpAddr>().unwrap()
        );
        match event.outcome {
            hush::dns::outcome::Outcome::Forwarded { upstream: used } => {
                assert_eq!(&*used, format!("udp://{}", upstream.addr))
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
}

#[tokio::test]
async fn nxdomain_and_nodata_pass_through_with_their_soa() {
    let upstream = Upstream::start().await;
    let mut hush = start_hush(upstream.addr, "", "", "").await;
    let missing = udp_query(hush.addr, "missing.example.com.", RecordType::A).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    assert!(missing.answers.is_empty());
    assert_eq!(
        missing.authorities.len(),
        1,
        "the SOA lets clients cache the negative answer"
    );
    assert_eq!(missing.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(hush.next_event().await.rcode, ResponseCode::NXDomain);

    let nodata = udp_query(hush.addr, "www.example.com.", RecordType::MX).await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.authorities[0].record_type(), RecordType::SOA);
}

#[tokio::test]
async fn a_cache_hit_does_not_reach_the_upstream_and_ttls_count_down() {
    let upstream = Upstream::start().await;
    let mut hush = start_hush(upstream.addr, "", "", "").await;
    let first = udp_query(hush.addr, "www.example.com.", RecordType::A).await;
    assert_eq!(first.answers[0].ttl, ZONE_TTL);
    hush.expect_event(Status::Forwarded).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let second = udp_query(hush.addr, "www.example.com.", RecordType::A).await;
    assert_eq!(answers(&second), answers(&first));
    let ttl = second.answers[0].ttl;
    assert!(
        (ZONE_TTL - 3..=ZONE_TTL - 2).contains(&ttl),
        "TTL {ttl} did not count down by ~2s"
    );
    hush.expect_event(Status::Cached).await;
    assert_eq!(
        upstream.count("www.example.com"),
        1,
        "the cache hit reached the upstream"
    );

    // Negative answers are cached for their SOA's negative TTL too.
    udp_query(hush.addr, "missing.example.com.", RecordType::A).await;
    let again = udp_query(hush.addr, "missing.example.com.", RecordType::A).await;
    assert_eq!(again.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(upstream.count("missing.example.com"), 1);
}

#[tokio::test]
async fn cache_size_zero_disables_the_cache() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "", "", "cache_size = 0").await;
    udp_query(hush.addr, "www.example.com.", RecordType::A).await;
    udp_query(hush.addr, "www.example.com.", RecordType::A).await;
    assert_eq!(upstream.count("www.example.com"), 2);
}

#[tokio::test]
async fn a_dead_upstream_gives_servfail_within_the_timeout() {
    let (_silent, dead) = dead_upstream().await;
    let mut hush = start_hush(dead, "", "", "").await;
    let started = Instant::now();
    let reply = udp_query(hush.addr, "www.example.com.", RecordType::A).await;
    let waited = started.elapsed();
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert!(
        waited >= Duration::from_millis(900),
        "gave up early: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(1500),
        "upstream_timeout of 1s overrun: {waited:?}"
    );
    let event = hush.expect_event(Status::Failed).await;
    assert_eq!(event.rcode, ResponseCode::ServFail);
}

#[tokio::test]
async fn a_dead_first_upstream_fails_over_to_the_next() {
    let upstream = Upstream::start().await;
    let (_silent, dead) = dead_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:0\"]\nupstreams = [\"udp://{dead}\", \"tcp://{}\"]\nupstream_timeout = \"2s\"\n",
        upstream.addr
    );
    let hush = start_hush_in(dir, &text).await;
    for name in ["www.example.com.", "example.com."] {
        let reply = udp_query(hush.addr, name, RecordType::A).await;
        assert_eq!(answers(&reply).len(), 1, "{name}");
    }
    assert_eq!(upstream.total(), 2);
}

#[tokio::test]
async fn an_upstream_servfail_is_a_failed_query() {
    let upstream = Upstream::start().await;
    let mut hush = start_hush(upstream.addr, "", "", "").await;
    let reply = udp_query(hush.addr, "servfail.example.com.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    hush.expect_event(Status::Failed).await;
}

/// A cache hit is answered from the stored answer's bytes: it must say what the forwarded
/// answer said, in the client's letter case, with the client's ID and EDNS.
#[tokio::test]
async fn a_cache_hit_answers_as_the_forwarded_answer_did() {
    let upstream = Upstream::start().await;
    let mut hush = start_hush(upstream.addr, "", "", "").await;
    let cases = [
        ("WwW.ExAmple.CoM.", RecordType::A, ResponseCode::NoError),
        (
            "MiSSing.example.COM.",
            RecordType::AAAA,
            ResponseCode::NXDomain,
        ),
    ];
    for (name, query_type, rcode) in cases {
        let mut replies = Vec::new();
        for (id, status) in [(0x1111, Status::Forwarded), (0x2222, Status::Cached)] {
            let mut query = with_edns(query_message(name, query_type), 1232);
            query.metadata.id = id;
            if let Some(edns) = query.edns.as_mut() {
                edns.set_dnssec_ok(true);
            }
            let reply = udp_exchange(hush.addr, &query).await;
            assert_eq!(reply.metadata.id, id, "{name}");
            assert_eq!(reply.metadata.response_code, rcode, "{name}");
            assert_eq!(
                reply.queries[0].name().to_ascii(),
                name,
                "the client's case"
            );
            let edns = reply.edns.as_ref().expect("EDNS answered with EDNS");
            assert_eq!((edns.max_payload(), edns.flags().dnssec_ok), (1232, true));
            assert_eq!(hush.next_event().await.outcome.status(), status, "{name}");
            replies.push(reply);
        }
        let (forwarded, cached) = (&replies[0], &replies[1]);
        let flags = |reply: &hickory_proto::op::Message| {
            let mut metadata = reply.metadata;
            metadata.id = 0;
            metadata
        };
        assert_eq!(flags(cached), flags(forwarded), "{name}");
        // Names compare without regard to case (an owner name may come back in the client's).
        let records = |records: &[hickory_proto::rr::Record]| {
            records
                .iter()
                .map(|r| (r.name.clone(), r.record_type(), r.data.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            records(&cached.answers),
            records(&forwarded.answers),
            "{name}"
        );
        assert_eq!(
            records(&cached.authorities),
            records(&forwarded.authorities),
            "{name}"
        );
        assert!(!cached.answers.is_empty() || !cached.authorities.is_empty());
        let sections = |reply: &hickory_proto::op::Message| {
            reply
                .answers
                .iter()
                .chain(&reply.authorities)
                .map(|r| r.ttl)
                .collect::<Vec<_>>()
        };
        for (hit, first) in sections(cached).into_iter().zip(sections(forwarded)) {
            assert!(hit <= first && hit + 1 >= first, "TTL {hit} after {first}");
        }
    }
    assert_eq!(upstream.count("www.example.com"), 1);
}

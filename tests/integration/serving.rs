//! The wire: header bits, question echo, EDNS and truncation, TCP, admission, and hostile
//! packets that must neither crash nor stop the server.

use std::time::Duration;

use hickory_proto::op::{Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use tokio::net::TcpStream;

use hush::dns::outcome::Status;

use crate::support::*;

#[tokio::test]
async fn replies_echo_id_and_question_and_set_ra() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "tracker.example.com\n", "", "").await;
    for name in ["WwW.ExAmPle.CoM.", "Ads.TRACKER.example.com."] {
        let mut query = query_message(name, RecordType::A);
        query.metadata.id = 0xBEEF;
        let reply = udp_exchange(hush.addr, &query).await;
        assert_eq!(reply.metadata.id, 0xBEEF);
        assert!(reply.metadata.recursion_available, "RA must be set");
        assert!(reply.metadata.recursion_desired, "RD must be copied");
        assert_eq!(reply.queries.len(), 1);
        assert_eq!(
            reply.queries[0].name().to_string(),
            name,
            "client's letter case kept"
        );
        assert_eq!(reply.queries[0].query_type(), RecordType::A);
    }
    let mut no_rd = query_message("www.example.com.", RecordType::A);
    no_rd.metadata.recursion_desired = false;
    assert!(
        !udp_exchange(hush.addr, &no_rd)
            .await
            .metadata
            .recursion_desired
    );
}

#[tokio::test]
async fn edns_queries_get_an_opt_record_and_non_edns_ones_none() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "", "", "").await;
    let plain = udp_query(hush.addr, "www.example.com.", RecordType::A).await;
    assert!(plain.edns.is_none());
    let edns = udp_exchange(
        hush.addr,
        &with_edns(query_message("www.example.com.", RecordType::A), 1232),
    )
    .await;
    assert_eq!(edns.edns.as_ref().map(|e| e.max_payload()), Some(1232));

    let mut future_version = with_edns(query_message("www.example.com.", RecordType::A), 1232);
    future_version.edns.as_mut().unwrap().set_version(1);
    let reply = udp_exchange(hush.addr, &future_version).await;
    // BADVERS shares code 16 with BADSIG; the parser names it BADSIG.
    assert_eq!(u16::from(reply.metadata.response_code), 16);
}

#[tokio::test]
async fn a_large_answer_sets_tc_over_udp_and_comes_whole_over_tcp() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "", "", "").await;
    let query = query_message("big.example.com.", RecordType::TXT);
    let udp = udp_exchange(hush.addr, &query).await;
    assert!(
        udp.metadata.truncation,
        "a ~3 KB answer cannot fit 512 bytes"
    );
    assert!(udp.answers.len() < BIG_TXT_RECORDS);

    let roomy = udp_exchange(hush.addr, &with_edns(query.clone(), 4096)).await;
    assert!(
        !roomy.metadata.truncation,
        "the client advertised 4096 bytes"
    );
    assert_eq!(roomy.answers.len(), BIG_TXT_RECORDS);

    let small = udp_exchange(hush.addr, &with_edns(query.clone(), 1232)).await;
    assert!(small.metadata.truncation);

    let tcp = tcp_query(hush.addr, &query).await;
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), BIG_TXT_RECORDS);
}

#[tokio::test]
async fn one_tcp_connection_carries_several_queries() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "tracker.example.com\n", "", "").await;
    let mut stream = TcpStream::connect(hush.addr).await.unwrap();
    let first = tcp_exchange(
        &mut stream,
        &query_message("www.example.com.", RecordType::A),
    )
    .await;
    assert_eq!(answers(&first), ["www.example.com. A 192.0.2.1"]);
    let second = tcp_exchange(
        &mut stream,
        &query_message("tracker.example.com.", RecordType::A),
    )
    .await;
    assert_eq!(answers(&second), ["tracker.example.com. A 0.0.0.0"]);
}

#[tokio::test]
async fn clients_outside_the_acl_are_refused() {
    let upstream = Upstream::start().await;
    let mut hush = start_hush(upstream.addr, "", "", "allowed_clients = [\"10.0.0.0/8\"]").await;
    let reply = udp_query(hush.addr, "www.example.com.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    assert!(reply.answers.is_empty());
    hush.expect_event(Status::Refused).await;
    assert_eq!(
        upstream.total(),
        0,
        "a refused client must not cause upstream traffic"
    );
    let tcp = tcp_query(hush.addr, &query_message("www.example.com.", RecordType::A)).await;
    assert_eq!(tcp.metadata.response_code, ResponseCode::Refused);
}

#[tokio::test]
async fn the_rate_limit_refuses_a_flood() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "", "", "rate_limit = 5").await;
    let mut refused = 0;
    for _ in 0..20 {
        let reply = udp_query(hush.addr, "www.example.com.", RecordType::A).await;
        if reply.metadata.response_code == ResponseCode::Refused {
            refused += 1;
        }
    }
    assert!(
        refused >= 10,
        "only {refused} of 20 back-to-back queries were limited at 5/s"
    );
}

#[tokio::test]
async fn odd_but_valid_queries_get_proper_error_codes() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "", "", "").await;

    let mut chaos = query_message("version.bind.", RecordType::TXT);
    chaos.queries[0].set_query_class(DNSClass::CH);
    assert_eq!(
        udp_exchange(hush.addr, &chaos).await.metadata.response_code,
        ResponseCode::NotImp
    );

    let mut two = query_message("www.example.com.", RecordType::A);
    two.add_query(Query::query(
        Name::from_ascii("example.com.").unwrap(),
        RecordType::A,
    ));
    assert_eq!(
        udp_exchange(hush.addr, &two).await.metadata.response_code,
        ResponseCode::FormErr
    );

    let mut notify = query_message("example.com.", RecordType::SOA);
    notify.metadata.op_code = OpCode::Notify;
    assert_eq!(
        udp_exchange(hush.addr, &notify)
            .await
            .metadata
            .response_code,
        ResponseCode::NotImp
    );
    assert_eq!(upstream.total(), 0);
}

/// A header claiming one question, then `body`.
fn packet(id: u16, qdcount: u16, body: &[u8]) -> Vec<u8> {
    let mut bytes = id.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0x01, 0x00]);
    bytes.extend_from_slice(&qdcount.to_be_bytes());
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    bytes.extend_from_slice(body);
    bytes
}

#[tokio::test]
async fn malformed_packets_neither_crash_nor_stop_the_server() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "", "", "").await;
    let wait = Duration::from_millis(300);
    let mut label_loop = vec![0xC0, 12];
    label_loop.extend_from_slice(&[0, 1, 0, 1]);
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("truncated header", vec![0x12, 0x34, 0x01]),
        ("header only, one question promised", packet(1, 1, &[])),
        (
            "label longer than the packet",
            packet(2, 1, &[63, b'a', b'b']),
        ),
        (
            "label length 64+ (reserved bits)",
            packet(3, 1, &[0x50, b'a', 0, 0, 1, 0, 1]),
        ),
        (
            "huge question count",
            packet(4, u16::MAX, &[1, b'a', 0, 0, 1, 0, 1]),
        ),
        ("compression pointer loop", packet(5, 1, &label_loop)),
        (
            "name without terminator",
            packet(6, 1, &[3, b'w', b'w', b'w']),
        ),
        (
            "random bytes",
            (0..200u8).map(|b| b.wrapping_mul(37)).collect(),
        ),
        ("a response, not a query", {
            let mut reply = query_message("www.example.com.", RecordType::A);
            reply.metadata.message_type = hickory_proto::op::MessageType::Response;
            reply.to_vec().unwrap()
        }),
    ];
    for (what, bytes) in &hostile {
        if let Some(reply) = udp_exchange_raw(hush.addr, bytes, wait).await {
            let reply = Message::from_vec(&reply)
                .unwrap_or_else(|e| panic!("{what}: unparsable reply: {e}"));
            assert!(
                matches!(
                    reply.metadata.response_code,
                    ResponseCode::FormErr | ResponseCode::ServFail
                ),
                "{what}: answered {:?}",
                reply.metadata.response_code
            );
        }
        let healthy = udp_query(hush.addr, "www.example.com.", RecordType::A).await;
        assert_eq!(
            answers(&healthy),
            ["www.example.com. A 192.0.2.1"],
            "after {what}"
        );
    }
    // The same garbage over TCP closes that connection only.
    let mut stream = TcpStream::connect(hush.addr).await.unwrap();
    use tokio::io::AsyncWriteExt;
    stream.write_all(&[0, 5, 1, 2, 3, 4, 5]).await.unwrap();
    let healthy = tcp_query(hush.addr, &query_message("www.example.com.", RecordType::A)).await;
    assert_eq!(answers(&healthy), ["www.example.com. A 192.0.2.1"]);
}

#[tokio::test]
async fn a_burst_from_one_socket_gets_every_answer_with_its_own_id() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "tracker.example.com\n", "", "").await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // Sent before reading anything, so the server finds them queued and takes them in batches.
    const BURST: u16 = 300;
    for id in 0..BURST {
        let name = if id.is_multiple_of(3) {
            "www.example.com."
        } else {
            "ads.tracker.example.com."
        };
        let mut query = query_message(name, RecordType::A);
        query.metadata.id = id;
        socket
            .send_to(&query.to_vec().unwrap(), hush.addr)
            .await
            .unwrap();
    }
    let mut seen = vec![false; usize::from(BURST)];
    let mut buffer = vec![0u8; 4096];
    for _ in 0..BURST {
        let length = tokio::time::timeout(TIMEOUT, socket.recv(&mut buffer))
            .await
            .expect("an answer missing from the burst")
            .unwrap();
        let reply = Message::from_vec(&buffer[..length]).unwrap();
        let id = reply.metadata.id;
        let expected = if id.is_multiple_of(3) {
            "www.example.com. A 192.0.2.1"
        } else {
            "ads.tracker.example.com. A 0.0.0.0"
        };
        assert_eq!(answers(&reply), [expected], "id {id}");
        assert!(
            !std::mem::replace(&mut seen[usize::from(id)], true),
            "id {id} answered twice"
        );
    }
    assert!(seen.iter().all(|&answered| answered));
}

#[tokio::test]
async fn a_datagram_longer_than_any_query_is_a_format_error() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "", "", "").await;
    let mut query = query_message("www.example.com.", RecordType::A);
    query.metadata.id = 0x4242;
    let mut bytes = query.to_vec().unwrap();
    bytes.resize(6000, 0);
    let reply = udp_exchange_raw(hush.addr, &bytes, TIMEOUT)
        .await
        .expect("no answer to the long datagram");
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.id, 0x4242);
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(upstream.total(), 0);
}

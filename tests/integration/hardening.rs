//! Keeping devices on hush and abuse off it: the browser DoH canary, iCloud Private Relay,
//! minimal ANY answers.

use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use hush::dns::outcome::Outcome;

use hush::dns::outcome::Status;

use crate::support::*;

fn blocked_list(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Blocked(blocked) => Some(blocked.list().to_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn the_doh_canary_gets_nxdomain_unless_turned_off_or_allowed() {
    let upstream = Upstream::start().await;
    let mut hush = start_hush(upstream.addr, "", "", "").await;
    let reply = udp_query(hush.addr, "use-application-dns.net.", RecordType::A).await;
    assert_eq!(
        reply.metadata.response_code,
        ResponseCode::NXDomain,
        "even with answer = null"
    );
    assert_eq!(
        blocked_list(&hush.next_event().await.outcome).as_deref(),
        Some("built-in")
    );
    udp_query(hush.addr, "www.use-application-dns.net.", RecordType::A).await;
    assert_eq!(
        blocked_list(&hush.next_event().await.outcome),
        None,
        "only the exact name"
    );
    assert_eq!(upstream.count("use-application-dns.net"), 0);

    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:0\"]\nupstreams = [\"udp://{}\"]\n[blocking]\nlists = []\ndoh_canary = false\n",
        upstream.addr
    );
    let mut off = start_hush_in(dir, &text).await;
    udp_query(off.addr, "use-application-dns.net.", RecordType::A).await;
    off.expect_event(Status::Forwarded).await;

    let mut allowed = start_hush(upstream.addr, "", "use-application-dns.net\n", "").await;
    udp_query(allowed.addr, "use-application-dns.net.", RecordType::A).await;
    allowed.expect_event(Status::Forwarded).await; // allow wins
}

#[tokio::test]
async fn private_relay_is_blocked_only_when_asked() {
    let upstream = Upstream::start().await;
    let mut default = start_hush(upstream.addr, "", "", "").await;
    udp_query(default.addr, "mask.icloud.com.", RecordType::A).await;
    default.expect_event(Status::Forwarded).await;

    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:0\"]\nupstreams = [\"udp://{}\"]\n[blocking]\nlists = []\nblock_private_relay = true\n",
        upstream.addr
    );
    let mut hush = start_hush_in(dir, &text).await;
    for name in [
        "mask.icloud.com.",
        "mask-h2.icloud.com.",
        "a.mask.icloud.com.",
    ] {
        let reply = udp_query(hush.addr, name, RecordType::AAAA).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NXDomain,
            "{name}"
        );
        assert_eq!(
            blocked_list(&hush.next_event().await.outcome).as_deref(),
            Some("built-in")
        );
    }
    udp_query(hush.addr, "www.icloud.com.", RecordType::A).await;
    hush.expect_event(Status::Forwarded).await;
}

#[tokio::test]
async fn any_queries_get_the_minimal_rfc8482_answer() {
    let upstream = Upstream::start().await;
    let mut hush = start_hush(upstream.addr, "tracker.example.com\n", "", "").await;
    let reply = udp_query(hush.addr, "www.example.com.", RecordType::ANY).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(answers(&reply), ["www.example.com. HINFO RFC8482 "]);
    hush.expect_event(Status::Refused).await;
    let tcp = tcp_query(hush.addr, &query_message("example.com.", RecordType::ANY)).await;
    assert_eq!(tcp.answers.len(), 1);
    assert_eq!(upstream.total(), 0, "ANY is never forwarded");
    let blocked = udp_query(hush.addr, "tracker.example.com.", RecordType::ANY).await;
    assert!(blocked.answers.is_empty(), "a blocked name stays blocked");
}

#[tokio::test]
async fn identical_concurrent_questions_share_one_upstream_query() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "", "", "").await;
    let asks: Vec<_> = (0..10)
        .map(|_| tokio::spawn(udp_query(hush.addr, "slow.example.com.", RecordType::A)))
        .collect();
    for ask in asks {
        assert_eq!(
            answers(&ask.await.unwrap()),
            ["slow.example.com. A 192.0.2.9"]
        );
    }
    assert_eq!(
        upstream.count("slow.example.com"),
        1,
        "ten askers, one upstream query"
    );
}

#[tokio::test]
async fn past_max_inflight_new_questions_fail_at_once() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "", "", "max_inflight = 1").await;
    let started = std::time::Instant::now();
    let (first, second) = tokio::join!(
        udp_query(hush.addr, "slow.example.com.", RecordType::A),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            udp_query(hush.addr, "slow2.example.com.", RecordType::A).await
        }
    );
    assert_eq!(answers(&first), ["slow.example.com. A 192.0.2.9"]);
    assert_eq!(second.metadata.response_code, ResponseCode::ServFail);
    assert!(started.elapsed() < SLOW_ANSWER * 3);
}

#[tokio::test]
async fn a_stale_answer_beats_servfail_when_upstreams_die() {
    let mut upstream = Upstream::start().await;
    let mut hush = start_hush(upstream.addr, "", "", "").await;
    let fresh = udp_query(hush.addr, "short.example.com.", RecordType::A).await;
    assert_eq!(fresh.answers[0].ttl, 1);
    hush.next_event().await;
    upstream.stop();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let stale = udp_query(hush.addr, "short.example.com.", RecordType::A).await;
    assert_eq!(answers(&stale), ["short.example.com. A 192.0.2.7"]);
    assert_eq!(stale.answers[0].ttl, 30, "RFC 8767 stale TTL");
    hush.expect_event(Status::Cached).await;
    let never_seen = udp_query(hush.addr, "www.example.com.", RecordType::A).await;
    assert_eq!(never_seen.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn an_upstream_answering_garbage_gives_servfail_in_time() {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((len, from)) = socket.recv_from(&mut buf).await {
            // The query's ID, then noise: parsable as neither an answer nor anything else.
            let mut junk = buf[..2.min(len)].to_vec();
            junk.extend((0..40u8).map(|b| b.wrapping_mul(73)));
            let _ = socket.send_to(&junk, from).await;
        }
    });
    let hush = start_hush(addr, "", "", "").await;
    let started = std::time::Instant::now();
    let reply = udp_query(hush.addr, "www.example.com.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_silent_tcp_connection_is_closed_after_the_idle_timeout() {
    use tokio::io::AsyncReadExt;
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "", "", "tcp_idle_timeout = \"500ms\"").await;
    let mut silent = tokio::net::TcpStream::connect(hush.addr).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), silent.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the connection stayed open: {read:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(400),
        "closed too early: {waited:?}"
    );
    // A connection that keeps asking is served.
    let mut busy = tokio::net::TcpStream::connect(hush.addr).await.unwrap();
    for _ in 0..3 {
        let reply =
            tcp_exchange(&mut busy, &query_message("www.example.com.", RecordType::A)).await;
        assert_eq!(answers(&reply), ["www.example.com. A 192.0.2.1"]);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn a_flooding_client_is_limited_while_another_is_served() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "", "", "rate_limit = 20").await;
    let flood = {
        let addr = hush.addr;
        tokio::spawn(async move {
            let mut refused = 0;
            for _ in 0..200 {
                let reply =
                    udp_query_from("127.0.0.2", addr, "www.example.com.", RecordType::A).await;
                refused += usize::from(reply.metadata.response_code == ResponseCode::Refused);
            }
            refused
        })
    };
    for _ in 0..10 {
        let reply = udp_query_from("127.0.0.3", hush.addr, "www.example.com.", RecordType::A).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "the quiet client was limited"
        );
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    }
    let refused = flood.await.unwrap();
    assert!(
        refused >= 100,
        "only {refused} of 200 flood queries were limited at 20/s"
    );
}

#[tokio::test]
async fn rebinding_protection_blocks_public_names_answering_private_addresses() {
    let upstream = Upstream::start().await;
    let default = start_hush(upstream.addr, "", "", "").await;
    let reply = udp_query(default.addr, "private.example.com.", RecordType::A).await;
    assert_eq!(
        answers(&reply),
        ["private.example.com. A 192.168.1.10"],
        "off by default"
    );

    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:0\"]\nupstreams = [\"udp://{}\"]\n\
         [blocking]\nlists = []\nrebinding_protection = true\n",
        upstream.addr
    );
    let mut hush = start_hush_in(dir, &text).await;
    let reply = udp_query(hush.addr, "private.example.com.", RecordType::A).await;
    assert_eq!(answers(&reply), ["private.example.com. A 0.0.0.0"]);
    let blocked = hush.expect_blocked().await;
    assert_eq!(blocked.list(), "rebinding protection");
    assert_eq!(blocked.category(), Some("rebinding"));
    assert_eq!(blocked.location(), "hush");
    assert_eq!(
        blocked.shared_list_and_category(),
        (
            Arc::from("rebinding protection"),
            Some(Arc::from("rebinding"))
        )
    );
    assert_eq!(blocked.rule(), "192.168.1.10");
    let local = udp_query(hush.addr, "nas.home.arpa.", RecordType::A).await;
    assert_eq!(
        answers(&local),
        ["nas.home.arpa. A 192.168.1.10"],
        "local names may be private"
    );
    let public = udp_query(hush.addr, "www.example.com.", RecordType::A).await;
    assert_eq!(answers(&public), ["www.example.com. A 192.0.2.1"]);
}

#[tokio::test]
async fn tcp_connections_past_the_limit_are_closed_at_once() {
    use tokio::io::AsyncReadExt;
    let upstream = Upstream::start().await;
    let hush = start_hush(
        upstream.addr,
        "",
        "",
        "max_tcp_connections = 2\ntcp_idle_timeout = \"5s\"",
    )
    .await;
    let first = tokio::net::TcpStream::connect(hush.addr).await.unwrap();
    let _second = tokio::net::TcpStream::connect(hush.addr).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut third = tokio::net::TcpStream::connect(hush.addr).await.unwrap();
    let mut buf = [0u8; 4];
    let read = tokio::time::timeout(std::time::Duration::from_secs(1), third.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "a third connection was kept: {read:?}"
    );
    drop(first);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let reply = tcp_query(hush.addr, &query_message("www.example.com.", RecordType::A)).await;
    assert_eq!(
        answers(&reply),
        ["www.example.com. A 192.0.2.1"],
        "a freed slot serves again"
    );
}

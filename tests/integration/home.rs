//! The home network's own names: local records answered authoritatively (A, AAAA, CNAME, PTR,
//! NODATA), still subject to blocking, never forwarded; conditional forwarding to the zone's
//! own upstreams (longest zone first, reverse zones too), which the general upstreams never see.

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use hush::dns::outcome::Status;

use crate::support::*;

const LOCAL: &str = "[local]\nrecords = { \"nas.home.arpa\" = \"192.168.1.10\", \
    \"tv.home.arpa\" = [\"192.168.1.20\", \"fd00::20\"], \"files.home.arpa\" = \"nas.home.arpa\", \
    \"web.home.arpa\" = \"www.example.com\", \"blocked.home.arpa\" = \"192.168.1.99\" }\n";

#[tokio::test]
async fn local_records_are_answered_authoritatively_and_never_forwarded() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block.txt"), "blocked.home.arpa\n").unwrap();
    std::fs::write(dir.path().join("allow.txt"), "").unwrap();
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:0\"]\nupstreams = [\"udp://{}\"]\n{LOCAL}",
        upstream.addr
    );
    let mut hush = start_hush_in(dir, &text).await;
    let cases: [(&str, RecordType, &[&str]); 7] = [
        (
            "nas.home.arpa.",
            RecordType::A,
            &["nas.home.arpa. A 192.168.1.10"],
        ),
        (
            "TV.home.arpa.",
            RecordType::AAAA,
            &["TV.home.arpa. AAAA fd00::20"],
        ),
        (
            "tv.home.arpa.",
            RecordType::A,
            &["tv.home.arpa. A 192.168.1.20"],
        ),
        (
            "files.home.arpa.",
            RecordType::A,
            &[
                "files.home.arpa. CNAME nas.home.arpa.",
                "nas.home.arpa. A 192.168.1.10",
            ],
        ),
        (
            "web.home.arpa.",
            RecordType::A,
            &["web.home.arpa. CNAME www.example.com."],
        ),
        ("nas.home.arpa.", RecordType::MX, &[]),
        (
            "10.1.168.192.in-addr.arpa.",
            RecordType::PTR,
            &["10.1.168.192.in-addr.arpa. PTR nas.home.arpa."],
        ),
    ];
    for (name, query_type, expected) in cases {
        let reply = udp_query(hush.addr, name, query_type).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "{name}"
        );
        assert!(reply.metadata.authoritative, "{name} {query_type}: AA");
        assert_eq!(answers(&reply), expected, "{name} {query_type}");
        if let Some(record) = reply.answers.first() {
            assert_eq!(record.ttl, 300, "local.ttl default");
        }
        hush.expect_event(Status::Local).await;
    }
    // A local name can still be blocked: policy comes first.
    let blocked = udp_query(hush.addr, "blocked.home.arpa.", RecordType::A).await;
    assert_eq!(answers(&blocked), ["blocked.home.arpa. A 0.0.0.0"]);
    assert!(!blocked.metadata.authoritative);
    hush.expect_blocked().await;
    // A sibling that is not listed goes on as usual.
    let sibling = udp_query(hush.addr, "printer.home.arpa.", RecordType::A).await;
    assert!(!sibling.metadata.authoritative);
    hush.expect_event(Status::Forwarded).await;
    for local in [
        "nas.home.arpa",
        "tv.home.arpa",
        "files.home.arpa",
        "web.home.arpa",
    ] {
        assert_eq!(upstream.count(local), 0, "{local} reached the upstream");
    }
    assert_eq!(upstream.count("printer.home.arpa"), 1);
}

#[tokio::test]
async fn forwarded_zones_go_to_their_own_upstreams_only() {
    let general = Upstream::start().await;
    let router = Upstream::start().await;
    let corp = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block.txt"), "").unwrap();
    std::fs::write(dir.path().join("allow.txt"), "").unwrap();
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:0\"]\nupstreams = [\"udp://{}\"]\n\n\
         [[dns.forward]]\nzones = [\"home.arpa\", \"168.192.in-addr.arpa\"]\nupstreams = [\"udp://{}\"]\n\n\
         [[dns.forward]]\nzones = [\"corp.example.com\"]\nupstreams = [\"{}\"]\n\n{LOCAL}",
        general.addr, router.addr, corp.addr
    );
    let mut hush = start_hush_in(dir, &text).await;
    let asked = [
        ("printer.home.arpa.", RecordType::A),
        ("77.1.168.192.in-addr.arpa.", RecordType::PTR),
        ("www.corp.example.com.", RecordType::A),
        ("www.example.com.", RecordType::A),
        ("nas.home.arpa.", RecordType::A),
    ];
    for (name, query_type) in asked {
        udp_query(hush.addr, name, query_type).await;
        hush.next_event().await;
    }
    assert_eq!(router.count("printer.home.arpa"), 1);
    assert_eq!(router.count("77.1.168.192.in-addr.arpa"), 1);
    assert_eq!(
        corp.count("www.corp.example.com"),
        1,
        "the longest zone wins"
    );
    assert_eq!(general.count("www.example.com"), 1);
    assert_eq!(
        general.total(),
        1,
        "the general upstream never sees a forwarded or local name"
    );
    assert_eq!(
        router.count("nas.home.arpa"),
        0,
        "a local record beats the forward zone"
    );
    assert_eq!(corp.total(), 1);
    // A label holding a non-ASCII byte has no text in the rules' form, through which zones are
    // matched: such a name under a house zone still goes to the house's server.
    let odd = Name::from_labels([&b"caf\xc3\xa9"[..], b"home", b"arpa"]).unwrap();
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(odd, RecordType::A));
    udp_exchange(hush.addr, &message).await;
    hush.next_event().await;
    assert_eq!(router.total(), 3, "the odd name went to the house's server");
    assert_eq!(general.total(), 1);
    // Forwarded answers are cached like any other.
    udp_query(hush.addr, "www.corp.example.com.", RecordType::A).await;
    hush.expect_event(Status::Cached).await;
    assert_eq!(corp.total(), 1);
}

/// Polls `/api/queries` until its newest row's `client_name` is `expected`.
async fn wait_for_client_name(hush: &LoggedHush, expected: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let rows = hush.wait_for_rows("", 1).await;
        if rows[0]["client_name"] == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the client was never named {expected}: {}",
            rows[0]
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn clients_are_named_by_local_records_or_the_router_and_never_by_the_public_upstream() {
    // A local record names the client.
    let general = Upstream::start().await;
    let hush = start_logged(
        general.addr,
        "",
        "[local]\nrecords = { \"laptop.home.arpa\" = \"127.0.0.1\" }\n",
    )
    .await;
    udp_query(hush.dns, "www.example.com.", RecordType::A).await;
    wait_for_client_name(&hush, "laptop.home.arpa").await;
    let (_, top) = hush.get("/api/stats/top?kind=clients").await;
    assert_eq!(top["items"][0]["client_name"], "laptop.home.arpa", "{top}");
    let (_, report) = hush.get("/api/report/clients").await;
    assert_eq!(
        report["clients"][0]["client_name"], "laptop.home.arpa",
        "{report}"
    );
    let named = hush.wait_for_rows("client_name=laptop.home.arpa", 1).await;
    assert_eq!(named.len(), 1);

    // The router's reverse zone names a client through conditional forwarding. Every test
    // client is on loopback, so the row of one from the house's network is written straight
    // into the history.
    let router = Upstream::start().await;
    let forwarded = start_logged(
        general.addr,
        "",
        &format!(
            "[[dns.forward]]\nzones = [\"168.192.in-addr.arpa\"]\nupstreams = [\"udp://{}\"]\n",
            router.addr
        ),
    )
    .await;
    let store = hush::store::Store::open(&forwarded.dir.path().join("history.db"))
        .await
        .unwrap();
    let mut row = crate::history::row(
        hush::store::time::unix_micros(std::time::SystemTime::now()),
        "www.example.com",
    );
    row.client = "192.168.1.77".into();
    // A second writer on the running hush's file: when hush's own writer commits between this
    // transaction's read and its write, SQLite refuses the write at once (a stale snapshot,
    // which no busy timeout waits out), and a retry succeeds.
    let mut attempts = 0;
    while let Err(error) = store
        .insert_batch(
            std::slice::from_ref(&row),
            &mut hush::store::Interner::default(),
        )
        .await
    {
        attempts += 1;
        assert!(attempts < 50, "the row was never written: {error}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    wait_for_client_name(&forwarded, "phone.home.arpa").await;
    assert_eq!(router.count("77.1.168.192.in-addr.arpa"), 1);

    // Nobody to ask: no name, and the public upstream is never asked for one.
    let unnamed = start_logged(general.addr, "", "").await;
    udp_query(unnamed.dns, "www.example.com.", RecordType::A).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let rows = unnamed.wait_for_rows("", 1).await;
    assert_eq!(rows[0]["client_name"], serde_json::Value::Null);
    assert_eq!(
        general.count("1.0.0.127.in-addr.arpa"),
        0,
        "an address of the house leaked"
    );
    assert_eq!(
        general.count("77.1.168.192.in-addr.arpa"),
        0,
        "an address of the house leaked"
    );
}

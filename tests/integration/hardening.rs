//! Keeping devices on hush and abuse off it: the browser DoH canary, iCloud Private Relay,
//! minimal ANY answers.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use hush::dns::outcome::Outcome;

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
    assert_eq!(off.next_event().await.outcome.status(), "forwarded");

    let mut allowed = start_hush(upstream.addr, "", "use-application-dns.net\n", "").await;
    udp_query(allowed.addr, "use-application-dns.net.", RecordType::A).await;
    assert_eq!(
        allowed.next_event().await.outcome.status(),
        "forwarded",
        "allow wins"
    );
}

#[tokio::test]
async fn private_relay_is_blocked_only_when_asked() {
    let upstream = Upstream::start().await;
    let mut default = start_hush(upstream.addr, "", "", "").await;
    udp_query(default.addr, "mask.icloud.com.", RecordType::A).await;
    assert_eq!(default.next_event().await.outcome.status(), "forwarded");

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
    assert_eq!(hush.next_event().await.outcome.status(), "forwarded");
}

#[tokio::test]
async fn any_queries_get_the_minimal_rfc8482_answer() {
    let upstream = Upstream::start().await;
    let mut hush = start_hush(upstream.addr, "tracker.example.com\n", "", "").await;
    let reply = udp_query(hush.addr, "www.example.com.", RecordType::ANY).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(answers(&reply), ["www.example.com. HINFO RFC8482 "]);
    assert_eq!(hush.next_event().await.outcome.status(), "refused");
    let tcp = tcp_query(hush.addr, &query_message("example.com.", RecordType::ANY)).await;
    assert_eq!(tcp.answers.len(), 1);
    assert_eq!(upstream.total(), 0, "ANY is never forwarded");
    let blocked = udp_query(hush.addr, "tracker.example.com.", RecordType::ANY).await;
    assert!(blocked.answers.is_empty(), "a blocked name stays blocked");
}

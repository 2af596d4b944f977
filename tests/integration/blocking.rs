//! Blocking through real queries: every answer mode, subdomain and wildcard semantics, allow
//! rules winning, regexes, CNAME cloaking, and rules swapped by a reload while queries flow.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::support::*;

const BLOCKLIST: &str = "\
# test list
tracker.example.com
*.wild.example.com
||adblock.example.net^
@@||good.tracker.example.com^
/^ad[0-9]+\\./
0.0.0.0 hosts.example.org
";

#[tokio::test]
async fn blocked_apex_and_subdomains_in_null_mode() {
    let upstream = Upstream::start().await;
    let mut hush = start_hush(upstream.addr, BLOCKLIST, "", "").await;
    let cases = [
        (
            "tracker.example.com.",
            RecordType::A,
            vec!["tracker.example.com. A 0.0.0.0"],
            "tracker.example.com",
        ),
        (
            "ads.tracker.example.com.",
            RecordType::A,
            vec!["ads.tracker.example.com. A 0.0.0.0"],
            "tracker.example.com",
        ),
        (
            "ads.tracker.example.com.",
            RecordType::AAAA,
            vec!["ads.tracker.example.com. AAAA ::"],
            "tracker.example.com",
        ),
        (
            "tracker.example.com.",
            RecordType::TXT,
            vec![],
            "tracker.example.com",
        ),
        (
            "TRACKER.Example.COM.",
            RecordType::A,
            vec!["TRACKER.Example.COM. A 0.0.0.0"],
            "tracker.example.com",
        ),
        (
            "x.wild.example.com.",
            RecordType::A,
            vec!["x.wild.example.com. A 0.0.0.0"],
            "*.wild.example.com",
        ),
        (
            "deep.adblock.example.net.",
            RecordType::A,
            vec!["deep.adblock.example.net. A 0.0.0.0"],
            "adblock.example.net",
        ),
        (
            "ad42.example.com.",
            RecordType::A,
            vec!["ad42.example.com. A 0.0.0.0"],
            "/^ad[0-9]+\\./",
        ),
        (
            "hosts.example.org.",
            RecordType::A,
            vec!["hosts.example.org. A 0.0.0.0"],
            "hosts.example.org",
        ),
    ];
    for (name, query_type, expected, rule) in cases {
        let reply = udp_query(hush.addr, name, query_type).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "{name}"
        );
        assert_eq!(answers(&reply), expected, "{name} {query_type}");
        if let Some(record) = reply.answers.first() {
            assert_eq!(record.ttl, 10, "blocking.ttl default");
        }
        let blocked = hush.expect_blocked().await;
        assert_eq!(blocked.rule(), rule, "{name}");
        assert_eq!(blocked.list(), "block");
    }
    assert_eq!(
        upstream.total(),
        0,
        "a blocked query must never reach the upstream"
    );
}

#[tokio::test]
async fn wildcards_spare_the_apex_and_allow_rules_win() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, BLOCKLIST, "example.com\n", "").await;
    // "example.com" on the allowlist wins over every block rule below it.
    for name in [
        "tracker.example.com.",
        "x.wild.example.com.",
        "ad42.example.com.",
    ] {
        let reply = udp_query(hush.addr, name, RecordType::A).await;
        assert_eq!(
            answers(&reply),
            [format!("{name} A 192.0.2.1")],
            "{name} should be allowed"
        );
    }
    let hush_without_allowlist = start_hush(upstream.addr, BLOCKLIST, "", "").await;
    for name in ["wild.example.com.", "good.tracker.example.com."] {
        let reply = udp_query(hush_without_allowlist.addr, name, RecordType::A).await;
        assert_eq!(
            answers(&reply),
            [format!("{name} A 192.0.2.1")],
            "{name} should be forwarded"
        );
    }
}

#[tokio::test]
async fn every_answer_mode() {
    let upstream = Upstream::start().await;
    let cases: [(&str, RecordType, ResponseCode, Vec<&str>); 6] = [
        (
            "\"nxdomain\"",
            RecordType::A,
            ResponseCode::NXDomain,
            vec![],
        ),
        (
            "\"refused\"",
            RecordType::AAAA,
            ResponseCode::Refused,
            vec![],
        ),
        (
            "\"192.168.1.2, fd00::2\"",
            RecordType::A,
            ResponseCode::NoError,
            vec!["tracker.example.com. A 192.168.1.2"],
        ),
        (
            "\"192.168.1.2, fd00::2\"",
            RecordType::AAAA,
            ResponseCode::NoError,
            vec!["tracker.example.com. AAAA fd00::2"],
        ),
        (
            "\"192.168.1.2\"",
            RecordType::AAAA,
            ResponseCode::NoError,
            vec![],
        ),
        ("\"null\"", RecordType::MX, ResponseCode::NoError, vec![]),
    ];
    for (answer, query_type, rcode, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("block.txt"), "tracker.example.com\n").unwrap();
        let text = format!(
            "[dns]\nlisten = [\"127.0.0.1:0\"]\nupstreams = [\"udp://{}\"]\n[blocking]\nlists = [\"block.txt\"]\nanswer = {answer}\nttl = \"1h\"\n",
            upstream.addr
        );
        let hush = start_hush_in(dir, &text).await;
        let reply = udp_query(hush.addr, "tracker.example.com.", query_type).await;
        assert_eq!(reply.metadata.response_code, rcode, "{answer} {query_type}");
        assert_eq!(answers(&reply), expected, "{answer} {query_type}");
        for record in &reply.answers {
            assert_eq!(record.ttl, 3600, "blocking.ttl");
        }
    }
    assert_eq!(upstream.total(), 0);
}

#[tokio::test]
async fn blocking_disabled_forwards_everything() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block.txt"), "tracker.example.com\n").unwrap();
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:0\"]\nupstreams = [\"udp://{}\"]\n[blocking]\nenabled = false\nlists = [\"block.txt\"]\n",
        upstream.addr
    );
    let hush = start_hush_in(dir, &text).await;
    let reply = udp_query(hush.addr, "tracker.example.com.", RecordType::A).await;
    assert_eq!(answers(&reply), ["tracker.example.com. A 192.0.2.1"]);
}

#[tokio::test]
async fn a_cname_chain_into_a_blocked_name_is_blocked() {
    let upstream = Upstream::start().await;
    let mut hush = start_hush(upstream.addr, "cloaktracker.net\n", "", "").await;
    let reply = udp_query(hush.addr, "cloaked.example.com.", RecordType::A).await;
    assert_eq!(answers(&reply), ["cloaked.example.com. A 0.0.0.0"]);
    let blocked = hush.expect_blocked().await;
    assert_eq!(blocked.rule(), "cloaktracker.net");
    assert_eq!(
        blocked.via_cname,
        Some(Box::new(lower("edge.cloaktracker.net.")))
    );
    // A chain into an unlisted name is answered normally, CNAME included.
    let alias = udp_query(hush.addr, "alias.example.com.", RecordType::A).await;
    assert_eq!(
        answers(&alias),
        [
            "alias.example.com. CNAME www.example.com.",
            "www.example.com. A 192.0.2.1"
        ]
    );
    // The cached copy of the cloaked answer is still checked.
    let again = udp_query(hush.addr, "cloaked.example.com.", RecordType::A).await;
    assert_eq!(answers(&again), ["cloaked.example.com. A 0.0.0.0"]);
    assert_eq!(upstream.count("cloaked.example.com"), 1);
}

#[tokio::test]
async fn a_reload_swaps_rules_while_queries_keep_being_answered() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "tracker.example.com\n", "", "").await;
    let addr = hush.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let reply = udp_query(addr, "www.example.com.", RecordType::A).await;
                assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
                answered.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    for round in 0..4 {
        let (blocked, free) = if round % 2 == 0 {
            ("ads.example.com", "tracker.example.com")
        } else {
            ("tracker.example.com", "ads.example.com")
        };
        hush.write_list("block.txt", &format!("{blocked}\n"));
        let summary = hush.hush.control().reload().await.unwrap();
        assert_eq!(summary.rules, 1);
        let reply = udp_query(addr, &format!("{blocked}."), RecordType::A).await;
        assert_eq!(
            answers(&reply),
            [format!("{blocked}. A 0.0.0.0")],
            "round {round}"
        );
        let reply = udp_query(addr, &format!("{free}."), RecordType::A).await;
        assert_ne!(
            answers(&reply),
            [format!("{free}. A 0.0.0.0")],
            "round {round}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert!(answered.load(Ordering::Relaxed) > 0);
}

#[tokio::test]
async fn a_failed_reload_keeps_the_running_rules() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "tracker.example.com\n", "", "").await;
    std::fs::remove_file(hush.dir.path().join("block.txt")).unwrap();
    let error = hush.hush.control().reload().await.unwrap_err().to_string();
    assert!(error.contains("block.txt"), "{error}");
    let reply = udp_query(hush.addr, "tracker.example.com.", RecordType::A).await;
    assert_eq!(answers(&reply), ["tracker.example.com. A 0.0.0.0"]);

    std::fs::write(hush.dir.path().join("hush.toml"), "[dns]\nbogus = 1\n").unwrap();
    hush.write_list("block.txt", "other.example.com\n");
    let error = hush.hush.control().reload().await.unwrap_err().to_string();
    assert!(error.contains("dns.bogus"), "{error}");
    let reply = udp_query(hush.addr, "tracker.example.com.", RecordType::A).await;
    assert_eq!(answers(&reply), ["tracker.example.com. A 0.0.0.0"]);
}

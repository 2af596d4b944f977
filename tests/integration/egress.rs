//! hush talks to nobody but its configured upstreams and list URLs. In a network namespace of
//! its own, the only ways out are loopback (where the test's upstream and list server live) and
//! a veth interface holding the IPv4 default route; IPv6 has no route at all. A packet hush
//! sends anywhere else shows in that interface's transmit count or in the kernel's
//! "no route" counters, so a whole working session of hush must leave all three unchanged.

use std::net::UdpSocket;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use reqwest::Method;

use crate::lists::start_list_server;
use crate::support::*;

const EXIT: &str = "egress0";

/// Packets that tried to leave other than by loopback, as the kernel counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Egress {
    transmitted: u64,
    ipv4_no_route: u64,
    ipv6_no_route: u64,
}

fn egress() -> Egress {
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
    let transmitted = dev
        .lines()
        .find_map(|line| line.trim_start().strip_prefix(&format!("{EXIT}:")))
        .and_then(|counters| counters.split_whitespace().nth(9))
        .and_then(|packets| packets.parse().ok())
        .unwrap();
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap();
    let mut ip_lines = snmp.lines().filter(|line| line.starts_with("Ip:"));
    let (names, values) = (ip_lines.next().unwrap(), ip_lines.next().unwrap());
    let ipv4_no_route = names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "OutNoRoutes")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap();
    let snmp6 = std::fs::read_to_string("/proc/net/snmp6").unwrap();
    let ipv6_no_route = snmp6
        .lines()
        .find_map(|line| line.strip_prefix("Ip6OutNoRoutes"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap();
    Egress {
        transmitted,
        ipv4_no_route,
        ipv6_no_route,
    }
}

/// lo up; one end of a veth pair, with a TEST-NET address and ARP off (so a packet leaves at
/// once rather than waiting on a neighbour), carrying the IPv4 default route.
fn make_network() {
    const PEER: &str = "egress1";
    run_command("ip", &["link", "set", "lo", "up"]);
    run_command(
        "ip",
        &["link", "add", EXIT, "type", "veth", "peer", "name", PEER],
    );
    for end in [EXIT, PEER] {
        std::fs::write(format!("/proc/sys/net/ipv6/conf/{end}/disable_ipv6"), "1").unwrap();
        run_command("ip", &["link", "set", end, "arp", "off", "up"]);
    }
    run_command("ip", &["addr", "add", "192.0.2.2/24", "dev", EXIT]);
    run_command("ip", &["route", "add", "default", "dev", EXIT]);
}

/// The counters can fail the test: a datagram to a public address, one to a global IPv6
/// address and a TCP connection attempt each show up.
async fn counters_see_escapes() {
    let before = egress();
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    socket.send_to(b"x", "198.51.100.7:53").unwrap();
    let socket6 = UdpSocket::bind("[::]:0").unwrap();
    assert!(socket6.send_to(b"x", "[2001:db8::7]:53").is_err());
    let connect = tokio::net::TcpStream::connect("198.51.100.7:443");
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(200), connect)
            .await
            .is_err()
    );
    let after = egress();
    assert_eq!(after.transmitted - before.transmitted, 2, "{after:?}");
    assert_eq!(after.ipv6_no_route - before.ipv6_no_route, 1, "{after:?}");
}

#[tokio::test]
async fn a_working_session_sends_nothing_beyond_upstreams_and_list_urls() {
    if let Namespace::Outside = in_namespace(
        "egress::a_working_session_sends_nothing_beyond_upstreams_and_list_urls",
        &["--net"],
    ) {
        return;
    }
    make_network();
    counters_see_escapes().await;

    let before = egress();
    let upstream = Upstream::start().await;
    let (http, _server, _task) = start_list_server("tracker.example.com\n").await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[blocking]\nlists = [{{ url = \"http://{http}/list.txt\" }}]\nblock_private_relay = true\nrebinding_protection = true\n"
    );
    let hush = start_logged_in(dir, upstream.addr, &extra).await;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while answers(&udp_query(hush.dns, "tracker.example.com.", RecordType::A).await)
        != ["tracker.example.com. A 0.0.0.0"]
    {
        assert!(tokio::time::Instant::now() < deadline, "list never loaded");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for (name, query_type) in [
        ("www.example.com.", RecordType::A),
        ("www.example.com.", RecordType::AAAA),
        ("www.example.com.", RecordType::A),
        ("cloaked.example.com.", RecordType::A),
        ("use-application-dns.net.", RecordType::A),
        ("mask.icloud.com.", RecordType::A),
        ("unknown.example.org.", RecordType::A),
        ("example.com.", RecordType::ANY),
    ] {
        let reply = udp_query(hush.dns, name, query_type).await;
        assert_ne!(
            reply.metadata.response_code,
            ResponseCode::ServFail,
            "{name}"
        );
    }
    let reply = tcp_query(hush.dns, &query_message("example.com.", RecordType::MX)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    let (status, _) = hush.send(Method::POST, "/api/lists/refresh", None).await;
    assert_eq!(status, 200);
    hush.wait_for_rows("", 10).await;
    for path in [
        "/api/stats/summary",
        "/api/stats/top",
        "/api/report/clients",
        "/metrics",
    ] {
        assert_eq!(
            hush.http
                .get(format!("{}{path}", hush.api))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let LoggedHush { hush: server, .. } = hush;
    server.shutdown().await;

    assert_eq!(egress(), before, "hush sent packets off loopback");
}

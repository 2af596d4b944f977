//! An in-process upstream DNS server on loopback serving a small zone and recording what it
//! is asked, and one that never answers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Edns, Metadata, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, PTR, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo, Server};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::net::{TcpListener, UdpSocket};

use super::*;

/// The zone the test upstream serves.
fn zone_answer(name: &str, query_type: RecordType) -> (ResponseCode, Vec<Record>, Vec<Record>) {
    let owner = Name::from_ascii(name).unwrap_or_else(|_| Name::root());
    let record = |rdata: RData| Record::from_rdata(owner.clone(), ZONE_TTL, rdata);
    let soa = || {
        let origin = Name::from_ascii("example.com.").unwrap();
        let data = SOA::new(
            origin.clone(),
            Name::from_ascii("hostmaster.example.com.").unwrap(),
            1,
            3600,
            600,
            86400,
            60,
        );
        vec![Record::from_rdata(origin, 60, RData::SOA(data))]
    };
    let cname = |target: &str| {
        Record::from_rdata(
            owner.clone(),
            ZONE_TTL,
            RData::CNAME(CNAME(Name::from_ascii(target).unwrap())),
        )
    };
    let answer = |records: Vec<Record>| (ResponseCode::NoError, records, Vec::new());
    use RecordType as T;
    match (name, query_type) {
        ("www.example.com.", T::A)
        | ("tracker.example.com.", T::A)
        | ("ads.tracker.example.com.", T::A)
        | ("wild.example.com.", T::A)
        | ("x.wild.example.com.", T::A)
        | ("good.tracker.example.com.", T::A)
        | ("ad42.example.com.", T::A)
        | ("example.com.", T::A) => answer(vec![record(RData::A(A::new(192, 0, 2, 1)))]),
        ("www.example.com.", T::AAAA) => answer(vec![record(RData::AAAA(AAAA::new(
            0x2001, 0xdb8, 0, 0, 0, 0, 0, 1,
        )))]),
        ("example.com.", T::MX) => answer(vec![record(RData::MX(MX::new(
            10,
            Name::from_ascii("mail.example.com.").unwrap(),
        )))]),
        ("77.1.168.192.in-addr.arpa.", T::PTR) => answer(vec![record(RData::PTR(PTR(
            Name::from_ascii("phone.home.arpa.").unwrap(),
        )))]),
        ("example.com.", T::TXT) => answer(vec![record(RData::TXT(TXT::new(vec![
            "v=spf1 -all".into(),
        ])))]),
        ("big.example.com.", T::TXT) => answer(
            (0..BIG_TXT_RECORDS)
                .map(|i| {
                    record(RData::TXT(TXT::new(vec![format!(
                        "{i:03}-{}",
                        "x".repeat(96)
                    )])))
                })
                .collect(),
        ),
        ("cloaked.example.com.", T::A) => answer(vec![
            cname("edge.cloaktracker.net."),
            Record::from_rdata(
                Name::from_ascii("edge.cloaktracker.net.").unwrap(),
                ZONE_TTL,
                RData::A(A::new(192, 0, 2, 66)),
            ),
        ]),
        ("alias.example.com.", T::A) => answer(vec![cname("www.example.com."), {
            Record::from_rdata(
                Name::from_ascii("www.example.com.").unwrap(),
                ZONE_TTL,
                RData::A(A::new(192, 0, 2, 1)),
            )
        }]),
        ("private.example.com.", T::A) | ("nas.home.arpa.", T::A) => {
            answer(vec![record(RData::A(A::new(192, 168, 1, 10)))])
        }
        ("short.example.com.", T::A) => answer(vec![Record::from_rdata(
            owner.clone(),
            1,
            RData::A(A::new(192, 0, 2, 7)),
        )]),
        (slow, T::A) if slow.starts_with("slow") => {
            answer(vec![record(RData::A(A::new(192, 0, 2, 9)))])
        }
        ("servfail.example.com.", _) => (ResponseCode::ServFail, Vec::new(), Vec::new()),
        // Names that exist with other types: NODATA, with the SOA for negative caching.
        ("www.example.com.", _) | ("example.com.", _) => (ResponseCode::NoError, Vec::new(), soa()),
        _ => (ResponseCode::NXDomain, Vec::new(), soa()),
    }
}

struct ZoneHandler {
    seen: Arc<Mutex<Vec<(String, RecordType)>>>,
}

#[async_trait::async_trait]
impl RequestHandler for ZoneHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        let query = request.queries.queries()[0].clone();
        let name = query.name().to_string().to_ascii_lowercase();
        self.seen
            .lock()
            .unwrap()
            .push((name.clone(), query.query_type()));
        if name.starts_with("slow") {
            // Names starting with "slow" answer after a delay, to overlap concurrent questions.
            tokio::time::sleep(SLOW_ANSWER).await;
        }
        let zone_reply = zone_answer(&name, query.query_type());
        send_authoritative(request, response_handle, zone_reply).await
    }
}

/// Sends `rcode` with these answers and authorities as an authoritative response to
/// `request`, with EDNS (the client's payload size and DO bit) when the request had it.
pub async fn send_authoritative<R: ResponseHandler>(
    request: &Request,
    mut response_handle: R,
    (rcode, answers, authorities): (ResponseCode, Vec<Record>, Vec<Record>),
) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = rcode;
    metadata.authoritative = true;
    let mut builder = MessageResponseBuilder::from_message_request(request);
    let mut edns = Edns::new();
    if let Some(asked) = &request.edns {
        edns.set_max_payload(asked.max_payload().max(512));
        edns.set_dnssec_ok(asked.flags().dnssec_ok);
        builder.edns(&edns);
    }
    let none: [&Record; 0] = [];
    let response = builder.build(metadata, answers.iter(), authorities.iter(), none, none);
    response_handle.send_response(response).await.unwrap()
}

/// The in-process upstream: UDP and TCP on one loopback port.
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<(String, RecordType)>>>,
    server: Option<Server<ZoneHandler>>,
}

impl Upstream {
    pub async fn start() -> Self {
        let (udp, addr, tcp) = bind_udp_and_tcp().await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut server = Server::new(ZoneHandler {
            seen: Arc::clone(&seen),
        });
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 16);
        Self {
            addr,
            seen,
            server: Some(server),
        }
    }

    /// How many queries for `name` (any type) reached this upstream.
    pub fn count(&self, name: &str) -> usize {
        let name = format!("{}.", name.trim_end_matches('.').to_ascii_lowercase());
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(seen, _)| *seen == name)
            .count()
    }

    /// Stops answering: the sockets close, so queries get ICMP "port unreachable".
    pub fn stop(&mut self) {
        self.server = None;
    }

    pub fn total(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// A UDP socket and a TCP listener on the same free loopback port. The TCP port must equal
/// the UDP one, and another socket of a parallel test may hold it already: other ports are
/// tried until both are free.
pub async fn bind_udp_and_tcp() -> (UdpSocket, SocketAddr, TcpListener) {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        match TcpListener::bind(addr).await {
            Ok(tcp) => return (udp, addr, tcp),
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(err) => panic!("test upstream on {addr}: {err}"),
        }
    }
}

/// A UDP socket that swallows queries: an upstream that never answers.
pub async fn dead_upstream() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

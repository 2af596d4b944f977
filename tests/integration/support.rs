//! Test fixtures: an in-process upstream DNS server on loopback serving a small zone and
//! recording what it is asked, a hush instance started from TOML text with its own list files,
//! and a tiny DNS client speaking real UDP and TCP.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Metadata, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, SOA, TXT};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo, Server};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use hush::app::Hush;
use hush::config::Config;
use hush::dns::outcome::{EventSink, QueryEvent};
use hush::querylog::EventTarget;

pub const TIMEOUT: Duration = Duration::from_secs(5);
/// TTL of the zone's positive records.
pub const ZONE_TTL: u32 = 300;
/// Number and size of the TXT strings of `big.example.com`: far beyond 512 bytes.
pub const BIG_TXT_RECORDS: usize = 30;
/// How long the upstream takes to answer names starting with "slow".
pub const SLOW_ANSWER: Duration = Duration::from_millis(300);

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
        mut response_handle: R,
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
        let (rcode, answers, authorities) = zone_answer(&name, query.query_type());
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = rcode;
        metadata.authoritative = true;
        let mut builder = MessageResponseBuilder::from_message_request(request);
        let mut edns = Edns::new();
        edns.set_max_payload(request.edns.as_ref().map_or(512, |e| e.max_payload()));
        if request.edns.is_some() {
            builder.edns(&edns);
        }
        let none: [&Record; 0] = [];
        let response = builder.build(metadata, answers.iter(), authorities.iter(), none, none);
        response_handle.send_response(response).await.unwrap()
    }
}

/// The in-process upstream: UDP and TCP on one loopback port.
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<(String, RecordType)>>>,
    server: Option<Server<ZoneHandler>>,
}

impl Upstream {
    pub async fn start() -> Self {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = TcpListener::bind(addr).await.unwrap();
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

/// A UDP socket that swallows queries: an upstream that never answers.
pub async fn dead_upstream() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// A hush instance with its own folder of lists.
pub struct TestHush {
    pub hush: Hush,
    pub addr: SocketAddr,
    pub events: mpsc::Receiver<QueryEvent>,
    pub dir: tempfile::TempDir,
}

/// Starts hush forwarding to `upstream`, with `block` as `block.txt`, `allow` as `allow.txt`
/// and `extra` TOML appended (later keys of a table must come in their own `[table]`).
pub async fn start_hush(upstream: SocketAddr, block: &str, allow: &str, extra: &str) -> TestHush {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block.txt"), block).unwrap();
    std::fs::write(dir.path().join("allow.txt"), allow).unwrap();
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:0\"]\nupstreams = [\"udp://{upstream}\"]\nupstream_timeout = \"1s\"\n{extra}\n"
    );
    start_hush_in(dir, &text).await
}

/// Starts hush from config text whose relative paths live in `dir`; `[blocking]` defaults to
/// `block.txt` and `allow.txt` there unless the text has its own `[blocking]` table, and the
/// API listens on a free loopback port unless the text has an `[api]` table.
pub async fn start_hush_in(dir: tempfile::TempDir, text: &str) -> TestHush {
    let mut text = if text.contains("[blocking]") {
        text.to_owned()
    } else {
        format!("{text}\n[blocking]\nlists = [\"block.txt\"]\nallowlists = [\"allow.txt\"]\n")
    };
    if !text.contains("[api]") {
        text.push_str("\n[api]\nlisten = \"127.0.0.1:0\"\n");
    }
    let path = dir.path().join("hush.toml");
    std::fs::write(&path, &text).unwrap();
    let config = Config::load(&path).unwrap();
    let (sender, events) = mpsc::channel(10_000);
    let hush = Hush::start(
        config,
        Some(path),
        EventTarget::Sink(EventSink::new(sender)),
    )
    .await
    .unwrap();
    let addr = hush.dns_addrs()[0];
    TestHush {
        hush,
        addr,
        events,
        dir,
    }
}

impl TestHush {
    /// The next query event, waiting up to the test timeout.
    pub async fn next_event(&mut self) -> QueryEvent {
        tokio::time::timeout(TIMEOUT, self.events.recv())
            .await
            .expect("no query event in time")
            .expect("event channel closed")
    }

    pub fn write_list(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join(file), text).unwrap();
    }
}

pub fn query_message(name: &str, query_type: RecordType) -> Message {
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), query_type));
    message
}

pub fn with_edns(mut message: Message, payload: u16) -> Message {
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    message.set_edns(edns);
    message
}

/// Sends raw bytes over UDP and returns the raw reply, or `None` if none came in time.
pub async fn udp_exchange_raw(server: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    udp_exchange_raw_from("127.0.0.1", server, bytes, wait).await
}

/// The same from a chosen loopback source address (any of 127.0.0.0/8), to act as another
/// device.
pub async fn udp_exchange_raw_from(
    source: &str,
    server: SocketAddr,
    bytes: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind((source, 0)).await.unwrap();
    socket.send_to(bytes, server).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let len = tokio::time::timeout(wait, socket.recv(&mut buf))
        .await
        .ok()?
        .unwrap();
    buf.truncate(len);
    Some(buf)
}

pub async fn udp_exchange(server: SocketAddr, message: &Message) -> Message {
    let reply = udp_exchange_raw(server, &message.to_vec().unwrap(), TIMEOUT)
        .await
        .expect("no UDP reply in time");
    Message::from_vec(&reply).unwrap()
}

/// A query sent from `source` (a 127.0.0.0/8 address).
pub async fn udp_query_from(
    source: &str,
    server: SocketAddr,
    name: &str,
    query_type: RecordType,
) -> Message {
    let bytes = query_message(name, query_type).to_vec().unwrap();
    let reply = udp_exchange_raw_from(source, server, &bytes, TIMEOUT)
        .await
        .expect("no UDP reply in time");
    Message::from_vec(&reply).unwrap()
}

pub async fn udp_query(server: SocketAddr, name: &str, query_type: RecordType) -> Message {
    udp_exchange(server, &query_message(name, query_type)).await
}

/// One query over a fresh TCP connection.
pub async fn tcp_query(server: SocketAddr, message: &Message) -> Message {
    let mut stream = TcpStream::connect(server).await.unwrap();
    tcp_exchange(&mut stream, message).await
}

/// One query on an open TCP connection (RFC 1035 §4.2.2 length prefix).
pub async fn tcp_exchange(stream: &mut TcpStream, message: &Message) -> Message {
    let bytes = message.to_vec().unwrap();
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).await.unwrap();
    let mut len = [0u8; 2];
    tokio::time::timeout(TIMEOUT, stream.read_exact(&mut len))
        .await
        .expect("no TCP reply in time")
        .unwrap();
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).await.unwrap();
    Message::from_vec(&reply).unwrap()
}

/// The answer section as `name ttl type data` lines.
pub fn answers(message: &Message) -> Vec<String> {
    message
        .answers
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect()
}

pub fn lower(name: &str) -> LowerName {
    LowerName::from(Name::from_ascii(name).unwrap())
}

/// Path of a file in the shared corpus, or `None` (with a note) when the corpus is absent.
pub fn corpus(relative: &str) -> Option<std::path::PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "note: {} is absent; skipping this corpus check",
            path.display()
        );
        None
    }
}

/// A hush with its real query log and API, for tests that read the history over HTTP.
pub struct LoggedHush {
    pub hush: Hush,
    pub dns: SocketAddr,
    pub api: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

/// Starts hush in `dir` (which holds `block.txt`) with the query log on, forwarding to
/// `upstream`; `extra` is appended to the config.
pub async fn start_logged_in(
    dir: tempfile::TempDir,
    upstream: SocketAddr,
    extra: &str,
) -> LoggedHush {
    let blocking = if extra.contains("[blocking]") {
        ""
    } else {
        "[blocking]\nlists = [\"block.txt\"]\n"
    };
    let database = if extra.contains("database =") {
        ""
    } else {
        "database = \"history.db\"\n"
    };
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:0\"]\nupstreams = [\"udp://{upstream}\"]\nupstream_timeout = \"1s\"\n\
         {blocking}[querylog]\n{database}{extra}"
    );
    let text = if text.contains("[api]") {
        text
    } else {
        format!("{text}\n[api]\nlisten = \"127.0.0.1:0\"\n")
    };
    let path = dir.path().join("hush.toml");
    std::fs::write(&path, &text).unwrap();
    let config = Config::load(&path).unwrap();
    let hush = Hush::start(config, Some(path), EventTarget::QueryLog)
        .await
        .unwrap();
    LoggedHush {
        dns: hush.dns_addrs()[0],
        api: format!("http://{}", hush.api_addr()),
        hush,
        dir,
        http: reqwest::Client::new(),
    }
}

pub async fn start_logged(upstream: SocketAddr, block: &str, extra: &str) -> LoggedHush {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block.txt"), block).unwrap();
    start_logged_in(dir, upstream, extra).await
}

impl LoggedHush {
    /// GET `path` (with its query string); returns the status and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.api))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.api));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self
            .http
            .get(format!("{}/metrics", self.api))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    /// Polls `/api/health` until `ready` holds, then returns it.
    pub async fn wait_for_health(
        &self,
        what: &str,
        ready: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let (_, health) = self.get("/api/health").await;
            if ready(&health) {
                return health;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "health never showed {what}: {health}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls `/api/queries?{query}` until it lists `count` rows, then returns them.
    pub async fn wait_for_rows(&self, query: &str, count: usize) -> Vec<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let (status, body) = self.get(&format!("/api/queries?limit=1000&{query}")).await;
            assert_eq!(status, 200, "{body}");
            let rows = body["queries"].as_array().cloned().unwrap_or_default();
            if rows.len() >= count {
                return rows;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {count} rows appeared: {body}",
                rows.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Where a test that needs Linux namespaces is running; see [`in_namespace`].
pub enum Namespace {
    /// In the child: mount, unmount and make interfaces freely, they vanish with it.
    Inside,
    /// In the parent, after the child passed (or after saying why it could not run).
    Outside,
}

const NAMESPACE_VAR: &str = "HUSH_TEST_IN_NAMESPACE";

/// Runs the test `test` (its path in this binary, e.g. `faults::a_full_disk`) again in a child
/// process inside new namespaces (`unshare` flags such as `--mount` or `--net`), so it can mount
/// small filesystems or add network interfaces without touching the machine. Returns `Inside`
/// in that child. In the parent it waits for the child, fails when the child failed, and
/// returns `Outside`; a machine that cannot make namespaces (no root, no `unshare`) gets a note
/// and `Outside`.
pub fn in_namespace(test: &str, flags: &[&str]) -> Namespace {
    if std::env::var(NAMESPACE_VAR).as_deref() == Ok(test) {
        return Namespace::Inside;
    }
    let usable = std::process::Command::new("unshare")
        .args(flags)
        .arg("true")
        .output()
        .is_ok_and(|output| output.status.success());
    if !usable {
        eprintln!("note: {test} skipped: this machine cannot make {flags:?} namespaces");
        return Namespace::Outside;
    }
    let output = std::process::Command::new("unshare")
        .args(flags)
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(NAMESPACE_VAR, test)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{test} failed inside its namespace:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "{test} did not run inside its namespace:\n{stdout}\n{stderr}"
    );
    eprint!("{stderr}");
    Namespace::Outside
}

/// Runs a command the test needs (mount, ip, ...), failing with its output when it fails.
pub fn run_command(program: &str, args: &[&str]) {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

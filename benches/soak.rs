//! Soak test (a plain binary: `cargo bench --bench soak`; `HUSH_SOAK_SECONDS`, default 600).
//!
//! Starts a loopback upstream in this process and the release `hush` binary as a child, then
//! sends a steady mixed load (30% blocked names, 70% allowed ones with repeats, some NXDOMAIN)
//! while polling the API every second. Reports DNS errors (target 0), API errors (target 0),
//! query-log rows lost (target 0: every answered query is a row after shutdown) and the
//! resident memory of hush at the start and the end of the load (target: flat).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Metadata, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo, Server};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::net::UdpSocket;

/// Queries per second the load aims at: a busy household peaks far lower.
const TARGET_QPS: u64 = 1_000;
const CLIENTS: u64 = 8;

/// Answers every name with one A record, except names starting with "nx": NXDOMAIN.
struct EchoZone;

#[async_trait::async_trait]
impl RequestHandler for EchoZone {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let query = &request.queries.queries()[0];
        let name = Name::from(query.name());
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let nx = name.to_string().starts_with("nx");
        metadata.response_code = if nx {
            ResponseCode::NXDomain
        } else {
            ResponseCode::NoError
        };
        let records = if nx || query.query_type() != RecordType::A {
            Vec::new()
        } else {
            vec![Record::from_rdata(name, 60, RData::A(A::new(192, 0, 2, 1)))]
        };
        let none: [&Record; 0] = [];
        let built = MessageResponseBuilder::from_message_request(request).build(
            metadata,
            records.iter(),
            none,
            none,
            none,
        );
        response.send_response(built).await.expect("upstream reply")
    }
}

fn free_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("free port");
    let port = socket.local_addr().expect("addr").port();
    drop(socket);
    port
}

fn resident_kib(child: &Child) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    answered: AtomicU64,
    dns_errors: AtomicU64,
    api_errors: AtomicU64,
    api_calls: AtomicU64,
}

fn main() {
    let seconds: u64 = std::env::var("HUSH_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(soak(Duration::from_secs(seconds)));
}

async fn soak(duration: Duration) {
    let udp = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("upstream socket");
    let upstream = udp.local_addr().expect("upstream addr");
    let mut server = Server::new(EchoZone);
    server.register_socket(udp);

    let dir = tempfile::tempdir().expect("temp dir");
    let (dns_port, api_port) = (free_port(), free_port());
    let blocked: Vec<String> = (0..500).map(|i| format!("t{i}.tracker.soak")).collect();
    std::fs::write(dir.path().join("block.txt"), "tracker.soak\n").expect("list");
    let config = format!(
        "[dns]\nlisten = [\"127.0.0.1:{dns_port}\"]\nupstreams = [\"udp://{upstream}\"]\n\
         [blocking]\nlists = [\"block.txt\"]\n[querylog]\ndatabase = \"soak.db\"\n\
         [api]\nlisten = \"127.0.0.1:{api_port}\"\n"
    );
    std::fs::write(dir.path().join("hush.toml"), config).expect("config");
    let mut hush = Command::new(env!("CARGO_BIN_EXE_hush"))
        .args(["run", "--config"])
        .arg(dir.path().join("hush.toml"))
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start hush");
    let dns: SocketAddr = ([127, 0, 0, 1], dns_port).into();
    let api = format!("http://127.0.0.1:{api_port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{api}/api/health")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "hush did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let counters = Arc::new(Counters::default());
    let deadline = Instant::now() + duration;
    let warmup = Duration::from_secs(10).min(duration / 4);
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (counters, blocked) = (Arc::clone(&counters), blocked.clone());
        tasks.push(tokio::spawn(async move {
            let socket = UdpSocket::bind("127.0.0.1:0").await.expect("client socket");
            let interval = Duration::from_micros(1_000_000 * CLIENTS / TARGET_QPS);
            let mut tick = tokio::time::interval(interval);
            let mut i: u64 = client;
            let mut buf = vec![0u8; 4096];
            while Instant::now() < deadline {
                tick.tick().await;
                i += CLIENTS;
                let name = match i % 10 {
                    0..=2 => blocked[(i as usize / 10) % blocked.len()].clone(),
                    3 => format!("nx{}.soak", i % 1000),
                    _ => format!("site{}.soak", (i * 7919) % 5000),
                };
                let mut message = Message::query();
                message.metadata.recursion_desired = true;
                message.add_query(Query::query(
                    Name::from_ascii(&name).expect("name"),
                    RecordType::A,
                ));
                let bytes = message.to_vec().expect("encode");
                counters.sent.fetch_add(1, Ordering::Relaxed);
                let _ = socket.send_to(&bytes, dns).await;
                match tokio::time::timeout(Duration::from_secs(3), socket.recv(&mut buf)).await {
                    Ok(Ok(len)) => match Message::from_vec(&buf[..len]) {
                        Ok(reply)
                            if reply.metadata.id == message.metadata.id
                                && matches!(
                                    reply.metadata.response_code,
                                    ResponseCode::NoError | ResponseCode::NXDomain
                                ) =>
                        {
                            counters.answered.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            counters.dns_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                    _ => {
                        counters.dns_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let poller = {
        let (counters, http, api) = (Arc::clone(&counters), http.clone(), api.clone());
        tokio::spawn(async move {
            let paths = [
                "/api/health",
                "/api/stats/summary",
                "/api/queries?limit=100&status=blocked",
                "/api/stats/top?kind=clients",
                "/metrics",
            ];
            let mut i = 0;
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(200)).await;
                i += 1;
                let ok = match http
                    .get(format!("{api}{}", paths[i % paths.len()]))
                    .send()
                    .await
                {
                    Ok(response) => response.status().is_success(),
                    Err(_) => false,
                };
                counters.api_calls.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    counters.api_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    tokio::time::sleep(warmup).await;
    let rss_start = resident_kib(&hush);
    // Resident memory once a minute, to tell a plateau (caches filling) from a leak.
    let mut samples = vec![rss_start];
    while Instant::now() + Duration::from_secs(60) < deadline {
        tokio::time::sleep(Duration::from_secs(60)).await;
        samples.push(resident_kib(&hush));
    }
    for task in tasks {
        task.await.expect("client");
    }
    poller.await.expect("poller");
    let rss_end = resident_kib(&hush);
    let health: serde_json::Value = http
        .get(format!("{api}/api/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("health json");

    // SIGTERM: listeners stop, the queue is written, then hush exits.
    let _ = Command::new("kill").arg(hush.id().to_string()).status();
    let status = hush.wait().expect("hush exit");
    let rows = count_rows(&dir.path().join("soak.db")).await;
    let answered = counters.answered.load(Ordering::Relaxed);
    println!(
        "soak: {:.0} s at ~{TARGET_QPS} q/s from {CLIENTS} clients",
        duration.as_secs_f64()
    );
    println!(
        "  queries sent            {}",
        counters.sent.load(Ordering::Relaxed)
    );
    println!("  answered                {answered}");
    println!(
        "  DNS errors              {}   (target 0)",
        counters.dns_errors.load(Ordering::Relaxed)
    );
    println!(
        "  API calls / errors      {} / {}   (target 0 errors)",
        counters.api_calls.load(Ordering::Relaxed),
        counters.api_errors.load(Ordering::Relaxed)
    );
    println!(
        "  log rows after SIGTERM  {rows}   (lost: {}, target 0)",
        answered.saturating_sub(rows)
    );
    println!(
        "  log drops (health)      {}",
        health["querylog"]["dropped"]
    );
    println!("  hush resident memory    {rss_start} KiB after warm-up -> {rss_end} KiB at the end");
    println!("  resident KiB per minute {samples:?}");
    println!("  hush exit               {status}");
}

async fn count_rows(database: &std::path::Path) -> u64 {
    use sqlx::Connection;
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", database.display()))
        .await
        .expect("db");
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM queries")
        .fetch_one(&mut db)
        .await
        .expect("count");
    u64::try_from(rows).unwrap_or(0)
}

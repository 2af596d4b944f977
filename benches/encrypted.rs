//! DNS over TLS and HTTPS beside plain TCP (a plain binary: `cargo bench --bench encrypted`;
//! `HUSH_BENCH_QUERIES`, default 20,000 per transport).
//!
//! Starts hush in this process with a TCP, a DoT and a DoH listener (its self-signed
//! certificate, trusted by the clients here) and a local record, then asks for that record over
//! one connection per transport, one query at a time, with the connection reused: the cost of
//! each transport per answer that needs no upstream (what a cache hit or a block costs), beside
//! plain TCP measured in the same run. Prints the median and p99 round trip and the ratio to
//! TCP's median.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use hush::app::Hush;
use hush::config::Config;
use hush::querylog::EventTarget;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const NAME: &str = "dns.bench";

fn query_bytes(id: u16) -> Vec<u8> {
    let mut message = Message::query();
    message.metadata.id = id;
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(
        Name::from_ascii("nas.home.arpa.").unwrap_or_else(|_| Name::root()),
        RecordType::A,
    ));
    message.to_vec().unwrap_or_default()
}

/// One length-prefixed exchange on a stream (TCP or TLS).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, query: &[u8]) {
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed).await.expect("write");
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).await.expect("read length");
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut answer).await.expect("read answer");
    assert!(Message::from_vec(&answer).is_ok_and(|message| !message.answers.is_empty()));
}

struct Timings(Vec<Duration>);

impl Timings {
    fn percentile(&mut self, fraction: f64) -> Duration {
        self.0.sort();
        let at = ((self.0.len() as f64 * fraction) as usize).min(self.0.len() - 1);
        self.0[at]
    }
}

/// Round trips of `count` queries on one stream, after 200 to warm up.
async fn measure_stream<S: AsyncRead + AsyncWrite + Unpin>(
    count: usize,
    stream: &mut S,
) -> Timings {
    for id in 0..200u16 {
        exchange(stream, &query_bytes(id)).await;
    }
    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        let query = query_bytes(i as u16);
        let started = Instant::now();
        exchange(stream, &query).await;
        times.push(started.elapsed());
    }
    Timings(times)
}

/// Round trips of `count` calls of `ask`, after 200 to warm up.
async fn measure<F, Fut>(count: usize, mut ask: F) -> Timings
where
    F: FnMut(u16) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for id in 0..200u16 {
        ask(id).await;
    }
    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        let started = Instant::now();
        ask(i as u16).await;
        times.push(started.elapsed());
    }
    Timings(times)
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let count: usize = std::env::var("HUSH_BENCH_QUERIES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("block.txt"), "").expect("list");
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:0\"]\ntls_listen = [\"127.0.0.1:0\"]\nhttps_listen = [\"127.0.0.1:0\"]\n\
         upstreams = [\"127.0.0.1:9\"]\n\n[blocking]\nlists = [\"block.txt\"]\n\n[querylog]\ndatabase = \"bench.db\"\n\n\
         [api]\nlisten = \"127.0.0.1:0\"\n\n[tls]\nnames = [\"{NAME}\"]\n\n\
         [local]\nrecords = {{ \"nas.home.arpa\" = \"192.168.1.10\" }}\n"
    );
    let path = dir.path().join("hush.toml");
    std::fs::write(&path, text).expect("config");
    let config = Config::load(&path).expect("config loads");
    let hush = Hush::start(config, None, EventTarget::QueryLog)
        .await
        .expect("hush starts");
    let tcp_addr = hush.dns().addrs()[0];
    let tls_addr = hush.dns().tls_addrs()[0];
    let https_addr: SocketAddr = hush.dns().https_addrs()[0];
    let pem = std::fs::read(dir.path().join("tls-self-signed.pem")).expect("certificate");
    let certificate = CertificateDer::pem_slice_iter(&pem)
        .next()
        .expect("a certificate")
        .expect("PEM");

    let mut tcp = TcpStream::connect(tcp_addr).await.expect("tcp");
    tcp.set_nodelay(true).ok();
    let mut tcp_times = measure_stream(count, &mut tcp).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificate.clone()).expect("root");
    let mut client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    client.alpn_protocols = vec![b"dot".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let stream = TcpStream::connect(tls_addr).await.expect("tls tcp");
    stream.set_nodelay(true).ok();
    let mut tls = connector
        .connect(ServerName::try_from(NAME).expect("name"), stream)
        .await
        .expect("handshake");
    let mut tls_times = measure_stream(count, &mut tls).await;

    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_der(&certificate).expect("der"))
        .resolve(NAME, https_addr)
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let url = format!("https://{NAME}:{}/dns-query", https_addr.port());
    let mut doh_post = measure(count, |id| {
        let request = http
            .post(&url)
            .header("content-type", "application/dns-message")
            .body(query_bytes(id));
        async move {
            let body = request
                .send()
                .await
                .expect("post")
                .bytes()
                .await
                .expect("body");
            assert!(Message::from_vec(&body).is_ok());
        }
    })
    .await;
    let mut doh_get = measure(count, |id| {
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(query_bytes(id));
        let request = http.get(format!("{url}?dns={encoded}"));
        async move {
            let body = request
                .send()
                .await
                .expect("get")
                .bytes()
                .await
                .expect("body");
            assert!(Message::from_vec(&body).is_ok());
        }
    })
    .await;

    let reference = tcp_times.percentile(0.5);
    println!(
        "{count} sequential queries per transport, one reused connection each, local answers:"
    );
    println!("  transport            median      p99    ratio (median / TCP's)");
    for (label, timings) in [
        ("TCP (reference)", &mut tcp_times),
        ("DNS over TLS", &mut tls_times),
        ("DoH POST, HTTP/2", &mut doh_post),
        ("DoH GET, HTTP/2", &mut doh_get),
    ] {
        let median = timings.percentile(0.5);
        let p99 = timings.percentile(0.99);
        println!(
            "  {label:<18} {:>7.1} µs {:>7.1} µs   {:.2}",
            median.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            median.as_secs_f64() / reference.as_secs_f64()
        );
    }
    hush.shutdown().await;
}

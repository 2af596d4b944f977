//! DNS over TLS and over HTTPS with a certificate authority made in the test: answers through
//! the same pipeline as UDP (allowed and blocked names, several queries per connection,
//! HTTP/1.1 and HTTP/2), device names from the TLS server name and the DoH path reaching the
//! query log, a renewed certificate served without a restart, the self-signed fallback, and
//! the bad inputs of each transport.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// The server's name in these tests; `<device>.dns.test` names a device.
const NAME: &str = "dns.test";

struct Encrypted {
    hush: LoggedHush,
    ca: TestCa,
    tls: SocketAddr,
    https: SocketAddr,
    _upstream: Upstream,
}

/// A logged hush with one DoT and one DoH listener, its certificate signed by a test CA.
async fn start_encrypted(extra: &str) -> Encrypted {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block.txt"), "tracker.example.com\n").unwrap();
    let ca = TestCa::new();
    ca.issue(dir.path(), "server", &[NAME]);
    let hush = start_logged_in(
        dir,
        upstream.addr,
        &format!(
            "{extra}\n[tls]\ncert = \"server.crt\"\nkey = \"server.key\"\nnames = [\"{NAME}\"]\n"
        ),
    )
    .await;
    let (tls, https) = (
        hush.hush.dns().tls_addrs()[0],
        hush.hush.dns().https_addrs()[0],
    );
    Encrypted {
        hush,
        ca,
        tls,
        https,
        _upstream: upstream,
    }
}

const LISTENERS: &str = "[dns]\ntls_listen = [\"127.0.0.1:0\"]\nhttps_listen = [\"127.0.0.1:0\"]\n";

impl Encrypted {
    async fn dot(&self, server_name: &str) -> DotClient {
        DotClient::connect(self.tls, server_name, self.ca.client_config(&[], &[b"dot"]))
            .await
            .unwrap()
    }

    /// An HTTPS client that trusts the test CA and reaches `dns.test` (and its devices) on
    /// the DoH listener.
    fn doh_client(&self, http2: bool) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca.pem().as_bytes()).unwrap())
            .resolve(NAME, self.https);
        builder = if http2 {
            builder.http2_prior_knowledge()
        } else {
            builder.http1_only()
        };
        builder.build().unwrap()
    }

    fn doh_url(&self, path: &str) -> String {
        format!("https://{NAME}:{}{path}", self.https.port())
    }
}

fn answer_of(bytes: &[u8]) -> Message {
    Message::from_vec(bytes).unwrap()
}

#[tokio::test]
async fn dot_and_doh_answer_like_udp_and_name_their_devices() {
    let served = start_encrypted(LISTENERS).await;
    let mut dot = served.dot("mia.dns.test").await;
    let blocked = dot
        .exchange(&query_message("ads.tracker.example.com.", RecordType::A))
        .await
        .unwrap();
    assert_eq!(answers(&blocked), ["ads.tracker.example.com. A 0.0.0.0"]);
    let allowed = dot
        .exchange(&query_message("www.example.com.", RecordType::A))
        .await
        .unwrap();
    assert_eq!(
        answers(&allowed),
        ["www.example.com. A 192.0.2.1"],
        "same connection"
    );

    let http1 = served.doh_client(false);
    let posted = http1
        .post(served.doh_url("/dns-query/tablet"))
        .header("content-type", "application/dns-message")
        .body(
            query_message("www.example.com.", RecordType::AAAA)
                .to_vec()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    assert_eq!(posted.version(), reqwest::Version::HTTP_11);
    assert_eq!(posted.headers()["content-type"], "application/dns-message");
    assert!(
        posted.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("max-age="),
        "RFC 8484 §5.1"
    );
    let body = posted.bytes().await.unwrap();
    assert_eq!(
        answers(&answer_of(&body)),
        ["www.example.com. AAAA 2001:db8::1"]
    );

    let http2 = served.doh_client(true);
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        query_message("ads.tracker.example.com.", RecordType::A)
            .to_vec()
            .unwrap(),
    );
    for _ in 0..2 {
        let got = http2
            .get(served.doh_url(&format!("/dns-query?dns={encoded}")))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.version(), reqwest::Version::HTTP_2);
        let body = got.bytes().await.unwrap();
        assert_eq!(
            answers(&answer_of(&body)),
            ["ads.tracker.example.com. A 0.0.0.0"]
        );
    }

    let rows = served.hush.wait_for_rows("", 5).await;
    let seen: Vec<(String, Value)> = rows
        .iter()
        .map(|row| {
            (
                row["protocol"].as_str().unwrap().to_owned(),
                row["client_name"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("https".to_owned(), Value::Null),
            ("https".to_owned(), Value::Null),
            ("https".to_owned(), Value::from("tablet")),
            ("tls".to_owned(), Value::from("mia")),
            ("tls".to_owned(), Value::from("mia")),
        ]
    );
    let mia = served
        .hush
        .wait_for_rows("client_name=mia&status=blocked", 1)
        .await;
    assert_eq!(mia[0]["domain"], "ads.tracker.example.com");
    let tls_rows = served.hush.wait_for_rows("protocol=tls", 2).await;
    assert_eq!(tls_rows.len(), 2);
    let (status, body) = served.hush.get("/api/queries?protocol=quic").await;
    assert_eq!(status, 400, "{body}");

    let (_, report) = served.hush.get("/api/report/clients").await;
    let devices: Vec<Value> = report["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|client| client["client_name"].clone())
        .collect();
    assert!(devices.contains(&Value::from("mia")), "{report}");
    assert!(devices.contains(&Value::from("tablet")), "{report}");
    let metrics = served.hush.metrics().await;
    assert!(
        metrics.contains("hush_queries_by_protocol_total{protocol=\"tls\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hush_queries_by_protocol_total{protocol=\"https\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn doh_answers_bad_requests_with_the_right_status() {
    let served = start_encrypted(LISTENERS).await;
    let client = served.doh_client(false);
    let query = query_message("www.example.com.", RecordType::A)
        .to_vec()
        .unwrap();
    let post = |path: &str, kind: &str, body: Vec<u8>| {
        client
            .post(served.doh_url(path))
            .header("content-type", kind)
            .body(body)
            .send()
    };
    let status = |response: reqwest::Response| response.status().as_u16();
    assert_eq!(
        status(
            post("/dns-query", "text/plain", query.clone())
                .await
                .unwrap()
        ),
        415
    );
    assert_eq!(
        status(
            post("/dns-query", "application/dns-message", b"garbage".to_vec())
                .await
                .unwrap()
        ),
        400
    );
    assert_eq!(
        status(
            post("/dns-query", "application/dns-message", vec![0; 70_000])
                .await
                .unwrap()
        ),
        413
    );
    assert_eq!(
        status(
            post("/other", "application/dns-message", query.clone())
                .await
                .unwrap()
        ),
        404
    );
    let get = |path: String| client.get(served.doh_url(&path)).send();
    assert_eq!(status(get("/dns-query?dns=%%%".into()).await.unwrap()), 400);
    assert_eq!(status(get("/dns-query".into()).await.unwrap()), 400);
    let put = client
        .request(Method::PUT, served.doh_url("/dns-query"))
        .body(query.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 405);
    assert_eq!(put.headers()["allow"], "GET, POST");
    // A device path that is no device name is served, without a name.
    let odd = post("/dns-query/Not_A.Name", "application/dns-message", query)
        .await
        .unwrap();
    assert_eq!(odd.status(), 200);
    let rows = served.hush.wait_for_rows("", 1).await;
    assert_eq!(rows[0]["client_name"], Value::Null);
}

#[tokio::test]
async fn garbage_and_silence_on_the_tls_port_do_not_stop_other_clients() {
    let served = start_encrypted(
        "[dns]\ntls_listen = [\"127.0.0.1:0\"]\nhttps_listen = [\"127.0.0.1:0\"]\n\
         tcp_idle_timeout = \"300ms\"\nmax_tcp_connections = 3\n",
    )
    .await;
    // Plain DNS over TCP and random bytes on the TLS port: the connection is closed.
    for bytes in [
        {
            let message = query_message("www.example.com.", RecordType::A)
                .to_vec()
                .unwrap();
            let mut framed = (message.len() as u16).to_be_bytes().to_vec();
            framed.extend(message);
            framed
        },
        vec![0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3],
    ] {
        let mut stream = TcpStream::connect(served.tls).await.unwrap();
        stream.write_all(&bytes).await.unwrap();
        let mut buffer = [0u8; 64];
        let read = tokio::time::timeout(TIMEOUT, stream.read(&mut buffer)).await;
        assert!(
            matches!(read, Ok(Ok(_)) | Ok(Err(_))),
            "the server neither answered nor closed"
        );
    }
    // Three silent connections fill the limit; a fourth client waits for none of them...
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(served.tls).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let refused =
        DotClient::connect(served.tls, "dns.test", served.ca.client_config(&[], &[])).await;
    assert!(refused.is_err(), "over the connection limit");
    // ...and once the idle time has closed them, clients are served again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut dot = served.dot("dns.test").await;
    let reply = dot
        .exchange(&query_message("www.example.com.", RecordType::A))
        .await
        .unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    for mut stream in silent {
        let mut buffer = [0u8; 1];
        assert_eq!(
            stream.read(&mut buffer).await.unwrap_or(0),
            0,
            "closed when idle"
        );
    }
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart_and_a_bad_one_is_not() {
    let served = start_encrypted(LISTENERS).await;
    let dir = served.hush.dir.path();
    let first = served.dot(NAME).await.server_certificate();
    // What an ACME client's renewal does: new files in place.
    let (_, _, renewed) = served.ca.issue(dir, "server", &[NAME]);
    assert_ne!(first, renewed);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut dot = served.dot(NAME).await;
        let reply = dot
            .exchange(&query_message("www.example.com.", RecordType::A))
            .await
            .unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        if dot.server_certificate() == renewed {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the renewal was never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A key that does not belong to the certificate: the running certificate stays.
    served.ca.issue(dir, "other", &[NAME]);
    std::fs::copy(dir.join("other.key"), dir.join("server.key")).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(served.dot(NAME).await.server_certificate(), renewed);
}

#[tokio::test]
async fn without_a_certificate_hush_makes_and_keeps_a_self_signed_one() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block.txt"), "").unwrap();
    let hush = start_logged_in(
        dir,
        upstream.addr,
        &format!("{LISTENERS}\n[tls]\nnames = [\"{NAME}\"]\n"),
    )
    .await;
    let file = hush.dir.path().join("tls-self-signed.pem");
    let pem = std::fs::read(&file).unwrap();
    let cert = rustls::pki_types::pem::PemObject::pem_slice_iter(&pem)
        .next()
        .unwrap()
        .unwrap();
    let ca = TestCa::new();
    let trusting = ca.client_config(&[cert], &[b"dot"]);
    let mut dot = DotClient::connect(hush.hush.dns().tls_addrs()[0], "phone.dns.test", trusting)
        .await
        .unwrap();
    let reply = dot
        .exchange(&query_message("www.example.com.", RecordType::A))
        .await
        .unwrap();
    assert_eq!(answers(&reply), ["www.example.com. A 192.0.2.1"]);
    let strict = DotClient::connect(
        hush.hush.dns().tls_addrs()[0],
        NAME,
        ca.client_config(&[], &[b"dot"]),
    )
    .await;
    assert!(
        strict.is_err(),
        "a client that trusts only real CAs refuses it"
    );
}

/// hush as the client of a private resolver over DoT and DoH (here: another hush, with a
/// certificate of the test CA), trusting that CA through `dns.upstream_ca`.
#[tokio::test]
async fn upstreams_over_tls_and_https_trust_dns_upstream_ca() {
    let resolver = start_encrypted(LISTENERS).await;
    let ca_file = resolver.hush.dir.path().join("ca.pem");
    std::fs::write(&ca_file, resolver.ca.pem()).unwrap();
    let upstreams = [
        (format!("tls://{}#{NAME}", resolver.tls), "tls"),
        (
            format!("https://{}/dns-query#{NAME}", resolver.https),
            "https",
        ),
    ];
    for (upstream, protocol) in upstreams {
        for trusted in [true, false] {
            let ca = if trusted {
                format!("upstream_ca = \"{}\"\n", ca_file.display())
            } else {
                String::new()
            };
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("block.txt"), "").unwrap();
            std::fs::write(dir.path().join("allow.txt"), "").unwrap();
            let text =
                format!("[dns]\nlisten = [\"127.0.0.1:0\"]\nupstreams = [\"{upstream}\"]\n{ca}");
            let mut client = start_hush_in(dir, &text).await;
            let reply = udp_query(client.addr, "www.example.com.", RecordType::A).await;
            if trusted {
                assert_eq!(
                    answers(&reply),
                    ["www.example.com. A 192.0.2.1"],
                    "{upstream}"
                );
                let event = client.next_event().await;
                assert_eq!(event.outcome.status().name(), "forwarded", "{upstream}");
            } else {
                assert_eq!(
                    reply.metadata.response_code,
                    ResponseCode::ServFail,
                    "{upstream}: a resolver whose CA is not trusted must not be used"
                );
            }
        }
        let rows = resolver
            .hush
            .wait_for_rows(&format!("protocol={protocol}"), 1)
            .await;
        assert_eq!(rows[0]["domain"], "www.example.com");
    }
}

#[tokio::test]
async fn a_device_name_from_the_tls_server_name_matches_a_client_entry() {
    let served = start_encrypted(&format!(
        "{LISTENERS}[blocking]\nlists = []\n\
         [[clients]]\nname = \"Mia's tablet\"\nmatch = [\"tablet\"]\ngroups = [\"kids\"]\n\
         [[groups]]\nname = \"kids\"\nlists = [\"block.txt\"]\n"
    ))
    .await;
    let query = query_message("tracker.example.com.", RecordType::A);
    let mut tablet = served.dot(&format!("tablet.{NAME}")).await;
    let reply = tablet.exchange(&query).await.unwrap();
    assert_eq!(answers(&reply), ["tracker.example.com. A 0.0.0.0"]);
    // The same address without the device name is nobody's entry: `default`, no lists.
    let mut anonymous = served.dot(NAME).await;
    let reply = anonymous.exchange(&query).await.unwrap();
    assert_eq!(answers(&reply), ["tracker.example.com. A 192.0.2.1"]);
    let reply = udp_query(served.hush.dns, "tracker.example.com.", RecordType::A).await;
    assert_eq!(answers(&reply), ["tracker.example.com. A 192.0.2.1"]);
    let rows = served.hush.wait_for_rows("status=blocked", 1).await;
    assert_eq!(rows[0]["client_name"], "tablet");
    assert_eq!(rows[0]["group"], "kids");
}

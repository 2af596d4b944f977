//! Entry points for fuzzing: the cargo-fuzz targets in `fuzz/` call these, and so does the smoke
//! test that replays their committed seed corpora in CI. Each takes arbitrary bytes and must
//! neither panic nor hang, whatever they are.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine as _;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;
use hyper::Method;

use crate::config::{ClientNet, Config, DnsConfig, HumanDuration, Transport, Upstream};
use crate::dns::arrival::Arrival;
use crate::dns::handler::DnsHandler;
use crate::dns::https::read_query;
use crate::dns::local::LocalRecords;
use crate::dns::metrics::DnsMetrics;
use crate::dns::outcome::EventSink;
use crate::dns::policy::{BlockingSwitch, Policy};
use crate::dns::server::SharedHandles;
use crate::rules::QueryName;
use crate::rules::compile::{block_list_from_text, inspect};

/// A list file's bytes: parsed, compiled, and asked about the names it mentions.
pub fn list_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let stats = inspect(&text);
    let (rules, report) = block_list_from_text("fuzz", &text);
    assert!(
        report.stats.entries <= stats.entries,
        "compiling added rules that parsing did not see"
    );
    for word in text.split_whitespace().take(64) {
        if let Some(name) = QueryName::from_text(word) {
            rules.decide(&name);
        }
    }
}

/// A config file's bytes, through the same loading and validation as `hush check-config`.
pub fn config_text(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::from_toml(text, "fuzz.toml", Path::new("/nonexistent"));
    }
}

/// Raw DNS request bytes through the real request handler and pipeline. Every name is blocked
/// by a catch-all regex, so nothing leaves the process except, for the root name, a query to a
/// closed loopback port that fails at once.
pub struct RequestFuzzer {
    runtime: tokio::runtime::Runtime,
    handler: DnsHandler,
}

impl RequestFuzzer {
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|err| panic!("a fuzzer needs a runtime: {err}"));
        let (catch_all, _) = block_list_from_text("catch-all", "/./\n");
        let policy = Policy::new(
            Arc::new(catch_all),
            Arc::new(crate::rules::RuleSet::empty()),
            &Config::default(),
        );
        let loopback = IpAddr::from([127, 0, 0, 1]);
        let dns = DnsConfig {
            upstreams: vec![Upstream {
                transport: Transport::Udp,
                addr: SocketAddr::new(loopback, 9),
            }],
            upstream_timeout: HumanDuration(Duration::from_millis(50)),
            max_inflight: 16,
            allowed_clients: vec![ClientNet(ipnet::IpNet::from(loopback))],
            rate_limit: 0,
            cache_size: 64,
            serve_stale: HumanDuration(Duration::ZERO),
            ..DnsConfig::default()
        };
        let shared = SharedHandles {
            policy: Arc::new(ArcSwap::from_pointee(policy)),
            local: Arc::new(ArcSwap::from_pointee(LocalRecords::default())),
            switch: Arc::new(BlockingSwitch::new(true)),
            events: Arc::new(EventSink::disabled()),
            metrics: Arc::new(DnsMetrics::default()),
        };
        let handler = runtime
            .block_on(async { DnsHandler::new(&dns, shared) })
            .unwrap_or_else(|err| panic!("fuzz upstream: {err}"));
        Self { runtime, handler }
    }

    pub fn run(&self, data: &[u8]) {
        let source = SocketAddr::from(([127, 0, 0, 1], 5353));
        for protocol in [Protocol::Udp, Protocol::Tcp] {
            let Ok(request) = Request::from_bytes(data.to_vec(), source, protocol) else {
                return;
            };
            let arrival = match protocol {
                Protocol::Udp => Arrival::UDP,
                _ => Arrival::TCP,
            };
            let reply = self
                .runtime
                .block_on(self.handler.answer(&request, &arrival));
            if let Some(reply) = reply
                && let Err(err) = hickory_proto::op::Message::from_vec(&reply)
            {
                panic!("hush produced a response it cannot parse back: {err}");
            }
        }
    }
}

impl RequestFuzzer {
    /// Arbitrary bytes as a DNS-over-HTTPS request, through the same parsing as the HTTPS
    /// listener: up to the first zero byte a path under `/dns-query`, the rest the message, sent
    /// as a POST body and as a GET `?dns=` parameter.
    pub fn run_https(&self, data: &[u8]) {
        let (path, message) = match data.iter().position(|byte| *byte == 0) {
            Some(at) => (&data[..at], &data[at + 1..]),
            None => (&[][..], data),
        };
        let path = String::from_utf8_lossy(path);
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(message);
        let source = SocketAddr::from(([127, 0, 0, 1], 5353));
        let requests = [
            (Method::POST, format!("/dns-query{path}")),
            (Method::GET, format!("/dns-query{path}?dns={encoded}")),
        ];
        for (method, uri) in requests {
            let Ok(uri) = uri.parse::<hyper::Uri>() else {
                continue;
            };
            let parsed = read_query(
                &method,
                &uri,
                Some("application/dns-message"),
                message,
                source,
            );
            if let Ok((query, arrival)) = parsed
                && let Some(reply) = self.runtime.block_on(self.handler.answer(&query, &arrival))
                && let Err(err) = hickory_proto::op::Message::from_vec(&reply)
            {
                panic!("hush produced a DoH response it cannot parse back: {err}");
            }
        }
    }
}

impl Default for RequestFuzzer {
    fn default() -> Self {
        Self::new()
    }
}

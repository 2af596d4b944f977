//! Lists that stay fresh: URL subscriptions against a loopback HTTP server (first download,
//! 304, 500 and garbage keep the old copy, restart with the server down uses the cache), and
//! local list files edited on disk.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hickory_proto::rr::RecordType;
use reqwest::Method;

use crate::support::*;

/// What the list server answers, and what it has been asked.
#[derive(Default)]
pub(crate) struct ListServer {
    body: String,
    etag: String,
    status: Option<StatusCode>,
    html: bool,
    requests: Vec<Option<String>>,
}

async fn serve_list(State(server): State<Arc<Mutex<ListServer>>>, headers: HeaderMap) -> Response {
    let mut server = server.lock().unwrap();
    let condition = headers
        .get(header::IF_NONE_MATCH)
        .map(|v| v.to_str().unwrap().to_owned());
    server.requests.push(condition.clone());
    if let Some(status) = server.status {
        return status.into_response();
    }
    if server.html {
        return (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Oops</body></html>",
        )
            .into_response();
    }
    if condition.as_deref() == Some(server.etag.as_str()) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    ([(header::ETAG, server.etag.clone())], server.body.clone()).into_response()
}

pub(crate) async fn start_list_server(
    body: &str,
) -> (
    SocketAddr,
    Arc<Mutex<ListServer>>,
    tokio::task::JoinHandle<()>,
) {
    let state = Arc::new(Mutex::new(ListServer {
        body: body.to_owned(),
        etag: "\"v1\"".to_owned(),
        ..ListServer::default()
    }));
    let app = Router::new()
        .route("/list.txt", get(serve_list))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, state, task)
}

async fn blocked(dns: SocketAddr, name: &str) -> bool {
    answers(&udp_query(dns, name, RecordType::A).await) == [format!("{name} A 0.0.0.0")]
}

/// A refresh that fails with `expected` in the list's error, the previous copy still in force.
async fn refresh_fails_keeping_the_copy(hush: &LoggedHush, expected: &str) {
    hush.send(Method::POST, "/api/lists/refresh", None).await;
    let (_, lists) = hush.get("/api/lists").await;
    let error = lists["lists"][1]["error"].as_str().unwrap_or_default();
    assert!(error.contains(expected), "{lists}");
    assert!(
        blocked(hush.dns, "ads.example.com.").await,
        "the previous copy was not kept"
    );
}

/// Waits until `name` is (or is not) blocked.
async fn eventually_blocked(dns: SocketAddr, name: &str, expected: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while blocked(dns, name).await != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never became blocked={expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_subscription_downloads_revalidates_and_survives_failures() {
    let upstream = Upstream::start().await;
    let (http, server, _task) = start_list_server("# Title: Remote ads\nads.example.com\n").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block.txt"), "").unwrap();
    let extra = format!(
        "[blocking]\nlists = [\"block.txt\", {{ url = \"http://{http}/list.txt\", category = \"ads\" }}]\n"
    );
    let hush = start_logged_in(dir, upstream.addr, &extra).await;

    // First download, in the background after start.
    eventually_blocked(hush.dns, "ads.example.com.", true).await;
    let (_, lists) = hush.get("/api/lists").await;
    let remote = &lists["lists"][1];
    assert_eq!(
        (remote["name"].as_str(), remote["category"].as_str()),
        (Some("Remote ads"), Some("ads"))
    );
    assert_eq!(remote["entries"], 1);
    assert!(remote["updated"].is_string());
    assert_eq!(remote["error"], serde_json::Value::Null);

    // Revalidation sends the ETag; 304 keeps the copy.
    let (status, _) = hush.send(Method::POST, "/api/lists/refresh", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        server
            .lock()
            .unwrap()
            .requests
            .last()
            .cloned()
            .flatten()
            .as_deref(),
        Some("\"v1\"")
    );
    assert!(blocked(hush.dns, "ads.example.com.").await);

    // A server error and an HTML error page both keep the previous copy and are reported.
    server.lock().unwrap().status = Some(StatusCode::INTERNAL_SERVER_ERROR);
    refresh_fails_keeping_the_copy(&hush, "500").await;
    {
        let mut server = server.lock().unwrap();
        server.status = None;
        server.html = true;
    }
    refresh_fails_keeping_the_copy(&hush, "HTML").await;
    {
        let mut server = server.lock().unwrap();
        server.html = false;
        server.etag = "\"v2\"".into();
        server.body = "this is not\na list at all\n".into();
    }
    refresh_fails_keeping_the_copy(&hush, "does not look like a list").await;

    // A new version replaces the old one.
    server.lock().unwrap().body = "new.example.com\n".into();
    let (status, lists) = hush.send(Method::POST, "/api/lists/refresh", None).await;
    assert_eq!(status, 200, "{lists}");
    assert_eq!(lists["lists"][1]["error"], serde_json::Value::Null);
    assert!(blocked(hush.dns, "new.example.com.").await);
    assert!(!blocked(hush.dns, "ads.example.com.").await);

    // Restart with the list server gone: the cached copy is in force from the start.
    let LoggedHush {
        hush: running, dir, ..
    } = hush;
    running.shutdown().await;
    _task.abort();
    let _ = _task.await;
    let hush = start_logged_in(dir, upstream.addr, &extra).await;
    assert!(
        blocked(hush.dns, "new.example.com.").await,
        "the cached copy was not used at start"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, lists) = hush.get("/api/lists").await;
        if lists["lists"][1]["error"].is_string() {
            assert_eq!(lists["lists"][1]["entries"], 1);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failed download is not reported: {lists}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(blocked(hush.dns, "new.example.com.").await);
}

#[tokio::test]
async fn a_list_file_edited_on_disk_is_picked_up() {
    let upstream = Upstream::start().await;
    let hush = start_hush(upstream.addr, "tracker.example.com\n", "", "").await;
    assert!(blocked(hush.addr, "tracker.example.com.").await);
    hush.write_list("block.txt", "tracker.example.com\nwww.example.com\n");
    eventually_blocked(hush.addr, "www.example.com.", true).await;
    hush.write_list("block.txt", "www.example.com\n");
    eventually_blocked(hush.addr, "tracker.example.com.", false).await;
}

#[tokio::test]
async fn an_oversized_download_is_refused_and_the_copy_kept() {
    use hush::lists::cache::ListCache;
    use hush::lists::download::{Downloader, Fetch};
    let (http, server, _task) = start_list_server("a.example.com\nb.example.com\n").await;
    let dir = tempfile::tempdir().unwrap();
    let cache = ListCache::in_dir(dir.path());
    let dns = hush::config::DnsConfig {
        upstreams: Vec::new(),
        upstream_timeout: hush::config::HumanDuration(Duration::from_secs(1)),
        ..Default::default()
    };
    let resolver = hush::dns::upstream::own_resolver(&dns).unwrap();
    let url = format!("http://{http}/list.txt");
    let roomy = Downloader::new(cache.clone(), resolver.clone(), 1 << 20).unwrap();
    assert_eq!(roomy.fetch(&url).await, Fetch::Updated);
    {
        let mut server = server.lock().unwrap();
        server.etag = "\"v2\"".into();
        server.body = "big.example.com\n".repeat(100);
    }
    let tight = Downloader::new(cache.clone(), resolver, 64).unwrap();
    match tight.fetch(&url).await {
        Fetch::Failed(error) => assert!(error.contains("larger than 64 bytes"), "{error}"),
        other => panic!("an oversized list was accepted: {other:?}"),
    }
    assert_eq!(
        cache.read_body(&url).unwrap(),
        b"a.example.com\nb.example.com\n"
    );
    assert_eq!(tight.error(&url).map(|e| e.contains("larger")), Some(true));
}

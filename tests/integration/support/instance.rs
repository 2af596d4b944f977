//! hush instances for tests: started from TOML text in a folder of their own, with their query
//! events in a channel (`TestHush`) or their real query log and API (`LoggedHush`).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;

use hush::app::Hush;
use hush::config::Config;
use hush::dns::outcome::{Blocked, EventSink, Outcome, QueryEvent, Status};
use hush::querylog::EventTarget;

use super::*;

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
    let addr = hush.dns().addrs()[0];
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

    /// The next query event, which must have ended with `status`.
    pub async fn expect_event(&mut self, status: Status) -> QueryEvent {
        let event = self.next_event().await;
        assert_eq!(event.outcome.status(), status, "{event:?}");
        event
    }

    /// The next query event, which must be a block; returns why it was blocked.
    pub async fn expect_blocked(&mut self) -> Blocked {
        let event = self.next_event().await;
        match event.outcome {
            Outcome::Blocked(blocked) => blocked,
            other => panic!("{}: expected a block, got {other:?}", event.name),
        }
    }

    pub fn write_list(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join(file), text).unwrap();
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
    // Keys of `[dns]` in `extra` join the `[dns]` table written here (TOML has no second one).
    let (dns_extra, extra) = match extra.strip_prefix("[dns]\n") {
        Some(rest) => match rest.find("\n[") {
            Some(end) => (&rest[..=end], &rest[end + 1..]),
            None => (rest, ""),
        },
        None => ("", extra),
    };
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:0\"]\nupstreams = [\"udp://{upstream}\"]\nupstream_timeout = \"1s\"\n\
         {dns_extra}{blocking}[querylog]\n{database}{extra}"
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
        dns: hush.dns().addrs()[0],
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
    /// The same hush, its API called with `Authorization: Bearer <token>` from now on.
    pub fn with_token(mut self, token: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        self.http = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap();
        self
    }

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

/// [`start_logged`] on `backend`'s store.
pub async fn start_logged_on(
    backend: &Backend,
    upstream: SocketAddr,
    block: &str,
    extra: &str,
) -> LoggedHush {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block.txt"), block).unwrap();
    start_logged_in_on(backend, dir, upstream, extra).await
}

/// [`start_logged_in`] on `backend`'s store (`extra` starts inside `[querylog]`, or with a table).
pub async fn start_logged_in_on(
    backend: &Backend,
    dir: tempfile::TempDir,
    upstream: SocketAddr,
    extra: &str,
) -> LoggedHush {
    let database = format!("database = \"{}\"\n", backend.database());
    start_logged_in(dir, upstream, &format!("{database}{extra}")).await
}

/// The store `backend` names, opened directly (its state folder `dir`).
pub async fn open_store(backend: &Backend, dir: &std::path::Path) -> hush::store::Store {
    let config = hush::config::QueryLogConfig {
        database: backend.database().parse().unwrap(),
        config_dir: dir.to_path_buf(),
        ..Default::default()
    };
    let config = match backend {
        Backend::Sqlite => hush::config::QueryLogConfig {
            database: hush::config::DatabaseLocation::File(dir.join("history.db")),
            ..config
        },
        Backend::Postgres(_) => config,
    };
    hush::store::Store::for_config(&config).await.unwrap()
}

/// hush as a process of its own (`hush run` on `config`, written into `dir`), once it answers
/// DNS on `dns`.
pub async fn spawn_hush(dir: &std::path::Path, config: &str, dns: SocketAddr) -> KillOnDrop {
    let path = dir.join("hush.toml");
    std::fs::write(&path, config).unwrap();
    let child = KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_hush"))
            .args(["--config", path.to_str().unwrap(), "run"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let warmup = query_message("warmup.example.com.", hickory_proto::rr::RecordType::A)
        .to_vec()
        .unwrap();
    while udp_exchange_raw(dns, &warmup, Duration::from_millis(200))
        .await
        .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "hush never answered");
    }
    child
}

/// A connection holding the SQLite file at `path` locked (`BEGIN EXCLUSIVE`) until it runs
/// `ROLLBACK` or is dropped: the writer's batches wait and then fail.
pub async fn lock_database(path: &std::path::Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let mut blocker = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut blocker)
        .await
        .unwrap();
    blocker
}

/// A child process that is killed if the test ends before it does.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

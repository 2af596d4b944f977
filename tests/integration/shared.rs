//! Two hush instances on one PostgreSQL database: one merged history with an instance filter,
//! custom rules and the blocking pause applied on both within 2 s, DNS answering through a
//! database outage with rows resuming after it, a start while the database is down, and
//! SIGTERM losing nothing. Each test takes a fresh database of a private cluster (the outage
//! test a cluster of its own), and skips with a note where PostgreSQL is not installed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use reqwest::Method;
use serde_json::json;

use crate::support::*;

const SYNC_LIMIT: Duration = Duration::from_secs(2);

/// hush `name` on the shared database `url`, blocking `tracker.example.com`.
async fn instance(url: &str, name: &str, upstream: SocketAddr) -> LoggedHush {
    let extra = format!("database = \"{url}\"\ninstance = \"{name}\"\n");
    start_logged(upstream, "tracker.example.com\n", &extra).await
}

async fn answer(hush: &LoggedHush, name: &str) -> Vec<String> {
    answers(&udp_query(hush.dns, name, RecordType::A).await)
}

/// Polls `hush` until `name` is answered with `expected`; returns how long that took.
async fn until_answer(hush: &LoggedHush, name: &str, expected: &[&str]) -> Duration {
    let started = Instant::now();
    loop {
        if answer(hush, name).await == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name} never answered {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_instances_write_one_history_and_filter_by_instance() {
    let Some(Backend::Postgres(url)) = Backend::postgres() else {
        return;
    };
    let upstream = Upstream::start().await;
    let a = instance(&url, "dns-a", upstream.addr).await;
    let b = instance(&url, "dns-b", upstream.addr).await;
    for _ in 0..3 {
        answer(&a, "www.example.com.").await;
    }
    answer(&a, "ads.tracker.example.com.").await;
    answer(&b, "www.example.com.").await;
    answer(&b, "x.tracker.example.com.").await;
    for hush in [&a, &b] {
        let rows = hush.wait_for_rows("", 6).await;
        let mut instances: Vec<&str> = rows
            .iter()
            .map(|r| r["instance"].as_str().unwrap())
            .collect();
        instances.sort_unstable();
        assert_eq!(
            instances,
            ["dns-a", "dns-a", "dns-a", "dns-a", "dns-b", "dns-b"]
        );
    }
    let only_b = a.wait_for_rows("instance=dns-b", 2).await;
    assert_eq!(only_b.len(), 2);
    assert!(only_b.iter().all(|r| r["instance"] == "dns-b"));
    let (_, blocked_on_a) = b.get("/api/queries?instance=dns-a&status=blocked").await;
    assert_eq!(blocked_on_a["queries"].as_array().unwrap().len(), 1);
    assert_eq!(
        blocked_on_a["queries"][0]["domain"],
        "ads.tracker.example.com"
    );

    assert_eq!(summary(&b, "").await, (6, 2), "every instance by default");
    assert_eq!(summary(&b, "?instance=dns-a").await, (4, 1));
    assert_eq!(summary(&a, "?instance=dns-b").await, (2, 1));
    assert_eq!(summary(&a, "?instance=nobody").await, (0, 0));
    let (_, top) = a.get("/api/stats/top?kind=domains&instance=dns-a").await;
    assert_eq!(
        top["items"][0],
        json!({"name": "www.example.com", "count": 3})
    );
    let (_, report) = a.get("/api/report/clients").await;
    assert_eq!(report["clients"][0]["queries"], 6, "{report}");
    let (_, timeline) = b.get("/api/stats/timeline?bucket=1m&instance=dns-b").await;
    let total: i64 = timeline["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bucket| bucket["queries"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 2);
    let (status, body) = a.get("/api/queries?instance=").await;
    assert_eq!(status, 400, "{body}");
}

/// `(queries, blocked)` of `/api/stats/summary{query}`.
async fn summary(hush: &LoggedHush, query: &str) -> (i64, i64) {
    let (status, body) = hush.get(&format!("/api/stats/summary{query}")).await;
    assert_eq!(status, 200, "{body}");
    (
        body["queries"].as_i64().unwrap(),
        body["blocked"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn rules_and_the_pause_apply_on_every_instance_within_two_seconds() {
    let Some(Backend::Postgres(url)) = Backend::postgres() else {
        return;
    };
    let upstream = Upstream::start().await;
    let a = instance(&url, "dns-a", upstream.addr).await;
    let b = instance(&url, "dns-b", upstream.addr).await;
    assert_eq!(
        answer(&b, "www.example.com.").await,
        ["www.example.com. A 192.0.2.1"]
    );

    let (status, rule) = a
        .send(
            Method::POST,
            "/api/rules",
            Some(json!({"kind": "deny", "domain": "www.example.com"})),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    let took = until_answer(&b, "www.example.com.", &["www.example.com. A 0.0.0.0"]).await;
    assert!(
        took < SYNC_LIMIT,
        "the rule reached the other instance after {took:?}"
    );
    let (_, rules) = b.get("/api/rules").await;
    assert_eq!(
        rules["rules"][0]["id"], rule["id"],
        "one id on every instance"
    );

    let id = rule["id"].as_i64().unwrap();
    let (status, _) = b
        .send(Method::DELETE, &format!("/api/rules/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let took = until_answer(&a, "www.example.com.", &["www.example.com. A 192.0.2.1"]).await;
    assert!(
        took < SYNC_LIMIT,
        "the deletion reached the other instance after {took:?}"
    );

    assert_eq!(
        answer(&b, "tracker.example.com.").await,
        ["tracker.example.com. A 0.0.0.0"]
    );
    let (status, body) = a
        .send(
            Method::POST,
            "/api/blocking",
            Some(json!({"enabled": false, "duration": "5m"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let took = until_answer(
        &b,
        "tracker.example.com.",
        &["tracker.example.com. A 192.0.2.1"],
    )
    .await;
    assert!(
        took < SYNC_LIMIT,
        "the pause reached the other instance after {took:?}"
    );
    let (_, state) = b.get("/api/blocking").await;
    assert_eq!(state["enabled"], false);
    assert!(
        state["until"].is_string(),
        "the pause keeps its end: {state}"
    );

    resume_blocking(&b).await;
    let took = until_answer(
        &a,
        "tracker.example.com.",
        &["tracker.example.com. A 0.0.0.0"],
    )
    .await;
    assert!(
        took < SYNC_LIMIT,
        "resuming reached the other instance after {took:?}"
    );
}

#[tokio::test]
async fn dns_answers_through_a_database_outage_and_rows_resume() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let url = cluster.new_database();
    let upstream = Upstream::start().await;
    let hush = instance(&url, "dns-a", upstream.addr).await;
    let (status, _) = hush
        .send(
            Method::POST,
            "/api/rules",
            Some(json!({"kind": "deny", "domain": "custom.example.com"})),
        )
        .await;
    assert_eq!(status, 201);
    answer(&hush, "before.example.com.").await;
    hush.wait_for_rows("domain=before.example.com", 1).await;

    cluster.stop();
    let started = Instant::now();
    for i in 0..20 {
        // Each name is new, so each is forwarded (the upstream knows none of them).
        let reply = udp_query(hush.dns, &format!("during{i}.example.com."), RecordType::A).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(
            answer(&hush, "custom.example.com.").await,
            ["custom.example.com. A 0.0.0.0"]
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "40 queries took {:?} while the database was down",
        started.elapsed()
    );
    hush.wait_for_health("degraded, with failed writes", |health| {
        health["status"] == "degraded" && health["querylog"]["errors"].as_u64() >= Some(1)
    })
    .await;
    // A pause made during the outage holds on this instance, and is written (not undone) when
    // the database is back.
    let (status, _) = hush
        .send(
            Method::POST,
            "/api/blocking",
            Some(json!({"enabled": false, "duration": "10m"})),
        )
        .await;
    assert_eq!(status, 200);

    // The same process carries on when the database is back: its broken connections are
    // re-made, the queued rows are written, the pause reaches the database.
    cluster.restart();
    hush.wait_for_health("ok after the database came back", |health| {
        health["status"] == "ok"
    })
    .await;
    wait_for_domains(&hush, &["during0", "during19"]).await;
    let database = url.rsplit('/').next().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.psql(
        database,
        "SELECT count(*) FROM blocking_state WHERE off_until_ms > 0",
    ) != "1"
    {
        assert!(
            Instant::now() < deadline,
            "the pause never reached the database"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        answer(&hush, "tracker.example.com.").await,
        ["tracker.example.com. A 192.0.2.1"],
        "still paused after the resynchronisation"
    );
    resume_blocking(&hush).await;

    // Down again, and this time hush restarts meanwhile: it answers DNS at once, with the
    // custom rules it kept in its folder.
    cluster.stop();
    let LoggedHush {
        hush: running, dir, ..
    } = hush;
    running.shutdown().await;
    let restarted = start_logged_in(
        dir,
        upstream.addr,
        &format!("database = \"{url}\"\ninstance = \"dns-a\"\n"),
    )
    .await;
    assert_eq!(
        answer(&restarted, "custom.example.com.").await,
        ["custom.example.com. A 0.0.0.0"],
        "the kept custom rules apply while the database is down"
    );
    let (_, health) = restarted.get("/api/health").await;
    assert_eq!(health["status"], "degraded");
    answer(&restarted, "while-down.example.com.").await;

    // A new instance that never reached the database (and whose kept-rules file is garbage)
    // starts too: the lists block, no custom rule is known yet.
    let fresh_dir = tempfile::tempdir().unwrap();
    std::fs::write(fresh_dir.path().join("block.txt"), "tracker.example.com\n").unwrap();
    std::fs::write(fresh_dir.path().join("custom-rules.json"), "{ not json").unwrap();
    let fresh = start_logged_in(
        fresh_dir,
        upstream.addr,
        &format!("database = \"{url}\"\ninstance = \"dns-b\"\n"),
    )
    .await;
    assert_eq!(
        answer(&fresh, "tracker.example.com.").await,
        ["tracker.example.com. A 0.0.0.0"]
    );
    let unknown = udp_query(fresh.dns, "custom.example.com.", RecordType::A).await;
    assert_eq!(
        unknown.metadata.response_code,
        ResponseCode::NXDomain,
        "forwarded (the upstream has no such name), not blocked"
    );
    let (_, health) = fresh.get("/api/health").await;
    assert_eq!(health["status"], "degraded");

    cluster.restart();
    until_answer(
        &fresh,
        "custom.example.com.",
        &["custom.example.com. A 0.0.0.0"],
    )
    .await;
    restarted
        .wait_for_health("ok after the database came back", |health| {
            health["status"] == "ok"
        })
        .await;
    answer(&restarted, "after.example.com.").await;
    wait_for_domains(&restarted, &["before", "while-down", "after"]).await;
}

async fn resume_blocking(hush: &LoggedHush) {
    let (status, body) = hush
        .send(
            Method::POST,
            "/api/blocking",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Waits until rows of `<label>.example.com` for every label are in the history. The writer
/// retries with a backoff of up to 5 s: this allows it more than one round.
async fn wait_for_domains(hush: &LoggedHush, labels: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, body) = hush.get("/api/queries?limit=1000").await;
        let domains: Vec<&str> = body["queries"]
            .as_array()
            .map(|rows| rows.iter().filter_map(|r| r["domain"].as_str()).collect())
            .unwrap_or_default();
        if labels
            .iter()
            .all(|label| domains.contains(&format!("{label}.example.com").as_str()))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "rows did not resume: {domains:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn sigterm_writes_every_queued_row_to_the_shared_database() {
    let Some(cluster) = shared_cluster() else {
        return;
    };
    let url = cluster.new_database();
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block.txt"), "tracker.example.com\n").unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dns: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = format!(
        "[dns]\nlisten = [\"{dns}\"]\nupstreams = [\"udp://{}\"]\n[blocking]\nlists = [\"block.txt\"]\n\
         [querylog]\ndatabase = \"{url}\"\ninstance = \"dns-term\"\n[api]\nlisten = \"127.0.0.1:0\"\n",
        upstream.addr
    );
    let mut child = spawn_hush(dir.path(), &config, dns).await;
    let sent = 300;
    for i in 0..sent {
        udp_query(dns, &format!("q{i}.tracker.example.com."), RecordType::A).await;
    }
    let pid = child.0.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "hush did not stop after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
    let database = url.rsplit('/').next().unwrap();
    let rows = cluster.psql(database, "SELECT count(*) FROM queries WHERE status = 2");
    assert_eq!(rows, sent.to_string(), "every blocked query was written");
}

//! The query history and the HTTP API over real HTTP: rows, filters, paging, statistics,
//! blocking pause, custom rules, lists, auth, bad parameters, shutdown and database faults.

use std::collections::BTreeSet;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn every_query_becomes_a_row_with_its_outcome() {
    let upstream = Upstream::start().await;
    let hush = start_logged(upstream.addr, "tracker.example.com\n", "").await;
    udp_query(hush.dns, "www.example.com.", RecordType::A).await;
    udp_query(hush.dns, "www.example.com.", RecordType::A).await;
    udp_query(hush.dns, "ads.tracker.example.com.", RecordType::AAAA).await;
    udp_query(hush.dns, "missing.example.com.", RecordType::A).await;
    udp_query(hush.dns, "servfail.example.com.", RecordType::A).await;
    let rows = hush.wait_for_rows("", 5).await;
    let summary: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {} {}",
                r["domain"], r["type"], r["status"], r["rcode"], r["rule"], r["list"]
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            r#""servfail.example.com" "A" "failed" "SERVFAIL" null null"#,
            r#""missing.example.com" "A" "forwarded" "NXDOMAIN" null null"#,
            r#""ads.tracker.example.com" "AAAA" "blocked" "NOERROR" "tracker.example.com" "block""#,
            r#""www.example.com" "A" "cached" "NOERROR" null null"#,
            r#""www.example.com" "A" "forwarded" "NOERROR" null null"#,
        ]
    );
    for row in &rows {
        assert_eq!(row["client"], "127.0.0.1");
        assert!(row["time"].as_str().unwrap().ends_with('Z'));
        assert!(row["duration_us"].as_i64().unwrap() >= 0);
    }
    assert_eq!(rows[4]["upstream"], format!("udp://{}", upstream.addr));
    assert_eq!(rows[3]["upstream"], Value::Null);
}

#[tokio::test]
async fn filters_and_cursor_paging_without_gaps_or_repeats() {
    let upstream = Upstream::start().await;
    let hush = start_logged(upstream.addr, "tracker.example.com\n", "").await;
    for i in 0..25 {
        udp_query(
            hush.dns,
            &format!("n{i}.tracker.example.com."),
            RecordType::A,
        )
        .await;
    }
    udp_query(hush.dns, "www.example.com.", RecordType::AAAA).await;
    let mut odd = query_message("placeholder.example.com.", RecordType::A);
    let odd_name =
        hickory_proto::rr::Name::from_labels([&b"odd%_name"[..], b"example", b"com"]).unwrap();
    odd.queries[0].set_name(odd_name);
    udp_exchange(hush.dns, &odd).await;
    hush.wait_for_rows("", 27).await;

    let mut seen = Vec::new();
    let mut cursor = None::<String>;
    for page in 0.. {
        let query = match &cursor {
            Some(next) => format!("/api/queries?status=blocked&limit=10&before={next}"),
            None => "/api/queries?status=blocked&limit=10".to_owned(),
        };
        let (status, body) = hush.get(&query).await;
        assert_eq!(status, 200);
        if page == 0 {
            // Rows arriving while paging must not shift later pages.
            for i in 0..5 {
                udp_query(
                    hush.dns,
                    &format!("late{i}.tracker.example.com."),
                    RecordType::A,
                )
                .await;
            }
        }
        let ids: Vec<i64> = body["queries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        seen.extend(ids);
        match body["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25, "pages: {seen:?}");
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        25,
        "a row came twice"
    );
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "not newest first");

    let count = |body: &Value| body["queries"].as_array().map_or(0, Vec::len);
    let cases = [
        ("type=AAAA", 1),
        ("type=aaaa&domain=www", 1),
        ("domain=n1", 11), // n1, n10..n19
        ("domain=TRACKER.EXAMPLE", 30),
        ("domain=%25_", 1), // a literal "%_", not a LIKE pattern
        ("domain=%25", 1),
        ("client=127.0.0.1", 32),
        ("client=10.9.9.9", 0),
        ("status=forwarded", 2),
        ("from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z", 0),
        ("from=1000000000", 32),
    ];
    hush.wait_for_rows("", 32).await;
    for (query, expected) in cases {
        let (status, body) = hush.get(&format!("/api/queries?limit=1000&{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(count(&body), expected, "{query}");
    }
}

#[tokio::test]
async fn injection_strings_are_just_values() {
    let upstream = Upstream::start().await;
    let hush = start_logged(upstream.addr, "", "").await;
    udp_query(hush.dns, "www.example.com.", RecordType::A).await;
    hush.wait_for_rows("", 1).await;
    for evil in [
        "'%20OR%201=1--",
        "x%27);DROP%20TABLE%20queries;--",
        "%22%20OR%20%22%22=%22",
    ] {
        let (status, body) = hush.get(&format!("/api/queries?domain={evil}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["queries"].as_array().unwrap().len(), 0, "{evil}");
    }
    hush.wait_for_rows("", 1).await;
}

#[tokio::test]
async fn stats_equal_what_was_sent() {
    let upstream = Upstream::start().await;
    let hush = start_logged(upstream.addr, "tracker.example.com\n", "").await;
    for _ in 0..3 {
        udp_query(hush.dns, "www.example.com.", RecordType::A).await; // 1 forwarded, 2 cached
    }
    for name in [
        "a.tracker.example.com.",
        "a.tracker.example.com.",
        "b.tracker.example.com.",
    ] {
        udp_query(hush.dns, name, RecordType::A).await;
    }
    udp_query(hush.dns, "servfail.example.com.", RecordType::A).await;
    hush.wait_for_rows("", 7).await;

    let (status, summary) = hush.get("/api/stats/summary").await;
    assert_eq!(status, 200);
    let expected = json!({
        "queries": 7, "blocked": 3, "blocked_percent": 42.86, "cached": 2, "forwarded": 1,
        "failed": 1, "refused": 0, "clients": 1, "domains": 4
    });
    assert_eq!(summary, expected);

    let (_, top) = hush.get("/api/stats/top?kind=blocked&limit=5").await;
    assert_eq!(
        top["items"],
        json!([{"name": "a.tracker.example.com", "count": 2}, {"name": "b.tracker.example.com", "count": 1}])
    );
    let (_, top) = hush.get("/api/stats/top?kind=domains&limit=1").await;
    assert_eq!(
        top["items"],
        json!([{"name": "www.example.com", "count": 3}])
    );
    let (_, top) = hush.get("/api/stats/top?kind=clients").await;
    assert_eq!(top["items"], json!([{"name": "127.0.0.1", "count": 7}]));

    let (status, timeline) = hush.get("/api/stats/timeline?bucket=1h").await;
    assert_eq!(status, 200);
    let buckets = timeline["buckets"].as_array().unwrap();
    assert!(
        (24..=25).contains(&buckets.len()),
        "{} buckets",
        buckets.len()
    );
    let total: i64 = buckets.iter().map(|b| b["queries"].as_i64().unwrap()).sum();
    let blocked: i64 = buckets.iter().map(|b| b["blocked"].as_i64().unwrap()).sum();
    assert_eq!((total, blocked), (7, 3));
    // Ranges over two days read the daily counts: the same numbers.
    let week_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 7 * 86_400;
    let (_, weekly) = hush
        .get(&format!("/api/stats/summary?from={week_ago}"))
        .await;
    assert_eq!(weekly, expected);
    let (_, top) = hush
        .get(&format!(
            "/api/stats/top?kind=blocked&limit=1&from={week_ago}"
        ))
        .await;
    assert_eq!(
        top["items"],
        json!([{"name": "a.tracker.example.com", "count": 2}])
    );
    let (_, old) = hush.get("/api/stats/summary?from=0&to=86400").await;
    assert_eq!(old["queries"], 0);
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let upstream = Upstream::start().await;
    let hush = start_logged(upstream.addr, "", "").await;
    let cases = [
        ("/api/queries?limit=0", "limit"),
        ("/api/queries?limit=abc", "limit"),
        ("/api/queries?limit=100000", "limit"),
        ("/api/queries?from=yesterday", "from"),
        ("/api/queries?status=lost", "status"),
        ("/api/queries?type=NOPE", "type"),
        ("/api/queries?client=not-an-ip", "client"),
        ("/api/queries?before=x", "before"),
        ("/api/queries?colour=red", "colour"),
        (
            "/api/stats/summary?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z",
            "from",
        ),
        ("/api/stats/timeline?bucket=90s", "bucket"),
        ("/api/stats/timeline?bucket=banana", "bucket"),
        ("/api/stats/timeline?bucket=1m&from=0", "bucket"),
        ("/api/stats/top?kind=planets", "kind"),
        ("/api/check", "domain"),
        ("/api/check?domain=a..b", "domain"),
    ];
    for (path, parameter) in cases {
        let (status, body) = hush.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("`{parameter}`")),
            "{path}: {message}"
        );
    }
    let (status, body) = hush.get("/api/nothing-here").await;
    assert_eq!((status, body["error"].is_string()), (404, true));
    let (status, body) = hush.send(Method::PUT, "/api/health", None).await;
    assert_eq!((status, body["error"].is_string()), (405, true));
    let (status, body) = hush
        .send(
            Method::POST,
            "/api/blocking",
            Some(json!({"enabled": "maybe"})),
        )
        .await;
    assert_eq!((status, body["error"].is_string()), (422, true));
    let response = hush
        .http
        .post(format!("{}/api/rules", hush.api))
        .header("content-type", "application/json")
        .body("x".repeat(100_000))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        413,
        "oversized bodies are refused"
    );
}

#[tokio::test]
async fn pausing_blocking_ends_by_itself() {
    let upstream = Upstream::start().await;
    let hush = start_logged(upstream.addr, "tracker.example.com\n", "").await;
    let blocked =
        || async { answers(&udp_query(hush.dns, "tracker.example.com.", RecordType::A).await) };
    assert_eq!(blocked().await, ["tracker.example.com. A 0.0.0.0"]);
    let (status, body) = hush
        .send(
            Method::POST,
            "/api/blocking",
            Some(json!({"enabled": false, "duration": "2s"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enabled"], false);
    assert!(body["until"].is_string());
    assert_eq!(blocked().await, ["tracker.example.com. A 192.0.2.1"]);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(blocked().await, ["tracker.example.com. A 0.0.0.0"]);
    let (_, body) = hush.get("/api/blocking").await;
    assert_eq!(body, json!({"enabled": true, "until": null}));
    let (status, _) = hush
        .send(
            Method::POST,
            "/api/blocking",
            Some(json!({"enabled": false, "duration": "soon"})),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn custom_rules_apply_at_once_and_survive_a_restart() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block.txt"), "tracker.example.com\n").unwrap();
    let hush = start_logged_in(dir, upstream.addr, "").await;
    let (status, rule) = hush
        .send(
            Method::POST,
            "/api/rules",
            Some(json!({"kind": "deny", "domain": "WWW.example.com", "comment": "test"})),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    assert_eq!(
        (rule["kind"].as_str(), rule["domain"].as_str()),
        (Some("deny"), Some("www.example.com"))
    );
    assert_eq!(
        answers(&udp_query(hush.dns, "www.example.com.", RecordType::A).await),
        ["www.example.com. A 0.0.0.0"]
    );
    let (status, _) = hush
        .send(
            Method::POST,
            "/api/rules",
            Some(json!({"kind": "deny", "domain": "www.example.com"})),
        )
        .await;
    assert_eq!(status, 409);
    let (status, body) = hush
        .send(
            Method::POST,
            "/api/rules",
            Some(json!({"kind": "deny", "domain": "com"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = hush
        .send(
            Method::POST,
            "/api/rules",
            Some(json!({"kind": "allow", "domain": "ok.tracker.example.com"})),
        )
        .await;
    assert_eq!(status, 201);
    let (_, check) = hush.get("/api/check?domain=ok.tracker.example.com").await;
    assert_eq!(check["blocked"], false);
    assert_eq!(check["allowed_by"], "ok.tracker.example.com (custom)");
    let (_, check) = hush.get("/api/check?domain=www.example.com").await;
    assert_eq!(
        (check["blocked"].as_bool(), check["list"].as_str()),
        (Some(true), Some("custom"))
    );

    // Restart on the same database: both rules are still in force.
    let LoggedHush {
        hush: running, dir, ..
    } = hush;
    running.shutdown().await;
    let hush = start_logged_in(dir, upstream.addr, "").await;
    assert_eq!(
        answers(&udp_query(hush.dns, "www.example.com.", RecordType::A).await),
        ["www.example.com. A 0.0.0.0"]
    );
    assert_eq!(
        answers(&udp_query(hush.dns, "ok.tracker.example.com.", RecordType::A).await).len(),
        0
    );
    let (_, rules) = hush.get("/api/rules").await;
    let rules = rules["rules"].as_array().unwrap().clone();
    assert_eq!(rules.len(), 2);
    let id = rules[0]["id"].as_i64().unwrap();
    let (status, _) = hush
        .send(Method::DELETE, &format!("/api/rules/{id}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        answers(&udp_query(hush.dns, "www.example.com.", RecordType::A).await),
        ["www.example.com. A 192.0.2.1"]
    );
    let (status, _) = hush
        .send(Method::DELETE, &format!("/api/rules/{id}"), None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = hush.send(Method::DELETE, "/api/rules/abc", None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_token_guards_everything_but_health() {
    let upstream = Upstream::start().await;
    let hush = start_logged(
        upstream.addr,
        "",
        "[api]\nlisten = \"127.0.0.1:0\"\ntoken = \"s3cret\"\n",
    )
    .await;
    let url = |path: &str| format!("{}{path}", hush.api);
    let status = |response: reqwest::Response| response.status().as_u16();
    assert_eq!(
        status(hush.http.get(url("/api/health")).send().await.unwrap()),
        200
    );
    assert_eq!(
        status(hush.http.get(url("/api/queries")).send().await.unwrap()),
        401
    );
    let wrong = hush
        .http
        .get(url("/api/queries"))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(status(wrong), 401);
    let right = hush
        .http
        .get(url("/api/queries"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(status(right), 200);
    let body: Value = hush
        .http
        .get(url("/api/rules"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["error"].as_str().unwrap().contains("Authorization"));
}

#[tokio::test]
async fn lists_health_and_metrics_report_the_running_state() {
    let upstream = Upstream::start().await;
    let hush = start_logged(
        upstream.addr,
        "tracker.example.com\nnot a rule\n# note\n",
        "",
    )
    .await;
    let (_, lists) = hush.get("/api/lists").await;
    let list = &lists["lists"][0];
    assert_eq!(
        (list["name"].as_str(), list["kind"].as_str()),
        (Some("block"), Some("block"))
    );
    assert_eq!(
        (
            list["entries"].as_u64(),
            list["skipped"].as_u64(),
            list["invalid"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert!(list["updated"].is_string());

    std::fs::write(
        hush.dir.path().join("block.txt"),
        "tracker.example.com\nmore.example.com\n",
    )
    .unwrap();
    let (status, lists) = hush.send(Method::POST, "/api/lists/refresh", None).await;
    assert_eq!(status, 200, "{lists}");
    assert_eq!(lists["lists"][0]["entries"], 2);
    assert_eq!(
        answers(&udp_query(hush.dns, "more.example.com.", RecordType::A).await),
        ["more.example.com. A 0.0.0.0"]
    );
    std::fs::remove_file(hush.dir.path().join("block.txt")).unwrap();
    let (status, body) = hush.send(Method::POST, "/api/lists/refresh", None).await;
    assert_eq!(status, 422, "{body}");

    udp_query(hush.dns, "www.example.com.", RecordType::A).await;
    hush.wait_for_rows("", 2).await;
    let (_, health) = hush.get("/api/health").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["blocking"], true);
    assert_eq!(health["rules"], 2);
    assert_eq!(health["querylog"]["written"], 2);
    assert_eq!(health["querylog"]["dropped"], 0);
    let metrics = hush.metrics().await;
    for line in [
        "hush_queries_total{status=\"blocked\"} 1",
        "hush_queries_total{status=\"forwarded\"} 1",
        "hush_upstream_latency_seconds_count 1",
        "hush_querylog_dropped_total 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in\n{metrics}"
        );
    }
}

#[tokio::test]
async fn shutdown_writes_every_queued_row() {
    let upstream = Upstream::start().await;
    let hush = start_logged(upstream.addr, "tracker.example.com\n", "").await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sent = 400;
    let mut buf = vec![0; 4096];
    // Waves of 50 keep the test client's own receive buffer from overflowing.
    for wave in 0..sent / 50 {
        for i in 0..50 {
            let query = query_message(&format!("q{wave}-{i}.tracker.example.com."), RecordType::A);
            socket
                .send_to(&query.to_vec().unwrap(), hush.dns)
                .await
                .unwrap();
        }
        for got in 0..50 {
            let reply = tokio::time::timeout(TIMEOUT, socket.recv(&mut buf)).await;
            assert!(reply.is_ok(), "wave {wave}: only {got} of 50 replies");
        }
    }
    let LoggedHush {
        hush: running, dir, ..
    } = hush;
    running.shutdown().await;
    let store = hush::store::Store::open(&dir.path().join("history.db"))
        .await
        .unwrap();
    let page = store
        .queries(&hush::store::QueryFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.rows.len(), sent);
}

#[tokio::test]
async fn a_locked_database_leaves_dns_answering_and_shows_in_health() {
    use sqlx::Connection;
    let upstream = Upstream::start().await;
    let hush = start_logged(upstream.addr, "", "").await;
    let mut blocker = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}",
        hush.dir.path().join("history.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut blocker)
        .await
        .unwrap();
    for _ in 0..3 {
        let reply = udp_query(hush.dns, "www.example.com.", RecordType::A).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    }
    let health = hush
        .wait_for_health("a write error", |health| {
            health["querylog"]["errors"].as_u64().unwrap_or(0) > 0
        })
        .await;
    assert_eq!(health["status"], "degraded");
    assert!(
        health["querylog"]["last_error"]
            .as_str()
            .unwrap()
            .contains("locked"),
        "{health}"
    );
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    drop(blocker);
    let rows = hush.wait_for_rows("", 3).await;
    assert_eq!(rows.len(), 3);
    let (_, health) = hush.get("/api/health").await;
    assert_eq!(health["status"], "ok");
}

#[tokio::test]
async fn retention_deletes_old_rows_in_batches() {
    use hush::store::{Interner, QueryFilter, QueryRow, Store, TimeRange};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("retention.db")).await.unwrap();
    let now = hush::store::time::unix_micros(std::time::SystemTime::now());
    let day = 86_400_000_000i64;
    let mut rows: Vec<QueryRow> = (0..120)
        .map(|i| row(now - 40 * day + i, "old.example"))
        .collect();
    rows.extend((0..30).map(|i| row(now - i, "new.example")));
    store
        .insert_batch(&rows, &mut Interner::default())
        .await
        .unwrap();
    let cutoff = now - 30 * day;
    let mut steps = Vec::new();
    loop {
        let deleted = store.delete_older_than(cutoff, 50).await.unwrap();
        if deleted == 0 {
            break;
        }
        steps.push(deleted);
    }
    // Each step: at most 50 raw rows plus at most one row of each of the five counts tables.
    assert!(
        steps.iter().all(|&n| n <= 55),
        "a step deleted too much: {steps:?}"
    );
    assert!(
        steps.len() >= 3,
        "120 old rows need three steps of 50: {steps:?}"
    );
    let left = store
        .queries(&QueryFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(left.rows.len(), 30);
    assert!(left.rows.iter().all(|r| r.row.domain == "new.example"));
    let all_time = TimeRange {
        from_us: 0,
        to_us: now + 1,
    };
    assert_eq!(
        store.summary(all_time).await.unwrap().queries,
        30,
        "old per-minute counts go too"
    );
}

#[tokio::test]
async fn the_report_shows_who_phones_home() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("xiaomi.txt"),
        "# Title: Xiaomi telemetry\n# Category: telemetry\ntracker.example.com\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ads.txt"),
        "# Category: ads\nads.example.com\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("plain.txt"), "plain.example.com\n").unwrap();
    let extra = "[blocking]\nlists = [\"xiaomi.txt\", \"ads.txt\", { path = \"plain.txt\", name = \"Plain\" }]\n";
    let hush = start_logged_in(dir, upstream.addr, extra).await;
    let phone = "127.0.0.2";
    for name in [
        "a.tracker.example.com.",
        "b.tracker.example.com.",
        "tracker.example.com.",
        "ads.example.com.",
        "www.example.com.",
        "example.com.",
    ] {
        udp_query_from(phone, hush.dns, name, RecordType::A).await;
    }
    udp_query_from("127.0.0.3", hush.dns, "x.ads.example.com.", RecordType::A).await;
    udp_query_from("127.0.0.3", hush.dns, "plain.example.com.", RecordType::A).await;
    let rows = hush.wait_for_rows("", 8).await;
    let categories: BTreeSet<String> = rows.iter().map(|r| r["category"].to_string()).collect();
    assert!(categories.contains("\"telemetry\""), "{categories:?}");

    let (status, report) = hush.get("/api/report/clients").await;
    assert_eq!(status, 200, "{report}");
    let clients = report["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 2);
    assert_eq!(clients[0]["client"], phone);
    assert_eq!(
        (
            clients[0]["queries"].as_i64(),
            clients[0]["blocked"].as_i64()
        ),
        (Some(6), Some(4))
    );
    assert_eq!(
        clients[0]["by_category"],
        json!([{"category": "telemetry", "blocked": 3}, {"category": "ads", "blocked": 1}])
    );
    assert_eq!(
        clients[0]["by_list"],
        json!([{"list": "Xiaomi telemetry", "category": "telemetry", "blocked": 3}, {"list": "ads", "category": "ads", "blocked": 1}])
    );
    assert_eq!(
        clients[0]["headline"],
        "127.0.0.2: 4 of 6 queries blocked, 3 of them telemetry (Xiaomi telemetry)"
    );
    assert_eq!(
        clients[1]["by_category"],
        json!([{"category": "ads", "blocked": 1}, {"category": "uncategorized", "blocked": 1}])
    );
    let (status, _) = hush.get("/api/report/clients?from=banana").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn privacy_options_keep_counts_but_not_devices_or_names() {
    let upstream = Upstream::start().await;
    let hush = start_logged(
        upstream.addr,
        "tracker.example.com\n",
        "anonymize_clients = true\nlog_names = false\n",
    )
    .await;
    udp_query_from("127.0.0.2", hush.dns, "www.example.com.", RecordType::A).await;
    udp_query_from(
        "127.0.0.3",
        hush.dns,
        "a.tracker.example.com.",
        RecordType::A,
    )
    .await;
    let rows = hush.wait_for_rows("", 2).await;
    for row in &rows {
        assert_eq!(row["client"], "127.0.0.0", "{row}");
        assert_eq!(row["domain"], "(hidden)", "{row}");
        assert_eq!(row["rule"], Value::Null, "{row}");
    }
    assert_eq!(rows[0]["list"], "block", "the list (not a name) is kept");
    let (_, summary) = hush.get("/api/stats/summary").await;
    assert_eq!(
        (summary["queries"].as_i64(), summary["blocked"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(summary["clients"], 1);
    let (_, rows) = hush.get("/api/queries?client=127.0.0.2").await;
    assert_eq!(
        rows["queries"].as_array().unwrap().len(),
        0,
        "addresses are not stored"
    );
}

#[tokio::test]
async fn a_deleted_database_is_recreated_and_writing_resumes() {
    let upstream = Upstream::start().await;
    let hush = start_logged(upstream.addr, "", "").await;
    udp_query(hush.dns, "www.example.com.", RecordType::A).await;
    hush.wait_for_rows("", 1).await;
    for file in ["history.db", "history.db-wal", "history.db-shm"] {
        let _ = std::fs::remove_file(hush.dir.path().join(file));
    }
    for _ in 0..3 {
        let reply = udp_query(hush.dns, "example.com.", RecordType::A).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "DNS kept answering"
        );
    }
    let rows = hush.wait_for_rows("domain=example.com", 3).await;
    assert!(
        rows.iter().all(|row| row["domain"] == "example.com"),
        "{rows:?}"
    );
    assert!(
        hush.dir.path().join("history.db").exists(),
        "a new database file was created"
    );
}

#[tokio::test]
async fn a_rare_name_pages_across_hours_newest_first_without_gaps() {
    use hush::store::{Interner, QueryFilter, Store};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("hours.db")).await.unwrap();
    let hour = 3_600_000_000i64;
    let start = (hush::store::time::unix_micros(std::time::SystemTime::now()) / hour - 10) * hour;
    // Three rare rows in each of hours 1, 3, 4 and 7, among busy traffic; one more row of hour 3,
    // from its last microsecond, is numbered after the rare rows of hour 4, as a batch written
    // at the edge of an hour may do.
    let late = start + 4 * hour - 1;
    let mut rows = Vec::new();
    let mut rare_times = vec![late];
    for h in 0..8 {
        for i in 0..40 {
            rows.push(row(start + h * hour + i * 60_000_000, "busy.example"));
            if matches!(h, 1 | 3 | 4 | 7) && i % 10 == 5 && i < 35 {
                let time = start + h * hour + i * 60_000_000 + 1;
                rare_times.push(time);
                rows.push(row(time, "rare.example"));
            }
            if (h, i) == (4, 25) {
                rows.push(row(late, "rare.example"));
            }
        }
    }
    store
        .insert_batch(&rows, &mut Interner::default())
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .queries(&QueryFilter {
                domain: Some("rare.exam".into()),
                before,
                limit: 4,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(page.rows.iter().all(|r| r.row.domain == "rare.example"));
        seen.extend(page.rows.iter().map(|r| (r.id, r.row.time_us)));
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    let ids: Vec<i64> = seen.iter().map(|(id, _)| *id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(ids, sorted, "newest first by id, no repeats");
    let mut times: Vec<i64> = seen.iter().map(|(_, time)| *time).collect();
    times.sort_unstable();
    rare_times.sort_unstable();
    assert_eq!(times, rare_times, "every rare row, once");

    let in_hour_three = store
        .queries(&QueryFilter {
            domain: Some("rare.example".into()),
            from_us: Some(start + 3 * hour),
            to_us: Some(start + 4 * hour),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(in_hour_three.rows.len(), 4, "three rows and the late one");
}

/// A forwarded A query of `domain` from one client at `time_us`, as the writer stores it.
fn row(time_us: i64, domain: &str) -> hush::store::QueryRow {
    hush::store::QueryRow {
        time_us,
        client: "192.168.1.23".into(),
        domain: domain.into(),
        qtype: 1,
        status: hush::dns::outcome::Status::Forwarded,
        rcode: 0,
        rule: None,
        list: None,
        category: None,
        upstream: None,
        duration_us: 100,
    }
}

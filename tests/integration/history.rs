//! The query history, written by the real writer and read over real HTTP: one row per query,
//! filters and cursor paging, statistics exact to the requested window, the client report,
//! retention, privacy options, and no row lost at shutdown.

use std::collections::BTreeSet;

use std::time::Duration;

use hickory_proto::rr::RecordType;
use serde_json::{Value, json};

use crate::on_both_stores;
use crate::support::*;

async fn every_query_becomes_a_row_with_its_outcome(backend: Backend) {
    let upstream = Upstream::start().await;
    let hush = start_logged_on(&backend, upstream.addr, "tracker.example.com\n", "").await;
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
async fn filters_and_cursor_paging_without_gaps_or_repeats(backend: Backend) {
    let upstream = Upstream::start().await;
    let hush = start_logged_on(&backend, upstream.addr, "tracker.example.com\n", "").await;
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
    udp_query(hush.dns, "www.example.com.", RecordType::TXT).await;
    hush.wait_for_rows("", 28).await;

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
        // A and AAAA are left out of SQLite's by-type index, TXT is in it (paging.rs).
        ("type=TXT", 1),
        ("type=TXT&status=forwarded", 1),
        ("type=MX", 0),
        ("type=A", 31),
        ("domain=n1", 11), // n1, n10..n19
        ("domain=TRACKER.EXAMPLE", 30),
        ("domain=%25_", 1), // a literal "%_", not a LIKE pattern
        ("domain=%25", 1),
        ("client=127.0.0.1", 33),
        ("client=10.9.9.9", 0),
        ("status=forwarded", 3),
        ("status=refused", 0),
        ("from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z", 0),
        ("from=1000000000", 33),
    ];
    hush.wait_for_rows("", 33).await;
    for (query, expected) in cases {
        let (status, body) = hush.get(&format!("/api/queries?limit=1000&{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(count(&body), expected, "{query}");
    }
}
async fn stats_equal_what_was_sent(backend: Backend) {
    let upstream = Upstream::start().await;
    let hush = start_logged_on(&backend, upstream.addr, "tracker.example.com\n", "").await;
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
        "failed": 1, "refused": 0, "local": 0, "clients": 1, "domains": 4
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
/// Five queries, a moment `t` within the same minute and hour, five more: every statistic
/// asked for `from = t` counts the second five only, and for `to = t` the first five only.
async fn statistics_are_exact_to_the_requested_window(backend: Backend) {
    let upstream = Upstream::start().await;
    let hush = start_logged_on(&backend, upstream.addr, "tracker.example.com\n", "").await;
    // Stay clear of a minute's end, so `t` shares its minute (and hour) with the first five:
    // whole-minute counts alone would then count all ten.
    let now = std::time::SystemTime::now();
    let into_minute = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 60;
    if into_minute > 50 {
        tokio::time::sleep(Duration::from_secs(61 - into_minute)).await;
    }
    for name in ["before.example.com.", "a.tracker.example.com."] {
        udp_query(hush.dns, name, RecordType::A).await;
    }
    for _ in 0..3 {
        udp_query(hush.dns, "www.example.com.", RecordType::A).await;
    }
    hush.wait_for_rows("", 5).await;
    let t = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
    tokio::time::sleep(Duration::from_millis(5)).await;
    for name in [
        "after.example.com.",
        "b.tracker.example.com.",
        "c.tracker.example.com.",
    ] {
        udp_query(hush.dns, name, RecordType::A).await;
    }
    for _ in 0..2 {
        udp_query(hush.dns, "www.example.com.", RecordType::A).await;
    }
    hush.wait_for_rows("", 10).await;

    let (status, after) = hush.get(&format!("/api/stats/summary?from={t}")).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(
        (&after["queries"], &after["blocked"], &after["domains"]),
        (&json!(5), &json!(2), &json!(4)),
        "{after}"
    );
    let (_, before) = hush.get(&format!("/api/stats/summary?to={t}")).await;
    assert_eq!(
        (&before["queries"], &before["blocked"], &before["domains"]),
        (&json!(5), &json!(1), &json!(3)),
        "{before}"
    );

    let (_, top) = hush
        .get(&format!("/api/stats/top?kind=blocked&from={t}"))
        .await;
    assert_eq!(
        top["items"],
        json!([{"name": "b.tracker.example.com", "count": 1}, {"name": "c.tracker.example.com", "count": 1}])
    );
    let (_, top) = hush
        .get(&format!("/api/stats/top?kind=domains&limit=1&to={t}"))
        .await;
    assert_eq!(
        top["items"],
        json!([{"name": "www.example.com", "count": 3}])
    );
    let (_, top) = hush
        .get(&format!("/api/stats/top?kind=clients&from={t}"))
        .await;
    assert_eq!(top["items"], json!([{"name": "127.0.0.1", "count": 5}]));

    let (_, timeline) = hush
        .get(&format!("/api/stats/timeline?bucket=1m&from={t}"))
        .await;
    let sums = |timeline: &Value| -> (i64, i64) {
        let buckets = timeline["buckets"].as_array().unwrap();
        let total = buckets.iter().map(|b| b["queries"].as_i64().unwrap()).sum();
        let blocked = buckets.iter().map(|b| b["blocked"].as_i64().unwrap()).sum();
        (total, blocked)
    };
    assert_eq!(sums(&timeline), (5, 2), "{timeline}");
    let (_, timeline) = hush
        .get(&format!("/api/stats/timeline?bucket=1h&to={t}"))
        .await;
    assert_eq!(sums(&timeline), (5, 1), "{timeline}");

    let (_, report) = hush.get(&format!("/api/report/clients?from={t}")).await;
    assert_eq!(
        (
            &report["clients"][0]["queries"],
            &report["clients"][0]["blocked"]
        ),
        (&json!(5), &json!(2)),
        "{report}"
    );
}

async fn shutdown_writes_every_queued_row(backend: Backend) {
    let upstream = Upstream::start().await;
    let hush = start_logged_on(&backend, upstream.addr, "tracker.example.com\n", "").await;
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
    let store = open_store(&backend, dir.path()).await;
    let page = store
        .queries(&hush::store::QueryFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.rows.len(), sent);
}
async fn retention_deletes_old_rows_in_batches(backend: Backend) {
    use hush::store::{Interner, QueryFilter, QueryRow, TimeRange};
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&backend, dir.path()).await;
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
async fn the_report_shows_who_phones_home(backend: Backend) {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("xiaomi.txt"),
        "# Title: Xiaomi telemetry\n# Category: telemetry\n# Vendor: Xiaomi\ntracker.example.com\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("resolvers.txt"),
        "# Title: Resolvers\n# Category: bypass\ndns.google\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ads.txt"),
        "# Category: ads\nads.example.com\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("plain.txt"), "plain.example.com\n").unwrap();
    std::fs::write(
        dir.path().join("more.txt"),
        "tracker.example.com\nmetrics.example.net\n",
    )
    .unwrap();
    let extra = "[blocking]\nlists = [\"xiaomi.txt\", \"ads.txt\", { path = \"plain.txt\", name = \"Plain\" }, \"resolvers.txt\", { path = \"more.txt\", vendor = \"Xiaomi\", category = \"telemetry\" }]\n";
    let hush = start_logged_in_on(&backend, dir, upstream.addr, extra).await;
    let phone = "127.0.0.2";
    for name in [
        "a.tracker.example.com.",
        "b.tracker.example.com.",
        "tracker.example.com.",
        "ads.example.com.",
        "www.example.com.",
        "example.com.",
        "metrics.example.net.",
        "dns.google.",
        "dns.google.",
    ] {
        udp_query_from(phone, hush.dns, name, RecordType::A).await;
    }
    udp_query_from("127.0.0.3", hush.dns, "x.ads.example.com.", RecordType::A).await;
    udp_query_from("127.0.0.3", hush.dns, "plain.example.com.", RecordType::A).await;
    let rows = hush.wait_for_rows("", 11).await;
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
        (Some(9), Some(7))
    );
    assert_eq!(
        clients[0]["by_category"],
        json!([{"category": "telemetry", "blocked": 4}, {"category": "bypass", "blocked": 2}, {"category": "ads", "blocked": 1}])
    );
    assert_eq!(
        clients[0]["by_list"],
        json!([
            {"list": "Xiaomi telemetry", "category": "telemetry", "blocked": 3, "hosts": 3},
            {"list": "Resolvers", "category": "bypass", "blocked": 2, "hosts": 1},
            {"list": "ads", "category": "ads", "blocked": 1},
            {"list": "more", "category": "telemetry", "blocked": 1, "hosts": 1},
        ])
    );
    // Two lists of one vendor add up; a name counts once per vendor.
    assert_eq!(
        clients[0]["by_vendor"],
        json!([{"vendor": "Xiaomi", "blocked": 4, "hosts": 4}])
    );
    assert_eq!(
        clients[0]["encrypted_dns"],
        json!([{"name": "dns.google", "lookups": 2}])
    );
    assert_eq!(
        clients[0]["headline"],
        "127.0.0.2: 7 of 9 queries blocked, 4 of them telemetry (Xiaomi telemetry)"
    );
    assert_eq!(
        clients[0]["notes"],
        json!([
            "Xiaomi telemetry: 4 blocked lookups, 4 distinct hosts",
            "tried to use its own encrypted DNS: dns.google 2×"
        ])
    );
    assert_eq!(clients[1]["by_vendor"], json!([]));
    assert_eq!(clients[1]["notes"], json!([]));
    assert_eq!(
        clients[1]["by_category"],
        json!([{"category": "ads", "blocked": 1}, {"category": "uncategorized", "blocked": 1}])
    );
    let (status, _) = hush.get("/api/report/clients?from=banana").await;
    assert_eq!(status, 400);
}
async fn privacy_options_keep_counts_but_not_devices_or_names(backend: Backend) {
    let upstream = Upstream::start().await;
    let hush = start_logged_on(
        &backend,
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
async fn a_rare_name_pages_across_hours_newest_first_without_gaps(backend: Backend) {
    use hush::store::{Interner, QueryFilter};
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&backend, dir.path()).await;
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
/// SQLite counts a day still going on in its hourly tables only and adds it to the daily
/// tables once it has ended; reads over whole days see the same figures either way.
#[tokio::test]
async fn a_day_reaches_the_daily_counts_when_it_has_ended() {
    use hush::store::time::unix_micros;
    use hush::store::{Interner, TimeRange, TopKind};
    use sqlx::Connection;
    const DAY_US: i64 = 86_400_000_000;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&Backend::Sqlite, dir.path()).await;
    let url = format!("sqlite://{}", dir.path().join("history.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let now = unix_micros(std::time::SystemTime::now());
    let today = now.div_euclid(DAY_US);
    let rows: Vec<_> = [
        "a.example",
        "a.example",
        "b.example",
        "a.example",
        "b.example",
    ]
    .iter()
    .enumerate()
    .map(|(i, name)| row(now - i as i64, name))
    .collect();
    store
        .insert_batch(&rows, &mut Interner::default())
        .await
        .unwrap();
    let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    let daily = "SELECT COALESCE(SUM(count), 0) FROM day_domains";
    let hourly = "SELECT COALESCE(SUM(count), 0) FROM hour_domains";
    assert_eq!(
        count(daily).fetch_one(&mut db).await.unwrap(),
        0,
        "today is not over"
    );
    assert_eq!(
        count(hourly).fetch_one(&mut db).await.unwrap(),
        0,
        "this hour is not over: its counts wait in the writer's memory"
    );

    // Two days later: the same history, moved back two whole days, not yet added up by day.
    for shift in [
        format!("UPDATE queries SET time_us = time_us - {}", 2 * DAY_US),
        "UPDATE minute_counts SET minute = minute - 2880".to_owned(),
        "UPDATE hour_domains SET hour = hour - 48".to_owned(),
        "UPDATE hour_clients SET hour = hour - 48".to_owned(),
        "UPDATE hour_client_lists SET hour = hour - 48".to_owned(),
        format!(
            "UPDATE daily_counts_state SET first_open_day = {}",
            today - 2
        ),
        "UPDATE hourly_counts_state SET first_open_hour = first_open_hour - 48".to_owned(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(shift))
            .execute(&mut db)
            .await
            .unwrap();
    }
    // A restarted writer with no rows to write recounts the hours it had open and completes
    // the ended day by itself.
    store.close().await;
    let store = open_store(&Backend::Sqlite, dir.path()).await;
    let (_sink, writer) = hush::querylog::QueryLogWriter::spawn(
        store.clone(),
        Duration::from_secs(30 * 86_400),
        hush::querylog::Privacy {
            anonymize_clients: false,
            log_names: true,
        },
        hush::querylog::WriterMemory {
            queue: 1024,
            interned_names: 10_000,
        },
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while count(daily).fetch_one(&mut db).await.unwrap() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the writer did not complete the ended day"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    writer.shutdown().await;
    store.close_ended_periods().await.unwrap();
    let state = "SELECT first_open_day FROM daily_counts_state";
    assert_eq!(count(state).fetch_one(&mut db).await.unwrap(), today);
    assert_eq!(
        count(daily).fetch_one(&mut db).await.unwrap(),
        5,
        "the ended day added once"
    );
    // A row of an ended day that arrives late goes straight to the daily counts.
    store
        .insert_batch(
            &[row(now - 3 * DAY_US, "late.example")],
            &mut Interner::default(),
        )
        .await
        .unwrap();
    let whole_days = TimeRange {
        from_us: (today - 4) * DAY_US,
        to_us: (today - 1) * DAY_US,
    };
    let top = store.top(TopKind::Domains, 10, whole_days).await.unwrap();
    let top: Vec<(&str, i64)> = top.iter().map(|t| (t.name.as_str(), t.count)).collect();
    assert_eq!(
        top,
        [("a.example", 3), ("b.example", 2), ("late.example", 1)]
    );
    assert_eq!(store.summary(whole_days).await.unwrap().queries, 6);
}

pub fn row(time_us: i64, domain: &str) -> hush::store::QueryRow {
    hush::store::QueryRow {
        time_us,
        client_name: None,
        protocol: hush::dns::arrival::Protocol::Udp,
        client: "192.168.1.23".into(),
        domain: domain.into(),
        qtype: 1,
        status: hush::dns::outcome::Status::Forwarded,
        rcode: 0,
        rule: None,
        list: None,
        category: None,
        group: None,
        upstream: None,
        duration_us: 100,
    }
}

on_both_stores!(
    every_query_becomes_a_row_with_its_outcome,
    filters_and_cursor_paging_without_gaps_or_repeats,
    stats_equal_what_was_sent,
    statistics_are_exact_to_the_requested_window,
    shutdown_writes_every_queued_row,
    retention_deletes_old_rows_in_batches,
    the_report_shows_who_phones_home,
    privacy_options_keep_counts_but_not_devices_or_names,
    a_rare_name_pages_across_hours_newest_first_without_gaps,
);

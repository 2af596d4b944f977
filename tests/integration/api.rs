//! The HTTP API over real HTTP: bad parameters and injection strings, the blocking pause,
//! custom rules, lists, health, metrics and the token. The history endpoints are tested in
//! `history.rs`, database faults in `faults.rs`.

use std::time::Duration;

use hickory_proto::rr::RecordType;
use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_stores;
use crate::support::*;

async fn injection_strings_are_just_values(backend: Backend) {
    let upstream = Upstream::start().await;
    let hush = start_logged_on(&backend, upstream.addr, "", "").await;
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
async fn bad_parameters_are_400_naming_the_parameter(backend: Backend) {
    let upstream = Upstream::start().await;
    let hush = start_logged_on(&backend, upstream.addr, "", "").await;
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
async fn pausing_blocking_ends_by_itself(backend: Backend) {
    let upstream = Upstream::start().await;
    let hush = start_logged_on(&backend, upstream.addr, "tracker.example.com\n", "").await;
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
async fn custom_rules_apply_at_once_and_survive_a_restart(backend: Backend) {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block.txt"), "tracker.example.com\n").unwrap();
    let hush = start_logged_in_on(&backend, dir, upstream.addr, "").await;
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
    let hush = start_logged_in_on(&backend, dir, upstream.addr, "").await;
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

on_both_stores!(
    injection_strings_are_just_values,
    bad_parameters_are_400_naming_the_parameter,
    pausing_blocking_ends_by_itself,
    custom_rules_apply_at_once_and_survive_a_restart,
);

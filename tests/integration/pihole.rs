//! The Pi-hole v6 compatible API: its sessions and error shape, its numbers against the native
//! API's for the same window, domains and the blocking switch; and the Python library `hole`
//! (what Home Assistant's Pi-hole integration uses) driving hush unchanged, installed with pip
//! into a virtualenv of the test's own (skipped with a note where pip cannot install it).

use std::process::Command;

use hickory_proto::rr::RecordType;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

const TOKEN: &str = "s3cret";

/// A hush with the Pi-hole API on, some history (3 forwarded, 2 blocked), and its URL.
async fn hush_with_pihole() -> (Upstream, LoggedHush, String) {
    let upstream = Upstream::start().await;
    let hush = start_logged(
        upstream.addr,
        "tracker.example.com\n",
        &format!(
            "[api]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n[pihole]\nlisten = \"127.0.0.1:0\"\n"
        ),
    )
    .await
    .with_token(TOKEN);
    for name in [
        "www.example.com.",
        "www.example.com.",
        "example.com.",
        "ads.tracker.example.com.",
        "good.tracker.example.com.",
    ] {
        udp_query(hush.dns, name, RecordType::A).await;
    }
    let pihole = format!("http://{}", hush.hush.pihole_addr().unwrap());
    hush.wait_for_rows("", 5).await;
    (upstream, hush, pihole)
}

async fn call(
    http: &reqwest::Client,
    method: Method,
    url: String,
    sid: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http.request(method, url);
    if let Some(sid) = sid {
        request = request.header("X-FTL-SID", sid);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn pihole_sessions_numbers_domains_and_blocking_match_the_native_api() {
    let (_upstream, hush, pihole) = hush_with_pihole().await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{pihole}{path}");

    let (status, body) = call(&http, Method::GET, url("/api/stats/summary"), None, None).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error"],
        json!({"key": "unauthorized", "message": "Unauthorized", "hint": null})
    );
    assert!(body["took"].is_number());
    let (status, _) = call(&http, Method::GET, url("/api/info/version"), None, None).await;
    assert_eq!(status, 401, "version needs a session, as on a Pi-hole");
    let (status, wrong) = call(
        &http,
        Method::POST,
        url("/api/auth"),
        None,
        Some(json!({"password": "guess"})),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(wrong["session"]["valid"], false);
    assert_eq!(wrong["session"]["message"], "password incorrect");

    let (status, login) = call(
        &http,
        Method::POST,
        url("/api/auth"),
        None,
        Some(json!({"password": TOKEN})),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    assert_eq!(login["session"]["valid"], true);
    assert_eq!(login["session"]["validity"], 1800);
    let sid = login["session"]["sid"].as_str().unwrap().to_owned();
    let sid = Some(sid.as_str());

    // Every number equals the native API's for the same window.
    let (_, native) = hush.get("/api/stats/summary").await;
    let (status, summary) = call(&http, Method::GET, url("/api/stats/summary"), sid, None).await;
    assert_eq!(status, 200, "{summary}");
    let queries = &summary["queries"];
    assert_eq!(queries["total"], native["queries"]);
    assert_eq!(queries["blocked"], native["blocked"]);
    assert_eq!(queries["percent_blocked"], native["blocked_percent"]);
    assert_eq!(queries["cached"], native["cached"]);
    assert_eq!(queries["forwarded"], native["forwarded"]);
    assert_eq!(queries["unique_domains"], native["domains"]);
    assert_eq!(summary["clients"]["active"], native["clients"]);
    assert_eq!(
        (queries["total"].as_i64(), queries["blocked"].as_i64()),
        (Some(5), Some(2))
    );
    assert_eq!(queries["types"]["A"], 5);
    assert_eq!(queries["status"]["GRAVITY"], 2);
    assert!(
        summary["gravity"]["domains_being_blocked"]
            .as_i64()
            .unwrap()
            >= 1
    );

    let (_, blocked) = call(
        &http,
        Method::GET,
        url("/api/stats/top_domains?blocked=true&count=10"),
        sid,
        None,
    )
    .await;
    let names: Vec<&str> = blocked["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["domain"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"ads.tracker.example.com"));
    let (_, permitted) = call(
        &http,
        Method::GET,
        url("/api/stats/top_domains?blocked=false"),
        sid,
        None,
    )
    .await;
    assert_eq!(
        permitted["domains"][0],
        json!({"domain": "www.example.com", "count": 2}),
        "permitted queries only"
    );
    assert_eq!(permitted["total_queries"], 5);
    let (_, clients) = call(&http, Method::GET, url("/api/stats/top_clients"), sid, None).await;
    assert_eq!(clients["clients"][0]["ip"], "127.0.0.1");
    assert_eq!(clients["clients"][0]["count"], 3);
    let (_, upstreams) = call(&http, Method::GET, url("/api/stats/upstreams"), sid, None).await;
    assert_eq!(upstreams["upstreams"][0]["name"], "blocklist");
    assert_eq!(upstreams["upstreams"][0]["count"], 2);
    assert_eq!(upstreams["forwarded_queries"], native["forwarded"]);
    let (_, history) = call(&http, Method::GET, url("/api/history"), sid, None).await;
    let total: i64 = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|slot| slot["total"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 5);
    let (_, by_client) = call(&http, Method::GET, url("/api/history/clients"), sid, None).await;
    let slots = by_client["history"].as_array().unwrap();
    let per_client: i64 = slots
        .iter()
        .map(|slot| slot["data"]["127.0.0.1"].as_i64().unwrap())
        .sum();
    assert_eq!(per_client, 5);
    assert!(slots.iter().all(|slot| slot["data"]["others"] == 0));
    assert_eq!(by_client["clients"]["127.0.0.1"]["total"], 5);
    let (_, types) = call(&http, Method::GET, url("/api/stats/query_types"), sid, None).await;
    assert_eq!(
        (
            types["types"]["A"].as_i64(),
            types["types"]["AAAA"].as_i64()
        ),
        (Some(5), Some(0))
    );
    let (_, ftl) = call(&http, Method::GET, url("/api/info/ftl"), sid, None).await;
    assert_eq!(ftl["ftl"]["clients"]["active"], 1);
    assert!(ftl["ftl"]["dnsmasq"]["dhcp_lease_actve"].is_number());
    let (_, version) = call(&http, Method::GET, url("/api/info/version"), sid, None).await;
    assert!(
        version["version"]["core"]["local"]["version"]
            .as_str()
            .unwrap()
            .starts_with("hush-")
    );
    let (_, lists) = call(&http, Method::GET, url("/api/lists"), sid, None).await;
    assert_eq!(lists["lists"][0]["type"], "block");
    assert_eq!(lists["lists"][0]["number"], 1);
    let (_, log) = call(&http, Method::GET, url("/api/queries?length=2"), sid, None).await;
    assert_eq!(log["queries"].as_array().unwrap().len(), 2);
    assert_eq!(log["queries"][0]["status"], "GRAVITY");
    assert_eq!(log["queries"][0]["client"]["ip"], "127.0.0.1");

    // Domains: an exact deny matches that name only; deleting it answers 204, then 404.
    let (status, added) = call(
        &http,
        Method::POST,
        url("/api/domains/deny/exact"),
        sid,
        Some(json!({"domain": "www.example.com", "comment": "from the app"})),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["processed"]["success"][0]["item"], "www.example.com");
    let exact = udp_query(hush.dns, "www.example.com.", RecordType::A).await;
    assert_eq!(answers(&exact), ["www.example.com. A 0.0.0.0"]);
    let sub = udp_query(hush.dns, "sub.www.example.com.", RecordType::A).await;
    assert_ne!(
        answers(&sub),
        ["sub.www.example.com. A 0.0.0.0"],
        "exact means that name only"
    );
    let (_, listed) = call(
        &http,
        Method::GET,
        url("/api/domains/deny/exact"),
        sid,
        None,
    )
    .await;
    assert_eq!(listed["domains"][0]["domain"], "www.example.com");
    assert_eq!(listed["domains"][0]["comment"], "from the app");
    let (status, again) = call(
        &http,
        Method::POST,
        url("/api/domains/deny/exact"),
        sid,
        Some(json!({"domain": "www.example.com"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(again["processed"]["errors"][0]["item"], "www.example.com");
    let (status, _) = call(
        &http,
        Method::DELETE,
        url("/api/domains/deny/exact/www.example.com"),
        sid,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &http,
        Method::DELETE,
        url("/api/domains/deny/exact/www.example.com"),
        sid,
        None,
    )
    .await;
    assert_eq!(status, 404);

    // The blocking switch: timer as a number, null or true.
    for (timer, expected) in [
        (json!(60), true),
        (json!(1.5), true),
        (Value::Null, false),
        (json!(true), false),
    ] {
        let (status, state) = call(
            &http,
            Method::POST,
            url("/api/dns/blocking"),
            sid,
            Some(json!({"blocking": false, "timer": timer})),
        )
        .await;
        assert_eq!(status, 200, "{state}");
        assert_eq!(state["blocking"], "disabled");
        assert_eq!(
            state["timer"].is_number(),
            expected,
            "timer {timer}: {state}"
        );
    }
    let (_, state) = call(
        &http,
        Method::POST,
        url("/api/dns/blocking"),
        sid,
        Some(json!({"blocking": true})),
    )
    .await;
    assert_eq!(
        state,
        json!({"blocking": "enabled", "timer": null, "took": state["took"]})
    );
    let (status, bad) = call(
        &http,
        Method::POST,
        url("/api/dns/blocking"),
        sid,
        Some(json!({"timer": 5})),
    )
    .await;
    assert_eq!(
        (status, bad["error"]["key"].as_str()),
        (400, Some("body_error"))
    );

    let (status, missing) = call(&http, Method::GET, url("/api/nothing"), sid, None).await;
    assert_eq!(
        (status, missing["error"]["key"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = call(&http, Method::DELETE, url("/api/stats/summary"), sid, None).await;
    assert_eq!(
        status, 404,
        "another method is an unknown path, as on a Pi-hole"
    );
    let (status, _) = call(&http, Method::DELETE, url("/api/auth"), sid, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&http, Method::GET, url("/api/stats/summary"), sid, None).await;
    assert_eq!(status, 401, "the session is over");
}

const HOLE_SCRIPT: &str = r#"
import asyncio, json, sys
import aiohttp
from hole import Hole

async def main(host, port, password):
    async with aiohttp.ClientSession() as session:
        api = Hole(host, session, protocol="http", port=port, password=password, version=6)
        await api.authenticate()
        await api.get_data()
        out = {
            "total": api.dns_queries_today,
            "blocked": api.ads_blocked_today,
            "percent": api.ads_percentage_today,
            "clients": api.unique_clients,
            "domains_blocked": api.domains_being_blocked,
            "status": api.status,
            "top_ads": [item["domain"] for item in api.top_ads],
            "core": api.core_current,
            "update": api.core_update,
        }
        await api.disable(60)
        out["after_disable"] = api.status
        await api.enable()
        out["after_enable"] = api.status
        print(json.dumps(out))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
"#;

/// A virtualenv with `hole` installed, or why there is none.
fn hole_python() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join("hush-test-hole-venv");
    let python = dir.join("bin/python");
    if python.exists()
        && Command::new(&python)
            .args(["-c", "import hole"])
            .status()
            .is_ok_and(|status| status.success())
    {
        return Ok(python);
    }
    let venv = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&dir)
        .output()
        .map_err(|err| format!("python3 -m venv: {err}"))?;
    if !venv.status.success() {
        return Err(format!(
            "python3 -m venv: {}",
            String::from_utf8_lossy(&venv.stderr)
        ));
    }
    let pip = Command::new(dir.join("bin/pip"))
        .args(["install", "--quiet", "hole==0.9.0"])
        .output()
        .map_err(|err| format!("pip: {err}"))?;
    if !pip.status.success() {
        return Err(format!(
            "pip install hole: {}",
            String::from_utf8_lossy(&pip.stderr)
        ));
    }
    Ok(python)
}

#[tokio::test]
async fn home_assistants_hole_library_works_unchanged() {
    let python = match tokio::task::spawn_blocking(hole_python).await.unwrap() {
        Ok(python) => python,
        Err(why) => {
            eprintln!("note: pihole::home_assistants_hole_library_works_unchanged skipped: {why}");
            return;
        }
    };
    let (_upstream, hush, pihole) = hush_with_pihole().await;
    let addr = hush.hush.pihole_addr().unwrap();
    let _ = pihole;
    let script = hush.dir.path().join("hole_check.py");
    std::fs::write(&script, HOLE_SCRIPT).unwrap();
    let output = tokio::process::Command::new(python)
        .arg(&script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(TOKEN)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "hole failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("hole said: {stdout}");
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(seen["total"], 5);
    assert_eq!(seen["blocked"], 2);
    assert_eq!(seen["percent"], 40.0);
    assert_eq!(seen["clients"], 1);
    assert_eq!(seen["status"], "enabled");
    assert_eq!(seen["after_disable"], "disabled");
    assert_eq!(seen["after_enable"], "enabled");
    assert_eq!(seen["update"], false, "no update offered");
    assert!(seen["core"].as_str().unwrap().starts_with("hush-"));
    let top_ads = seen["top_ads"].as_array().unwrap();
    assert!(
        top_ads.contains(&json!("ads.tracker.example.com")),
        "{seen}"
    );
}

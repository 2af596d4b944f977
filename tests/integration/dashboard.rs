//! The web dashboard in a real headless Chromium: logging in, the overview's numbers against
//! what was sent, the query log (rows, the domain filter, one-click allow), the devices page
//! and the blocking switch, with every resource the page loads coming from hush itself.
//! Screenshots of each page land in `target/screenshots/` for a person to look at.

use std::path::PathBuf;

use fantoccini::key::Key;
use hickory_proto::rr::RecordType;
use serde_json::Value;

use crate::support::*;

const TOKEN: &str = "s3cret-token";

fn screenshot_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.png"))
}

/// Three forwarded and two blocked queries from 127.0.0.1, written to the history.
async fn hush_with_history() -> (Upstream, LoggedHush) {
    let upstream = Upstream::start().await;
    let hush = start_logged(
        upstream.addr,
        "# Title: Acme tracker\n# Category: telemetry\n# Vendor: Acme\ntracker.example.com\n",
        &format!(
            "[api]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n\
             [[clients]]\nname = \"This computer\"\nmatch = [\"127.0.0.1\"]\ngroups = [\"default\"]\n"
        ),
    )
    .await
    .with_token(TOKEN);
    for name in [
        "www.example.com.",
        "alias.example.com.",
        "www.example.com.",
        "ads.tracker.example.com.",
        "good.tracker.example.com.",
    ] {
        udp_query(hush.dns, name, RecordType::A).await;
    }
    hush.wait_for_rows("", 5).await;
    (upstream, hush)
}

async fn log_in(browser: &Browser, hush: &LoggedHush) {
    browser
        .client
        .goto(&format!("{}/", hush.api))
        .await
        .unwrap();
    let password = browser.find("input[name=password]").await;
    password.send_keys(TOKEN).await.unwrap();
    password.send_keys(&Key::Enter.to_string()).await.unwrap();
    browser.wait_for_text("[data-stat=queries]", "5").await;
}

#[tokio::test]
async fn a_household_logs_in_and_sees_what_hush_did() {
    let Some(browser) = Browser::start("dashboard::a_household_logs_in", 1280, 900).await else {
        return;
    };
    let (_upstream, hush) = hush_with_history().await;
    log_in(&browser, &hush).await;
    browser.wait_for_text("[data-stat=blocked]", "2").await;
    browser
        .wait_for_text("[data-stat=blocked_percent]", "40")
        .await;
    browser.wait_for_text("[data-stat=clients]", "1").await;
    browser.screenshot(&screenshot_path("overview")).await;

    // Everything the page loaded came from hush itself.
    let origin = hush.api.clone();
    let resources = browser
        .eval("return performance.getEntriesByType('resource').map(e => e.name).concat([location.href]);")
        .await;
    let resources = resources.as_array().unwrap();
    assert!(resources.len() > 3, "{resources:?}");
    for resource in resources {
        assert!(
            resource.as_str().unwrap().starts_with(&origin),
            "{resource} is not hush's"
        );
    }

    browser
        .find("a[data-nav=queries]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for_count("tr[data-query-id]", 5).await;
    let domain = browser.find("input[name=domain]").await;
    domain.send_keys("tracker").await.unwrap();
    domain.send_keys(&Key::Enter.to_string()).await.unwrap();
    browser.wait_for_count("tr[data-query-id]", 2).await;
    browser.screenshot(&screenshot_path("queries")).await;
    let allow = browser
        .find("button[aria-label='Allow ads.tracker.example.com']")
        .await;
    allow.click().await.unwrap();
    // The button turns to "Allowed" when the POST has answered, which is after the rule reached
    // DNS; the stored rule alone shows up a moment earlier (the store commits before the swap).
    browser
        .wait_for_text(
            "button[aria-label='Allowed ads.tracker.example.com']",
            "Allowed",
        )
        .await;
    let (_, rules) = hush.get("/api/rules").await;
    let allowed = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|rule| rule["kind"] == "allow" && rule["domain"] == "ads.tracker.example.com");
    assert!(allowed, "no allow rule: {rules}");
    let reply = udp_query(hush.dns, "ads.tracker.example.com.", RecordType::A).await;
    assert_eq!(
        answers(&reply),
        ["ads.tracker.example.com. A 192.0.2.1"],
        "allowed at once"
    );

    browser
        .find("a[data-nav=devices]")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for_text("[data-client='127.0.0.1'] [data-stat=blocked]", "2")
        .await;
    browser
        .wait_for_text(
            "[data-client='127.0.0.1'] .device-notes .note-vendor",
            "Acme telemetry: 2 blocked lookups, 2 distinct hosts",
        )
        .await;
    browser
        .wait_for_text(
            "[data-client='127.0.0.1'] .device-groups",
            "This computer · groups: default",
        )
        .await;
    browser.screenshot(&screenshot_path("devices")).await;

    browser
        .find("a[data-nav=lists]")
        .await
        .click()
        .await
        .unwrap();
    browser.find("main table").await;
    browser
        .find("a[data-nav=rules]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for_text("main h1", "Rules").await;
    browser.close().await;
}

#[tokio::test]
async fn the_blocking_switch_pauses_and_resumes() {
    let Some(browser) = Browser::start("dashboard::the_blocking_switch", 1280, 900).await else {
        return;
    };
    let (_upstream, hush) = hush_with_history().await;
    log_in(&browser, &hush).await;
    browser
        .find("[data-action=pause][data-duration='5m']")
        .await
        .click()
        .await
        .unwrap();
    let paused = wait_for_blocking(&hush, false).await;
    let until = humantime::parse_rfc3339(paused["until"].as_str().unwrap()).unwrap();
    let left = until.duration_since(std::time::SystemTime::now()).unwrap();
    assert!((240..=300).contains(&left.as_secs()), "paused for {left:?}");
    browser
        .find("[data-action=resume]")
        .await
        .click()
        .await
        .unwrap();
    wait_for_blocking(&hush, true).await;
    browser
        .find("[data-action=pause][data-duration=forever]")
        .await
        .click()
        .await
        .unwrap();
    let off = wait_for_blocking(&hush, false).await;
    assert_eq!(off["until"], Value::Null);
    browser.close().await;
}

#[tokio::test]
async fn a_phone_sized_screen_shows_every_page_without_sideways_scrolling() {
    let Some(browser) = Browser::start("dashboard::a_phone_sized_screen", 390, 844).await else {
        return;
    };
    let (_upstream, hush) = hush_with_history().await;
    log_in(&browser, &hush).await;
    for page in ["overview", "queries", "devices", "lists", "rules"] {
        browser
            .find(&format!("a[data-nav={page}]"))
            .await
            .click()
            .await
            .unwrap();
        browser.find("main h1").await;
        let overflow = browser
            .eval("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
            .await;
        assert_eq!(
            overflow.as_i64(),
            Some(0),
            "{page} scrolls sideways on a phone"
        );
        browser
            .screenshot(&screenshot_path(&format!("phone-{page}")))
            .await;
    }
    browser.close().await;
}

/// Polls `/api/blocking` until `enabled` is as wanted, then returns it.
async fn wait_for_blocking(hush: &LoggedHush, enabled: bool) -> Value {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let (_, state) = hush.get("/api/blocking").await;
        if state["enabled"] == enabled {
            return state;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "blocking stayed {state}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

//! The default config (`config/hush.toml`) against the vendors' own telemetry: hush started on
//! it, its list URLs served from loopback with the corpus copies of HaGeZi's per-vendor lists
//! and StevenBlack's hosts, must block at least 99% of every vendor list's names or let them
//! through by a named allow rule, and let through at most 5%. Skipped with a note without the
//! corpus.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use hush::rules::QueryName;

use crate::support::*;

/// The vendor lists of the default config: HaGeZi's file slug and the corpus copy.
const VENDORS: [&str; 10] = [
    "xiaomi",
    "samsung",
    "huawei",
    "apple",
    "winoffice",
    "amazon",
    "lgwebos",
    "oppo-realme",
    "vivo",
    "roku",
];

/// Serves `/<anything>/native.<vendor>.txt` and StevenBlack's `hosts` from the corpus.
async fn serve_corpus(UrlPath(path): UrlPath<String>) -> Response {
    let file_name = path.rsplit('/').next().unwrap_or_default();
    let relative = if file_name == "hosts" {
        "stevenblack-hosts.txt".to_owned()
    } else if let Some(vendor) = file_name
        .strip_prefix("native.")
        .and_then(|rest| rest.strip_suffix(".txt"))
    {
        format!("telemetry/native.{vendor}.adblock.txt")
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match corpus(&relative).map(std::fs::read_to_string) {
        Some(Ok(text)) => text.into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `config/hush.toml` with its URLs pointed at `lists`, its paths made absolute and its
/// listeners on free loopback ports.
fn default_config_served_from(
    lists: std::net::SocketAddr,
    upstream: std::net::SocketAddr,
) -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(repo.join("config/hush.toml")).unwrap();
    let blocklists = repo.join("blocklists");
    let replaced = text
        .replace(
            "https://raw.githubusercontent.com/",
            &format!("http://{lists}/"),
        )
        .replace("\"../blocklists", &format!("\"{}", blocklists.display()))
        .replace(
            "listen = [\"127.0.0.1:5300\", \"[::1]:5300\"]",
            "listen = [\"127.0.0.1:0\"]",
        )
        .replace(
            "upstreams = [\"9.9.9.9\", \"1.1.1.1\"]",
            &format!("upstreams = [\"udp://{upstream}\"]"),
        )
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"");
    for (key, expected) in [
        ("http://", "the list URLs"),
        ("127.0.0.1:0", "the listeners"),
        (&format!("udp://{upstream}"), "the upstream"),
    ] {
        assert!(
            replaced.contains(key),
            "config/hush.toml changed: {expected} not found"
        );
    }
    replaced
}

/// The `||name^` entries of an adblock list.
fn adblock_names(path: &PathBuf) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_prefix("||")?.strip_suffix('^'))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_default_config_covers_every_vendor_list() {
    let Some(telemetry) = corpus("telemetry") else {
        return;
    };
    let upstream = Upstream::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lists = listener.local_addr().unwrap();
    let app = Router::new().route("/{*path}", get(serve_corpus));
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let text = default_config_served_from(lists, upstream.addr);
    let hush = start_hush_in(tempfile::tempdir().unwrap(), &text).await;
    let control = hush.hush.control();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let state = control.lists();
        let remote: Vec<_> = state
            .reports
            .iter()
            .filter(|r| r.source.is_remote())
            .collect();
        assert_eq!(
            remote.len(),
            VENDORS.len() + 1,
            "URL lists of the default config"
        );
        if remote.iter().all(|r| r.stats.entries > 0) {
            for report in remote {
                assert!(
                    report.source.name.starts_with("HaGeZi") == report.source.vendor.is_some(),
                    "{}: a vendor list names its vendor",
                    report.source.name
                );
            }
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "lists not downloaded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let policy = control.policy();
    let mut table = String::from("vendor       names  blocked  allowed  missed\n");
    for vendor in VENDORS {
        let names = adblock_names(&telemetry.join(format!("native.{vendor}.adblock.txt")));
        assert!(names.len() > 50, "{vendor}: {} names", names.len());
        let (mut blocked, mut allowed, mut missed) = (0, 0, Vec::new());
        for name in &names {
            let explanation = policy.explain(&QueryName::from_text(name).unwrap(), None);
            match (explanation.blocked_by, explanation.allowed_by) {
                (Some(_), _) => blocked += 1,
                (None, Some(allow)) => {
                    assert_eq!(
                        allow.list, "Vendor features that must keep working",
                        "{name} let through by {allow:?}"
                    );
                    allowed += 1;
                }
                (None, None) => missed.push(name.clone()),
            }
        }
        let total = names.len() as f64;
        table.push_str(&format!(
            "{vendor:<12} {:>5}  {blocked:>7}  {allowed:>7}  {:>6}\n",
            names.len(),
            missed.len()
        ));
        assert!(
            (blocked + allowed) as f64 >= 0.99 * total,
            "{vendor}: {} of {} names neither blocked nor allowed by name: {missed:?}",
            missed.len(),
            names.len()
        );
        assert!(
            allowed as f64 <= 0.05 * total,
            "{vendor}: {allowed} of {} names let through",
            names.len()
        );
    }
    println!("{table}");

    // Features the allowlist keeps working under every default list, StevenBlack's included.
    for name in [
        "api.sec.miui.com",
        "a.xmpush.xiaomi.com",
        "findapi.micloud.xiaomi.net",
        "grs.dbankcloud.com",
        "account.xiaomi.com",
        "mesu.apple.com",
        "update.microsoft.com",
        "inference.location.live.net",
    ] {
        let explanation = policy.explain(&QueryName::from_text(name).unwrap(), None);
        assert!(
            explanation.blocked_by.is_none(),
            "{name} is blocked: {explanation:?}"
        );
    }
    server.abort();
    hush.hush.shutdown().await;
}

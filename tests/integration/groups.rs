//! Clients, groups and schedules through real queries from several loopback addresses (the
//! client socket is bound to 127.0.0.2, 127.0.0.3, ::1, …): unmatched clients get `default`,
//! members get their groups' lists and allowlists, a client entry without `default` leaves the
//! default lists out, schedules covering now and not covering now, the query log's `group`,
//! `/api/groups`, `/api/clients`, `/api/check?client=`, and a reload that moves a client
//! between groups while queries keep being answered.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use jiff::Timestamp;
use serde_json::Value;

use crate::support::*;

/// `HH:MM` in UTC, `minutes` from now.
fn utc_clock(minutes: i64) -> String {
    let now = Timestamp::now().as_second();
    let minute_of_day = (now / 60 + minutes).rem_euclid(24 * 60);
    format!("{:02}:{:02}", minute_of_day / 60, minute_of_day % 60)
}

/// A schedule of every day, from `from` to `to` minutes from now (UTC).
fn window(from: i64, to: i64) -> String {
    format!(
        "{{ days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"], from = \"{}\", to = \"{}\", timezone = \"UTC\" }}",
        utc_clock(from),
        utc_clock(to)
    )
}

const LISTS: [(&str, &str); 5] = [
    ("block.txt", "tracker.example.com\n"),
    ("social.txt", "# Title: Social media\nsocial.example.com\n"),
    ("kids-allow.txt", "ok.tracker.example.com\n"),
    ("night.txt", "night.example.com\n"),
    ("later.txt", "later.example.com\n"),
];

fn household(kids_address: &str) -> String {
    format!(
        "[blocking]\nlists = [\"block.txt\"]\n\
         [[clients]]\nname = \"Mia's tablet\"\nmatch = [\"{kids_address}\", \"tablet\"]\ngroups = [\"default\", \"kids\"]\n\
         [[clients]]\nname = \"Work laptop\"\nmatch = [\"127.0.0.3\"]\ngroups = [\"work\"]\n\
         [[clients]]\nname = \"Night owl\"\nmatch = [\"127.0.0.4/32\"]\ngroups = [\"default\", \"night\", \"later\"]\n\
         [[groups]]\nname = \"kids\"\nlists = [\"social.txt\"]\nallowlists = [\"kids-allow.txt\"]\n\
         [[groups]]\nname = \"work\"\n\
         [[groups]]\nname = \"night\"\nlists = [\"night.txt\", \"social.txt\"]\nschedule = {}\n\
         [[groups]]\nname = \"later\"\nlists = [\"later.txt\"]\nschedule = {}\n",
        window(-60, 60),
        window(120, 180),
    )
}

async fn blocked_for(hush: &LoggedHush, client: &str, name: &str) -> bool {
    let reply = udp_query_from(client, hush.dns, &format!("{name}."), RecordType::A).await;
    // Forwarded, the test upstream answers its zone's names and NXDOMAIN for the rest.
    match (reply.metadata.response_code, answers(&reply).as_slice()) {
        (ResponseCode::NoError, [answer]) if answer.ends_with(" A 0.0.0.0") => true,
        (ResponseCode::NoError, [answer]) if answer.ends_with(" A 192.0.2.1") => false,
        (ResponseCode::NXDomain, []) => false,
        other => panic!("{name} for {client}: {other:?}"),
    }
}

fn names(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn each_device_gets_the_rules_of_its_groups() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    for (file, text) in LISTS {
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    let hush = start_logged_in(dir, upstream.addr, &household("127.0.0.2")).await;

    // (client, name, blocked?)
    let cases = [
        // Nobody's entry: the default lists only.
        ("127.0.0.1", "tracker.example.com", true),
        ("127.0.0.1", "social.example.com", false),
        ("127.0.0.1", "ok.tracker.example.com", true),
        // The tablet: default and kids; the kids allowlist wins for its members only.
        ("127.0.0.2", "tracker.example.com", true),
        ("127.0.0.2", "social.example.com", true),
        ("127.0.0.2", "ok.tracker.example.com", false),
        // The work laptop's entry leaves `default` out.
        ("127.0.0.3", "tracker.example.com", false),
        // Night owl: its night window is open now, the later one is not.
        ("127.0.0.4", "night.example.com", true),
        ("127.0.0.4", "social.example.com", true),
        ("127.0.0.4", "later.example.com", false),
        ("127.0.0.1", "night.example.com", false),
    ];
    for (client, name, blocked) in cases {
        assert_eq!(
            blocked_for(&hush, client, name).await,
            blocked,
            "{name} for {client}"
        );
    }

    // The history says which group's list blocked.
    let rows = hush.wait_for_rows("status=blocked", 6).await;
    let group_of = |client: &str, domain: &str| {
        rows.iter()
            .find(|row| row["client"] == client && row["domain"] == domain)
            .map(|row| row["group"].clone())
            .unwrap_or_else(|| panic!("no blocked row of {domain} for {client}"))
    };
    assert_eq!(group_of("127.0.0.1", "tracker.example.com"), "default");
    assert_eq!(group_of("127.0.0.2", "social.example.com"), "kids");
    assert_eq!(group_of("127.0.0.4", "night.example.com"), "night");
    // social.txt is one list of two groups: credited to the first of the client's.
    assert_eq!(group_of("127.0.0.4", "social.example.com"), "night");
    let (_, kids) = hush.get("/api/queries?group=kids").await;
    let kids: Vec<&Value> = kids["queries"].as_array().unwrap().iter().collect();
    assert_eq!(kids.len(), 1, "{kids:?}");
    assert_eq!(kids[0]["client"], "127.0.0.2");

    let (status, groups) = hush.get("/api/groups").await;
    assert_eq!(status, 200, "{groups}");
    let group = |name: &str| {
        groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no group {name}: {groups}"))
    };
    assert_eq!(names(&group("default")["lists"]), ["block"]);
    assert_eq!(group("default")["active"], true);
    assert_eq!(group("default")["next_change"], Value::Null);
    assert_eq!(names(&group("kids")["lists"]), ["Social media"]);
    assert_eq!(names(&group("kids")["allowlists"]), ["kids-allow"]);
    assert_eq!(names(&group("kids")["clients"]), ["Mia's tablet"]);
    assert_eq!(group("night")["active"], true);
    assert_eq!(group("night")["schedule"]["timezone"], "UTC");
    assert_eq!(group("later")["active"], false);
    let opens: Timestamp = group("later")["next_change"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let until = opens.as_second() - Timestamp::now().as_second();
    assert!(
        (60 * 60..=2 * 60 * 60 + 60).contains(&until),
        "the later window opens in about two hours, not {until} s"
    );

    let (_, clients) = hush.get("/api/clients").await;
    let owl = &clients["clients"][2];
    assert_eq!(owl["name"], "Night owl");
    assert_eq!(names(&owl["match"]), ["127.0.0.4"]);
    assert_eq!(names(&owl["groups"]), ["default", "night", "later"]);
    assert_eq!(names(&owl["active_groups"]), ["default", "night"]);

    // /api/check answers for a client, or for `default`.
    let (_, check) = hush
        .get("/api/check?domain=social.example.com&client=127.0.0.2")
        .await;
    assert_eq!(check["blocked"], true, "{check}");
    assert_eq!(check["group"], "kids");
    assert_eq!(check["client_entry"], "Mia's tablet");
    assert_eq!(names(&check["groups"]), ["default", "kids"]);
    let (_, check) = hush.get("/api/check?domain=social.example.com").await;
    assert_eq!(check["blocked"], false, "{check}");
    assert_eq!(names(&check["groups"]), ["default"]);
    let (status, _) = hush
        .get("/api/check?domain=a.example.com&client=tablet")
        .await;
    assert_eq!(status, 400);

    // The client report names the device's entry and groups.
    let (_, report) = hush.get("/api/report/clients").await;
    let tablet = report["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client"] == "127.0.0.2")
        .unwrap();
    assert_eq!(tablet["client_entry"], "Mia's tablet");
    assert_eq!(names(&tablet["groups"]), ["default", "kids"]);
}

#[tokio::test]
async fn a_reload_moves_a_client_between_groups_without_dropping_queries() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    for (file, text) in LISTS {
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    let hush = start_logged_in(dir, upstream.addr, &household("127.0.0.2")).await;
    assert!(blocked_for(&hush, "127.0.0.5", "tracker.example.com").await);
    assert!(!blocked_for(&hush, "127.0.0.5", "social.example.com").await);

    // Queries keep going while an edit of the config file moves 127.0.0.5 into the kids group;
    // the file watch notices and reloads.
    let dns = hush.dns;
    let asking = tokio::spawn(async move {
        let mut answered = 0;
        for _ in 0..200 {
            let reply = udp_query_from("127.0.0.6", dns, "www.example.com.", RecordType::A).await;
            assert_eq!(answers(&reply), ["www.example.com. A 192.0.2.1"]);
            answered += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        answered
    });
    let path = hush.dir.path().join("hush.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("match = [\"127.0.0.2\",", "match = [\"127.0.0.5\",");
    std::fs::write(&path, text).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !blocked_for(&hush, "127.0.0.5", "social.example.com").await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the config change was not applied"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!blocked_for(&hush, "127.0.0.2", "social.example.com").await);
    assert_eq!(asking.await.unwrap(), 200, "every query answered meanwhile");
}

#[tokio::test]
async fn an_ipv6_client_and_a_schedule_edge_without_a_reload() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("night.txt"), "night.example.com\n").unwrap();
    // The window opens at a coming whole minute (at least 30 s away, so it is surely closed at
    // first), and the clock must switch it on by itself.
    let opens_in = if Timestamp::now().as_second().rem_euclid(60) >= 30 {
        2
    } else {
        1
    };
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:0\", \"[::1]:0\"]\nupstreams = [\"udp://{}\"]\n\
         [blocking]\nlists = []\n\
         [[clients]]\nname = \"phone\"\nmatch = [\"::1\"]\ngroups = [\"night\"]\n\
         [[groups]]\nname = \"night\"\nlists = [\"night.txt\"]\nschedule = {}\n",
        upstream.addr,
        window(opens_in, 180),
    );
    let hush = start_hush_in(dir, &text).await;
    let v6 = hush.hush.dns().addrs()[1];
    let v4 = hush.addr;
    let ask = |source: &'static str, server| async move {
        let reply = udp_query_from(source, server, "night.example.com.", RecordType::A).await;
        (reply.metadata.response_code, answers(&reply))
    };
    let forwarded = (ResponseCode::NXDomain, Vec::<String>::new());
    let blocked = (
        ResponseCode::NoError,
        vec!["night.example.com. A 0.0.0.0".to_owned()],
    );
    let policy = hush.hush.control().policy();
    assert!(
        !policy
            .groups
            .active()
            .intersects(hush::rules::GroupMask::of(1))
    );
    assert_eq!(ask("::1", v6).await, forwarded);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(100);
    loop {
        if ask("::1", v6).await == blocked {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the window did not open by itself"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The IPv4 client is in no entry: `default`, which lists nothing.
    assert_eq!(ask("127.0.0.1", v4).await, forwarded);
}

/// The household of the README's "Different rules for different devices" is a working config:
/// it validates, its local lists load, and its devices get what the README says.
#[test]
fn the_readme_household_works() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let section = readme
        .split("## Different rules for different devices")
        .nth(1)
        .expect("the README section");
    let toml = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("its config");
    let config = hush::config::Config::from_toml(toml, "README.md", &repo.join("config")).unwrap();
    let compiled =
        hush::lists::source::compile(&hush::lists::source::ListSpec::from_config(&config));
    assert!(
        compiled.first_error().is_none(),
        "{:?}",
        compiled.first_error()
    );
    let policy = hush::dns::policy::Policy::new(
        std::sync::Arc::new(compiled.rules),
        std::sync::Arc::new(hush::rules::RuleSet::empty()),
        &config,
    );
    let blocked = |name: &str, client: &str| {
        let name = hush::rules::QueryName::from_text(name).unwrap();
        policy
            .explain(&name, Some(client.parse().unwrap()))
            .blocked_by
            .is_some()
    };
    assert!(blocked("tracking.miui.com", "192.168.1.23"), "the phone");
    assert!(!blocked("tracking.miui.com", "192.168.1.60"), "the laptop");
    assert!(blocked("dns.google", "192.168.1.60"), "everyone: bypass");
    let kids = hush::rules::GroupMask::of(2);
    assert_eq!(policy.groups.name(2).map(|n| &**n), Some("kids"));
    let school_night = policy.groups.active().intersects(kids);
    assert_eq!(blocked("www.facebook.com", "192.168.1.50"), school_night);
    assert!(!blocked("www.facebook.com", "192.168.1.23"));
}

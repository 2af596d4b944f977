//! The `hush` binary: exit codes and messages of `check-config`, `check` and `run`.

use std::process::{Command, Output};

fn hush(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hush"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn config_dir(config: &str, list: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hush.toml"), config).unwrap();
    std::fs::write(dir.path().join("block.txt"), list).unwrap();
    dir
}

#[test]
fn check_config_summarises_a_valid_config() {
    let dir = config_dir(
        "[blocking]\nlists = [\"block.txt\"]\n",
        "# ads\nads.example.com\n||x.example^$third-party\n",
    );
    let path = dir.path().join("hush.toml");
    let out = hush(&["check-config", "--config", path.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("valid"), "{stdout}");
    assert!(stdout.contains("udp://9.9.9.9:53"), "{stdout}");
    assert!(
        stdout.contains("1 entries, 1 skipped, 1 unsupported, 0 invalid"),
        "{stdout}"
    );
}

/// With a shared database, check-config shows where rows go, never the password, and says
/// when `querylog.instance` is left to the host name.
#[test]
fn check_config_describes_a_shared_database() {
    let shared = "[blocking]\nlists = [\"block.txt\"]\n[querylog]\n\
                  database = \"postgres://hush:s3cret@db.lan/hush?sslmode=require\"\n";
    let dir = config_dir(shared, "");
    let path = dir.path().join("hush.toml");
    let out = hush(&["check-config", "--config", path.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("postgres://hush:***@db.lan/hush?sslmode=require"),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cret"), "{stdout}");
    assert!(stdout.contains("querylog.instance is not set"), "{stdout}");
    std::fs::write(&path, format!("{shared}instance = \"dns1\"\n")).unwrap();
    let out = hush(&["check-config", "--config", path.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("instance \"dns1\""), "{stdout}");
    assert!(!stdout.contains("is not set"), "{stdout}");
}

#[test]
fn bad_configs_exit_2_naming_file_and_key() {
    let cases = [
        (
            "[dns]\nupstream_timeout = \"soon\"\n",
            "dns.upstream_timeout",
        ),
        ("[blocking]\nlists = [\"missing.txt\"]\n", "blocking.lists"),
        ("[api]\nlisten = \"0.0.0.0:8080\"\n", "api.token"),
        ("[api]\npassword = \"hunter2\"\n", "api.password"),
        (
            "[api]\npassword = \"$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$Zm9vYmFyYmF6\"\n",
            "api.password",
        ),
        ("[api]\nsession_timeout = \"0s\"\n", "api.session_timeout"),
        (
            "[tls]\ncert = \"missing.crt\"\nkey = \"missing.key\"\n",
            "tls.cert",
        ),
        ("[tls]\ncert = \"block.txt\"\n", "tls.key"),
        ("[tls]\nnames = [\"not a name\"]\n", "tls.names"),
        ("[dns]\ntls_listen = [\"127.0.0.1\"]\n", "dns.tls_listen"),
        (
            "[local]\nrecords = { \"nas.home.arpa\" = [\"nas\"] }\n",
            "local.records",
        ),
        (
            "[local]\nrecords = { \"a.home.arpa\" = \"a.home.arpa\" }\n",
            "local.records",
        ),
        (
            "[[dns.forward]]\nzones = []\nupstreams = [\"192.168.1.1\"]\n",
            "dns.forward",
        ),
        (
            "[[dns.forward]]\nzones = [\"home.arpa\"]\nupstreams = [\"router\"]\n",
            "dns.forward",
        ),
        ("[dns]\nclient_names = \"dns\"\n", "dns.client_names"),
        ("[querylog]\nqueue = 10\n", "querylog.queue"),
        ("[querylog]\ncache_mb = 0\n", "querylog.cache_mb"),
        (
            "[querylog]\ndatabase = \"postgres://hush@db.lan:notaport/hush\"\n",
            "querylog.database",
        ),
        ("[querylog]\ndatabase = \"\"\n", "querylog.database"),
        ("[querylog]\ninstance = \"\"\n", "querylog.instance"),
        ("[querylog]\ninstance = 7\n", "querylog.instance"),
        ("[dns]\nupstream_ca = \"missing.pem\"\n", "dns.upstream_ca"),
        ("[dns]\nupstream_ca = \"block.txt\"\n", "dns.upstream_ca"),
        ("[dns]\ndnssec = \"yes\"\n", "dns.dnssec"),
        (
            "[dns]\ndnssec = true\ntrust_anchors = \"missing.keys\"\n",
            "dns.trust_anchors",
        ),
        // A list file is no key file; and anchors without validation do nothing.
        (
            "[dns]\ndnssec = true\ntrust_anchors = \"block.txt\"\n",
            "dns.trust_anchors",
        ),
        (
            "[dns]\ntrust_anchors = \"block.txt\"\n",
            "dns.trust_anchors",
        ),
        (
            "[[clients]]\nname = \"tv\"\nmatch = [\"10.0.0.9\"]\ngroups = [\"kids\"]\n",
            "clients[0].groups",
        ),
        (
            "[[clients]]\nname = \"tv\"\nmatch = [\"10.0.0.300/8\"]\ngroups = [\"default\"]\n",
            "clients[0].match",
        ),
        (
            "[[clients]]\nname = \"tv\"\nmatch = []\ngroups = [\"default\"]\n",
            "clients[0].match",
        ),
        (
            "[[clients]]\nname = \"tv\"\nmatch = [\"tv\"]\ngroups = []\n",
            "clients[0].groups",
        ),
        ("[[groups]]\nname = \"default\"\n", "groups[0].name"),
        (
            "[[groups]]\nname = \"kids\"\n[[groups]]\nname = \"kids\"\n",
            "groups[1].name",
        ),
        (
            "[[groups]]\nname = \"kids\"\nschedule = { days = [\"someday\"], from = \"21:00\", to = \"07:00\" }\n",
            "groups[0].schedule.days",
        ),
        (
            "[[groups]]\nname = \"kids\"\nschedule = { days = [\"mon\", \"mon\"], from = \"21:00\", to = \"07:00\" }\n",
            "groups[0].schedule.days",
        ),
        (
            "[[groups]]\nname = \"kids\"\nschedule = { days = [], from = \"21:00\", to = \"07:00\" }\n",
            "groups[0].schedule.days",
        ),
        (
            "[[groups]]\nname = \"kids\"\nschedule = { days = [\"mon\"], from = \"25:00\", to = \"07:00\" }\n",
            "groups[0].schedule.from",
        ),
        (
            "[[groups]]\nname = \"kids\"\nschedule = { days = [\"mon\"], from = \"21:00\", to = \"07:00\", timezone = \"Mars/Olympus\" }\n",
            "groups[0].schedule.timezone",
        ),
        (
            "[[groups]]\nname = \"kids\"\nlists = [\"missing.txt\"]\n",
            "missing.txt",
        ),
    ];
    for (config, key) in cases {
        let dir = config_dir(config, "");
        let path = dir.path().join("hush.toml");
        let out = hush(&["check-config", "--config", path.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{config}: {stderr}");
        assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
        assert!(stderr.contains(key), "{stderr}");
    }
    let out = hush(&["check-config", "--config", "/nonexistent/hush.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/hush.toml"));
}

/// `hash-password` reads a line from standard input and prints an argon2id hash that a config
/// accepts as `api.password` (the login with it is tested in `sessions.rs`).
#[test]
fn hash_password_prints_a_hash_the_config_accepts() {
    use std::io::Write;
    let run = |input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hush"))
            .arg("hash-password")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run("correct horse\n");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let hash = text(&out.stdout).trim().to_owned();
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert_ne!(text(&run("correct horse\n").stdout).trim(), hash, "salted");
    let dir = config_dir(
        &format!("[blocking]\nlists = [\"block.txt\"]\n[api]\npassword = \"{hash}\"\n"),
        "",
    );
    let path = dir.path().join("hush.toml");
    let check = hush(&["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    let empty = run("\n");
    assert_eq!(empty.status.code(), Some(2));
    assert!(text(&empty.stderr).contains("empty"));
}

/// A key that does not belong to its certificate, or a file that holds no certificate, is a
/// config error naming the key.
#[test]
fn a_broken_certificate_pair_is_a_config_error() {
    let dir = config_dir("", "");
    let pair = |stem: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["dns.test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join(format!("{stem}.crt")), cert.pem()).unwrap();
        std::fs::write(dir.path().join(format!("{stem}.key")), key.serialize_pem()).unwrap();
    };
    pair("one");
    pair("two");
    let cases = [
        ("one.crt", "one.key", None),
        ("one.crt", "two.key", Some(("tls.key", "does not belong"))),
        ("block.txt", "one.key", Some(("tls.cert", "no certificate"))),
        ("one.crt", "block.txt", Some(("tls.key", "no private key"))),
    ];
    for (cert, key, expected) in cases {
        let config = format!(
            "[blocking]\nlists = [\"block.txt\"]\n[tls]\ncert = \"{cert}\"\nkey = \"{key}\"\n"
        );
        std::fs::write(dir.path().join("hush.toml"), config).unwrap();
        let path = dir.path().join("hush.toml");
        let out = hush(&["check-config", "--config", path.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        match expected {
            None => assert_eq!(out.status.code(), Some(0), "{cert}/{key}: {stderr}"),
            Some((config_key, message)) => {
                assert_eq!(out.status.code(), Some(2), "{cert}/{key}: {stderr}");
                assert!(stderr.contains(config_key), "{stderr}");
                assert!(stderr.contains(message), "{stderr}");
            }
        }
    }
}

#[test]
fn check_names_the_rule_and_list() {
    let dir = config_dir(
        "[blocking]\nlists = [\"block.txt\"]\n",
        "tracker.example.com\n@@||ok.tracker.example.com^\n",
    );
    let path = dir.path().join("hush.toml");
    let config = path.to_str().unwrap();
    let cases = [
        (
            "a.tracker.example.com",
            "a.tracker.example.com: blocked by \"tracker.example.com\" in list \"block\"",
        ),
        (
            "OK.tracker.example.com.",
            "ok.tracker.example.com: allowed by \"ok.tracker.example.com\" in list \"block\"",
        ),
        ("example.com", "example.com: not blocked"),
    ];
    for (domain, expected) in cases {
        let out = hush(&["check", domain, "--config", config]);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            text(&out.stdout).starts_with(expected),
            "{}",
            text(&out.stdout)
        );
    }
    // For a client: its entry's groups decide.
    let dir = config_dir(
        "[blocking]\nlists = []\n[[clients]]\nname = \"Mia's tablet\"\nmatch = [\"192.168.1.50\"]\n\
         groups = [\"kids\"]\n[[groups]]\nname = \"kids\"\nlists = [\"block.txt\"]\n",
        "social.example.com\n",
    );
    let kids = dir.path().join("hush.toml");
    let kids = kids.to_str().unwrap();
    let check_for = |client: &str| {
        hush(&[
            "check",
            "social.example.com",
            "--config",
            kids,
            "--client",
            client,
        ])
    };
    let out = check_for("192.168.1.50");
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).starts_with(
            "social.example.com for Mia's tablet (192.168.1.50, groups kids): blocked by \"social.example.com\" in list \"block\""
        ),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("of group kids"));
    let out = check_for("192.168.1.7");
    assert!(
        text(&out.stdout)
            .starts_with("social.example.com for 192.168.1.7 (groups default): not blocked"),
        "{}",
        text(&out.stdout)
    );
    let out = check_for("tablet");
    assert_eq!(out.status.code(), Some(2), "a client is an address");

    let out = hush(&["check", "a..b", "--config", config]);
    assert_eq!(out.status.code(), Some(2));
    let out = hush(&["frobnicate"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "unknown subcommand is a usage error"
    );
}

#[test]
fn a_busy_port_fails_with_advice() {
    let busy = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let dir = config_dir(
        &format!("[dns]\nlisten = [\"{addr}\"]\n[blocking]\nlists = []\n"),
        "",
    );
    let path = dir.path().join("hush.toml");
    let out = hush(&["run", "--config", path.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(stderr.contains("in use"), "{stderr}");
    assert!(stderr.contains("dns.listen"), "{stderr}");
}

/// `hush check` reads the custom rules from the store: a SQLite file, or the shared database.
fn check_sees_custom_rules_in(backend: crate::support::Backend) {
    let dir = config_dir("", "");
    let config = format!(
        "[blocking]\nlists = [\"block.txt\"]\n[querylog]\ndatabase = \"{}\"\n",
        backend.database()
    );
    std::fs::write(dir.path().join("hush.toml"), config).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = crate::support::open_store(&backend, dir.path()).await;
        store
            .add_custom_rule(hush::store::RuleKind::Deny, "custom.example.com", None)
            .await
            .unwrap();
        store.close().await;
    });
    let path = dir.path().join("hush.toml");
    let out = hush(&[
        "check",
        "a.custom.example.com",
        "--config",
        path.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(
            "a.custom.example.com: blocked by \"custom.example.com\" in list \"custom\""
        ),
        "{stdout}{}",
        text(&out.stderr)
    );
}

#[test]
fn check_sees_custom_rules_in_the_database() {
    check_sees_custom_rules_in(crate::support::Backend::Sqlite);
}

#[test]
fn check_sees_custom_rules_in_the_shared_database() {
    if let Some(backend) = crate::support::Backend::postgres() {
        check_sees_custom_rules_in(backend);
    }
}

//! Real public lists from `../shared/corpus/` (skipped with a note when absent): every Xiaomi
//! format gives the same decisions, StevenBlack's hosts file blocks every domain in it, the
//! AdGuard filter's exceptions win, and regex lists compile without taking anything down.

use std::collections::BTreeSet;
use std::path::Path;

use hush::config::ListLocation;
use hush::lists::source::{Compiled, ListSpec, compile};
use hush::rules::{Polarity, QueryName, Verdict};

use crate::support::corpus;

fn compile_file(path: &Path) -> Compiled {
    compile(&[ListSpec::at(
        ListLocation::Path(path.to_path_buf()),
        Polarity::Block,
    )])
}

fn verdict(compiled: &Compiled, name: &str) -> Verdict {
    compiled.rules.decide(&QueryName::from_text(name).unwrap())
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_xiaomi_format_blocks_the_same_names() {
    let Some(domains_file) = corpus("telemetry/native.xiaomi.domains.txt") else {
        return;
    };
    let names: Vec<String> = lines(&domains_file)
        .into_iter()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .collect();
    assert_eq!(names.len(), 470);
    let roots: BTreeSet<String> =
        lines(&corpus("telemetry/native.xiaomi.wildcard-onlydomains.txt").unwrap())
            .into_iter()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .collect();
    assert_eq!(roots.len(), 346);

    let formats = [
        "domains",
        "hosts",
        "hosts-compressed",
        "adblock",
        "wildcard-onlydomains",
        "dnsmasq",
        "rpz",
    ];
    for format in formats {
        let compiled =
            compile_file(&corpus(&format!("telemetry/native.xiaomi.{format}.txt")).unwrap());
        let stats = compiled.reports[0].stats;
        assert_eq!(
            (stats.unsupported, stats.invalid),
            (0, 0),
            "{format}: {stats:?}"
        );
        for name in &names {
            assert!(
                matches!(verdict(&compiled, name), Verdict::Blocked(_)),
                "{format} does not block {name}"
            );
        }
        assert!(
            matches!(verdict(&compiled, "mi.com"), Verdict::Unlisted),
            "{format} blocks mi.com"
        );
    }

    // `*.x` means subdomains only (design §3), so the wildcard file agrees on every name below
    // a root and, by that contract, leaves the roots themselves alone.
    let wildcard = compile_file(&corpus("telemetry/native.xiaomi.wildcard.txt").unwrap());
    for name in &names {
        let blocked = matches!(verdict(&wildcard, name), Verdict::Blocked(_));
        assert_eq!(blocked, !roots.contains(name), "wildcard format on {name}");
    }

    // The Control D JSON export is not a list format: it must yield no rules, not wrong ones.
    let json = compile_file(&corpus("telemetry/native.xiaomi.controld.json").unwrap());
    assert_eq!(json.reports[0].stats.entries, 0);
}

#[test]
fn every_domain_in_stevenblack_hosts_is_blocked() {
    let Some(path) = corpus("stevenblack-hosts.txt") else {
        return;
    };
    let compiled = compile_file(&path);
    let stats = compiled.reports[0].stats;
    let mut expected = BTreeSet::new();
    for line in lines(&path) {
        let line = line.split('#').next().unwrap_or("").trim().to_owned();
        if let Some(name) = line.strip_prefix("0.0.0.0 ").map(str::trim)
            && name != "0.0.0.0"
        {
            expected.insert(name.to_ascii_lowercase());
        }
    }
    assert_eq!(
        expected.len(),
        115_262,
        "the corpus README's count of unique domains"
    );
    for name in &expected {
        assert!(
            matches!(verdict(&compiled, name), Verdict::Blocked(_)),
            "{name} not blocked"
        );
    }
    assert_eq!(compiled.rules.len(), expected.len());
    assert_eq!(stats.invalid, 0, "{stats:?}");
    for local in [
        "localhost",
        "localhost.localdomain",
        "broadcasthost",
        "ip6-localhost",
    ] {
        let name = QueryName::from_text(local).unwrap();
        assert_eq!(compiled.rules.decide(&name), Verdict::Unlisted, "{local}");
    }
}

#[test]
fn adguard_exceptions_win_over_their_own_blocks() {
    let Some(path) = corpus("adguard-dns-filter.txt") else {
        return;
    };
    let compiled = compile_file(&path);
    let stats = compiled.reports[0].stats;
    assert!(stats.entries > 65_000, "{stats:?}");
    let mut checked = 0;
    for line in lines(&path) {
        let Some(name) = line
            .strip_prefix("@@||")
            .and_then(|rest| rest.strip_suffix('^').or(rest.strip_suffix("^|")))
        else {
            continue;
        };
        if name.contains(['*', '/', '$']) {
            continue;
        }
        assert!(
            matches!(verdict(&compiled, name), Verdict::Allowed(_)),
            "exception {name} lost"
        );
        checked += 1;
    }
    assert!(checked > 100, "only {checked} exceptions checked");
    assert!(matches!(
        verdict(&compiled, "doubleclick.net"),
        Verdict::Blocked(_)
    ));
}

#[test]
fn regex_lists_compile_and_lookarounds_are_counted_not_fatal() {
    let Some(mmotti) = corpus("mmotti-regex.list") else {
        return;
    };
    let compiled = compile_file(&mmotti);
    let stats = compiled.reports[0].stats;
    assert_eq!((stats.entries, stats.unsupported), (14, 0), "{stats:?}");

    let Some(hagezi) = corpus("hagezi-regex-wildcard-rules.adguard.txt") else {
        return;
    };
    let compiled = compile_file(&hagezi);
    let stats = compiled.reports[0].stats;
    assert!(
        stats.unsupported > 0,
        "look-ahead regexes must be counted: {stats:?}"
    );
    assert!(stats.entries > 20, "{stats:?}");
}

/// The lists shipped in `blocklists/`, compiled as the default config does.
fn shipped() -> Compiled {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("blocklists");
    compile(&[
        ListSpec::at(ListLocation::Path(root.clone()), Polarity::Block),
        ListSpec::at(ListLocation::Path(root.join("allow")), Polarity::Allow),
    ])
}

#[test]
fn shipped_lists_are_clean_named_and_categorised() {
    let compiled = shipped();
    assert!(
        compiled.reports.len() >= 11,
        "{} lists",
        compiled.reports.len()
    );
    for report in &compiled.reports {
        let stats = report.stats;
        assert_eq!(
            (stats.unsupported, stats.invalid),
            (0, 0),
            "{}: {stats:?}",
            report.source.location
        );
        assert!(stats.entries > 0, "{} is empty", report.source.location);
        let stem = Path::new(&report.source.location)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_ne!(
            *report.source.name, *stem,
            "{} has no Title header",
            report.source.location
        );
        assert!(
            report.source.category.is_some(),
            "{} has no Category header",
            report.source.location
        );
        assert_eq!(
            report.source.category.as_deref() == Some("telemetry"),
            report.source.vendor.is_some(),
            "{}: telemetry lists and only they name a vendor",
            report.source.location
        );
    }
    let must_block = [
        "sa.api.intl.miui.com",
        "tracking.miui.com",
        "tracking.intl.miui.com",
        "data.mistat.xiaomi.com",
        "data.mistat.intl.xiaomi.com",
        "data.mistat.india.xiaomi.com",
        "data.mistat.rus.xiaomi.com",
        "api.ad.xiaomi.com",
        "api.ad.intl.xiaomi.com",
        "sdkconfig.ad.intl.xiaomi.com",
        "v10.events.data.microsoft.com",
        "scribe.logs.roku.com",
        "log-config.samsungacr.com",
        "us.ad.lgsmartad.com",
        "device-metrics-us.amazon.com",
    ];
    for name in must_block {
        assert!(
            matches!(verdict(&compiled, name), Verdict::Blocked(_)),
            "{name} not blocked"
        );
    }
    let must_work = [
        "api.sec.miui.com",
        "xmpush.xiaomi.com",
        "grs.hicloud.com",
        "settings-win.data.microsoft.com",
        "account.xiaomi.com",
        "www.apple.com",
        "mesu.apple.com",
        "www.samsung.com",
        "update.microsoft.com",
    ];
    for name in must_work {
        assert!(
            !matches!(verdict(&compiled, name), Verdict::Blocked(_)),
            "{name} is blocked"
        );
    }
}

#[test]
fn the_group_lists_are_clean_and_kept_out_of_the_default_folder() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("blocklists");
    let groups = compile(&[ListSpec::at(
        ListLocation::Path(root.join("groups")),
        Polarity::Block,
    )]);
    assert!(!groups.reports.is_empty());
    for report in &groups.reports {
        assert_eq!(
            (
                report.stats.unsupported,
                report.stats.invalid,
                report.error.is_none()
            ),
            (0, 0, true),
            "{}",
            report.source.location
        );
        assert!(
            report.source.category.is_some(),
            "{}",
            report.source.location
        );
    }
    let facebook = QueryName::from_text("www.facebook.com").unwrap();
    assert!(matches!(
        groups.rules.decide(&facebook),
        Verdict::Blocked(_)
    ));
    assert_eq!(shipped().rules.decide(&facebook), Verdict::Unlisted);
}

/// A popular name blocked by a shipped list is a broken site for users unless the name really
/// is a vendor tracker. Popular trackers exist (phones ask for them constantly, so DNS-level
/// popularity lists carry them), so the oracle is independent curation: every name of
/// `top10k.txt` that the shipped lists block must also be blocked by HaGeZi's vendor lists,
/// except the public encrypted resolvers, which the bypass list blocks on purpose.
#[test]
fn popular_names_are_blocked_only_when_independent_curation_agrees() {
    let Some(top) = corpus("top10k.txt") else {
        return;
    };
    let Some(telemetry) = corpus("telemetry") else {
        return;
    };
    let compiled = shipped();
    let hagezi = compile(&[ListSpec::at(ListLocation::Path(telemetry), Polarity::Block)]);
    let mut disputed = Vec::new();
    let mut agreed = 0;
    let mut bypass = Vec::new();
    for name in lines(&top) {
        let Verdict::Blocked(matched) = verdict(&compiled, &name) else {
            continue;
        };
        // Public encrypted resolvers are popular and blocked on purpose, not as trackers.
        if compiled.rules.source(matched.source).category.as_deref() == Some("bypass") {
            bypass.push(name);
            continue;
        }
        match verdict(&hagezi, &name) {
            Verdict::Blocked(_) => agreed += 1,
            _ => disputed.push(name),
        }
    }
    assert!(
        disputed.is_empty(),
        "popular names blocked without independent support: {disputed:?}"
    );
    assert!(
        agreed > 10,
        "only {agreed} popular trackers blocked: the check would prove little"
    );
    for resolver in [
        "dns.google",
        "cloudflare-dns.com",
        "one.one.one.one",
        "doh.opendns.com",
    ] {
        assert!(
            bypass.iter().any(|name| name == resolver),
            "{resolver} is popular and should be blocked by the bypass list: {bypass:?}"
        );
    }
}

#[test]
fn every_vendor_telemetry_list_compiles_cleanly() {
    let Some(folder) = corpus("telemetry") else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 19, "{} files", files.len());
    for file in files {
        let compiled = compile_file(&file);
        let stats = compiled.reports[0].stats;
        assert!(stats.entries > 50, "{}: {stats:?}", file.display());
        assert_eq!(
            (stats.unsupported, stats.invalid),
            (0, 0),
            "{}: {stats:?}",
            file.display()
        );
        assert!(
            compiled.reports[0].source.name.contains("HaGeZi"),
            "{}: title not read",
            file.display()
        );
    }
}

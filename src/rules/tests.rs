//! The lookup tests of [`RuleSet`]: the decision table, allow over block, crediting, regexes
//! and groups.

use super::*;

fn rules(block: &[&str], allow: &[&str]) -> RuleSet {
    let mut builder = RuleSetBuilder::default();
    for (lines, polarity, name) in [
        (block, Polarity::Block, "block"),
        (allow, Polarity::Allow, "allow"),
    ] {
        let source = builder
            .add_source(Source {
                name: Arc::from(name),
                location: format!("{name}.txt"),
                polarity,
                category: None,
                vendor: None,
                groups: GroupMask::ALL,
            })
            .unwrap();
        for line in lines {
            let mut found = Vec::new();
            parse::parse_line(line, &mut |rule| found.push(rule));
            assert!(!found.is_empty(), "no rule in {line:?}");
            for rule in found {
                builder.add(source, &rule).unwrap();
            }
        }
    }
    builder.finish()
}

fn describe(set: &RuleSet, name: &str) -> String {
    let query = QueryName::from_text(name).unwrap();
    match set.decide(&query) {
        Verdict::Blocked(m) => format!(
            "blocked {} ({})",
            set.rule_text(&m),
            set.source(m.source).name
        ),
        Verdict::Allowed(m) => format!(
            "allowed {} ({})",
            set.rule_text(&m),
            set.source(m.source).name
        ),
        Verdict::Unlisted => "unlisted".into(),
    }
}

#[test]
fn decision_table() {
    let set = rules(
        &[
            "tracker.example",
            "*.wild.example",
            "|exact.example^",
            "both.example",
            "@@||fine.tracker.example^",
            "/^ad[0-9]+\\./",
            "||glob*.example^",
            "allowed-by-regex.example",
        ],
        &["both.example", "*.kids.example", "/^allowed-by-regex\\./"],
    );
    let cases = [
        ("tracker.example", "blocked tracker.example (block)"),
        ("a.b.tracker.example", "blocked tracker.example (block)"),
        ("TRACKER.Example.", "blocked tracker.example (block)"),
        ("nottracker.example", "unlisted"),
        ("wild.example", "unlisted"),
        ("x.wild.example", "blocked *.wild.example (block)"),
        ("exact.example", "blocked |exact.example^ (block)"),
        ("sub.exact.example", "unlisted"),
        ("both.example", "allowed both.example (allow)"),
        ("x.both.example", "allowed both.example (allow)"),
        (
            "fine.tracker.example",
            "allowed fine.tracker.example (block)",
        ),
        (
            "deep.fine.tracker.example",
            "allowed fine.tracker.example (block)",
        ),
        ("ad12.anything.net", r"blocked /^ad[0-9]+\./ (block)"),
        ("AD7.upper.net", r"blocked /^ad[0-9]+\./ (block)"),
        ("bad12.anything.net", "unlisted"),
        (
            "glob123.example",
            r"blocked /(?:^|\.)glob.*\.example$/ (block)",
        ),
        (
            "allowed-by-regex.example",
            r"allowed /^allowed-by-regex\./ (allow)",
        ),
        ("example", "unlisted"),
    ];
    for (name, expected) in cases {
        assert_eq!(describe(&set, name), expected, "{name}");
    }
}

#[test]
fn an_allowlist_subdomain_rule_does_not_allow_the_parent() {
    let set = rules(&["kids.example"], &["*.kids.example"]);
    assert_eq!(
        describe(&set, "kids.example"),
        "blocked kids.example (block)"
    );
    assert_eq!(
        describe(&set, "games.kids.example"),
        "allowed *.kids.example (allow)"
    );
}

#[test]
fn the_first_list_of_a_name_is_credited() {
    let mut builder = RuleSetBuilder::default();
    let first = builder
        .add_source(Source {
            name: "first".into(),
            location: "1".into(),
            polarity: Polarity::Block,
            category: None,
            vendor: None,
            groups: GroupMask::ALL,
        })
        .unwrap();
    let second = builder
        .add_source(Source {
            name: "second".into(),
            location: "2".into(),
            polarity: Polarity::Block,
            category: None,
            vendor: None,
            groups: GroupMask::ALL,
        })
        .unwrap();
    let rule = Rule {
        polarity: Polarity::Block,
        pattern: Pattern::Domain("dup.example".into()),
    };
    builder.add(first, &rule).unwrap();
    builder.add(second, &rule).unwrap();
    let set = builder.finish();
    assert_eq!(set.len(), 1);
    assert_eq!(describe(&set, "dup.example"), "blocked dup.example (first)");
}

/// Sources in groups: (name, polarity, group mask, lines).
fn grouped(sources: &[(&str, Polarity, u16, &[&str])]) -> RuleSet {
    let mut builder = RuleSetBuilder::default();
    for (name, polarity, groups, lines) in sources {
        let source = builder
            .add_source(Source {
                name: Arc::from(*name),
                location: format!("{name}.txt"),
                polarity: *polarity,
                category: None,
                vendor: None,
                groups: GroupMask(*groups),
            })
            .unwrap();
        for line in *lines {
            parse::parse_line(line, &mut |rule| builder.add(source, &rule).unwrap());
        }
    }
    builder.finish()
}

fn describe_for(set: &RuleSet, name: &str, groups: u16) -> String {
    let query = QueryName::from_text(name).unwrap();
    let named = |m: RuleMatch| format!("{} ({})", set.rule_text(&m), set.source(m.source).name);
    match set.decide_for(&query, GroupMask(groups)) {
        Verdict::Blocked(m) => format!("blocked {}", named(m)),
        Verdict::Allowed(m) => format!("allowed {}", named(m)),
        Verdict::Unlisted => "unlisted".into(),
    }
}

#[test]
fn rules_exist_only_for_the_groups_of_their_lists() {
    const DEFAULT: u16 = 1;
    const KIDS: u16 = 2;
    const NIGHT: u16 = 4;
    let set = grouped(&[
        (
            "ads",
            Polarity::Block,
            DEFAULT,
            &["tracker.example", "/^ad[0-9]+\\./"],
        ),
        // One list, two groups: stored once.
        (
            "social",
            Polarity::Block,
            KIDS | NIGHT,
            &["social.example", "video.example"],
        ),
        ("kids allow", Polarity::Allow, KIDS, &["ok.tracker.example"]),
        // The same names in lists of other groups, with other shapes: mixed names.
        (
            "night",
            Polarity::Block,
            NIGHT,
            &["*.tracker.example", "|video.example^"],
        ),
        ("games", Polarity::Block, KIDS, &["/^ad[0-9]+\\./"]),
        // The first list of a name has one kind of rule, a later list of another group another.
        ("kids exact", Polarity::Block, KIDS, &["|foo.example^"]),
        ("night foo", Polarity::Block, NIGHT, &["foo.example"]),
    ]);
    assert_eq!(set.len(), 7, "shared and repeated names are stored once");
    let cases = [
        ("tracker.example", DEFAULT, "blocked tracker.example (ads)"),
        ("tracker.example", KIDS, "unlisted"),
        // Only the subdomain rule is night's: the name itself is not blocked for it.
        ("tracker.example", NIGHT, "unlisted"),
        (
            "a.tracker.example",
            NIGHT,
            "blocked *.tracker.example (night)",
        ),
        (
            "a.tracker.example",
            DEFAULT | NIGHT,
            "blocked tracker.example (ads)",
        ),
        (
            "ok.tracker.example",
            DEFAULT,
            "blocked tracker.example (ads)",
        ),
        (
            "ok.tracker.example",
            DEFAULT | KIDS,
            "allowed ok.tracker.example (kids allow)",
        ),
        ("social.example", DEFAULT, "unlisted"),
        ("social.example", KIDS, "blocked social.example (social)"),
        ("x.social.example", NIGHT, "blocked social.example (social)"),
        ("x.video.example", KIDS, "blocked video.example (social)"),
        ("video.example", NIGHT, "blocked video.example (social)"),
        ("ad7.example", DEFAULT, r"blocked /^ad[0-9]+\./ (ads)"),
        ("ad7.example", KIDS, r"blocked /^ad[0-9]+\./ (games)"),
        ("ad7.example", NIGHT, "unlisted"),
        ("tracker.example", 0, "unlisted"),
        // Credited to the list whose kind of rule matched, not to the name's first list.
        (
            "a.foo.example",
            KIDS | NIGHT,
            "blocked foo.example (night foo)",
        ),
        ("foo.example", KIDS, "blocked |foo.example^ (kids exact)"),
        ("a.foo.example", KIDS, "unlisted"),
    ];
    for (name, groups, expected) in cases {
        assert_eq!(
            describe_for(&set, name, groups),
            expected,
            "{name} for {groups:b}"
        );
    }
}

#[test]
fn regexes_rust_cannot_compile_are_refused() {
    let mut builder = RuleSetBuilder::default();
    let source = builder
        .add_source(Source {
            name: "r".into(),
            location: "r".into(),
            polarity: Polarity::Block,
            category: None,
            vendor: None,
            groups: GroupMask::ALL,
        })
        .unwrap();
    let lookahead = Rule {
        polarity: Polarity::Block,
        pattern: Pattern::Regex("^(?=[0-9a-f]*[a-f])x".into()),
    };
    assert!(matches!(
        builder.add(source, &lookahead),
        Err(AddError::Regex(_))
    ));
    let huge = Rule {
        polarity: Polarity::Block,
        pattern: Pattern::Regex("\\w{1000}{1000}".into()),
    };
    assert!(matches!(
        builder.add(source, &huge),
        Err(AddError::Regex(_))
    ));
    assert!(builder.finish().is_empty());
}

#[test]
fn shared_rule_text_reads_as_its_display() {
    let set = rules(
        &[
            "tracker.example",
            "*.wild.example",
            "|exact.example^",
            "/^ad[0-9]+\\./",
        ],
        &[],
    );
    let cases = [
        ("tracker.example", "tracker.example"),
        ("a.wild.example", "*.wild.example"),
        ("exact.example", "|exact.example^"),
        ("ad42.example", "/^ad[0-9]+\\./"),
    ];
    for (name, rule) in cases {
        let query = QueryName::from_text(name).unwrap();
        let Verdict::Blocked(m) = set.decide(&query) else {
            panic!("{name} not blocked");
        };
        let text = set.rule_text(&m);
        assert_eq!(text.to_string(), rule);
        assert_eq!(&*text.to_shared(), rule, "{name}");
    }
}

//! Turning list text into a [`RuleSet`]: each line goes through the parser, and every source
//! gets a report of what it contributed and what it skipped. No I/O here: reading files,
//! folders and downloads is [`crate::lists::source`]'s job. Also the small rule sets hush makes
//! itself (custom rules from the API, the built-in anti-bypass rules).

use std::sync::Arc;

use super::parse::{LineOutcome, Polarity, parse_line};
use super::{GroupMask, RuleSet, RuleSetBuilder, Source, SourceId};

/// Line counts of one source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Rules added (a hosts line with three names adds three).
    pub entries: u64,
    /// Blank lines, comments, headers, `localhost`-style entries.
    pub skipped: u64,
    /// Rules in a syntax hush does not act on (adblock modifiers, look-around regexes, …).
    pub unsupported: u64,
    /// Lines that are no rule at all, or too broad to apply (`com`, `*.com`).
    pub invalid: u64,
}

/// What one source contributed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReport {
    pub source: Source,
    pub stats: SourceStats,
    /// Why the source could not be read, if it could not.
    pub error: Option<String>,
}

/// The source names of custom (API) rules.
pub const CUSTOM_SOURCE: &str = "custom";

/// Builds the rule set of custom rules: each entry is one rule line (a domain, `*.domain` or
/// `/regex/`) with the polarity of its kind. Entries were validated on the way in; one that
/// no longer parses is skipped.
pub fn compile_custom<'a>(entries: impl IntoIterator<Item = (Polarity, &'a str)>) -> RuleSet {
    let mut builder = RuleSetBuilder::default();
    let mut add_source = |polarity| {
        builder.add_source(Source {
            name: Arc::from(CUSTOM_SOURCE),
            location: format!("{CUSTOM_SOURCE} rules"),
            polarity,
            category: None,
            vendor: None,
            groups: GroupMask::ALL,
        })
    };
    let (Ok(block), Ok(allow)) = (add_source(Polarity::Block), add_source(Polarity::Allow)) else {
        return builder.finish();
    };
    for (polarity, line) in entries {
        let source = match polarity {
            Polarity::Block => block,
            Polarity::Allow => allow,
        };
        let mut stats = SourceStats::default();
        add_line(&mut builder, source, line, &mut stats);
    }
    builder.finish()
}

/// The name of the source of hush's own rules.
pub const BUILT_IN_SOURCE: &str = "built-in";

/// The rules hush adds itself to keep devices from bypassing it: the browser DoH canary
/// (exactly that name, RFC-less but honoured by Firefox) and iCloud Private Relay's names.
pub fn compile_builtin(doh_canary: bool, private_relay: bool) -> RuleSet {
    let mut builder = RuleSetBuilder::default();
    let Ok(source) = builder.add_source(Source {
        name: Arc::from(BUILT_IN_SOURCE),
        location: "hush".to_owned(),
        polarity: Polarity::Block,
        category: Some(Arc::from("bypass")),
        vendor: None,
        groups: GroupMask::ALL,
    }) else {
        return builder.finish();
    };
    let mut stats = SourceStats::default();
    if doh_canary {
        add_line(
            &mut builder,
            source,
            "|use-application-dns.net^",
            &mut stats,
        );
    }
    if private_relay {
        for name in ["mask.icloud.com", "mask-h2.icloud.com"] {
            add_line(&mut builder, source, name, &mut stats);
        }
    }
    builder.finish()
}

/// Checks that `text` is exactly one block-style rule, as a custom rule must be.
pub fn validate_custom(text: &str) -> Result<(), &'static str> {
    let mut rules = Vec::new();
    let outcome = parse_line(text, &mut |rule| rules.push(rule));
    match (outcome, rules.as_slice()) {
        (LineOutcome::Rules, [rule]) if rule.polarity == Polarity::Block => {
            let mut builder = RuleSetBuilder::default();
            let id = builder.add_source(Source {
                name: Arc::from(CUSTOM_SOURCE),
                location: String::new(),
                polarity: Polarity::Block,
                category: None,
                vendor: None,
                groups: GroupMask::ALL,
            });
            match id.map(|id| builder.add(id, rule)) {
                Ok(Ok(())) => Ok(()),
                _ => Err("the regex does not compile"),
            }
        }
        (LineOutcome::TooBroad, _) => Err("the rule would block a whole top-level domain"),
        _ => Err("expected one domain, *.domain or /regex/"),
    }
}

/// The rules of one block list given as text, with no file and no category: for fuzzing and
/// benchmarks.
pub fn block_list_from_text(name: &str, text: &str) -> (RuleSet, SourceReport) {
    let mut builder = RuleSetBuilder::default();
    let source = Source {
        name: Arc::from(name),
        location: name.to_owned(),
        polarity: Polarity::Block,
        category: None,
        vendor: None,
        groups: GroupMask::ALL,
    };
    let report = add_source_text(&mut builder, source, text);
    (builder.finish(), report)
}

/// Parses a list's text into the builder under a new source.
pub fn add_source_text(builder: &mut RuleSetBuilder, source: Source, text: &str) -> SourceReport {
    let mut stats = SourceStats::default();
    let id = match builder.add_source(source.clone()) {
        Ok(id) => id,
        Err(err) => {
            return SourceReport {
                source,
                stats,
                error: Some(err.to_string()),
            };
        }
    };
    // A line holds one name in nearly every list (hosts lines may hold more; comments none):
    // the count of lines sizes the table once. `finish` gives back what comments left unused.
    builder.reserve_names(text.bytes().filter(|&byte| byte == b'\n').count() + 1);
    for line in text.lines() {
        add_line(builder, id, line, &mut stats);
    }
    SourceReport {
        source,
        stats,
        error: None,
    }
}

fn add_line(builder: &mut RuleSetBuilder, id: SourceId, line: &str, stats: &mut SourceStats) {
    let mut rejected_regex = false;
    let outcome = parse_line(line, &mut |rule| match builder.add(id, &rule) {
        Ok(()) => stats.entries += 1,
        Err(_) => rejected_regex = true,
    });
    match outcome {
        LineOutcome::Rules if rejected_regex => stats.unsupported += 1,
        outcome => stats.count(outcome),
    }
}

/// What `text` would contribute as a list, without building anything: a cheap check that a
/// download is a list at all.
pub fn inspect(text: &str) -> SourceStats {
    let mut stats = SourceStats::default();
    for line in text.lines() {
        let outcome = parse_line(line, &mut |_| stats.entries += 1);
        stats.count(outcome);
    }
    stats
}

impl SourceStats {
    /// Counts a line that was not (only) rules; rules are counted as they are added.
    fn count(&mut self, outcome: LineOutcome) {
        match outcome {
            LineOutcome::Rules => {}
            LineOutcome::Comment | LineOutcome::Local => self.skipped += 1,
            LineOutcome::Unsupported => self.unsupported += 1,
            LineOutcome::TooBroad | LineOutcome::Invalid => self.invalid += 1,
        }
    }
}

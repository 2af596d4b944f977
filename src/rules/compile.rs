//! Turning configured list locations into a [`RuleSet`]: folders are expanded to their `*.txt`
//! files, each file is one source, each line goes through the parser, and every source gets a
//! report of what it contributed and what it skipped. An unreadable source is reported, never
//! fatal here; the caller decides whether a build with errors may replace a working one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{info, warn};

use super::parse::{LineOutcome, Polarity, parse_line};
use super::{RuleSet, RuleSetBuilder, Source, SourceId};
use crate::config::{Config, ListEntry, ListLocation, validate_category};
use crate::lists::cache::ListCache;

/// Header lines searched for a list's title and category.
const HEADER_LINES: usize = 40;

/// One configured list and what its rules do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSpec {
    pub entry: ListEntry,
    pub polarity: Polarity,
    /// Where downloaded copies of URL lists are kept.
    pub cache: Option<ListCache>,
}

impl ListSpec {
    /// Block lists first, then allowlists, in config order; URL lists read from the download
    /// cache beside the database.
    pub fn from_config(config: &Config) -> Vec<Self> {
        let cache = ListCache::beside(&config.querylog.database);
        let blocking = &config.blocking;
        let block = blocking.lists.iter().map(|entry| (entry, Polarity::Block));
        let allow = blocking
            .allowlists
            .iter()
            .map(|entry| (entry, Polarity::Allow));
        block
            .chain(allow)
            .map(|(entry, polarity)| Self {
                entry: entry.clone(),
                polarity,
                cache: Some(cache.clone()),
            })
            .collect()
    }

    /// A spec for one location with no configured name or category and no download cache.
    pub fn at(location: ListLocation, polarity: Polarity) -> Self {
        Self {
            entry: ListEntry::from(location),
            polarity,
            cache: None,
        }
    }

    /// The source for one file of this spec: the configured name and category first, then the
    /// file's header, then the file name.
    fn source(&self, fallback_name: &str, location: String, text: Option<&str>) -> Source {
        let (title, category) = text.map(header_labels).unwrap_or_default();
        let name = self
            .entry
            .name
            .as_deref()
            .or(title)
            .unwrap_or(fallback_name);
        let category = self.entry.category.as_deref().or(category);
        Source {
            name: Arc::from(name),
            location,
            polarity: self.polarity,
            category: category.map(Arc::from),
        }
    }
}

/// The `Title:`/`Name:` and `Category:` a list states in its leading comment lines (`#`, `!`
/// or, in RPZ zones, `;`).
fn header_labels(text: &str) -> (Option<&str>, Option<&str>) {
    let (mut title, mut category) = (None, None);
    for line in text.lines().take(HEADER_LINES) {
        let Some(comment) = line
            .trim_start_matches('\u{feff}')
            .strip_prefix(['#', '!', ';'])
        else {
            continue;
        };
        let Some((key, value)) = comment.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "title" | "name" if title.is_none() && !value.is_empty() => title = Some(value),
            "category" if category.is_none() && validate_category(value).is_ok() => {
                category = Some(value)
            }
            _ => {}
        }
    }
    (title, category)
}

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

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("{location}: {message}")]
    Source { location: String, message: String },
}

/// A freshly built rule set and the report of every source that went into it.
#[derive(Debug)]
pub struct Compiled {
    pub rules: RuleSet,
    pub reports: Vec<SourceReport>,
}

impl Compiled {
    /// The first local source that could not be read, as an error. (A URL list without a
    /// downloaded copy is reported but is no error here: it may simply not be fetched yet.)
    pub fn first_error(&self) -> Option<CompileError> {
        self.reports
            .iter()
            .filter(|report| !report.source.is_remote())
            .find_map(|report| {
                report.error.as_ref().map(|message| CompileError::Source {
                    location: report.source.location.clone(),
                    message: message.clone(),
                })
            })
    }
}

/// Reads and compiles every list. Blocking I/O and CPU work: call it off the async runtime.
pub fn compile(specs: &[ListSpec]) -> Compiled {
    let mut builder = RuleSetBuilder::default();
    let mut reports = Vec::new();
    for spec in specs {
        for (fallback_name, location, text) in
            read_location(&spec.entry.location, spec.cache.as_ref())
        {
            let report = match text {
                Ok(text) => {
                    let source = spec.source(&fallback_name, location, Some(&text));
                    add_source_text(&mut builder, source, &text)
                }
                Err(message) => SourceReport {
                    source: spec.source(&fallback_name, location, None),
                    stats: SourceStats::default(),
                    error: Some(message),
                },
            };
            log_report(&report);
            reports.push(report);
        }
    }
    Compiled {
        rules: builder.finish(),
        reports,
    }
}

fn log_report(report: &SourceReport) {
    let SourceStats {
        entries,
        skipped,
        unsupported,
        invalid,
    } = report.stats;
    match &report.error {
        Some(error) => warn!(list = %report.source.location, %error, "list not loaded"),
        None => info!(
            list = %report.source.location,
            entries, skipped, unsupported, invalid,
            "list loaded"
        ),
    }
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

/// The files behind one location: for each, a fallback name, where it was read, and its text
/// or the reason it is missing.
fn read_location(
    location: &ListLocation,
    cache: Option<&ListCache>,
) -> Vec<(String, String, Result<String, String>)> {
    match location {
        ListLocation::Url(url) => {
            let text = match cache.map(|cache| cache.read_body(url)) {
                Some(Ok(bytes)) => Ok(decode_lossy(bytes)),
                _ => Err("not downloaded yet".to_owned()),
            };
            vec![(url_name(url).to_owned(), url.clone(), text)]
        }
        ListLocation::Path(path) if path.is_dir() => match list_files(path) {
            Ok(files) => files
                .into_iter()
                .map(|file| {
                    (
                        file_stem(&file),
                        file.display().to_string(),
                        read_text(&file),
                    )
                })
                .collect(),
            Err(message) => vec![(file_stem(path), path.display().to_string(), Err(message))],
        },
        ListLocation::Path(path) => {
            vec![(file_stem(path), path.display().to_string(), read_text(path))]
        }
    }
}

fn list_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|err| format!("cannot read folder: {err}"))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    files.sort();
    Ok(files)
}

/// Lists are read as bytes and decoded leniently: one stray Latin-1 comment must not drop a
/// whole list.
fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read(path)
        .map(decode_lossy)
        .map_err(|err| format!("cannot read: {err}"))
}

pub fn decode_lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn url_name(url: &str) -> &str {
    url.rsplit('/').find(|part| !part.is_empty()).unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{QueryName, Verdict};

    #[test]
    fn a_folder_is_every_txt_file_in_it_and_counts_add_up() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ads.txt"),
            "# header\n\n0.0.0.0 ads.example.com\n||x.example^$third-party\nnot a rule\ncom\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("regex.txt"), "/^ad\\d+\\./\n/(?=x)y/\n").unwrap();
        std::fs::write(dir.path().join("notes.md"), "ignored.example.com\n").unwrap();
        let compiled = compile(&[ListSpec::at(
            ListLocation::Path(dir.path().to_path_buf()),
            Polarity::Block,
        )]);
        let summary: Vec<(String, SourceStats)> = compiled
            .reports
            .iter()
            .map(|r| (r.source.name.to_string(), r.stats))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "ads".into(),
                    SourceStats {
                        entries: 1,
                        skipped: 2,
                        unsupported: 1,
                        invalid: 2
                    }
                ),
                (
                    "regex".into(),
                    SourceStats {
                        entries: 1,
                        skipped: 0,
                        unsupported: 1,
                        invalid: 0
                    }
                ),
            ]
        );
        assert!(compiled.first_error().is_none());
        let verdict = compiled
            .rules
            .decide(&QueryName::from_text("ignored.example.com").unwrap());
        assert_eq!(verdict, Verdict::Unlisted);
    }

    #[test]
    fn names_and_categories_come_from_config_then_header_then_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vendor.txt");
        std::fs::write(
            &path,
            "# Title: Vendor Tracking\n# Category: tracking\nx.example.com\n",
        )
        .unwrap();
        let plain = dir.path().join("plain.txt");
        std::fs::write(&plain, "! Category: Not Valid\ny.example.com\n").unwrap();
        let configured = ListSpec {
            entry: ListEntry {
                location: ListLocation::Path(path.clone()),
                name: Some("Mine".into()),
                category: Some("telemetry".into()),
            },
            polarity: Polarity::Block,
            cache: None,
        };
        let compiled = compile(&[
            ListSpec::at(ListLocation::Path(path), Polarity::Block),
            configured,
            ListSpec::at(ListLocation::Path(plain), Polarity::Block),
        ]);
        let labels: Vec<(String, Option<String>)> = compiled
            .reports
            .iter()
            .map(|r| {
                (
                    r.source.name.to_string(),
                    r.source.category.as_deref().map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(
            labels,
            [
                ("Vendor Tracking".into(), Some("tracking".into())),
                ("Mine".into(), Some("telemetry".into())),
                ("plain".into(), None),
            ]
        );
    }

    #[test]
    fn a_missing_file_is_reported_not_fatal() {
        let compiled = compile(&[ListSpec::at(
            ListLocation::Path(PathBuf::from("/nonexistent/list.txt")),
            Polarity::Block,
        )]);
        let error = compiled.first_error().unwrap().to_string();
        assert!(
            error.starts_with("/nonexistent/list.txt: cannot read"),
            "{error}"
        );
        assert!(compiled.rules.is_empty());
    }

    #[test]
    fn invalid_utf8_does_not_drop_the_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.txt");
        std::fs::write(&path, b"# caf\xe9\nads.example.com\n").unwrap();
        let compiled = compile(&[ListSpec::at(ListLocation::Path(path), Polarity::Block)]);
        assert_eq!(compiled.reports[0].stats.entries, 1);
    }
}
